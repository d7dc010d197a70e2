// `testing.cudaPathChoice(evidence)`: choose_conv_path (conv_path_choice.h) on evidence written in JS, for
// test/gpu/cuda-path-choice.test.ts, which runs without a GPU. The evidence object spells the C++ fields in
// camelCase and the enums by name:
//   { precision?, benchmark?, fused?: 'notFusable' | 'notTried' | 'ran' | 'refused', fusedAlgorithm?, fusedWhy?,
//     fusedMs?, unfusedMs?, plans?: [{ name, trial?: 'notRun' | 'ran' | 'refused', relativeError?, refusal?,
//     timing?: 'notTimed' | 'timed' | 'failed' | 'failedForIdenticalConv', ms?, timingFailure? }],
//     capture?: 'notChecked' | 'captured' | 'failedWithPlans' | 'failedWithPlansOnly' | 'failedEitherWay' }
// and the choice comes back as { mode, legacyMode ('graph' | 'fused' | 'unfused'), plan, ranked, note, graphNote }.
// Bad evidence throws ERR_INVALID_ARGUMENT (never a crash).
#include <napi.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cuda/conv_path_choice.h"
#include "cuda/js_cuda_testing.h"
#include "graph_from_js.h"
#include "js_error.h"

namespace resnet {
namespace cuda {
namespace {

[[noreturn]] void invalid(Napi::Env env, const std::string& what, const std::string& name, const Napi::Value& value) {
  throw make_error(env, Status(Code::kInvalidArgument,
                               cat("Expected ", what, " for ", name, " but received ", describe_js_value(value))));
}

Napi::Object object_of(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (!value.IsObject() || value.IsArray()) invalid(env, "an object", name, value);
  return value.As<Napi::Object>();
}

template <typename Enum>
Enum enum_field(Napi::Object object, const char* field, const std::string& where,
                const std::vector<std::pair<const char*, Enum>>& names, Enum fallback) {
  const Napi::Value value = object.Get(field);
  if (value.IsUndefined()) return fallback;
  const std::string text = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  std::string known;
  for (const auto& [name, item] : names) {
    if (text == name) return item;
    known += cat(known.empty() ? "" : ", ", '"', name, '"');
  }
  invalid(object.Env(), cat("one of ", known), cat(where, ".", field), value);
}

std::string string_field(Napi::Object object, const char* field, const std::string& where) {
  const Napi::Value value = object.Get(field);
  if (value.IsUndefined()) return "";
  if (!value.IsString()) invalid(object.Env(), "a string", cat(where, ".", field), value);
  return value.As<Napi::String>().Utf8Value();
}

// Any number, NaN included (a plan whose output had a NaN has a NaN error).
std::optional<double> number_field(Napi::Object object, const char* field, const std::string& where) {
  const Napi::Value value = object.Get(field);
  if (value.IsUndefined()) return std::nullopt;
  if (!value.IsNumber()) invalid(object.Env(), "a number", cat(where, ".", field), value);
  return value.As<Napi::Number>().DoubleValue();
}

bool bool_field(Napi::Object object, const char* field, const std::string& where) {
  const Napi::Value value = object.Get(field);
  if (value.IsUndefined()) return false;
  if (!value.IsBoolean()) invalid(object.Env(), "a boolean", cat(where, ".", field), value);
  return value.As<Napi::Boolean>().Value();
}

std::optional<float> ms_field(Napi::Object object, const char* field, const std::string& where) {
  const std::optional<double> ms = number_field(object, field, where);
  if (!ms) return std::nullopt;
  return static_cast<float>(*ms);
}

GraphPlanEvidence plan_from_js(Napi::Env env, const Napi::Value& value, const std::string& where) {
  const Napi::Object object = object_of(env, value, where);
  GraphPlanEvidence plan;
  if (!object.Get("name").IsString()) invalid(env, "a string", where + ".name", object.Get("name"));
  plan.name = string_field(object, "name", where);
  plan.trial = enum_field<PlanTrial>(
      object, "trial", where,
      {{"notRun", PlanTrial::kNotRun}, {"ran", PlanTrial::kRan}, {"refused", PlanTrial::kRefused}}, PlanTrial::kNotRun);
  plan.relative_error = number_field(object, "relativeError", where).value_or(0);
  plan.refusal = string_field(object, "refusal", where);
  plan.timing = enum_field<PlanTiming>(object, "timing", where,
                                       {{"notTimed", PlanTiming::kNotTimed},
                                        {"timed", PlanTiming::kTimed},
                                        {"failed", PlanTiming::kFailed},
                                        {"failedForIdenticalConv", PlanTiming::kFailedForIdenticalConv}},
                                       PlanTiming::kNotTimed);
  plan.ms = ms_field(object, "ms", where).value_or(0);
  plan.timing_failure = string_field(object, "timingFailure", where);
  return plan;
}

ConvPathEvidence evidence_from_js(Napi::Env env, const Napi::Value& value) {
  const std::string where = "evidence";
  const Napi::Object object = object_of(env, value, where);
  ConvPathEvidence evidence;
  evidence.precision = enum_field<Precision>(object, "precision", where,
                                             {{"float32", Precision::kFloat32},
                                              {"tf32", Precision::kTf32},
                                              {"float16", Precision::kFloat16},
                                              {"bfloat16", Precision::kBFloat16}},
                                             Precision::kFloat32);
  evidence.benchmark = bool_field(object, "benchmark", where);
  evidence.fused = enum_field<FusedTrial>(object, "fused", where,
                                          {{"notFusable", FusedTrial::kNotFusable},
                                           {"notTried", FusedTrial::kNotTried},
                                           {"ran", FusedTrial::kRan},
                                           {"refused", FusedTrial::kRefused}},
                                          FusedTrial::kNotTried);
  evidence.fused_algorithm = string_field(object, "fusedAlgorithm", where);
  evidence.fused_why = string_field(object, "fusedWhy", where);
  evidence.fused_ms = ms_field(object, "fusedMs", where);
  evidence.unfused_ms = ms_field(object, "unfusedMs", where);
  const Napi::Value plans = object.Get("plans");
  if (!plans.IsUndefined()) {
    if (!plans.IsArray()) invalid(env, "an array", where + ".plans", plans);
    const Napi::Array array = plans.As<Napi::Array>();
    if (array.Length() > 64) invalid(env, "at most 64 plans", where + ".plans", plans);
    for (uint32_t i = 0; i < array.Length(); ++i) {
      evidence.plans.push_back(plan_from_js(env, array.Get(i), cat(where, ".plans[", i, "]")));
    }
  }
  evidence.capture = enum_field<CaptureCheck>(object, "capture", where,
                                              {{"notChecked", CaptureCheck::kNotChecked},
                                               {"captured", CaptureCheck::kCaptured},
                                               {"failedWithPlans", CaptureCheck::kFailedWithPlans},
                                               {"failedWithPlansOnly", CaptureCheck::kFailedWithPlansOnly},
                                               {"failedEitherWay", CaptureCheck::kFailedEitherWay}},
                                              CaptureCheck::kNotChecked);
  return evidence;
}

const char* mode_name(ConvMode mode) {
  switch (mode) {
    case ConvMode::kGraph: return "graph";
    case ConvMode::kFused: return "fused";
    case ConvMode::kUnfused: return "unfused";
  }
  return "unknown";
}

Napi::Value choose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvPathChoice choice = choose_conv_path(evidence_from_js(env, info[0]));
  Napi::Object result = Napi::Object::New(env);
  result.Set("mode", mode_name(choice.mode));
  result.Set("legacyMode", mode_name(choice.legacy_mode));
  result.Set("plan", choice.plan);
  Napi::Array ranked = Napi::Array::New(env, choice.ranked.size());
  for (uint32_t i = 0; i < choice.ranked.size(); ++i) ranked.Set(i, choice.ranked[i]);
  result.Set("ranked", ranked);
  result.Set("note", choice.note);
  result.Set("graphNote", choice.graph_note);
  return result;
}

}  // namespace

void add_path_choice_testing(Napi::Env env, Napi::Object& testing) {
  testing.Set("cudaPathChoice", Napi::Function::New(env, choose, "cudaPathChoice"));
}

}  // namespace cuda
}  // namespace resnet
