#include "cpu/cpu_executable.h"

#include <algorithm>
#include <cstdlib>
#include <unordered_map>

#include "cpu/dnnl_guard.h"

namespace resnet {
namespace {

// AVX-512 loads are fastest on 64-byte boundaries; every arena offset is a multiple of this.
constexpr size_t kAlignment = 64;

struct FreeDeleter {
  void operator()(void* pointer) const { std::free(pointer); }
};
using AlignedBytes = std::unique_ptr<char, FreeDeleter>;

AlignedBytes allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* pointer = std::aligned_alloc(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  if (!pointer) throw std::bad_alloc();
  return AlignedBytes(static_cast<char*>(pointer));
}

class CpuContext final : public ExecutionContext {
 public:
  AlignedBytes arena;
  AlignedBytes scratchpad;
  dnnl::stream stream;
  std::vector<dnnl::memory> views;  // by view id, bound to the arena (or, per run, to input/outputs)
  std::vector<std::unordered_map<int, dnnl::memory>> args;  // by step
  std::vector<float> converted_input;  // the input as NCHW float where it was not already, before the first step
};

}  // namespace

CpuExecutable::CpuExecutable(dnnl::engine engine, Program program, InputNormalization normalization)
    : engine_(std::move(engine)), program_(std::move(program)), normalization_(std::move(normalization)) {
  std::vector<PlanRequest> requests;
  std::vector<int> request_of(program_.buffers.size(), -1);
  for (size_t id = 0; id < program_.buffers.size(); ++id) {
    const Buffer& buffer = program_.buffers[id];
    if (buffer.kind != BufferKind::kArena) continue;
    request_of[id] = static_cast<int>(requests.size());
    requests.push_back({buffer.bytes, buffer.first_step, buffer.last_step});
  }
  const MemoryPlan arena = plan_memory(requests, kAlignment);
  plan_.arena_bytes = arena.arena_bytes;
  plan_.offsets.assign(program_.buffers.size(), 0);
  for (size_t id = 0; id < program_.buffers.size(); ++id) {
    if (request_of[id] >= 0) plan_.offsets[id] = arena.offsets[request_of[id]];
  }
  for (const Step& step : program_.steps) scratchpad_bytes_ = std::max(scratchpad_bytes_, step.scratchpad.get_size());
  for (size_t id = 0; id < program_.views.size(); ++id) {
    const Buffer& buffer = program_.buffers[program_.views[id].buffer];
    if (buffer.kind == BufferKind::kInput) {
      input_views_.push_back(static_cast<int>(id));
      input_elements_ = buffer.bytes / sizeof(float);
      const dnnl::memory::dims dims = program_.views[id].desc.dims();
      if (dims.size() == 4) {
        input_dims_ = {dims[0], dims[1], dims[2], dims[3]};
      } else {  // a graph whose input is not an image: [N, features…] as N × C × 1 × 1
        int64_t features = 1;
        for (size_t d = 1; d < dims.size(); ++d) features *= dims[d];
        input_dims_ = {dims.empty() ? 1 : dims[0], features, 1, 1};
      }
    }
    if (buffer.kind == BufferKind::kOutput) output_views_.emplace_back(static_cast<int>(id), buffer.output_index);
  }
}

Result<std::unique_ptr<ExecutionContext>> CpuExecutable::create_context() const {
  auto context = std::make_unique<CpuContext>();
  Status status = dnnl_guard("creating an execution context", [&] {
    context->arena = allocate(plan_.arena_bytes);
    context->scratchpad = allocate(scratchpad_bytes_);
    context->stream = dnnl::stream(engine_);
    for (const View& view : program_.views) {
      const Buffer& buffer = program_.buffers[view.buffer];
      void* handle = buffer.kind == BufferKind::kArena ? context->arena.get() + plan_.offsets[view.buffer] : nullptr;
      context->views.emplace_back(view.desc, engine_, handle);
    }
    for (const Step& step : program_.steps) {
      std::unordered_map<int, dnnl::memory>& args = context->args.emplace_back();
      for (const auto& [arg, view] : step.views) args.emplace(arg, context->views[view]);
      for (const auto& [arg, memory] : step.constants) args.emplace(arg, memory);
      if (step.scratchpad.get_size() > 0) {
        args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(step.scratchpad, engine_, context->scratchpad.get()));
      }
    }
    return Status();
  });
  if (!status.ok()) return status;
  return std::unique_ptr<ExecutionContext>(std::move(context));
}

Result<std::unique_ptr<InputBuffer>> CpuExecutable::acquire_input(size_t bytes) const {
  // Every block as large as the largest input (float32), so that any part of an input a run copies fits.
  const size_t block = std::max(bytes, input_elements_ * sizeof(float));
  std::unique_ptr<InputBuffer> buffer = input_pool_->acquire(block, [](size_t size) { return HeapBlock(size); });
  if (!buffer)
    return Status(Code::kOutOfMemory, cat("out of memory for a run's input (", bytes, " bytes); use a smaller batch"));
  return buffer;
}

Status CpuExecutable::run(ExecutionContext& base, const HostInput& host_input, const std::vector<float*>& outputs,
                          RunStats*) const {
  auto& context = static_cast<CpuContext&>(base);
  return dnnl_guard("running the forward pass", [&] {
    const InputFormat format = host_input.format;
    const bool plain = format.type == InputType::kFloat32 && format.layout == InputLayout::kNchw &&
                       !normalization_.applies(format.type) && host_input.segments.size() == 1 &&
                       reinterpret_cast<uintptr_t>(host_input.segments.front().data) % alignof(float) == 0;
    const float* input = plain ? static_cast<const float*>(host_input.segments.front().data) : nullptr;
    if (!plain) {
      // One pass into a float NCHW buffer (kept by the context): the gather of the segments, the element and
      // layout conversion and the normalisation that the CUDA backend fuses into its input kernel.
      context.converted_input.resize(input_elements_);
      convert_input_to_nchw_float(host_input, input_dims_[0], input_dims_[1], input_dims_[2], input_dims_[3],
                                  normalization_, context.converted_input.data());
      input = context.converted_input.data();
    }
    // oneDNN takes non-const handles; no step writes a view of the input buffer (lowering ensures it).
    for (int view : input_views_) context.views[view].set_data_handle(const_cast<float*>(input));
    for (const auto& [view, output] : output_views_) context.views[view].set_data_handle(outputs.at(output));
    for (size_t i = 0; i < program_.steps.size(); ++i) {
      const Step& step = program_.steps[i];
      const std::unordered_map<int, dnnl::memory>& args = context.args[i];
      if (step.adaptive_pool) {
        step.adaptive_pool->run(static_cast<const float*>(args.at(DNNL_ARG_SRC).get_data_handle()),
                                static_cast<float*>(args.at(DNNL_ARG_DST).get_data_handle()));
      } else {
        step.primitive.execute(context.stream, args);
      }
    }
    context.stream.wait();
    return Status();
  });
}

}  // namespace resnet
