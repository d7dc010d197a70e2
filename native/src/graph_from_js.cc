#include "graph_from_js.h"

#include <cmath>
#include <limits>

namespace resnet {
namespace {

// Doubles represent every integer up to 2^53 exactly; beyond that "integer" means nothing.
constexpr double kMaxExactInteger = 9007199254740992.0;

Status read_int(const Napi::Value& value, const std::string& name, int64_t min, int64_t max, Code code, int64_t* out) {
  const bool is_int = value.IsNumber() && std::isfinite(value.As<Napi::Number>().DoubleValue()) &&
                      std::trunc(value.As<Napi::Number>().DoubleValue()) == value.As<Napi::Number>().DoubleValue();
  const double number = is_int ? value.As<Napi::Number>().DoubleValue() : 0;
  RESNET_CHECK(is_int && number >= static_cast<double>(min) && number <= static_cast<double>(max) &&
                   std::fabs(number) <= kMaxExactInteger,
               code,
               cat("Expected an integer between ", min, " and ", max, " for ", name, " but received ",
                   describe_js_value(value)));
  *out = static_cast<int64_t>(number);
  return Status();
}

Status read_id(const Napi::Object& object, const char* field, const std::string& where, bool optional, int* out) {
  int64_t id = 0;
  RESNET_RETURN_IF_ERROR(read_int(object.Get(field), cat(where, ".", field), optional ? -1 : 0,
                                  std::numeric_limits<int32_t>::max(), Code::kInvalidArgument, &id));
  *out = static_cast<int>(id);
  return Status();
}

Status read_param(const Napi::Object& object, const char* field, const std::string& where, int64_t* out) {
  // Semantic bounds (>= 1, …) are validate()'s; here only "an integer".
  return read_int(object.Get(field), cat(where, ".", field), -(int64_t{1} << 53), int64_t{1} << 53,
                  Code::kInvalidArgument, out);
}

Status read_pair(const Napi::Object& object, const char* field, const std::string& where, Pair* out) {
  const Napi::Value value = object.Get(field);
  const std::string name = cat(where, ".", field);
  RESNET_CHECK(value.IsArray() && value.As<Napi::Array>().Length() == 2, Code::kInvalidArgument,
               cat("Expected an array of two integers for ", name, " but received ", describe_js_value(value)));
  const Napi::Array array = value.As<Napi::Array>();
  const int64_t wide = int64_t{1} << 53;
  RESNET_RETURN_IF_ERROR(read_int(array.Get(0u), name + "[0]", -wide, wide, Code::kInvalidArgument, &out->h));
  return read_int(array.Get(1u), name + "[1]", -wide, wide, Code::kInvalidArgument, &out->w);
}

Status read_bool(const Napi::Object& object, const char* field, const std::string& where, bool* out) {
  const Napi::Value value = object.Get(field);
  RESNET_CHECK(value.IsBoolean(), Code::kInvalidArgument,
               cat("Expected a boolean for ", where, ".", field, " but received ", describe_js_value(value)));
  *out = value.As<Napi::Boolean>().Value();
  return Status();
}

Status read_floats(const Napi::Object& object, const char* field, const std::string& where, std::vector<float>* out) {
  const Napi::Value value = object.Get(field);
  const bool is_f32 = value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
  RESNET_CHECK(is_f32, Code::kInvalidArgument,
               cat("Expected a Float32Array for ", where, ".", field, " but received ", describe_js_value(value)));
  const Napi::Float32Array array = value.As<Napi::Float32Array>();
  // Copied now, on the JS thread: the buffer may be detached or changed once we go async.
  out->assign(array.Data(), array.Data() + array.ElementLength());
  return Status();
}

Status read_object(const Napi::Value& value, const std::string& name, Napi::Object* out) {
  RESNET_CHECK(value.IsObject() && !value.IsArray(), Code::kInvalidArgument,
               cat("Expected an object for ", name, " but received ", describe_js_value(value)));
  *out = value.As<Napi::Object>();
  return Status();
}

Status read_array(const Napi::Value& value, const std::string& name, Napi::Array* out) {
  RESNET_CHECK(value.IsArray(), Code::kInvalidArgument,
               cat("Expected an array for ", name, " but received ", describe_js_value(value)));
  *out = value.As<Napi::Array>();
  return Status();
}

Status read_kind(const Napi::Object& object, const std::string& where, OpKind* out) {
  const Napi::Value value = object.Get("op");
  RESNET_CHECK(value.IsString(), Code::kInvalidArgument,
               cat("Expected an op name for ", where, ".op but received ", describe_js_value(value)));
  const std::string name = value.As<Napi::String>().Utf8Value();
  for (OpKind kind : {OpKind::kConv, OpKind::kMaxPool, OpKind::kAdaptiveAvgPool, OpKind::kLinear, OpKind::kRelu,
                      OpKind::kAdd, OpKind::kFlatten}) {
    if (name == op_name(kind)) {
      *out = kind;
      return Status();
    }
  }
  return Status(Code::kUnsupported,
                cat(where, ".op is ", describe_js_value(value),
                    ", which the native engine does not run (it runs conv, maxpool, adaptive_avgpool, linear, relu, "
                    "add, flatten)"));
}

Status read_op(const Napi::Value& value, const std::string& where, Op* op) {
  Napi::Object object;
  RESNET_RETURN_IF_ERROR(read_object(value, where, &object));
  RESNET_RETURN_IF_ERROR(read_kind(object, where, &op->kind));
  RESNET_RETURN_IF_ERROR(read_id(object, "dst", where, false, &op->dst));
  if (op->kind == OpKind::kAdd) {
    RESNET_RETURN_IF_ERROR(read_id(object, "a", where, false, &op->src));
    RESNET_RETURN_IF_ERROR(read_id(object, "b", where, false, &op->src2));
    return read_bool(object, "relu", where, &op->relu);
  }
  RESNET_RETURN_IF_ERROR(read_id(object, "src", where, false, &op->src));
  switch (op->kind) {
    case OpKind::kConv:
      RESNET_RETURN_IF_ERROR(read_id(object, "residual", where, true, &op->residual));
      RESNET_RETURN_IF_ERROR(read_bool(object, "relu", where, &op->relu));
      RESNET_RETURN_IF_ERROR(read_param(object, "outChannels", where, &op->out_channels));
      RESNET_RETURN_IF_ERROR(read_param(object, "groups", where, &op->groups));
      RESNET_RETURN_IF_ERROR(read_pair(object, "kernel", where, &op->kernel));
      RESNET_RETURN_IF_ERROR(read_pair(object, "stride", where, &op->stride));
      RESNET_RETURN_IF_ERROR(read_pair(object, "padding", where, &op->padding));
      RESNET_RETURN_IF_ERROR(read_pair(object, "dilation", where, &op->dilation));
      RESNET_RETURN_IF_ERROR(read_floats(object, "weight", where, &op->weight));
      if (!object.Get("weightScales").IsUndefined()) {
        RESNET_RETURN_IF_ERROR(read_floats(object, "weightScales", where, &op->weight_scales));
      }
      return read_floats(object, "bias", where, &op->bias);
    case OpKind::kMaxPool:
      RESNET_RETURN_IF_ERROR(read_pair(object, "kernel", where, &op->kernel));
      RESNET_RETURN_IF_ERROR(read_pair(object, "stride", where, &op->stride));
      RESNET_RETURN_IF_ERROR(read_pair(object, "padding", where, &op->padding));
      RESNET_RETURN_IF_ERROR(read_pair(object, "dilation", where, &op->dilation));
      return read_bool(object, "ceilMode", where, &op->ceil_mode);
    case OpKind::kLinear:
      RESNET_RETURN_IF_ERROR(read_param(object, "outFeatures", where, &op->out_channels));
      RESNET_RETURN_IF_ERROR(read_floats(object, "weight", where, &op->weight));
      return read_floats(object, "bias", where, &op->bias);
    case OpKind::kAdaptiveAvgPool:
    case OpKind::kRelu:
    case OpKind::kFlatten:
    case OpKind::kAdd: return Status();
  }
  return Status();
}

Status read_shape(const Napi::Value& value, const std::string& where, Shape* shape) {
  Napi::Object object;
  RESNET_RETURN_IF_ERROR(read_object(value, where, &object));
  const Napi::Value dims = object.Get("shape");
  RESNET_CHECK(dims.IsArray() && dims.As<Napi::Array>().Length() <= 8, Code::kInvalidShape,
               cat("Expected an array of integers for ", where, ".shape but received ", describe_js_value(dims)));
  const Napi::Array array = dims.As<Napi::Array>();
  shape->resize(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    RESNET_RETURN_IF_ERROR(read_int(array.Get(i), cat(where, ".shape[", i, "]"), -(int64_t{1} << 53), int64_t{1} << 53,
                                    Code::kInvalidShape, &(*shape)[i]));
  }
  return Status();
}

// `values[i].quant`: absent (a float value) or `{ scale, dtype: 'uint8' | 'int8' }`.
Status read_quant(const Napi::Value& value, const std::string& where, ValueQuant* quant) {
  Napi::Object object;
  RESNET_RETURN_IF_ERROR(read_object(value, where, &object));
  const Napi::Value field = object.Get("quant");
  if (field.IsUndefined()) return Status();
  Napi::Object spec;
  RESNET_RETURN_IF_ERROR(read_object(field, where + ".quant", &spec));
  const Napi::Value scale = spec.Get("scale");
  RESNET_CHECK(scale.IsNumber(), Code::kInvalidArgument,
               cat("Expected a number for ", where, ".quant.scale but received ", describe_js_value(scale)));
  quant->scale = scale.As<Napi::Number>().FloatValue();
  const Napi::Value dtype = spec.Get("dtype");
  const std::string name = dtype.IsString() ? dtype.As<Napi::String>().Utf8Value() : "";
  if (name == "uint8") quant->type = QuantType::kUint8;
  else if (name == "int8") quant->type = QuantType::kInt8;
  else {
    return Status(Code::kInvalidArgument, cat("Expected \"uint8\" or \"int8\" for ", where,
                                              ".quant.dtype but received ", describe_js_value(dtype)));
  }
  return Status();
}

}  // namespace

std::string describe_js_value(const Napi::Value& value) {
  if (value.IsUndefined()) return "undefined";
  if (value.IsNull()) return "null";
  if (value.IsNumber() || value.IsBoolean()) return value.ToString().Utf8Value();
  if (value.IsString()) {
    std::string text = value.As<Napi::String>().Utf8Value();
    if (text.size() > 40) text = text.substr(0, 37) + "...";
    return "\"" + text + "\"";
  }
  if (value.IsTypedArray()) return "a typed array other than Float32Array";
  if (value.IsArray()) return cat("an array of length ", value.As<Napi::Array>().Length());
  if (value.IsFunction()) return "a function";
  if (value.IsObject()) return "an object";
  return "a value of another type";
}

Result<Graph> graph_from_js(const Napi::Value& value) {
  Graph graph;
  Napi::Object object;
  RESNET_RETURN_IF_ERROR(read_object(value, "graph", &object));

  Napi::Array values;
  RESNET_RETURN_IF_ERROR(read_array(object.Get("values"), "graph.values", &values));
  // Grown one element at a time: a hostile sparse array may claim a length of 2^32 - 1.
  for (uint32_t i = 0; i < values.Length(); ++i) {
    RESNET_RETURN_IF_ERROR(read_shape(values.Get(i), cat("graph.values[", i, "]"), &graph.values.emplace_back()));
    ValueQuant quant;
    RESNET_RETURN_IF_ERROR(read_quant(values.Get(i), cat("graph.values[", i, "]"), &quant));
    // Kept empty for a float graph; filled to one entry per value from the first quantized one on.
    if (quant.quantized() && graph.quant.size() < i) graph.quant.resize(i);
    if (quant.quantized() || !graph.quant.empty()) graph.quant.push_back(quant);
  }
  RESNET_RETURN_IF_ERROR(read_id(object, "input", "graph", false, &graph.input));

  Napi::Array outputs;
  RESNET_RETURN_IF_ERROR(read_array(object.Get("outputs"), "graph.outputs", &outputs));
  for (uint32_t i = 0; i < outputs.Length(); ++i) {
    int64_t id = 0;
    RESNET_RETURN_IF_ERROR(read_int(outputs.Get(i), cat("graph.outputs[", i, "]"), 0,
                                    std::numeric_limits<int32_t>::max(), Code::kInvalidArgument, &id));
    graph.outputs.push_back(static_cast<int>(id));
  }

  Napi::Array ops;
  RESNET_RETURN_IF_ERROR(read_array(object.Get("ops"), "graph.ops", &ops));
  for (uint32_t i = 0; i < ops.Length(); ++i) {
    RESNET_RETURN_IF_ERROR(read_op(ops.Get(i), cat("graph.ops[", i, "]"), &graph.ops.emplace_back()));
  }
  return graph;
}

Result<JsCompileOptions> compile_options_from_js(const Napi::Value& value) {
  JsCompileOptions options;
  CompileOptions& compile = options.compile;
  Napi::Object object;
  RESNET_RETURN_IF_ERROR(read_object(value, "options", &object));
  const Napi::Value backend = object.Get("backend");
  RESNET_CHECK(backend.IsString(), Code::kInvalidArgument,
               cat("Expected a backend name for options.backend but received ", describe_js_value(backend)));
  options.backend = backend.As<Napi::String>().Utf8Value();
  RESNET_RETURN_IF_ERROR(read_int(object.Get("batch"), "options.batch", 1, std::numeric_limits<int32_t>::max(),
                                  Code::kInvalidArgument, &compile.batch));
  const Napi::Value threads = object.Get("threads");
  if (!threads.IsUndefined()) {
    int64_t count = 0;
    RESNET_RETURN_IF_ERROR(read_int(threads, "options.threads", 1, 1024, Code::kInvalidArgument, &count));
    compile.threads = static_cast<int>(count);
  }
  const Napi::Value device = object.Get("device");
  if (!device.IsUndefined()) {
    int64_t ordinal = 0;
    RESNET_RETURN_IF_ERROR(read_int(device, "options.device", 0, 1023, Code::kInvalidArgument, &ordinal));
    compile.device = static_cast<int>(ordinal);
  }
  const Napi::Value precision = object.Get("precision");
  if (!precision.IsUndefined()) {
    const std::string name = precision.IsString() ? precision.As<Napi::String>().Utf8Value() : "";
    if (name == "float32") compile.precision = Precision::kFloat32;
    else if (name == "tf32") compile.precision = Precision::kTf32;
    else if (name == "float16") compile.precision = Precision::kFloat16;
    else if (name == "bfloat16") compile.precision = Precision::kBFloat16;
    else if (name == "int8") compile.precision = Precision::kInt8;
    else {
      return Status(Code::kInvalidArgument,
                    cat("Expected \"float32\", \"tf32\", \"float16\", \"bfloat16\" or \"int8\" for "
                        "options.precision but received ",
                        describe_js_value(precision)));
    }
  }
  const Napi::Value benchmark = object.Get("benchmark");
  if (!benchmark.IsUndefined()) {
    RESNET_CHECK(benchmark.IsBoolean(), Code::kInvalidArgument,
                 cat("Expected a boolean for options.benchmark but received ", describe_js_value(benchmark)));
    compile.benchmark = benchmark.As<Napi::Boolean>().Value();
  }
  const Napi::Value normalization = object.Get("normalization");
  if (!normalization.IsUndefined()) {
    Napi::Object norm;
    RESNET_RETURN_IF_ERROR(read_object(normalization, "options.normalization", &norm));
    InputNormalization& out = compile.normalization;
    out.enabled = true;
    const Napi::Value scale = norm.Get("scale");
    if (!scale.IsUndefined()) {
      RESNET_CHECK(scale.IsNumber() && std::isfinite(scale.As<Napi::Number>().DoubleValue()), Code::kInvalidArgument,
                   cat("Expected a finite number for options.normalization.scale but received ",
                       describe_js_value(scale)));
      out.scale = scale.As<Napi::Number>().FloatValue();
    }
    for (const char* field : {"mean", "std"}) {
      const Napi::Value list = norm.Get(field);
      const std::string name = cat("options.normalization.", field);
      RESNET_CHECK(list.IsArray(), Code::kInvalidArgument,
                   cat("Expected an array of numbers for ", name, " but received ", describe_js_value(list)));
      const Napi::Array array = list.As<Napi::Array>();
      RESNET_CHECK(array.Length() >= 1 && array.Length() <= 4096, Code::kInvalidArgument,
                   cat("Expected 1 to 4096 numbers for ", name, " but received ", array.Length()));
      std::vector<float>& target = std::string(field) == "mean" ? out.mean : out.std;
      for (uint32_t i = 0; i < array.Length(); ++i) {
        const Napi::Value item = array.Get(i);
        const bool positive = std::string(field) == "std";
        const bool good = item.IsNumber() && std::isfinite(item.As<Napi::Number>().DoubleValue()) &&
                          (!positive || item.As<Napi::Number>().DoubleValue() > 0);
        RESNET_CHECK(good, Code::kInvalidArgument,
                     cat("Expected a finite", positive ? " positive" : "", " number for ", name, "[", i,
                         "] but received ", describe_js_value(item)));
        target.push_back(item.As<Napi::Number>().FloatValue());
      }
    }
    RESNET_CHECK(out.mean.size() == out.std.size(), Code::kInvalidArgument,
                 cat("Expected as many numbers in options.normalization.std as in .mean (", out.mean.size(),
                     ") but received ", out.std.size()));
    // `inputs`: the input dtypes it applies to (default: all).
    const Napi::Value inputs = norm.Get("inputs");
    if (!inputs.IsUndefined()) {
      const std::string name = "options.normalization.inputs";
      RESNET_CHECK(inputs.IsArray() && inputs.As<Napi::Array>().Length() <= 3, Code::kInvalidArgument,
                   cat("Expected an array of \"float32\", \"float16\", \"uint8\" for ", name, " but received ",
                       describe_js_value(inputs)));
      out.applies_to = 0;
      const Napi::Array array = inputs.As<Napi::Array>();
      for (uint32_t i = 0; i < array.Length(); ++i) {
        const Napi::Value item = array.Get(i);
        const std::string type = item.IsString() ? item.As<Napi::String>().Utf8Value() : std::string();
        const int bit = type == "float32"   ? static_cast<int>(InputType::kFloat32)
                        : type == "uint8"   ? static_cast<int>(InputType::kUint8)
                        : type == "float16" ? static_cast<int>(InputType::kFloat16)
                                            : -1;
        RESNET_CHECK(bit >= 0, Code::kInvalidArgument,
                     cat("Expected \"float32\", \"float16\" or \"uint8\" for ", name, "[", i, "] but received ",
                         describe_js_value(item)));
        out.applies_to |= 1u << bit;
      }
    }
  }
  const Napi::Value cudnn = object.Get("cudnn");
  if (!cudnn.IsUndefined()) RESNET_RETURN_IF_ERROR(read_cudnn_settings(cudnn, &compile.cudnn));
  return options;
}

Status read_cudnn_settings(const Napi::Value& value, cuda::CudaSettings* settings) {
  Napi::Object object;
  RESNET_RETURN_IF_ERROR(read_object(value, "options.cudnn", &object));
  // A misspelt knob must not be ignored silently.
  const Napi::Array keys = object.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string key = keys.Get(i).ToString().Utf8Value();
    RESNET_CHECK(key == "graphApi" || key == "graphCandidates" || key == "graphBudgetMs" || key == "verbose" ||
                     key == "stem",
                 Code::kInvalidArgument,
                 cat("options.cudnn: unknown option \"", key,
                     "\"; the options are graphApi, graphCandidates, graphBudgetMs, verbose, stem"));
  }
  if (!object.Get("graphApi").IsUndefined()) {
    RESNET_RETURN_IF_ERROR(read_bool(object, "graphApi", "options.cudnn", &settings->graph_api));
    settings->graph_api_off_by = settings->graph_api ? "" : "options.cudnn.graphApi: false";
  }
  const Napi::Value candidates = object.Get("graphCandidates");
  if (!candidates.IsUndefined()) {
    int64_t count = 0;
    RESNET_RETURN_IF_ERROR(
        read_int(candidates, "options.cudnn.graphCandidates", 1, 16, Code::kInvalidArgument, &count));
    settings->graph_candidates = static_cast<int>(count);
  }
  const Napi::Value budget = object.Get("graphBudgetMs");
  if (!budget.IsUndefined()) {
    const double ms = budget.IsNumber() ? budget.As<Napi::Number>().DoubleValue() : -1;
    RESNET_CHECK(std::isfinite(ms) && ms >= 0, Code::kInvalidArgument,
                 cat("Expected a finite number >= 0 (0 for no limit) for options.cudnn.graphBudgetMs but received ",
                     describe_js_value(budget)));
    settings->graph_budget_ms = ms;
    settings->graph_budget_by = "options.cudnn.graphBudgetMs";
  }
  if (!object.Get("verbose").IsUndefined()) {
    RESNET_RETURN_IF_ERROR(read_bool(object, "verbose", "options.cudnn", &settings->verbose));
  }
  const Napi::Value stem = object.Get("stem");
  if (!stem.IsUndefined()) {
    const std::string name = stem.IsString() ? stem.As<Napi::String>().Utf8Value() : "";
    cuda::StemForm form = cuda::StemForm::kDirect;
    const bool known = cuda::stem_form_from_name(name, &form);
    RESNET_CHECK(known || name == "auto", Code::kInvalidArgument,
                 cat("Expected \"auto\", \"direct\", \"space_to_depth\" or \"four_channel\" for options.cudnn.stem but "
                     "received ",
                     describe_js_value(stem)));
    settings->stem = known ? std::optional<cuda::StemForm>(form) : std::nullopt;
  }
  return Status();
}

}  // namespace resnet
