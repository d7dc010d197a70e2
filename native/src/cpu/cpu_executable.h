// The CPU executable: a lowered Program plus its memory plan. Contexts own an arena laid out by the plan,
// a oneDNN stream and the argument maps of every step, built once so a run only binds the input and
// output arrays and executes.
#pragma once

#include <array>
#include <memory>

#include "backend.h"
#include "memory_plan.h"
#include "cpu/program.h"

namespace resnet {

class CpuExecutable final : public Executable {
 public:
  CpuExecutable(dnnl::engine engine, Program program, InputNormalization normalization);

  size_t weight_bytes() const override { return program_.weight_bytes; }
  size_t shared_weight_bytes() const override { return program_.shared_weight_bytes; }
  size_t activation_bytes() const override { return plan_.arena_bytes + scratchpad_bytes_; }
  Result<std::unique_ptr<ExecutionContext>> create_context() const override;
  Result<std::unique_ptr<InputBuffer>> acquire_input(size_t bytes) const override;
  Status run(ExecutionContext& context, const HostInput& input, const std::vector<float*>& outputs,
             RunStats* stats) const override;

 private:
  dnnl::engine engine_;
  Program program_;
  MemoryPlan plan_;                                // offsets of the arena buffers, by buffer id (0 for the others)
  size_t scratchpad_bytes_ = 0;                    // the largest scratchpad of any step (steps run one at a time)
  std::vector<int> input_views_;                   // views of the input buffer, bound to the caller's input per run
  std::vector<std::pair<int, int>> output_views_;  // (view, graph output) bound to the result arrays per run
  InputNormalization normalization_;
  // Two idle input buffers: one run computing while the next one's input is copied.
  std::shared_ptr<InputBufferPool<HeapBlock>> input_pool_ =
      std::make_shared<InputBufferPool<HeapBlock>>(2, [](HeapBlock) {});
  size_t input_elements_ = 0;                      // batch included
  std::array<int64_t, 4> input_dims_{0, 1, 1, 1};  // N, C, H, W of the input
};

}  // namespace resnet
