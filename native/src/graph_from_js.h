// Reads a Graph and the compile options out of JS values, checking every type on the way (a hostile
// object gives a Status, never a crash). Semantic checks are validate()'s (graph.h).
#pragma once

#include <napi.h>

#include <string>

#include "backend.h"
#include "graph.h"
#include "status.h"

namespace resnet {

/// Compile options as the JS side passes them: `{ backend, batch, threads?, device?, precision?, benchmark?,
/// normalization?: { scale, mean, std }, cudnn?: { graphApi?, graphCandidates?, graphBudgetMs?, verbose? } }`.
struct JsCompileOptions {
  std::string backend;
  CompileOptions compile;
};

/// Copies `value` (lib/compile/graph.ts's Graph) into a Graph, weights included. JS exceptions thrown by
/// getters propagate as Napi::Error.
Result<Graph> graph_from_js(const Napi::Value& value);

/// Reads the options above; the normalization's channel count is checked against the graph at compile.
Result<JsCompileOptions> compile_options_from_js(const Napi::Value& value);

/// Applies the `cudnn` option (`value`) over `settings` (the environment's): what it leaves out stays.
Status read_cudnn_settings(const Napi::Value& value, cuda::CudaSettings* settings);

/// A short rendering of a received JS value for error messages (sharp's "but received …").
std::string describe_js_value(const Napi::Value& value);

}  // namespace resnet
