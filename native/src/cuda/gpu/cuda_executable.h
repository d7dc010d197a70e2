// The CUDA executable: a CudaPlan turned into cuDNN descriptors and algorithm choices (ConvLayer), the
// device weights (shared by every batch size of a prepared graph), and the run: stage the host input in
// pinned memory, replay the context's CUDA graph (input copy, input conversion, every step, output
// conversions, output copy), wait for the stream, and copy the outputs out. Nothing here re-derives a
// shape: every size comes from the plan.
//
// Compiling decides, on a scratch context that then serves the first runs, which of three paths each conv
// takes: the graph API's plan (conv_graph.h: conv + bias + residual + relu in one engine), the legacy fused
// call (cudnnConvolutionBiasActivationForward), or cudnnConvolutionForward + the epilogue kernel. Each step
// gathers evidence for every conv, and conv_path_choice.h turns it into the path (applied after each step):
//   1. The legacy algorithms (heuristics, or timing with `benchmark`), and the graph API's execution plans
//      (cuDNN's heuristics; one plan, or with `benchmark` up to three, per distinct conv graph; off with the
//      settings' graph_api: cuda_settings.h).
//   2. A trial run of the whole forward on pseudo-random input, uncaptured: whether cuDNN runs the fused call,
//      and how far each graph plan's output is from the legacy path's (executable_trial.cc).
//   3. With `benchmark`, every path of every conv is timed (executable_trial.cc).
//   4. The workspace every context holds (the largest any conv's chosen path needs), and a capture of the
//      forward into a CUDA graph, with the graph plans and, if that fails, without (executable_capture.cc).
// Before all of these, the stem's form (stem_choice.h): the plan is laid out for each form it offers, each is
// timed with the input conversion that feeds it, and the plan keeps the fastest (executable_stem.cc).
// The methods live by job: this file's .cc builds (create() runs the steps), executable_stem.cc chooses the
// stem's form, executable_trial.cc gathers the trial's and the timing's evidence, executable_enqueue.cc
// enqueues steps, executable_capture.cc captures, executable_run.cc runs, executable_describe.cc describes.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend.h"
#include "cuda/cuda_plan.h"
#include "cuda/cuda_settings.h"
#include "cuda/cudnn_loader.h"
#include "cuda/gpu/conv_layer.h"
#include "cuda/gpu/cuda_context.h"
#include "cuda/gpu/device_memory.h"
#include "cuda/gpu/device_weights.h"
#include "cuda/stem_choice.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// Relative L2 distance of `actual` from `expected` (`count` elements of `storage`); NaN anywhere gives NaN.
double relative_l2(const std::vector<uint8_t>& actual, const std::vector<uint8_t>& expected, StorageType storage,
                   size_t count);

class CudaExecutable final : public Executable {
 public:
  /// Builds the executable for `plan` on `device` (current on this thread); see the top of the file.
  /// `shared_weights`: whether `weights` came from an earlier executable.
  static Result<std::shared_ptr<CudaExecutable>> create(const CudnnLibrary& cudnn, int device, CudaPlan plan,
                                                        std::shared_ptr<const DeviceWeights> weights,
                                                        bool shared_weights, const CompileOptions& options);

  /// Frees the device memory it owns on a GPU worker (see CudaContext).
  ~CudaExecutable() override;

  size_t weight_bytes() const override { return weights_->bytes(); }
  size_t shared_weight_bytes() const override { return shared_weights_ ? weights_->bytes() : 0; }
  size_t activation_bytes() const override { return plan_.arena_bytes + workspace_bytes_; }
  Result<std::unique_ptr<ExecutionContext>> create_context() const override;
  /// Pinned host memory from a pool of up to 4 idle buffers: the GPU copies the input from it by DMA.
  Result<std::unique_ptr<InputBuffer>> acquire_input(size_t bytes) const override;
  Status run(ExecutionContext& context, const HostInput& input, const std::vector<float*>& outputs,
             RunStats* stats) const override;

  /// What compiling chose, for humans: sizes, per conv its algorithm and path (fused or not, and why),
  /// the counts of both, whether runs replay a CUDA graph, and the plan's notes.
  std::string describe() const override;

 private:
  // Pinned blocks given back after the pool is gone are freed on a GPU worker (cudaFreeHost synchronises).
  std::shared_ptr<InputBufferPool<PinnedBuffer>> input_pool_ =
      std::make_shared<InputBufferPool<PinnedBuffer>>(4, [](PinnedBuffer block) { release_pinned(std::move(block)); });
  static void release_pinned(PinnedBuffer block);

  CudaExecutable(const CudnnLibrary& cudnn, int device, CudaPlan plan, std::shared_ptr<const DeviceWeights> weights,
                 bool shared_weights, const CompileOptions& options);

  // Captures refused in a row before an input format runs eagerly for good: a capture may fail once because
  // another thread did something capture-unsafe at that moment (a ROCm thread reports this for NVIDIA even in
  // thread-local mode), which says nothing about the next.
  static constexpr int kCaptureAttempts = 3;
  /// The path `layer`'s evidence supports, from now on.
  static void apply_choice(ConvLayer& layer) { layer.choice = choose_conv_path(layer.evidence); }

  /// Before the layers are built: the stem's form, forced by the settings or timed on `scratch` (stem_choice.h),
  /// and plan_ laid out for it; the graph plans built for its stem are kept for build_graph_plans.
  Status choose_stem(CudaContext& scratch, bool benchmark);
  /// What form `form` (plan_ is laid out for it) shows: each path of its stem conv run once after the input
  /// conversion and checked against `reference` (direct's conv + epilogue output, which the first call fills),
  /// the ones within tolerance timed together with the input conversion.
  Result<StemFormEvidence> try_stem_form(CudaContext& scratch, StemForm form, bool benchmark,
                                         std::vector<uint8_t>* reference);
  /// The first and the last image of value `value` (NHWC: each contiguous), copied to the host.
  Status read_first_and_last(CudaContext& context, int value, std::vector<uint8_t>* host) const;
  /// A cuDNN handle of the executable's own for building graph plans (see build_graph_plans); false, with
  /// graph_off_reason_ set, when none can be made.
  bool make_build_handle();
  Status build_layers(const CompileOptions& options);
  Status upload_normalization(const InputNormalization& normalization);
  Status choose_algorithms(CudaContext& scratch, bool benchmark);
  /// Step 1's graph plans for every conv (identical conv graphs share their plans).
  void build_graph_plans(bool benchmark);
  /// Pseudo-random float32 input for the trial run (the first image; the rest zero).
  Status fill_trial_input(CudaContext& scratch);
  Status trial_run(CudaContext& scratch);
  /// Runs each graph plan of `layer` after its legacy path has written the output: how far each is from it.
  Status verify_graph_plans(CudaContext& scratch, ConvLayer& layer);
  Status time_paths(CudaContext& scratch);
  /// Milliseconds per call of `enqueue` (after one warm-up call), timed with events on the context's stream.
  Result<float> time_calls(CudaContext& context, const std::string& what, const std::function<Status()>& enqueue) const;
  /// Size the workspace for the chosen paths, then step 4's capture (and its fallback).
  Status settle_workspace_and_capture(CudaContext& scratch);
  /// The workspace the chosen paths need, on `scratch` too.
  Status settle_workspace(CudaContext& scratch);
  /// Captures the forward for `format` into the context's graph: "" when it worked, else why not; out of GPU
  /// memory is an error.
  Result<std::string> try_capture(CudaContext& context, InputFormat format) const;
  /// After a graph plan's call failed: OK when the device is healthy (the plan is then dropped), the CUDA
  /// error when it is not.
  Status graph_call_failed(CudaContext& context, const std::string& what) const;
  ContextSizes context_sizes(size_t workspace) const;
  Result<std::unique_ptr<CudaContext>> make_context(size_t workspace) const;

  /// Enqueues the whole forward for `format` on the context's stream: H2D copy, every step, D2H copy.
  Status enqueue_forward(CudaContext& context, InputFormat format) const;
  /// Enqueues step `index`; a conv takes its recorded path.
  Status enqueue_step(CudaContext& context, size_t index, InputFormat format) const;
  Status enqueue_conv(CudaContext& context, const ConvLayer& layer, ConvMode mode) const;
  /// cudnnConvolutionBiasActivationForward for `layer` on the context's stream, cuDNN's status as is.
  cudnn::cudnnStatus_t call_fused(CudaContext& context, const ConvLayer& layer) const;
  /// The graph plan `plan` of `layer` on the context's stream (serialised: see conv_graph.h), status as is.
  cudnn::cudnnStatus_t call_graph(CudaContext& context, const ConvLayer& layer, const ConvGraphPlan& plan) const;
  /// Captures the forward for `format` into the context's graph. When the capture itself fails, records why
  /// and leaves the graph empty (runs of every context then launch eagerly); fails only for lack of memory.
  Status capture(CudaContext& context, InputFormat format) const;
  /// After a failed run: drains the stream and clears the thread's non-sticky error, so the context can run again.
  void recover(CudaContext& context) const;

  void* value_pointer(CudaContext& context, int value) const {
    return context.arena() + plan_.values[static_cast<size_t>(value)].arena_offset;
  }
  size_t input_bytes(InputType type) const { return input_elements_ * input_element_bytes(type); }

  const CudnnApi& api_;
  const int device_;
  CudaPlan plan_;  // laid out for the stem's form by choose_stem, at the start of create(); read-only after
  std::shared_ptr<const DeviceWeights> weights_;  // moved out only by the destructor
  const bool shared_weights_;
  const CudaSettings settings_;
  CudnnHandle build_handle_;  // the graph API's plans were built with it (destroyed after them: see ~)
  std::vector<ConvLayer> layers_;
  std::vector<int> layer_of_step_;         // by step index: index in layers_, or -1
  uint32_t normalization_applies_to_ = 0;  // a bit per InputType (InputNormalization::applies_to)
  float scale_ = 1.0f;
  DeviceBuffer normalization_;  // mean[C] then inv_std[C], floats
  size_t input_elements_ = 0;
  std::vector<size_t> output_offsets_;  // bytes into the output staging, by graph output
  size_t output_bytes_ = 0;
  size_t workspace_bytes_ = 0;
  // The graph API: whether it was tried, how long building its plans took, and why its plans were dropped
  // after the capture check (empty when they were not).
  bool graph_api_ = false;
  double graph_build_ms_ = 0;
  std::string graph_capture_note_;
  std::string graph_off_reason_;   // why the graph API was not tried
  std::string graph_budget_note_;  // convs left without plans because building them took too long
  // The stem: how its form was chosen (describe()'s "stem:" line), and the graph plans built for the chosen
  // form's stem while timing it, by graph description, for build_graph_plans to take over.
  std::string stem_note_;
  std::map<std::string, ConvGraphPlans> stem_graph_plans_;
  // Every graph plan a conv may run, held by each context too (see build_graph_plans).
  std::shared_ptr<const std::vector<ConvGraphPlan>> graph_plans_alive_;
  mutable std::mutex graph_execute_mutex_;  // execution plans are not executed from two threads at once

  // The compile's scratch context, handed to the first create_context() (the pool's first context).
  mutable std::mutex spare_mutex_;
  mutable std::unique_ptr<CudaContext> spare_;
  // Per input format: captures refused (every context would fail alike), and why.
  mutable std::atomic<int> capture_failures_[kInputFormatCount] = {};  // captures refused, by input format
  mutable std::atomic<bool> format_used_[kInputFormatCount] = {};      // formats runs have taken (describe)
  mutable std::mutex capture_note_mutex_;
  mutable std::string capture_note_[kInputFormatCount];
};

}  // namespace cuda
}  // namespace resnet
