// Test-only exports of the CUDA backend's host-side logic (the addon's `testing` object): planning,
// the kernels' host emulation and the cuDNN loader's search, so CI tests them without a GPU. Each
// subject adds its functions in its own file.
#pragma once

#include <napi.h>

#include "cuda/cuda_plan.h"
#include "cuda/image_batch_plan.h"
#include "graph.h"

namespace resnet {
namespace cuda {

/// `testing.cudaPlan(graph, { batch, precision, stem })` and `testing.cudaConvGraphs` (js_plan_testing.cc).
void add_plan_testing(Napi::Env env, Napi::Object& testing);
/// `testing.cudaKernels.*`: the host emulation of every kernel (js_kernel_testing.cc).
void add_kernel_testing(Napi::Env env, Napi::Object& testing);
/// `testing.cudnnLoader.*`: the loader's candidate list and error messages (js_loader_testing.cc).
void add_loader_testing(Napi::Env env, Napi::Object& testing);
/// `testing.cudnnGraph.run`: the graph API's plan building and execution through the loaded cuDNN, for a
/// fake cuDNN in the tests (js_graph_testing.cc).
void add_graph_testing(Napi::Env env, Napi::Object& testing);
/// `testing.fp8.*`: the E4M3 conversions, the boundary kernel's host emulation and the device check of int8
/// plans (js_fp8_testing.cc).
void add_fp8_testing(Napi::Env env, Napi::Object& testing);
/// `testing.cudaPathChoice(evidence)`: each conv's path as choose_conv_path decides it (js_path_choice_testing.cc).
void add_path_choice_testing(Napi::Env env, Napi::Object& testing);
/// `testing.cudaSettings(environment, cudnn?)`: the settings an environment and a compile's `cudnn` option
/// give (js_settings_testing.cc).
void add_settings_testing(Napi::Env env, Napi::Object& testing);
/// `testing.cudaStemChoice(...)`: the stem's form as choose_stem_form decides it (js_stem_testing.cc).
void add_stem_testing(Napi::Env env, Napi::Object& testing);

/// `testing.nvjpegLoader.*` is added by add_loader_testing too (js_loader_testing.cc).
/// `testing.imageDecode.*`: JPEG headers and batch plans (js_image_testing.cc).
void add_image_testing(Napi::Env env, Napi::Object& testing);
/// `testing.gpuPreprocess.*`: the preprocessing plan and its kernel's host emulation (js_preprocess_testing.cc).
void add_preprocess_testing(Napi::Env env, Napi::Object& testing);
/// `testing.imageDecoder.choose`: which image decoder a machine's facts give (js_image_decoder.cc).
void add_image_decoder_testing(Napi::Env env, Napi::Object& testing);
/// `testing.nvjpegSession.run`: the decoder's nvJPEG calls through the loaded nvJPEG (js_nvjpeg_testing.cc).
void add_nvjpeg_testing(Napi::Env env, Napi::Object& testing);

/// A batch plan as a plain JS object (js_image_testing.cc).
Napi::Object batch_plan_to_js(Napi::Env env, const ImageBatchPlan& plan);

/// The plan of `info[0]` (a graph) with `info[1]`'s batch and precision; the parsed graph in `*graph`.
/// Throws a coded Error for anything invalid (js_plan_testing.cc).
CudaPlan plan_from_js(Napi::Env env, const Napi::CallbackInfo& info, Graph* graph);

}  // namespace cuda
}  // namespace resnet
