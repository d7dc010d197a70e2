// The addon's functions: compile(graph, options) → Promise<NativeExecutable>, and info().
#pragma once

#include <napi.h>

#include "js_env.h"

namespace resnet {

/// Parses and validates the graph on the JS thread (copying the weights), then compiles it where the
/// backend runs work. Every failure rejects the promise with a coded Error.
Napi::Value compile(const Napi::CallbackInfo& info, EnvState& state);

/// `{ addonVersion, backends: { cpu: {...}, cuda: {...} } }`.
Napi::Value info(const Napi::CallbackInfo& info);

}  // namespace resnet
