// `testing.cudaPlan(graph, { batch, precision })`: the CUDA planner's output as plain JS objects, for tests
// that run without a GPU. Synchronous; every failure is a thrown Error with a `code`.
#include <cstring>
#include <limits>
#include <new>

#include "cuda/cuda_plan.h"
#include "cuda/js_cuda_testing.h"
#include "graph_from_js.h"
#include "js_error.h"

namespace resnet {
namespace cuda {
namespace {

// The packed blob is copied into a JS buffer; past this a test has gone wrong.
constexpr size_t kMaxTestingBlobBytes = size_t{1} << 32;

struct PlanOptions {
  int64_t batch = 1;
  Precision precision = Precision::kFloat32;
};

Result<PlanOptions> plan_options_from_js(const Napi::Value& value) {
  PlanOptions options;
  RESNET_CHECK(value.IsObject() && !value.IsArray(), Code::kInvalidArgument,
               cat("Expected an object for options but received ", describe_js_value(value)));
  const Napi::Object object = value.As<Napi::Object>();
  const Napi::Value batch = object.Get("batch");
  const double number = batch.IsNumber() ? batch.As<Napi::Number>().DoubleValue() : 0;
  RESNET_CHECK(batch.IsNumber() && number >= 1 && number <= std::numeric_limits<int32_t>::max() &&
                   static_cast<double>(static_cast<int64_t>(number)) == number,
               Code::kInvalidArgument,
               cat("Expected an integer between 1 and 2147483647 for options.batch but received ",
                   describe_js_value(batch)));
  options.batch = static_cast<int64_t>(number);
  const Napi::Value precision = object.Get("precision");
  if (precision.IsUndefined()) return options;
  const std::string name = precision.IsString() ? precision.As<Napi::String>().Utf8Value() : "";
  for (Precision p : {Precision::kFloat32, Precision::kTf32, Precision::kFloat16, Precision::kBFloat16}) {
    if (name == precision_name(p)) {
      options.precision = p;
      return options;
    }
  }
  return Status(Code::kInvalidArgument,
                cat("Expected \"float32\", \"tf32\", \"float16\" or \"bfloat16\" for options.precision but received ",
                    describe_js_value(precision)));
}

Napi::Array pair_to_js(Napi::Env env, const Pair& pair) {
  Napi::Array array = Napi::Array::New(env, 2);
  array.Set(0u, Napi::Number::New(env, static_cast<double>(pair.h)));
  array.Set(1u, Napi::Number::New(env, static_cast<double>(pair.w)));
  return array;
}

Napi::Number number(Napi::Env env, int64_t value) { return Napi::Number::New(env, static_cast<double>(value)); }
Napi::Number number(Napi::Env env, size_t value) { return Napi::Number::New(env, static_cast<double>(value)); }
Napi::Number number(Napi::Env env, int value) { return Napi::Number::New(env, value); }

Napi::Object value_to_js(Napi::Env env, const DeviceValue& v) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("n", number(env, v.n));
  object.Set("h", number(env, v.h));
  object.Set("w", number(env, v.w));
  object.Set("channels", number(env, v.channels));
  object.Set("storedChannels", number(env, v.stored_channels));
  object.Set("bytes", number(env, v.bytes));
  object.Set("arenaOffset", number(env, v.arena_offset));
  object.Set("aliasOf", number(env, v.alias_of));
  object.Set("outputIndex", number(env, v.output_index));
  return object;
}

Napi::Object step_to_js(Napi::Env env, const Step& s) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("kind", Napi::String::New(env, step_kind_name(s.kind)));
  object.Set("src", number(env, s.src));
  object.Set("src2", number(env, s.src2));
  object.Set("residual", number(env, s.residual));
  object.Set("dst", number(env, s.dst));
  object.Set("relu", Napi::Boolean::New(env, s.relu));
  object.Set("groups", number(env, s.groups));
  object.Set("kernel", pair_to_js(env, s.kernel));
  object.Set("stride", pair_to_js(env, s.stride));
  object.Set("padding", pair_to_js(env, s.padding));
  object.Set("dilation", pair_to_js(env, s.dilation));
  object.Set("ceilMode", Napi::Boolean::New(env, s.ceil_mode));
  object.Set("filterOffset", number(env, s.filter_offset));
  object.Set("filterBytes", number(env, s.filter_bytes));
  object.Set("biasOffset", number(env, s.bias_offset));
  object.Set("biasBytes", number(env, s.bias_bytes));
  object.Set("opIndex", number(env, s.op_index));
  object.Set("outputIndex", number(env, s.output_index));
  return object;
}

Napi::Object plan_to_js(Napi::Env env, const Graph& graph, const CudaPlan& plan) {
  Napi::Object object = Napi::Object::New(env);
  Napi::Array values = Napi::Array::New(env, plan.values.size());
  for (uint32_t i = 0; i < plan.values.size(); ++i) values.Set(i, value_to_js(env, plan.values[i]));
  Napi::Array steps = Napi::Array::New(env, plan.steps.size());
  for (uint32_t i = 0; i < plan.steps.size(); ++i) steps.Set(i, step_to_js(env, plan.steps[i]));
  Napi::Array outputs = Napi::Array::New(env, plan.output_elements.size());
  for (uint32_t i = 0; i < plan.output_elements.size(); ++i) outputs.Set(i, number(env, plan.output_elements[i]));
  Napi::Array notes = Napi::Array::New(env, plan.notes.size());
  for (uint32_t i = 0; i < plan.notes.size(); ++i) notes.Set(i, Napi::String::New(env, plan.notes[i]));
  object.Set("batch", number(env, plan.batch));
  object.Set("precision", Napi::String::New(env, precision_name(plan.precision)));
  object.Set("storage", Napi::String::New(env, storage_name(plan.storage)));
  object.Set("input", pair_to_js(env, Pair{plan.input_h, plan.input_w}));
  object.Set("inputChannels", number(env, plan.input_channels));
  object.Set("values", values);
  object.Set("steps", steps);
  object.Set("arenaBytes", number(env, plan.arena_bytes));
  object.Set("weightBlobBytes", number(env, plan.weight_blob_bytes));
  object.Set("outputElements", outputs);
  object.Set("notes", notes);
  object.Set("describe", Napi::String::New(env, describe(plan)));
  if (plan.weight_blob_bytes > kMaxTestingBlobBytes) {
    throw make_error(env, Status(Code::kOutOfMemory, cat("testing.cudaPlan: the weight blob has ", plan.weight_blob_bytes,
                                                         " bytes, more than the testing export copies (2^32)")));
  }
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, plan.weight_blob_bytes);
  uint8_t* blob = static_cast<uint8_t*>(buffer.Data());
  std::memset(blob, 0, plan.weight_blob_bytes);
  pack_weights(graph, plan, blob);
  object.Set("weightBlob", Napi::Uint8Array::New(env, plan.weight_blob_bytes, buffer, 0));
  return object;
}

Napi::Value cuda_plan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Result<Graph> graph = graph_from_js(info[0]);
    if (!graph.ok()) throw make_error(env, graph.status());
    Result<PlanOptions> options = plan_options_from_js(info[1]);
    if (!options.ok()) throw make_error(env, options.status());
    const Status valid = validate(graph.value(), options.value().batch);
    if (!valid.ok()) throw make_error(env, valid);
    Result<CudaPlan> plan = plan_cuda(graph.value(), options.value().batch, options.value().precision);
    if (!plan.ok()) throw make_error(env, plan.status());
    return plan_to_js(env, graph.value(), plan.value());
  } catch (const std::bad_alloc&) {
    throw make_error(env, Status(Code::kOutOfMemory, "testing.cudaPlan: out of memory"));
  }
}

}  // namespace

void add_plan_testing(Napi::Env env, Napi::Object& testing) {
  testing.Set("cudaPlan", Napi::Function::New(env, cuda_plan, "cudaPlan"));
}

}  // namespace cuda
}  // namespace resnet
