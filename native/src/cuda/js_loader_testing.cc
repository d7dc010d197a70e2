// `testing.cudnnLoader`: the cuDNN loader's search, names and errors, for test/cudnn-loader.test.ts. Everything
// here runs without a GPU or cuDNN: candidates() is pure, load() reports what this machine has, error() feeds
// cudnn_error a stand-in CudnnApi. Bad arguments throw ERR_INVALID_ARGUMENT (never a crash).
#include <napi.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "cuda/cudnn_loader.h"
#include "cuda/js_cuda_testing.h"
#include "js_error.h"

namespace resnet {
namespace cuda {
namespace {

[[noreturn]] void invalid(Napi::Env env, const std::string& message) {
  throw make_error(env, Status(Code::kInvalidArgument, message));
}

std::string string_field(Napi::Object object, const char* name) {
  Napi::Value value = object.Get(name);
  if (value.IsUndefined()) return "";
  if (!value.IsString()) invalid(object.Env(), cat("cudnnLoader.candidates: Expected a string for ", name));
  return value.As<Napi::String>().Utf8Value();
}

std::vector<std::string> strings_field(Napi::Object object, const char* name) {
  Napi::Value value = object.Get(name);
  std::vector<std::string> strings;
  if (value.IsUndefined()) return strings;
  if (!value.IsArray()) invalid(object.Env(), cat("cudnnLoader.candidates: Expected an array of strings for ", name));
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) {
      invalid(object.Env(), cat("cudnnLoader.candidates: Expected an array of strings for ", name));
    }
    strings.push_back(item.As<Napi::String>().Utf8Value());
  }
  return strings;
}

Napi::Array to_js(Napi::Env env, const std::vector<std::string>& strings) {
  Napi::Array array = Napi::Array::New(env, strings.size());
  for (uint32_t i = 0; i < strings.size(); ++i) array.Set(i, Napi::String::New(env, strings[i]));
  return array;
}

/// A status code as given from JS, or CUDNN_STATUS_UNKNOWN's stand-in for one outside cudnnStatus_t's range.
bool status_from_js(const Napi::Value& value, cudnn::cudnnStatus_t& status) {
  if (!value.IsNumber()) invalid(value.Env(), "cudnnLoader: Expected an integer status code");
  const double code = value.As<Napi::Number>().DoubleValue();
  if (code != static_cast<double>(static_cast<long long>(code))) {
    invalid(value.Env(), "cudnnLoader: Expected an integer status code");
  }
  // Values outside 0..8191 are outside the enum's range (its values need 13 bits): not cuDNN codes at all.
  if (code < 0 || code > 8191) return false;
  status = static_cast<cudnn::cudnnStatus_t>(static_cast<int>(code));
  return true;
}

// candidates({ cudnnPath?, cudaHomes?, pythonCudnnDirs? }) → [{ path, source }]
Napi::Value candidates(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) invalid(env, "cudnnLoader.candidates: Expected an environment object");
  Napi::Object given = info[0].As<Napi::Object>();
  LoaderEnvironment environment;
  environment.named_path = string_field(given, "cudnnPath");
  environment.cuda_homes = strings_field(given, "cudaHomes");
  environment.python_dirs = strings_field(given, "pythonCudnnDirs");
  const std::vector<LoaderCandidate> list = cudnn_candidates(environment);
  Napi::Array result = Napi::Array::New(env, list.size());
  for (uint32_t i = 0; i < list.size(); ++i) {
    Napi::Object candidate = Napi::Object::New(env);
    candidate.Set("path", list[i].path);
    candidate.Set("source", list[i].source);
    result.Set(i, candidate);
  }
  return result;
}

// environment() → { cudnnPath, cudaHomes, pythonCudnnDirs } of this process (runs the python3 probe).
Napi::Value environment(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const LoaderEnvironment found = current_loader_environment(cudnn_search_spec());
  Napi::Object result = Napi::Object::New(env);
  result.Set("cudnnPath", found.named_path);
  result.Set("cudaHomes", to_js(env, found.cuda_homes));
  result.Set("pythonCudnnDirs", to_js(env, found.python_dirs));
  return result;
}

Napi::Value status_name(const Napi::CallbackInfo& info) {
  cudnn::cudnnStatus_t status{};
  const bool in_range = status_from_js(info.Length() > 0 ? info[0] : info.Env().Undefined(), status);
  return Napi::String::New(info.Env(), in_range ? cudnn_status_name(status) : "CUDNN_STATUS_UNKNOWN");
}

// A CudnnApi whose only members are the two error-text functions, answering with recognisable text.
const char* fake_error_string(cudnn::cudnnStatus_t status) {
  return status == cudnn::CUDNN_STATUS_SUCCESS ? "" : "text from cudnnGetErrorString";
}
void fake_last_error(char* message, size_t max_size) {
  const std::string text = "text from cudnnGetLastErrorString";
  if (max_size == 0) return;
  const size_t n = std::min(max_size - 1, text.size());
  text.copy(message, n);
  message[n] = '\0';
}

// error(code, what) → { code, message }: cudnn_error over the stand-in API.
Napi::Value error(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cudnn::cudnnStatus_t status{};
  if (!status_from_js(info.Length() > 0 ? info[0] : env.Undefined(), status)) {
    invalid(env, "cudnnLoader.error: Expected a status code in 0..8191");
  }
  if (info.Length() < 2 || !info[1].IsString()) invalid(env, "cudnnLoader.error: Expected a string for what");
  CudnnApi api;
  api.cudnnGetErrorString = &fake_error_string;
  api.cudnnGetLastErrorString = &fake_last_error;
  const Status failure = cudnn_error(api, status, info[1].As<Napi::String>().Utf8Value());
  Napi::Object result = Napi::Object::New(env);
  result.Set("code", code_name(failure.code()));
  result.Set("message", failure.message());
  return result;
}

// load() → { ok: true, path, version } or { ok: false, code, message }: load_cudnn() in this process (once).
Napi::Value load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Result<const CudnnLibrary*> loaded = load_cudnn();
  Napi::Object result = Napi::Object::New(env);
  result.Set("ok", loaded.ok());
  if (loaded.ok()) {
    const CudnnLibrary* library = loaded.value();
    result.Set("path", library->path);
    result.Set("version", static_cast<double>(library->version));
  } else {
    result.Set("code", code_name(loaded.status().code()));
    result.Set("message", loaded.status().message());
  }
  return result;
}

Napi::Value function_names(const Napi::CallbackInfo& info) { return to_js(info.Env(), cudnn_function_names()); }

Napi::Value sublibraries(const Napi::CallbackInfo& info) {
  return to_js(info.Env(), std::vector<std::string>(std::begin(kCudnnSublibraries), std::end(kCudnnSublibraries)));
}

}  // namespace

void add_loader_testing(Napi::Env env, Napi::Object& testing) {
  Napi::Object loader = Napi::Object::New(env);
  loader.Set("candidates", Napi::Function::New(env, candidates, "candidates"));
  loader.Set("environment", Napi::Function::New(env, environment, "environment"));
  loader.Set("statusName", Napi::Function::New(env, status_name, "statusName"));
  loader.Set("error", Napi::Function::New(env, error, "error"));
  loader.Set("load", Napi::Function::New(env, load, "load"));
  loader.Set("functionNames", Napi::Function::New(env, function_names, "functionNames"));
  loader.Set("sublibraries", Napi::Function::New(env, sublibraries, "sublibraries"));
  testing.Set("cudnnLoader", loader);
}

}  // namespace cuda
}  // namespace resnet
