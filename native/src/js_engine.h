// The addon's functions: compile(graph or prepared graph, options) → Promise<NativeExecutable>, and info().
#pragma once

#include <napi.h>

#include "js_env.h"

namespace resnet {

/// compile(graphOrPrepared, options): takes a NativePreparedGraph, or parses and validates a plain Graph on
/// the JS thread (copying the weights, for this compile alone), then compiles it where the backend runs
/// work. Every failure rejects the promise with a coded Error.
Napi::Value compile(const Napi::CallbackInfo& info, EnvState& state);

/// `{ addonVersion, backends: { cpu: {...}, cuda: {...} } }`.
Napi::Value info(const Napi::CallbackInfo& info);

}  // namespace resnet
