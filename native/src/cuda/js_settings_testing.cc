// `testing.cudaSettings(environment, cudnn?)`: the CUDA settings (cuda_settings.h) that `environment` (an
// object of variable names to strings, standing in for the process environment) gives, with a compile's
// `cudnn` option applied over them as compile() applies it (graph_from_js.cc), for
// test/gpu/cuda-path-choice.test.ts. Also what the executable derives from them: the graph plans per conv graph
// without and with `benchmark`, and the build budget (Infinity for no limit). Bad arguments throw coded Errors.
#include <napi.h>

#include <map>
#include <string>

#include "cuda/cuda_settings.h"
#include "cuda/js_cuda_testing.h"
#include "graph_from_js.h"
#include "js_error.h"

namespace resnet {
namespace cuda {
namespace {

Napi::Value settings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Value given = info[0];
  if (!given.IsObject() || given.IsArray()) {
    throw make_error(env,
                     Status(Code::kInvalidArgument, cat("Expected an object of strings for environment but received ",
                                                        describe_js_value(given))));
  }
  const Napi::Object object = given.As<Napi::Object>();
  std::map<std::string, std::string> variables;
  const Napi::Array names = object.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    const std::string name = names.Get(i).ToString().Utf8Value();
    const Napi::Value value = object.Get(name);
    if (!value.IsString()) {
      throw make_error(env, Status(Code::kInvalidArgument, cat("Expected a string for environment.", name,
                                                               " but received ", describe_js_value(value))));
    }
    variables[name] = value.As<Napi::String>().Utf8Value();
  }
  CudaSettings settings = cuda_settings_from([&](const char* name) -> const char* {
    const auto found = variables.find(name);
    return found == variables.end() ? nullptr : found->second.c_str();
  });
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    const Status status = read_cudnn_settings(info[1], &settings);
    if (!status.ok()) throw make_error(env, status);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("graphApi", settings.graph_api);
  result.Set("graphApiOffBy", settings.graph_api_off_by);
  result.Set("graphCandidates", settings.graph_candidates);
  result.Set("graphBudgetMs", settings.graph_budget_ms);
  result.Set("graphBudgetBy", settings.graph_budget_by);
  result.Set("verbose", settings.verbose);
  result.Set("stem", settings.stem ? stem_form_name(*settings.stem) : "auto");
  Napi::Array limits = Napi::Array::New(env, 2);
  limits.Set(0u, static_cast<double>(graph_plan_limit(settings, false)));
  limits.Set(1u, static_cast<double>(graph_plan_limit(settings, true)));
  result.Set("planLimit", limits);
  result.Set("buildBudgetMs", graph_build_budget_ms(settings));
  return result;
}

}  // namespace

void add_settings_testing(Napi::Env env, Napi::Object& testing) {
  testing.Set("cudaSettings", Napi::Function::New(env, settings, "cudaSettings"));
}

}  // namespace cuda
}  // namespace resnet
