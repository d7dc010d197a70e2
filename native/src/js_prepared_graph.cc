#include "js_prepared_graph.h"

#include "graph_from_js.h"
#include "js_error.h"

namespace resnet {
namespace {

// prepare() hands its graph to the constructor through here (as NativeExecutable::create does): the
// constructor runs synchronously inside prepare(), and `new NativePreparedGraph()` from JS finds nothing.
thread_local std::shared_ptr<PreparedGraph>* constructing = nullptr;

}  // namespace

Napi::Function NativePreparedGraph::define(Napi::Env env) {
  return DefineClass(env, "NativePreparedGraph", {InstanceMethod<&NativePreparedGraph::dispose>("dispose")});
}

NativePreparedGraph::NativePreparedGraph(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativePreparedGraph>(info) {
  if (!constructing) {
    throw make_error(info.Env(), Status(Code::kInvalidArgument,
                                        "NativePreparedGraph instances come from prepare(); do not construct them"));
  }
  graph_ = std::move(*constructing);
  constructing = nullptr;
}

void NativePreparedGraph::dispose(const Napi::CallbackInfo&) { graph_.reset(); }

Result<std::shared_ptr<PreparedGraph>> NativePreparedGraph::unwrap(const EnvState& state, const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(state.prepared_graph_class.Value())) {
    return std::shared_ptr<PreparedGraph>();
  }
  NativePreparedGraph* prepared = NativePreparedGraph::Unwrap(value.As<Napi::Object>());
  if (!prepared || !prepared->graph_) {
    return Status(Code::kDisposed, "This prepared graph was disposed; prepare the graph again to compile it");
  }
  return prepared->graph_;
}

Napi::Value prepare(const Napi::CallbackInfo& info, EnvState& state) {
  Napi::Env env = info.Env();
  try {
    Result<Graph> graph = graph_from_js(info[0]);
    if (!graph.ok()) throw make_error(env, graph.status());
    // Batch-dependent limits are checked again by each compile, for its batch.
    Status valid = validate(graph.value(), 1);
    if (!valid.ok()) throw make_error(env, valid);
    auto prepared = std::make_shared<PreparedGraph>(graph.take());
    constructing = &prepared;
    Napi::Object object;
    try {
      object = state.prepared_graph_class.New({});
    } catch (...) {
      constructing = nullptr;
      throw;
    }
    constructing = nullptr;
    return object;
  } catch (const std::bad_alloc&) {
    throw make_error(env, Status(Code::kOutOfMemory, "prepare: out of memory for the graph's weights"));
  }
}

}  // namespace resnet
