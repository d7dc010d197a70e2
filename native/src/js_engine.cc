#include "js_engine.h"

#include "backend.h"
#include "cuda/js_image_decoder.h"
#include "graph_from_js.h"
#include "js_error.h"
#include "js_executable.h"
#include "js_prepared_graph.h"

#ifndef RESNET_ADDON_VERSION
#error "RESNET_ADDON_VERSION must be defined by the build (the package.json version)"
#endif

namespace resnet {
namespace {

class CompileJob final : public AsyncJob {
 public:
  CompileJob(Napi::Env env, EnvState& state, Backend* backend, std::shared_ptr<PreparedGraph> graph,
             CompileOptions options)
      : AsyncJob(env), state_(state), backend_(backend), graph_(std::move(graph)), options_(options) {}

  void execute() override {
    const Graph& graph = graph_->graph();
    Result<std::shared_ptr<Executable>> executable = backend_->compile(*graph_, options_);
    if (!executable.ok()) {
      status_ = executable.status();
      return;
    }
    auto pool = std::make_shared<ContextPool>(executable.take());
    // One context now, so that a failing allocation shows at compile time rather than at the first run.
    Result<std::unique_ptr<ExecutionContext>> context = pool->executable().create_context();
    if (!context.ok()) {
      status_ = context.status();
      return;
    }
    pool->add(context.take());
    compiled_.pool = std::move(pool);
    compiled_.backend = backend_;
    compiled_.threads = options_.threads;
    compiled_.batch = options_.batch;
    compiled_.input_shape = graph.values[graph.input];
    compiled_.input_elements = options_.batch * numel(compiled_.input_shape);
    for (int output : graph.outputs) compiled_.output_elements.push_back(options_.batch * numel(graph.values[output]));
    // The weights now live in the backend's layout; a graph prepared for this compile alone dies here.
    graph_.reset();
  }

  void settle(Napi::Env env, const Napi::Promise::Deferred& deferred) override {
    if (!status_.ok()) {
      deferred.Reject(make_error(env, status_).Value());
      return;
    }
    deferred.Resolve(NativeExecutable::create(state_, std::move(compiled_)));
  }

 private:
  EnvState& state_;
  Backend* backend_;
  std::shared_ptr<PreparedGraph> graph_;
  CompileOptions options_;
  CompiledGraph compiled_;
  Status status_;
};

Napi::Value to_js(Napi::Env env, const InfoValue& value) {
  if (const bool* flag = std::get_if<bool>(&value)) return Napi::Boolean::New(env, *flag);
  if (const double* number = std::get_if<double>(&value)) return Napi::Number::New(env, *number);
  if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
    Napi::Array array = Napi::Array::New(env, list->size());
    for (size_t i = 0; i < list->size(); ++i) array.Set(static_cast<uint32_t>(i), Napi::String::New(env, (*list)[i]));
    return array;
  }
  return Napi::String::New(env, std::get<std::string>(value));
}

}  // namespace

Napi::Value compile(const Napi::CallbackInfo& info, EnvState& state) {
  Napi::Env env = info.Env();
  return promise_boundary(env, "compile", [&]() -> Napi::Value {
    Result<std::shared_ptr<PreparedGraph>> prepared = NativePreparedGraph::unwrap(state, info[0]);
    if (!prepared.ok()) return rejected(env, prepared.status());
    std::shared_ptr<PreparedGraph> graph = prepared.take();
    if (!graph) {
      Result<Graph> parsed = graph_from_js(info[0]);
      if (!parsed.ok()) return rejected(env, parsed.status());
      graph = std::make_shared<PreparedGraph>(parsed.take());
    }
    Result<JsCompileOptions> options = compile_options_from_js(info[1]);
    if (!options.ok()) return rejected(env, options.status());
    Result<Backend*> backend = find_backend(options.value().backend);
    if (!backend.ok()) return rejected(env, backend.status());
    const CompileOptions& compile_options = options.value().compile;
    Status valid = validate(graph->graph(), compile_options.batch);
    if (!valid.ok()) return rejected(env, valid);
    for (const Op& op : graph->graph().ops) {
      if (!backend.value()->supports(op.kind)) {
        return rejected(env, Status(Code::kUnsupported, cat("the ", backend.value()->name(), " backend does not run ",
                                                            op_name(op.kind), " ops")));
      }
    }
    const Graph& checked = graph->graph();
    const int64_t input_channels = checked.values[checked.input].empty() ? 0 : checked.values[checked.input][0];
    if (compile_options.normalization.enabled &&
        static_cast<int64_t>(compile_options.normalization.mean.size()) != input_channels) {
      return rejected(env, Status(Code::kInvalidArgument, cat("Expected ", input_channels,
                                                              " numbers (one per input channel) for "
                                                              "options.normalization.mean and .std but received ",
                                                              compile_options.normalization.mean.size())));
    }
    auto job = std::make_shared<CompileJob>(env, state, backend.value(), std::move(graph), compile_options);
    // Exclusive: compiles update the weight layouts that executables of one prepared graph share.
    return state.start(backend.value(), JobShape{compile_options.threads, true}, std::move(job));
  });
}

Napi::Value info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("addonVersion", RESNET_ADDON_VERSION);
  Napi::Object backends = Napi::Object::New(env);
  for (const auto& [name, description] : describe_backends()) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("available", description.available);
    if (!description.available) entry.Set("reason", description.reason);
    for (const auto& [key, value] : description.fields) entry.Set(key, to_js(env, value));
    backends.Set(name, entry);
  }
  result.Set("backends", backends);
  // Read on first access, once per process: probing it loads nvJPEG and, on a GPU, makes an nvJPEG handle, which
  // the many callers of info() that never look at it should not pay for.
  result.DefineProperty(Napi::PropertyDescriptor::Accessor(
      env, result, "imageDecoder",
      [](const Napi::CallbackInfo& call) -> Napi::Value { return cuda::image_decoder_info_to_js(call.Env()); },
      napi_enumerable));
  return result;
}

}  // namespace resnet
