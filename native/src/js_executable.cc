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
  RunJob(Napi::Env env, std::shared_ptr<ContextPool> pool, HostInput input, std::unique_ptr<InputBuffer> staging,
         std::vector<napi_ref> lent, std::vector<std::shared_ptr<const HostLoan>> loans,
         const std::vector<int64_t>& output_elements)
      : AsyncJob(env), pool_(std::move(pool)), input_(std::move(input)), staging_(std::move(staging)),
        lent_(std::move(lent)), loans_(std::move(loans)), output_elements_(output_elements) {}

  void execute() override {
    try {
      std::vector<float*> pointers;
      for (int64_t elements : output_elements_) {
        outputs_.emplace_back(static_cast<size_t>(elements));
        pointers.push_back(outputs_.back().data());
      }
      status_ = pool_->run(input_, pointers, &stats_);
    } catch (const std::bad_alloc&) {
      status_ = Status(Code::kOutOfMemory, "out of memory for the run's outputs; use a smaller batch");
    } catch (const std::exception& error) {
      // Caught here, not by the job runner: settle() must run to give back the arrays lent to the run.
      status_ = Status(Code::kBackend, error.what());
    }
    staging_.reset();  // back to the executable's pool, here on the backend's thread
    loans_.clear();    // a registration disposed during the run is undone now (cudaHostUnregister)
    pool_.reset();
  }

  void settle(Napi::Env env, const Napi::Promise::Deferred& deferred) override {
    // The run no longer reads the arrays it was lent: they may be collected (or reused) from here on.
    for (napi_ref reference : lent_) napi_delete_reference(env, reference);
    lent_.clear();
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
  HostInput input_;                       // segments in staging_ or in lent arrays
  std::unique_ptr<InputBuffer> staging_;  // the copies of the segments that were not lent memory
  std::vector<napi_ref> lent_;            // arrays in registered memory, read in place: alive until settled
  std::vector<std::shared_ptr<const HostLoan>> loans_;  // their ranges' loans (pins), held while the run reads
  RunStats stats_;
  std::vector<int64_t> output_elements_;
  std::vector<std::vector<float>> outputs_;
  Status status_;
};

// The most segments one run takes: a batch's requests, each a few segments at most.
constexpr uint32_t kMaxSegments = 65536;

// One segment of a run's input, as JS gave it.
struct JsSegment {
  Napi::TypedArray array;
  const uint8_t* data = nullptr;
  size_t bytes = 0;
};

Result<InputFormat> input_format_from_js(const Napi::Value& dtype, const Napi::Value& layout,
                                         napi_typedarray_type first) {
  InputFormat format;
  if (dtype.IsUndefined()) {
    if (first == napi_float32_array) format.type = InputType::kFloat32;
    else if (first == napi_uint8_array) format.type = InputType::kUint8;
    else
      return Status(Code::kInvalidArgument,
                    "Expected a Float32Array or Uint8Array for input, or a dtype naming its elements");
  } else {
    const std::string name = dtype.IsString() ? dtype.As<Napi::String>().Utf8Value() : std::string();
    if (name == "float32") format.type = InputType::kFloat32;
    else if (name == "uint8") format.type = InputType::kUint8;
    else if (name == "float16") format.type = InputType::kFloat16;
    else
      return Status(Code::kInvalidArgument,
                    cat("Expected \"float32\", \"float16\" or \"uint8\" for dtype but received ",
                        describe_js_value(dtype)));
  }
  if (!layout.IsUndefined()) {
    const std::string name = layout.IsString() ? layout.As<Napi::String>().Utf8Value() : std::string();
    if (name == "nhwc") format.layout = InputLayout::kNhwc;
    else if (name != "nchw")
      return Status(Code::kInvalidArgument,
                    cat("Expected \"nchw\" or \"nhwc\" for layout but received ", describe_js_value(layout)));
  }
  return format;
}

// Whether `type` may carry elements of `format`: bytes (Uint8Array, Buffer), or the element type's own array.
bool carries(napi_typedarray_type type, InputType element) {
  if (type == napi_uint8_array) return true;
  if (element == InputType::kFloat32) return type == napi_float32_array;
  if (element == InputType::kFloat16) return type == napi_uint16_array;
  return false;
}

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
                         InstanceAccessor<&NativeExecutable::batch>("batch"),
                         InstanceAccessor<&NativeExecutable::input_shape>("inputShape"),
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
    // A copy: reading the arguments may run a user's getter, which may dispose this executable meanwhile.
    const std::shared_ptr<ContextPool> pool = compiled_.pool;
    if (!pool) {
      return rejected(env, Status(Code::kDisposed, "This executable was disposed; compile the graph again to run it"));
    }
    // run(input | segments[], dtype?, layout?): one array, or the input's bytes as arrays laid end to end.
    std::vector<JsSegment> segments;
    const Napi::Value input = info[0];
    if (input.IsArray() && input.As<Napi::Array>().Length() <= kMaxSegments) {
      const Napi::Array list = input.As<Napi::Array>();
      for (uint32_t i = 0; i < list.Length(); ++i) {
        const Napi::Value element = list.Get(i);
        if (!element.IsTypedArray()) break;
        segments.push_back({element.As<Napi::TypedArray>()});
      }
      if (segments.size() != list.Length() || segments.empty()) segments.clear();
    } else if (input.IsTypedArray()) {
      segments.push_back({input.As<Napi::TypedArray>()});
    }
    if (segments.empty()) {
      return rejected(env,
                      Status(Code::kInvalidArgument,
                             cat("Expected a Float32Array or Uint8Array, or 1 to ", kMaxSegments,
                                 " typed arrays laid end to end, for input but received ", describe_js_value(input))));
    }
    Result<InputFormat> format = input_format_from_js(info[1], info[2], segments.front().array.TypedArrayType());
    if (!format.ok()) return rejected(env, format.status());
    const size_t element_bytes = input_element_bytes(format.value().type);
    size_t total = 0;
    for (size_t i = 0; i < segments.size(); ++i) {
      JsSegment& segment = segments[i];
      if (!carries(segment.array.TypedArrayType(), format.value().type)) {
        return rejected(env, Status(Code::kInvalidArgument,
                                    cat("Expected a Uint8Array or a typed array of ",
                                        input_type_name(format.value().type), " elements for input segment ", i,
                                        " but received ", describe_js_value(segment.array))));
      }
      // napi_get_typedarray_info gives the data of SharedArrayBuffer-backed arrays too.
      napi_typedarray_type type;
      size_t length = 0;
      void* data = nullptr;
      napi_value buffer;
      size_t offset = 0;
      NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, segment.array, &type, &length, &data, &buffer, &offset),
                           Napi::Value());
      segment.data = static_cast<const uint8_t*>(data);
      segment.bytes = segment.array.ByteLength();
      if (segment.bytes % element_bytes != 0) {
        return rejected(env, Status(Code::kInvalidArgument,
                                    cat("input segment ", i, " has ", segment.bytes, " bytes, not a whole number of ",
                                        input_type_name(format.value().type), " elements")));
      }
      total += segment.bytes;
    }
    const size_t expected = static_cast<size_t>(compiled_.input_elements) * element_bytes;
    if (total != expected) {
      return rejected(env, Status(Code::kInvalidShape,
                                  cat("Expected ", compiled_.input_elements, " elements for input (batch ",
                                      compiled_.batch, " of ", format_shape(compiled_.input_shape), ") but received ",
                                      total / element_bytes)));
    }
    // Memory lent to runs (host_memory.h) is read in place, the array kept alive until the run settles. The
    // rest is copied here, on the JS thread: the caller may reuse or detach it as soon as run() returns.
    const HostMemoryRegistry& registry = HostMemoryRegistry::instance();
    std::vector<std::shared_ptr<const HostLoan>> loans;
    std::vector<bool> lent(segments.size());
    size_t staged = 0;
    for (size_t i = 0; i < segments.size(); ++i) {
      std::shared_ptr<const HostLoan> loan = registry.find(segments[i].data, segments[i].bytes);
      lent[i] = loan != nullptr;
      if (lent[i]) loans.push_back(std::move(loan));
      else staged += segments[i].bytes;
    }
    std::unique_ptr<InputBuffer> staging;
    if (staged > 0) {
      Result<std::unique_ptr<InputBuffer>> acquired = pool->executable().acquire_input(staged);
      if (!acquired.ok()) return rejected(env, acquired.status());
      staging = acquired.take();
    }
    HostInput host_input;
    host_input.format = format.value();
    std::vector<napi_ref> references;
    uint8_t* cursor = staging ? static_cast<uint8_t*>(staging->data()) : nullptr;
    for (size_t i = 0; i < segments.size(); ++i) {
      if (segments[i].bytes == 0) continue;
      if (lent[i]) {
        napi_ref reference;
        const napi_status created = napi_create_reference(env, segments[i].array, 1, &reference);
        if (created != napi_ok) {
          for (napi_ref made : references) napi_delete_reference(env, made);
          NAPI_THROW_IF_FAILED(env, created, Napi::Value());
        }
        references.push_back(reference);
        host_input.segments.push_back({segments[i].data, segments[i].bytes});
      } else {
        std::memcpy(cursor, segments[i].data, segments[i].bytes);
        host_input.segments.push_back({cursor, segments[i].bytes});
        cursor += segments[i].bytes;
      }
    }
    auto job = std::make_shared<RunJob>(env, pool, std::move(host_input), std::move(staging), std::move(references),
                                        std::move(loans), compiled_.output_elements);
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

Napi::Value NativeExecutable::batch(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(compiled_.batch));
}

Napi::Value NativeExecutable::input_shape(const Napi::CallbackInfo& info) {
  Napi::Array shape = Napi::Array::New(info.Env(), compiled_.input_shape.size());
  for (size_t i = 0; i < compiled_.input_shape.size(); ++i) {
    shape.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(compiled_.input_shape[i])));
  }
  return shape;
}

Napi::Value NativeExecutable::describe(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), compiled_.pool ? compiled_.pool->executable().describe() : std::string());
}

}  // namespace resnet
