// NativePreparedGraph: the JS handle of a PreparedGraph (backend.h). prepare() validates the graph and
// copies its weights on the JS thread, once; compile() accepts the handle in place of a Graph, and the
// executables it makes share weight memory. dispose() drops this handle's reference: executables and
// compiles already queued keep what they need.
#pragma once

#include <napi.h>

#include <memory>

#include "backend.h"
#include "js_env.h"

namespace resnet {

class NativePreparedGraph : public Napi::ObjectWrap<NativePreparedGraph> {
 public:
  /// The class, for `exports.NativePreparedGraph`; JS cannot construct it usefully.
  static Napi::Function define(Napi::Env env);
  /// The PreparedGraph behind `value` when it is a NativePreparedGraph of this environment: null when it
  /// is not one (a plain Graph, say), ERR_DISPOSED when it was disposed.
  static Result<std::shared_ptr<PreparedGraph>> unwrap(const EnvState& state, const Napi::Value& value);

  explicit NativePreparedGraph(const Napi::CallbackInfo& info);

 private:
  void dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<PreparedGraph> graph_;
};

/// prepare(graph): parses and validates `graph` (copying its weights) into a new NativePreparedGraph.
/// Throws a coded Error for a graph compile() would reject the same way.
Napi::Value prepare(const Napi::CallbackInfo& info, EnvState& state);

}  // namespace resnet
