#include "cuda/conv_graph.h"

#include <algorithm>
#include <chrono>

#include "status.h"

namespace resnet {
namespace cuda {
namespace {

using namespace cudnn;  // NOLINT: cuDNN's own enumerator names read best unqualified here

// Room for an engine's notes (cuDNN 9 defines fewer than 16 of each kind).
constexpr int64_t kMaxNotes = 32;
// cuDNN's enums are C enums: int-sized, which the notes' int32 arrays rely on.
static_assert(sizeof(cudnnBackendNumericalNote_t) == sizeof(int32_t) &&
                  sizeof(cudnnBackendBehaviorNote_t) == sizeof(int32_t),
              "cuDNN's note enums are 4 bytes");

// Calls into the backend API for one graph, remembering the first failure (the one that explains the rest).
class Builder {
 public:
  explicit Builder(const CudnnApi& api) : api_(api) {}

  bool check(cudnnStatus_t status, const char* what) {
    if (status == CUDNN_STATUS_SUCCESS) return true;
    if (failure_.empty()) {
      char detail[512] = {0};
      api_.cudnnGetLastErrorString(detail, sizeof(detail));
      failure_ = cat(what, ": ", api_.cudnnGetErrorString(status), " (", static_cast<int>(status), ")",
                     detail[0] != '\0' ? cat(": ", detail) : std::string());
    }
    return false;
  }

  /// A new descriptor of `type`, owned by `owner`; nullptr after a failure.
  cudnnBackendDescriptor_t create(std::vector<BackendDescriptor>& owner, cudnnBackendDescriptorType_t type,
                                  const char* what) {
    cudnnBackendDescriptor_t raw = nullptr;
    if (!check(api_.cudnnBackendCreateDescriptor(type, &raw), what)) return nullptr;
    owner.emplace_back(raw, api_.cudnnBackendDestroyDescriptor);
    return raw;
  }

  bool set(cudnnBackendDescriptor_t descriptor, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
           int64_t count, const void* elements, const char* what) {
    return check(api_.cudnnBackendSetAttribute(descriptor, name, type, count, elements), what);
  }

  bool set_descriptor(cudnnBackendDescriptor_t descriptor, cudnnBackendAttributeName_t name,
                      cudnnBackendDescriptor_t value, const char* what) {
    return set(descriptor, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &value, what);
  }

  bool finalize(cudnnBackendDescriptor_t descriptor, const char* what) {
    return check(api_.cudnnBackendFinalize(descriptor), what);
  }

  const std::string& failure() const { return failure_; }
  void clear() { failure_.clear(); }

 private:
  const CudnnApi& api_;
  std::string failure_;
};

// The operation graph of `d`, finalized on `handle`; nullptr with the builder's failure set when cuDNN refuses.
std::shared_ptr<ConvGraphObjects> build_operation_graph(Builder& b, cudnnHandle_t handle,
                                                        const ConvGraphDescription& d) {
  auto objects = std::make_shared<ConvGraphObjects>();
  std::vector<BackendDescriptor>& owned = objects->descriptors;
  std::vector<cudnnBackendDescriptor_t> tensors;
  for (const GraphTensor& t : d.tensors) {
    cudnnBackendDescriptor_t tensor = b.create(owned, CUDNN_BACKEND_TENSOR_DESCRIPTOR, "creating a tensor");
    const cudnnDataType_t type = t.type;
    const bool is_virtual = t.is_virtual();
    const bool done =
        tensor != nullptr &&
        b.set(tensor, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, "a tensor's data type") &&
        b.set(tensor, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, t.dims.data(), "a tensor's dimensions") &&
        b.set(tensor, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, t.strides.data(), "a tensor's strides") &&
        b.set(tensor, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &t.uid, "a tensor's unique id") &&
        b.set(tensor, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &t.alignment, "a tensor's alignment") &&
        b.set(tensor, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual,
              "whether a tensor is virtual") &&
        b.finalize(tensor,
                   cat("finalizing tensor ", tensors.size(), " (", graph_tensor_role_name(t.role), ")").c_str());
    if (!done) return nullptr;
    tensors.push_back(tensor);
  }

  std::vector<cudnnBackendDescriptor_t> ops;
  cudnnBackendDescriptor_t conv = b.create(owned, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, "creating the convolution");
  const cudnnDataType_t compute = d.compute_type;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const int64_t spatial_dims = 2;
  bool done =
      conv != nullptr &&
      b.set(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute, "the conv's compute type") &&
      b.set(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode, "the conv's mode") &&
      b.set(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial_dims, "the conv's dims") &&
      b.set(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, d.dilation.data(), "the conv's dilation") &&
      b.set(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, d.stride.data(), "the conv's stride") &&
      b.set(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, d.pre_padding.data(),
            "the conv's padding") &&
      b.set(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, d.post_padding.data(),
            "the conv's padding") &&
      b.finalize(conv, "finalizing the convolution");
  if (!done) return nullptr;

  cudnnBackendDescriptor_t conv_op =
      b.create(owned, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, "creating the conv_fprop op");
  const float alpha = 1.0f, beta = 0.0f;  // runtime fusion requires beta = 0 (reference/cudnn.md §2.b)
  done =
      conv_op != nullptr &&
      b.set_descriptor(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, tensors[static_cast<size_t>(d.x)],
                       "the conv's x") &&
      b.set_descriptor(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, tensors[static_cast<size_t>(d.w)],
                       "the conv's w") &&
      b.set_descriptor(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, tensors[static_cast<size_t>(d.conv_out)],
                       "the conv's y") &&
      b.set_descriptor(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv, "the conv's descriptor") &&
      b.set(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha, "the conv's alpha") &&
      b.set(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta, "the conv's beta") &&
      b.finalize(conv_op, "finalizing the conv_fprop op");
  if (!done) return nullptr;
  ops.push_back(conv_op);

  for (const GraphPointwise& p : d.pointwise) {
    cudnnBackendDescriptor_t pointwise =
        b.create(owned, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, "creating a pointwise mode");
    const cudnnPointwiseMode_t pointwise_mode = p.mode;
    const cudnnDataType_t precision = d.pointwise_type;
    done = pointwise != nullptr &&
           b.set(pointwise, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &pointwise_mode,
                 "a pointwise mode") &&
           b.set(pointwise, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &precision,
                 "a pointwise precision") &&
           b.finalize(pointwise, cat("finalizing pointwise ", graph_pointwise_name(p.mode)).c_str());
    if (!done) return nullptr;
    cudnnBackendDescriptor_t op =
        b.create(owned, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, "creating a pointwise op");
    done = op != nullptr &&
           b.set_descriptor(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pointwise, "a pointwise op's mode") &&
           b.set_descriptor(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, tensors[static_cast<size_t>(p.x)],
                            "a pointwise op's x") &&
           (p.b < 0 || b.set_descriptor(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, tensors[static_cast<size_t>(p.b)],
                                        "a pointwise op's b")) &&
           b.set_descriptor(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, tensors[static_cast<size_t>(p.y)],
                            "a pointwise op's y") &&
           b.finalize(op, cat("finalizing the pointwise ", graph_pointwise_name(p.mode), " op").c_str());
    if (!done) return nullptr;
    ops.push_back(op);
  }

  cudnnBackendDescriptor_t graph =
      b.create(owned, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "creating the operation graph");
  done = graph != nullptr &&
         b.set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, static_cast<int64_t>(ops.size()),
               ops.data(), "the graph's ops") &&
         b.set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "the graph's handle") &&
         b.finalize(graph, "finalizing the operation graph");
  if (!done) return nullptr;
  objects->operation_graph = graph;
  return objects;
}

// What an engine says about itself; `readable` is false when its notes could not be read.
struct EngineInfo {
  int64_t index = -1;
  std::vector<int32_t> numerical;  // cudnnBackendNumericalNote_t values
  bool runtime_compiled = false;
  bool readable = false;
};

EngineInfo engine_info(const CudnnApi& api, cudnnBackendDescriptor_t config) {
  EngineInfo info;
  cudnnBackendDescriptor_t engine = nullptr;
  if (api.cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine) != CUDNN_STATUS_SUCCESS) return info;
  const BackendDescriptor owned(engine, api.cudnnBackendDestroyDescriptor);
  int64_t count = 0;
  if (api.cudnnBackendGetAttribute(config, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count,
                                   &engine) != CUDNN_STATUS_SUCCESS) {
    return info;
  }
  api.cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &count, &info.index);
  // Read as plain ints: cuDNN's lists hold notes our enums do not declare (STRICT_NAN_PROP, …), values an enum
  // of ours need not be able to hold.
  int32_t numerical[kMaxNotes];
  count = 0;
  if (api.cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE, kMaxNotes,
                                   &count, numerical) != CUDNN_STATUS_SUCCESS) {
    return info;
  }
  info.numerical.assign(numerical, numerical + std::max<int64_t>(0, std::min(count, kMaxNotes)));
  int32_t behavior[kMaxNotes];
  count = 0;
  if (api.cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE, kMaxNotes, &count,
                                   behavior) == CUDNN_STATUS_SUCCESS) {
    for (int64_t i = 0; i < std::min(count, kMaxNotes); ++i) {
      if (behavior[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) info.runtime_compiled = true;
    }
  }
  info.readable = true;
  return info;
}

// Why `precision` rules the engine out, or nullptr. PyTorch filters alike: no tensor cores for float32 unless
// TF32 is allowed, never down-converted inputs. An FP8 conv (`fp8`) accepts a reduced-precision reduction: the
// precision of the accumulation inside FP8 tensor cores is the compute type's (cuDNN's graph API guide), and
// cuDNN may note it on every FP8 engine, which would leave none; the trial run's check of each plan on real
// data against the tolerance of int8 is what guards the numerics there.
const char* excluded(const EngineInfo& info, Precision precision, bool fp8) {
  if (!info.readable) return precision == Precision::kFloat32 ? "notes unreadable" : nullptr;
  for (int32_t note : info.numerical) {
    if (note == CUDNN_NUMERICAL_NOTE_TENSOR_CORE && precision == Precision::kFloat32) return "tensor cores (TF32)";
    if (note == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) return "down-converted inputs";
    if (note == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION && !fp8) return "reduced-precision reduction";
  }
  return nullptr;
}

}  // namespace

std::string ConvGraphPlan::name() const {
  return cat("engine ", engine, runtime_compiled ? " (runtime compiled)" : "", ", workspace ", workspace);
}

ConvGraphPlans build_conv_graph_plans(const CudnnApi& api, cudnnHandle_t handle,
                                      const ConvGraphDescription& description, Precision precision, size_t limit,
                                      size_t workspace_cap) {
  const auto started = std::chrono::steady_clock::now();
  ConvGraphPlans result;
  auto finish = [&](std::string note) {
    result.note = std::move(note);
    result.build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    return result;
  };
  Builder b(api);
  std::shared_ptr<const ConvGraphObjects> graph = build_operation_graph(b, handle, description);
  if (!graph) return finish(cat("cuDNN refused the operation graph (", b.failure(), ")"));

  const bool fp8 = description.x >= 0 &&
                   description.tensors[static_cast<size_t>(description.x)].type == CUDNN_DATA_FP8_E4M3;
  int refused = 0, excluded_count = 0, too_big = 0;
  std::string first_refusal, first_exclusion;
  for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_INSTANT, CUDNN_HEUR_MODE_FALLBACK}) {
    std::vector<BackendDescriptor> owned;
    cudnnBackendDescriptor_t heuristics =
        b.create(owned, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, "creating the heuristics");
    const bool ready =
        heuristics != nullptr &&
        b.set_descriptor(heuristics, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph->operation_graph,
                         "the heuristics' graph") &&
        b.set(heuristics, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "the heuristics' mode") &&
        b.finalize(heuristics, "finalizing the heuristics");
    int64_t available = 0;
    if (!ready || !b.check(api.cudnnBackendGetAttribute(heuristics, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &available, nullptr),
                           "counting the heuristics' results")) {
      continue;
    }
    std::vector<std::shared_ptr<BackendDescriptor>> configs;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (int64_t i = 0; i < available; ++i) {
      cudnnBackendDescriptor_t config = nullptr;
      if (!b.check(api.cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &config),
                   "creating an engine config"))
        break;
      configs.push_back(std::make_shared<BackendDescriptor>(config, api.cudnnBackendDestroyDescriptor));
      raw.push_back(config);
    }
    int64_t returned = 0;
    if (raw.empty() ||
        !b.check(api.cudnnBackendGetAttribute(heuristics, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                              static_cast<int64_t>(raw.size()), &returned, raw.data()),
                 "reading the heuristics' results")) {
      continue;
    }
    for (int64_t i = 0;
         i < std::min<int64_t>(returned, static_cast<int64_t>(raw.size())) && result.plans.size() < limit; ++i) {
      const EngineInfo info = engine_info(api, raw[static_cast<size_t>(i)]);
      if (const char* why = excluded(info, precision, fp8)) {
        if (excluded_count++ == 0) first_exclusion = cat("engine ", info.index, ": ", why);
        continue;
      }
      Builder plan_builder(api);
      std::vector<BackendDescriptor> plan_owner;
      cudnnBackendDescriptor_t plan =
          plan_builder.create(plan_owner, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, "creating a plan");
      const bool finalized = plan != nullptr &&
                             plan_builder.set(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle,
                                              "the plan's handle") &&
                             plan_builder.set_descriptor(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                                         raw[static_cast<size_t>(i)], "the plan's engine config") &&
                             plan_builder.finalize(plan, "finalizing the plan");
      int64_t workspace = 0, count = 0;
      if (!finalized || !plan_builder.check(api.cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                                         CUDNN_TYPE_INT64, 1, &count, &workspace),
                                            "reading the plan's workspace size")) {
        if (refused++ == 0) first_refusal = cat("engine ", info.index, ": ", plan_builder.failure());
        continue;
      }
      if (workspace < 0 || static_cast<uint64_t>(workspace) > workspace_cap) {
        ++too_big;
        continue;
      }
      ConvGraphPlan candidate;
      candidate.graph = graph;
      candidate.engine_config = configs[static_cast<size_t>(i)];
      candidate.plan = std::make_shared<BackendDescriptor>(std::move(plan_owner.back()));
      candidate.engine = info.index;
      candidate.runtime_compiled = info.runtime_compiled;
      candidate.workspace = static_cast<size_t>(workspace);
      result.plans.push_back(std::move(candidate));
    }
    if (!result.plans.empty()) break;  // the fallback list only when the heuristics' own gave nothing
  }
  std::string note;
  if (refused > 0) note += cat(refused, " configuration(s) refused at finalize (first: ", first_refusal, ")");
  if (excluded_count > 0)
    note += cat(note.empty() ? "" : "; ", excluded_count, " excluded for ", precision_name(precision),
                " (first: ", first_exclusion, ")");
  if (too_big > 0) note += cat(note.empty() ? "" : "; ", too_big, " over the workspace cap");
  if (result.plans.empty() && note.empty())
    note = b.failure().empty() ? "cuDNN's heuristics returned no engine" : b.failure();
  return finish(note);
}

cudnnStatus_t execute_conv_graph(const CudnnApi& api, cudnnHandle_t handle, const ConvGraphPlan& plan,
                                 const ConvGraphDescription& description, const ConvGraphBindings& bindings) {
  void* pointers[8];
  int64_t uids[8];
  int64_t count = 0;
  for (const GraphTensor& tensor : description.tensors) {
    if (tensor.is_virtual() || count == 8) continue;
    void* pointer = nullptr;
    switch (tensor.role) {
      case GraphTensorRole::kInput: pointer = const_cast<void*>(bindings.input); break;
      case GraphTensorRole::kFilter: pointer = const_cast<void*>(bindings.filter); break;
      case GraphTensorRole::kBias: pointer = const_cast<void*>(bindings.bias); break;
      case GraphTensorRole::kResidual: pointer = const_cast<void*>(bindings.residual); break;
      case GraphTensorRole::kOutput: pointer = bindings.output; break;
      case GraphTensorRole::kScale: pointer = const_cast<void*>(bindings.scale); break;
      case GraphTensorRole::kOutputScale: pointer = const_cast<void*>(bindings.output_scale); break;
      case GraphTensorRole::kVirtual: break;
    }
    pointers[count] = pointer;
    uids[count] = tensor.uid;
    ++count;
  }
  cudnnBackendDescriptor_t raw = nullptr;
  cudnnStatus_t status = api.cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &raw);
  if (status != CUDNN_STATUS_SUCCESS) return status;
  const BackendDescriptor pack(raw, api.cudnnBackendDestroyDescriptor);
  void* workspace = bindings.workspace;
  if ((status = api.cudnnBackendSetAttribute(raw, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, count,
                                             pointers)) != CUDNN_STATUS_SUCCESS ||
      (status = api.cudnnBackendSetAttribute(raw, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, count, uids)) !=
          CUDNN_STATUS_SUCCESS ||
      (status = api.cudnnBackendSetAttribute(raw, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1,
                                             &workspace)) != CUDNN_STATUS_SUCCESS ||
      (status = api.cudnnBackendFinalize(raw)) != CUDNN_STATUS_SUCCESS) {
    return status;
  }
  return api.cudnnBackendExecute(handle, plan.plan->get(), raw);
}

}  // namespace cuda
}  // namespace resnet
