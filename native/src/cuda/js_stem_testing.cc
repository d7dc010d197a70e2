// `testing.cudaStemChoice({ forms, unavailable?, precision?, forced?, evidence })`: choose_stem_form
// (stem_choice.h) on evidence written in JS, for test/gpu/cuda-stem-choice.test.ts, which runs without a GPU.
// `forms` names the forms the plan offers, in its order; each evidence entry is { form, ms?, path?,
// relativeError?, failure? }. Returns { form, describe }. Bad arguments throw ERR_INVALID_ARGUMENT.
#include <napi.h>

#include <optional>
#include <string>
#include <vector>

#include "cuda/js_cuda_testing.h"
#include "cuda/stem_choice.h"
#include "graph_from_js.h"
#include "js_error.h"

namespace resnet {
namespace cuda {
namespace {

[[noreturn]] void invalid(Napi::Env env, const std::string& what, const std::string& name, const Napi::Value& value) {
  throw make_error(env, Status(Code::kInvalidArgument,
                               cat("Expected ", what, " for ", name, " but received ", describe_js_value(value))));
}

StemForm form_of(Napi::Env env, const Napi::Value& value, const std::string& name) {
  StemForm form = StemForm::kDirect;
  if (!value.IsString() || !stem_form_from_name(value.As<Napi::String>().Utf8Value(), &form)) {
    invalid(env, "\"direct\", \"space_to_depth\" or \"four_channel\"", name, value);
  }
  return form;
}

Napi::Array array_of(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (!value.IsArray()) invalid(env, "an array", name, value);
  return value.As<Napi::Array>();
}

std::string string_of(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (value.IsUndefined()) return "";
  if (!value.IsString()) invalid(env, "a string", name, value);
  return value.As<Napi::String>().Utf8Value();
}

// Any number, NaN included (an output with a NaN has a NaN error).
std::optional<double> number_of(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (value.IsUndefined()) return std::nullopt;
  if (!value.IsNumber()) invalid(env, "a number", name, value);
  return value.As<Napi::Number>().DoubleValue();
}

Napi::Value stem_choice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject() || info[0].IsArray()) invalid(env, "an object", "the first argument", info[0]);
  const Napi::Object object = info[0].As<Napi::Object>();
  StemPlan stem;
  const Napi::Array forms = array_of(env, object.Get("forms"), "forms");
  for (uint32_t i = 0; i < forms.Length(); ++i) {
    StemOption option;
    option.form = form_of(env, forms.Get(i), cat("forms[", i, "]"));
    stem.forms.push_back(option);
  }
  if (!object.Get("unavailable").IsUndefined()) {
    const Napi::Array lines = array_of(env, object.Get("unavailable"), "unavailable");
    for (uint32_t i = 0; i < lines.Length(); ++i)
      stem.unavailable.push_back(string_of(env, lines.Get(i), cat("unavailable[", i, "]")));
  }
  Precision precision = Precision::kFloat16;
  const Napi::Value precision_value = object.Get("precision");
  if (!precision_value.IsUndefined()) {
    const std::string name = string_of(env, precision_value, "precision");
    bool known = false;
    for (Precision p : {Precision::kFloat32, Precision::kTf32, Precision::kFloat16, Precision::kBFloat16}) {
      if (name == precision_name(p)) {
        precision = p;
        known = true;
      }
    }
    if (!known) invalid(env, "\"float32\", \"tf32\", \"float16\" or \"bfloat16\"", "precision", precision_value);
  }
  std::optional<StemForm> forced;
  if (!object.Get("forced").IsUndefined()) forced = form_of(env, object.Get("forced"), "forced");
  std::vector<StemFormEvidence> evidence;
  const Napi::Array entries = array_of(env, object.Get("evidence"), "evidence");
  for (uint32_t i = 0; i < entries.Length(); ++i) {
    const std::string where = cat("evidence[", i, "]");
    if (!entries.Get(i).IsObject()) invalid(env, "an object", where, entries.Get(i));
    const Napi::Object entry = entries.Get(i).As<Napi::Object>();
    StemFormEvidence e;
    e.form = form_of(env, entry.Get("form"), cat(where, ".form"));
    if (const std::optional<double> ms = number_of(env, entry.Get("ms"), cat(where, ".ms")))
      e.ms = static_cast<float>(*ms);
    e.path = string_of(env, entry.Get("path"), cat(where, ".path"));
    e.relative_error = number_of(env, entry.Get("relativeError"), cat(where, ".relativeError"));
    e.failure = string_of(env, entry.Get("failure"), cat(where, ".failure"));
    evidence.push_back(e);
  }
  const StemChoice choice = choose_stem_form(stem, evidence, forced, precision);
  Napi::Object result = Napi::Object::New(env);
  result.Set("form", stem_form_name(choice.form));
  result.Set("describe", choice.describe);
  return result;
}

}  // namespace

void add_stem_testing(Napi::Env env, Napi::Object& testing) {
  testing.Set("cudaStemChoice", Napi::Function::New(env, stem_choice, "cudaStemChoice"));
}

}  // namespace cuda
}  // namespace resnet
