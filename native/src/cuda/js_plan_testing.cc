// `testing.cudaPlan(graph, { batch, precision, stem })`: the CUDA planner's output as plain JS objects (laid
// out for the stem form `stem`, direct by default: with_stem_form), and `testing.cudaConvGraphs(graph, { batch,
// precision, stem })`: the cuDNN graph of every conv step of that plan (conv_graph_plan.h), for tests that run
// without a GPU. Synchronous; every failure is a thrown Error with a `code`.
#include <cstring>
#include <limits>
#include <new>

#include "cuda/conv_graph_plan.h"
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
  StemForm stem = StemForm::kDirect;
};

Status stem_from_js(const Napi::Value& value, StemForm* form) {
  if (value.IsString() && stem_form_from_name(value.As<Napi::String>().Utf8Value(), form)) return Status();
  return Status(Code::kInvalidArgument,
                cat("Expected \"direct\", \"space_to_depth\" or \"four_channel\" for options.stem but received ",
                    describe_js_value(value)));
}

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
  const Napi::Value stem = object.Get("stem");
  if (!stem.IsUndefined()) RESNET_RETURN_IF_ERROR(stem_from_js(stem, &options.stem));
  const Napi::Value precision = object.Get("precision");
  if (precision.IsUndefined()) return options;
  const std::string name = precision.IsString() ? precision.As<Napi::String>().Utf8Value() : "";
  for (Precision p :
       {Precision::kFloat32, Precision::kTf32, Precision::kFloat16, Precision::kBFloat16, Precision::kInt8}) {
    if (name == precision_name(p)) {
      options.precision = p;
      return options;
    }
  }
  return Status(
      Code::kInvalidArgument,
      cat("Expected \"float32\", \"tf32\", \"float16\", \"bfloat16\" or \"int8\" for options.precision but received ",
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
  object.Set("storage", Napi::String::New(env, storage_name(v.storage)));
  object.Set("fp8Scale", Napi::Number::New(env, v.fp8_scale));
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
  object.Set("block", number(env, s.block));
  object.Set("filterOffset", number(env, s.filter_offset));
  object.Set("filterBytes", number(env, s.filter_bytes));
  object.Set("biasOffset", number(env, s.bias_offset));
  object.Set("biasBytes", number(env, s.bias_bytes));
  object.Set("opIndex", number(env, s.op_index));
  object.Set("outputIndex", number(env, s.output_index));
  object.Set("scale", Napi::Number::New(env, s.scale));
  object.Set("fp8", Napi::Boolean::New(env, s.fp8));
  object.Set("scaleOffset", number(env, s.scale_offset));
  object.Set("scaleBytes", number(env, s.scale_bytes));
  object.Set("outputScaleOffset", number(env, s.output_scale_offset));
  object.Set("outputScaleBytes", number(env, s.output_scale_bytes));
  object.Set("fp8Divisor", Napi::Number::New(env, s.fp8_divisor));
  object.Set("outputScale", Napi::Number::New(env, s.output_scale));
  return object;
}

Napi::Object stem_to_js(Napi::Env env, const StemPlan& stem) {
  Napi::Array forms = Napi::Array::New(env, stem.forms.size());
  for (uint32_t i = 0; i < stem.forms.size(); ++i) {
    const StemOption& o = stem.forms[i];
    Napi::Object form = Napi::Object::New(env);
    form.Set("form", Napi::String::New(env, stem_form_name(o.form)));
    form.Set("h", number(env, o.h));
    form.Set("w", number(env, o.w));
    form.Set("channels", number(env, o.channels));
    form.Set("storedChannels", number(env, o.stored_channels));
    form.Set("bytes", number(env, o.bytes));
    form.Set("block", number(env, o.block));
    form.Set("inputPadding", pair_to_js(env, o.input_padding));
    form.Set("kernel", pair_to_js(env, o.kernel));
    form.Set("stride", pair_to_js(env, o.stride));
    form.Set("padding", pair_to_js(env, o.padding));
    form.Set("filterOffset", number(env, o.filter_offset));
    form.Set("filterBytes", number(env, o.filter_bytes));
    forms.Set(i, form);
  }
  Napi::Array unavailable = Napi::Array::New(env, stem.unavailable.size());
  for (uint32_t i = 0; i < stem.unavailable.size(); ++i)
    unavailable.Set(i, Napi::String::New(env, stem.unavailable[i]));
  Napi::Object object = Napi::Object::New(env);
  object.Set("step", number(env, stem.step));
  object.Set("chosen", Napi::String::New(env, stem_form_name(stem.chosen)));
  object.Set("inputArenaBytes", number(env, stem.input_arena_bytes));
  object.Set("forms", forms);
  object.Set("unavailable", unavailable);
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
  object.Set("stem", stem_to_js(env, plan.stem));
  object.Set("describe", Napi::String::New(env, describe(plan)));
  if (plan.weight_blob_bytes > kMaxTestingBlobBytes) {
    throw make_error(env,
                     Status(Code::kOutOfMemory, cat("testing.cudaPlan: the weight blob has ", plan.weight_blob_bytes,
                                                    " bytes, more than the testing export copies (2^32)")));
  }
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, plan.weight_blob_bytes);
  uint8_t* blob = static_cast<uint8_t*>(buffer.Data());
  std::memset(blob, 0, plan.weight_blob_bytes);
  pack_weights(graph, plan, blob);
  object.Set("weightBlob", Napi::Uint8Array::New(env, plan.weight_blob_bytes, buffer, 0));
  return object;
}

Napi::Array numbers_to_js(Napi::Env env, const int64_t* values, size_t count) {
  Napi::Array array = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; ++i) array.Set(static_cast<uint32_t>(i), number(env, values[i]));
  return array;
}

Napi::Object conv_graph_to_js(Napi::Env env, int step, const ConvGraphDescription& graph) {
  Napi::Array tensors = Napi::Array::New(env, graph.tensors.size());
  for (uint32_t i = 0; i < graph.tensors.size(); ++i) {
    const GraphTensor& t = graph.tensors[i];
    Napi::Object tensor = Napi::Object::New(env);
    tensor.Set("uid", number(env, t.uid));
    tensor.Set("role", Napi::String::New(env, graph_tensor_role_name(t.role)));
    tensor.Set("type", Napi::String::New(env, graph_data_type_name(t.type)));
    tensor.Set("dims", numbers_to_js(env, t.dims.data(), t.dims.size()));
    tensor.Set("strides", numbers_to_js(env, t.strides.data(), t.strides.size()));
    tensor.Set("alignment", number(env, t.alignment));
    tensor.Set("virtual", Napi::Boolean::New(env, t.is_virtual()));
    tensors.Set(i, tensor);
  }
  Napi::Object conv = Napi::Object::New(env);
  conv.Set("x", number(env, graph.x));
  conv.Set("w", number(env, graph.w));
  conv.Set("y", number(env, graph.conv_out));
  conv.Set("prePadding", numbers_to_js(env, graph.pre_padding.data(), 2));
  conv.Set("postPadding", numbers_to_js(env, graph.post_padding.data(), 2));
  conv.Set("stride", numbers_to_js(env, graph.stride.data(), 2));
  conv.Set("dilation", numbers_to_js(env, graph.dilation.data(), 2));
  conv.Set("computeType", Napi::String::New(env, graph_data_type_name(graph.compute_type)));
  conv.Set("pointwiseType", Napi::String::New(env, graph_data_type_name(graph.pointwise_type)));
  Napi::Array pointwise = Napi::Array::New(env, graph.pointwise.size());
  for (uint32_t i = 0; i < graph.pointwise.size(); ++i) {
    const GraphPointwise& op = graph.pointwise[i];
    Napi::Object object = Napi::Object::New(env);
    object.Set("mode", Napi::String::New(env, graph_pointwise_name(op.mode)));
    object.Set("x", number(env, op.x));
    object.Set("b", number(env, op.b));
    object.Set("y", number(env, op.y));
    pointwise.Set(i, object);
  }
  Napi::Object object = Napi::Object::New(env);
  object.Set("step", number(env, step));
  object.Set("tensors", tensors);
  object.Set("conv", conv);
  object.Set("pointwise", pointwise);
  object.Set("describe", Napi::String::New(env, graph.describe()));
  return object;
}

}  // namespace

CudaPlan plan_from_js(Napi::Env env, const Napi::CallbackInfo& info, Graph* graph_out) {
  Result<Graph> graph = graph_from_js(info[0]);
  if (!graph.ok()) throw make_error(env, graph.status());
  Result<PlanOptions> options = plan_options_from_js(info[1]);
  if (!options.ok()) throw make_error(env, options.status());
  const Status valid = validate(graph.value(), options.value().batch);
  if (!valid.ok()) throw make_error(env, valid);
  Result<CudaPlan> plan = plan_cuda(graph.value(), options.value().batch, options.value().precision);
  if (!plan.ok()) throw make_error(env, plan.status());
  if (options.value().stem != StemForm::kDirect) {
    plan = with_stem_form(plan.value(), options.value().stem);
    if (!plan.ok()) throw make_error(env, plan.status());
  }
  *graph_out = graph.take();
  return plan.take();
}

namespace {

Napi::Value cuda_plan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Graph graph;
    const CudaPlan plan = plan_from_js(env, info, &graph);
    return plan_to_js(env, graph, plan);
  } catch (const std::bad_alloc&) {
    throw make_error(env, Status(Code::kOutOfMemory, "testing.cudaPlan: out of memory"));
  }
}

Napi::Value cuda_conv_graphs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Graph graph;
    const CudaPlan plan = plan_from_js(env, info, &graph);
    Napi::Array graphs = Napi::Array::New(env);
    uint32_t count = 0;
    for (size_t i = 0; i < plan.steps.size(); ++i) {
      if (plan.steps[i].kind != StepKind::kConv) continue;
      Result<ConvGraphDescription> described = describe_conv_graph(plan, static_cast<int>(i));
      if (!described.ok()) throw make_error(env, described.status());
      graphs.Set(count++, conv_graph_to_js(env, static_cast<int>(i), described.value()));
    }
    return graphs;
  } catch (const std::bad_alloc&) {
    throw make_error(env, Status(Code::kOutOfMemory, "testing.cudaConvGraphs: out of memory"));
  }
}

}  // namespace

void add_plan_testing(Napi::Env env, Napi::Object& testing) {
  testing.Set("cudaPlan", Napi::Function::New(env, cuda_plan, "cudaPlan"));
  testing.Set("cudaConvGraphs", Napi::Function::New(env, cuda_conv_graphs, "cudaConvGraphs"));
}

}  // namespace cuda
}  // namespace resnet
