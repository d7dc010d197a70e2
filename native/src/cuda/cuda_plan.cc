#include "cuda/cuda_plan.h"

#include <algorithm>

#include "cuda/plan_fp8.h"
#include "cuda/plan_layout.h"
#include "cuda/plan_stem.h"
#include "memory_plan.h"

namespace resnet {
namespace cuda {
namespace {

// Bound on the arena's and the weight blob's total request; far above any device, it keeps every offset
// computation (here and in plan_memory) clear of size_t overflow.
constexpr size_t kMaxPlanBytes = size_t{1} << 60;

size_t align_up(size_t bytes) { return (bytes + kDeviceAlignment - 1) & ~(kDeviceAlignment - 1); }

// `*total` += aligned `bytes`, or false once the total passes kMaxPlanBytes.
bool add_aligned(size_t bytes, size_t* total) {
  if (bytes > kMaxPlanBytes || *total > kMaxPlanBytes) return false;
  *total += align_up(bytes);
  return *total <= kMaxPlanBytes;
}

class Planner {
 public:
  Planner(const Graph& graph, int64_t batch, Precision precision) : graph_(graph) {
    plan_.batch = batch;
    plan_.precision = precision;
    plan_.storage = storage_of(precision);
  }

  Result<CudaPlan> run() {
    RESNET_ASSIGN_OR_RETURN(layout_, plan_layout(graph_, channel_multiple(plan_.storage)));
    plan_.notes = layout_.notes;
    if (plan_.precision == Precision::kInt8) {
      fp8_ = plan_fp8(graph_, layout_);
      plan_.notes.insert(plan_.notes.end(), fp8_.notes.begin(), fp8_.notes.end());
    }
    place_values();
    first_.assign(plan_.values.size(), -1);
    last_.assign(plan_.values.size(), -1);
    add_input_step();
    for (size_t i = 0; i < graph_.ops.size(); ++i) add_op_step(static_cast<int>(i));
    add_output_steps();
    plan_.stem = plan_stem(graph_, plan_);
    RESNET_RETURN_IF_ERROR(place_arena());
    RESNET_RETURN_IF_ERROR(place_weights());
    return std::move(plan_);
  }

 private:
  // Geometry and size of every value (no offsets yet); in an int8 plan each value's storage, and after the
  // graph's values the copies that conversion steps write in the other storage (plan_fp8.h).
  void place_values() {
    plan_.values.resize(graph_.values.size());
    for (size_t id = 0; id < graph_.values.size(); ++id) {
      const ValueLayout& layout = layout_.values[id];
      DeviceValue& value = plan_.values[id];
      value.n = plan_.batch;
      value.h = layout.h;
      value.w = layout.w;
      value.channels = layout.channels;
      value.stored_channels = layout.stored_channels;
      value.alias_of = layout.alias_of;
      value.storage = fp8_.storage.empty() ? plan_.storage : fp8_.storage[id];
      set_bytes(value, id);
    }
    copy_.assign(graph_.values.size(), -1);
    for (size_t id = 0; id < fp8_.storage.size(); ++id) {
      if (!fp8_.needs_fp8_copy[id] && !fp8_.needs_fp16_copy[id]) continue;
      DeviceValue copy = plan_.values[id];
      copy.output_index = -1;
      copy.storage = fp8_.needs_fp8_copy[id] ? StorageType::kFloat8E4M3 : StorageType::kFloat16;
      set_bytes(copy, id);
      copy_[id] = static_cast<int>(plan_.values.size());
      plan_.values.push_back(copy);
    }
    const Shape& input = graph_.values[graph_.input];
    plan_.input_channels = input[0];
    plan_.input_h = input.size() == 3 ? input[1] : 1;
    plan_.input_w = input.size() == 3 ? input[2] : 1;
  }

  // Bytes and FP8 scale of `value`, the device form of graph value `id`.
  void set_bytes(DeviceValue& value, size_t id) const {
    // validate() bounds batch·numel·4 by 2^48 and padding multiplies channels by at most 8: no overflow.
    value.bytes = static_cast<size_t>(value.n * value.h * value.w * value.stored_channels) *
                  storage_bytes(value.storage);
    value.fp8_scale = value.storage == StorageType::kFloat8E4M3 ? fp8_scale_of(graph_.quant[id]) : 0.0f;
  }

  // The form of graph value `id` a reader takes: FP8 for an FP8 conv's source, FP16 (or the plan's storage)
  // for every other reader; the value itself when it is stored so, else its converted copy.
  int read_as(int id, bool fp8) const {
    if (id < 0 || copy_.empty()) return id;
    const bool stored_fp8 = plan_.values[static_cast<size_t>(id)].storage == StorageType::kFloat8E4M3;
    return stored_fp8 == fp8 || copy_[static_cast<size_t>(id)] < 0 ? id : copy_[static_cast<size_t>(id)];
  }

  // After the step that writes graph value `id`: the conversion into its copy in the other storage, if any.
  void add_conversion(int id) {
    if (copy_.empty() || copy_[static_cast<size_t>(id)] < 0) return;
    const DeviceValue& copy = plan_.values[static_cast<size_t>(copy_[static_cast<size_t>(id)])];
    Step step;
    step.kind = StepKind::kConvert;
    step.src = id;
    step.dst = copy_[static_cast<size_t>(id)];
    const float s8 = fp8_scale_of(graph_.quant[static_cast<size_t>(id)]);
    step.scale = copy.storage == StorageType::kFloat8E4M3 ? 1.0f / s8 : s8;
    add_step(step);
  }

  // The folded epilogue of an FP8 conv (plan_fp8.h): d, o and γ from the storages of what it reads and writes.
  void set_fp8_epilogue(Step& step) const {
    step.fp8 = true;
    const DeviceValue& y = plan_.values[static_cast<size_t>(step.dst)];
    const float o = y.storage == StorageType::kFloat8E4M3 ? y.fp8_scale : 1.0f;
    float d = o;
    if (step.residual >= 0) {
      const DeviceValue& r = plan_.values[static_cast<size_t>(step.residual)];
      d = r.storage == StorageType::kFloat8E4M3 ? r.fp8_scale : 1.0f;
    }
    step.fp8_divisor = d;
    step.output_scale = d / o;
  }

  // The value whose memory `id` uses.
  int memory_of(int id) const { return plan_.values[id].alias_of >= 0 ? plan_.values[id].alias_of : id; }

  void note_write(int id, int step) {
    const int memory = memory_of(id);
    if (first_[memory] < 0) first_[memory] = step;
    last_[memory] = std::max(last_[memory], step);
  }
  void note_read(int id, int step) { last_[memory_of(id)] = std::max(last_[memory_of(id)], step); }

  int next_step() const { return static_cast<int>(plan_.steps.size()); }

  // Appends `step`, noting what it reads and writes for the lifetimes.
  void add_step(const Step& step) {
    const int index = next_step();
    for (int id : {step.src, step.src2, step.residual}) {
      if (id >= 0) note_read(id, index);
    }
    if (step.dst >= 0) note_write(step.dst, index);
    plan_.steps.push_back(step);
  }

  void add_input_step() {
    Step step;
    step.kind = StepKind::kInput;
    step.dst = graph_.input;
    add_step(step);
    add_conversion(graph_.input);
  }

  void add_op_step(int index) {
    const Op& op = graph_.ops[index];
    Step step;
    step.op_index = index;
    step.src = op.src;
    step.dst = op.dst;
    step.relu = op.relu;
    switch (op.kind) {
      case OpKind::kConv:
        step.kind = StepKind::kConv;
        step.residual = op.residual;
        step.groups = layout_.conv_groups[index];
        step.kernel = op.kernel;
        step.stride = op.stride;
        step.padding = op.padding;
        step.dilation = op.dilation;
        break;
      case OpKind::kLinear: {
        // PyTorch's flatten→linear, as a conv whose window is the whole source feature map: with the weight's
        // columns reordered from (c, h, w) to KRSC by pack_weights, the dot products are the same.
        const DeviceValue& source = plan_.values[op.src];
        step.kind = StepKind::kConv;
        step.kernel = Pair{source.h, source.w};
        break;
      }
      case OpKind::kMaxPool:
        step.kind = StepKind::kMaxPool;
        step.kernel = op.kernel;
        step.stride = op.stride;
        step.padding = op.padding;
        step.dilation = op.dilation;
        step.ceil_mode = op.ceil_mode;
        break;
      case OpKind::kAdaptiveAvgPool: step.kind = StepKind::kAdaptiveAvgPool; break;
      case OpKind::kAdd:
        step.kind = StepKind::kAdd;
        step.src2 = op.src2;
        break;
      case OpKind::kRelu:
        step.kind = StepKind::kRelu;
        step.relu = true;
        break;
      case OpKind::kFlatten: return;  // an alias: its readers read the source's memory (plan_layout)
    }
    const bool fp8 = !fp8_.fp8_conv.empty() && fp8_.fp8_conv[static_cast<size_t>(index)];
    step.src = read_as(step.src, fp8);
    step.src2 = read_as(step.src2, false);
    if (fp8) {
      set_fp8_epilogue(step);  // the residual read as stored, FP8 or FP16
    } else {
      step.residual = read_as(step.residual, false);
    }
    add_step(step);
    add_conversion(op.dst);
  }

  void add_output_steps() {
    for (size_t i = 0; i < graph_.outputs.size(); ++i) {
      const int id = read_as(graph_.outputs[i], false);
      Step step;
      step.kind = StepKind::kOutput;
      step.src = id;
      step.output_index = static_cast<int>(i);
      add_step(step);
      if (plan_.values[id].output_index < 0) plan_.values[id].output_index = static_cast<int>(i);
      plan_.output_elements.push_back(plan_.batch * numel(graph_.values[graph_.outputs[i]]));
    }
  }

  // One arena request per value that owns memory and is written, alive from its write to its last read.
  // Two values alive at one step never overlap, which also keeps a fused conv's residual (read at the
  // conv's step) apart from its output (written there): cuDNN's z and y must not alias. The graph input
  // gets room for the largest of the stem's forms.
  Status place_arena() {
    std::vector<PlanRequest> requests;
    std::vector<int> owners;
    size_t total = 0;
    for (size_t id = 0; id < plan_.values.size(); ++id) {
      if (plan_.values[id].alias_of >= 0 || first_[id] < 0) continue;
      size_t bytes = plan_.values[id].bytes;
      if (static_cast<int>(id) == graph_.input) bytes = std::max(bytes, plan_.stem.input_arena_bytes);
      RESNET_CHECK(add_aligned(bytes, &total), Code::kInvalidShape,
                   cat("The activations of this graph at batch ", plan_.batch,
                       " need more than 2^60 bytes: use a smaller input or batch"));
      requests.push_back(PlanRequest{bytes, first_[id], last_[id]});
      owners.push_back(static_cast<int>(id));
    }
    const MemoryPlan arena = plan_memory(requests, kDeviceAlignment);
    for (size_t i = 0; i < owners.size(); ++i) plan_.values[owners[i]].arena_offset = arena.offsets[i];
    for (DeviceValue& value : plan_.values) {
      if (value.alias_of >= 0) value.arena_offset = plan_.values[value.alias_of].arena_offset;
    }
    plan_.arena_bytes = arena.arena_bytes;
    return Status();
  }

  // The blob: per conv step, its filter then its bias, each at an aligned offset; then the stem's filter in
  // each form but direct (whose filter is the step's own), so that the steps' entries do not depend on them.
  Status place_weights() {
    const size_t element = storage_bytes(plan_.storage);
    size_t end = 0;
    for (Step& step : plan_.steps) {
      if (step.kind != StepKind::kConv) continue;
      if (step.fp8) {
        RESNET_RETURN_IF_ERROR(place_fp8_weights(step, &end));
        continue;
      }
      const DeviceValue& x = plan_.values[step.src];
      const DeviceValue& y = plan_.values[step.dst];
      const size_t k = static_cast<size_t>(y.stored_channels);
      // validate() bounds the graph's weights by 2^46 floats; padding multiplies them by at most 64.
      step.filter_bytes = k * static_cast<size_t>(step.kernel.h * step.kernel.w) *
                          static_cast<size_t>(x.stored_channels / step.groups) * element;
      step.bias_bytes = k * sizeof(float);
      step.filter_offset = end;
      const bool fits = add_aligned(step.filter_bytes, &end);
      step.bias_offset = end;
      RESNET_CHECK(fits && add_aligned(step.bias_bytes, &end), Code::kInvalidShape,
                   "The packed weights of this graph need more than 2^60 bytes");
    }
    for (StemOption& option : plan_.stem.forms) {
      const Step& step = plan_.steps[static_cast<size_t>(plan_.stem.step)];
      if (option.form == StemForm::kDirect) {
        option.filter_offset = step.filter_offset;
        option.filter_bytes = step.filter_bytes;
        continue;
      }
      // Small (a stem's filter): no overflow.
      option.filter_bytes = static_cast<size_t>(plan_.values[static_cast<size_t>(step.dst)].stored_channels *
                                                option.kernel.h * option.kernel.w * option.stored_channels) *
                            element;
      option.filter_offset = end;
      RESNET_CHECK(add_aligned(option.filter_bytes, &end), Code::kInvalidShape,
                   "The packed weights of this graph need more than 2^60 bytes");
    }
    plan_.weight_blob_bytes = end;
    return Status();
  }

  // An FP8 conv's entries: its filter codes (1 byte each), β, α and, when γ ≠ 1, γ.
  Status place_fp8_weights(Step& step, size_t* end) {
    const DeviceValue& x = plan_.values[static_cast<size_t>(step.src)];
    const size_t k = static_cast<size_t>(plan_.values[static_cast<size_t>(step.dst)].stored_channels);
    step.filter_bytes = k * static_cast<size_t>(step.kernel.h * step.kernel.w * x.stored_channels);
    step.bias_bytes = k * sizeof(float);
    step.scale_bytes = k * sizeof(float);
    step.output_scale_bytes = step.output_scale != 1.0f ? sizeof(float) : 0;
    bool fits = true;
    step.filter_offset = *end;
    fits = fits && add_aligned(step.filter_bytes, end);
    step.bias_offset = *end;
    fits = fits && add_aligned(step.bias_bytes, end);
    step.scale_offset = *end;
    fits = fits && add_aligned(step.scale_bytes, end);
    if (step.output_scale_bytes > 0) {
      step.output_scale_offset = *end;
      fits = fits && add_aligned(step.output_scale_bytes, end);
    }
    RESNET_CHECK(fits, Code::kInvalidShape, "The packed weights of this graph need more than 2^60 bytes");
    return Status();
  }

  const Graph& graph_;
  CudaPlan plan_;
  GraphLayout layout_;
  Fp8Layout fp8_;                  // int8 plans only (empty otherwise)
  std::vector<int> copy_;          // by graph value: the id of its converted copy, or -1
  std::vector<int> first_, last_;  // by value id (owners of memory only): steps of the first write, last use
};

}  // namespace

size_t storage_bytes(StorageType type) {
  switch (type) {
    case StorageType::kFloat32: return 4;
    case StorageType::kFloat16:
    case StorageType::kBFloat16: return 2;
    case StorageType::kFloat8E4M3: return 1;
  }
  return 4;
}

const char* storage_name(StorageType type) {
  switch (type) {
    case StorageType::kFloat32: return "float32";
    case StorageType::kFloat16: return "float16";
    case StorageType::kBFloat16: return "bfloat16";
    case StorageType::kFloat8E4M3: return "float8_e4m3";
  }
  return "unknown";
}

StorageType storage_of(Precision precision) {
  switch (precision) {
    case Precision::kFloat32:
    case Precision::kTf32: return StorageType::kFloat32;
    case Precision::kFloat16: return StorageType::kFloat16;
    case Precision::kBFloat16: return StorageType::kBFloat16;
    case Precision::kInt8: return StorageType::kFloat16;  // the layers a quantized graph keeps in floats
  }
  return StorageType::kFloat32;
}

int64_t channel_multiple(StorageType type) { return static_cast<int64_t>(16 / storage_bytes(type)); }

const char* step_kind_name(StepKind kind) {
  switch (kind) {
    case StepKind::kInput: return "input";
    case StepKind::kConv: return "conv";
    case StepKind::kMaxPool: return "maxpool";
    case StepKind::kAdaptiveAvgPool: return "adaptive_avgpool";
    case StepKind::kAdd: return "add";
    case StepKind::kRelu: return "relu";
    case StepKind::kOutput: return "output";
    case StepKind::kConvert: return "convert";
  }
  return "unknown";
}

Result<CudaPlan> plan_cuda(const Graph& graph, int64_t batch, Precision precision) {
  return Planner(graph, batch, precision).run();
}

}  // namespace cuda
}  // namespace resnet
