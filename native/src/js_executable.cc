#include "js_executable.h"

#include <cstring>

#include "graph_from_js.h"
#include "js_error.h"

namespace resnet {
namespace {

// create() hands its payload to the constructor through here: the constructor runs synchronously inside
// create(), on the JS thread, and `new NativeExecutable()` from JS finds nothing and throws.
thread_local CompiledGraph* constructing = nullptr;

class RunJob final : public AsyncJob {
 public:
  RunJob(Napi::Env env, std::shared_ptr<ContextPool> pool, std::unique_ptr<InputBuffer> input, InputType input_type,
         const std::vector<int64_t>& output_elements)
      : AsyncJob(env), pool_(std::move(pool)), input_(std::move(input)), input_type_(input_type),
        output_elements_(output_elements) {}

  void execute() override {
    try {
      std::vector<float*> pointers;
      for (int64_t elements : output_elements_) {
        outputs_.emplace_back(static_cast<size_t>(elements));
        pointers.push_back(outputs_.back().data());
      }
      status_ = pool_->run(HostInput{input_->data(), input_type_}, pointers, &stats_);
    } catch (const std::bad_alloc&) {
      status_ = Status(Code::kOutOfMemory, "out of memory for the run's outputs; use a smaller batch");
    }
    input_.reset();  // back to the executable's pool, here on the backend's thread
    pool_.reset();
  }

  void settle(Napi::Env env, const Napi::Promise::Deferred& deferred) override {
    if (!status_.ok()) {
      deferred.Reject(make_error(env, status_).Value());
      return;
    }
    Napi::Array results = Napi::Array::New(env, outputs_.size());
    // The device time rides on the array (lib/runtime/engine.ts takes it off); -1 where not measured.
    results.Set("deviceMs", Napi::Number::New(env, stats_.device_ms));
    for (size_t i = 0; i < outputs_.size(); ++i) {
      Napi::Float32Array array = Napi::Float32Array::New(env, outputs_[i].size());
      std::memcpy(array.Data(), outputs_[i].data(), outputs_[i].size() * sizeof(float));
      results.Set(static_cast<uint32_t>(i), array);
    }
    deferred.Resolve(results);
  }

 private:
  std::shared_ptr<ContextPool> pool_;
  std::unique_ptr<InputBuffer> input_;  // the input's bytes (float32 or uint8 elements)
  RunStats stats_;
  InputType input_type_;
  std::vector<int64_t> output_elements_;
  std::vector<std::vector<float>> outputs_;
  Status status_;
};

}  // namespace

Napi::Function NativeExecutable::define(Napi::Env env, EnvState* state) {
  return DefineClass(env, "NativeExecutable",
                     {
                         InstanceMethod<&NativeExecutable::run>("run"),
                         InstanceMethod<&NativeExecutable::dispose>("dispose"),
                         InstanceAccessor<&NativeExecutable::weight_bytes>("weightBytes"),
                         InstanceAccessor<&NativeExecutable::shared_weight_bytes>("sharedWeightBytes"),
                         InstanceAccessor<&NativeExecutable::activation_bytes>("activationBytes"),
                         InstanceAccessor<&NativeExecutable::context_count>("contextCount"),
                         InstanceMethod<&NativeExecutable::describe>("describe"),
                     },
                     state);
}

Napi::Object NativeExecutable::create(EnvState& state, CompiledGraph compiled) {
  constructing = &compiled;
  Napi::Object object;
  try {
    object = state.executable_class.New({});
  } catch (...) {
    constructing = nullptr;
    throw;
  }
  constructing = nullptr;
  return object;
}

NativeExecutable::NativeExecutable(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<NativeExecutable>(info), state_(static_cast<EnvState*>(info.Data())) {
  if (!constructing) {
    throw make_error(info.Env(), Status(Code::kInvalidArgument,
                                        "NativeExecutable instances come from compile(); do not construct them"));
  }
  compiled_ = std::move(*constructing);
  constructing = nullptr;
  weight_bytes_ = compiled_.pool->executable().weight_bytes();
  shared_weight_bytes_ = compiled_.pool->executable().shared_weight_bytes();
  activation_bytes_ = compiled_.pool->executable().activation_bytes();
}

Napi::Value NativeExecutable::run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return promise_boundary(env, "run", [&]() -> Napi::Value {
    if (!compiled_.pool) {
      return rejected(env, Status(Code::kDisposed, "This executable was disposed; compile the graph again to run it"));
    }
    const Napi::Value value = info[0];
    const napi_typedarray_type type =
        value.IsTypedArray() ? value.As<Napi::TypedArray>().TypedArrayType() : napi_int8_array;
    if (type != napi_float32_array && type != napi_uint8_array) {
      return rejected(env, Status(Code::kInvalidArgument, cat("Expected a Float32Array or Uint8Array for input but received ",
                                                              describe_js_value(value))));
    }
    const Napi::TypedArray input = value.As<Napi::TypedArray>();
    if (static_cast<int64_t>(input.ElementLength()) != compiled_.input_elements) {
      return rejected(env, Status(Code::kInvalidShape,
                                  cat("Expected ", compiled_.input_elements, " elements for input (batch ",
                                      compiled_.batch, " of ", format_shape(compiled_.input_shape),
                                      ") but received ", input.ElementLength())));
    }
    // Copied on the JS thread: the caller's buffer may be detached or reused while the forward runs.
    const uint8_t* bytes = static_cast<const uint8_t*>(input.ArrayBuffer().Data()) + input.ByteOffset();
    Result<std::unique_ptr<InputBuffer>> staging = compiled_.pool->executable().acquire_input(input.ByteLength());
    if (!staging.ok()) return rejected(env, staging.status());
    std::memcpy(staging.value()->data(), bytes, input.ByteLength());
    const InputType input_type = type == napi_uint8_array ? InputType::kUint8 : InputType::kFloat32;
    auto job = std::make_shared<RunJob>(env, compiled_.pool, staging.take(), input_type, compiled_.output_elements);
    return state_->start(compiled_.backend, JobShape{compiled_.threads, false}, std::move(job));
  });
}

void NativeExecutable::dispose(const Napi::CallbackInfo&) { compiled_.pool.reset(); }

Napi::Value NativeExecutable::weight_bytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(weight_bytes_));
}

Napi::Value NativeExecutable::shared_weight_bytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(shared_weight_bytes_));
}

Napi::Value NativeExecutable::activation_bytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(activation_bytes_));
}

Napi::Value NativeExecutable::context_count(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), compiled_.pool ? compiled_.pool->context_count() : 0);
}

Napi::Value NativeExecutable::describe(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), compiled_.pool ? compiled_.pool->executable().describe() : std::string());
}

}  // namespace resnet
