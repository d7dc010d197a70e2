// `testing.cudnnLoader` and `testing.nvjpegLoader`: the run-time loaders' search, names and errors, for
// test/gpu/cudnn-loader.test.ts and test/gpu/nvjpeg-loader.test.ts. Everything here runs without a GPU, cuDNN or nvJPEG:
// candidates() is pure, load() reports what this machine has, error() maps a status (cuDNN's through a stand-in
// CudnnApi). Bad arguments throw ERR_INVALID_ARGUMENT (never a crash).
#include <napi.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "cuda/cudnn_loader.h"
#include "cuda/js_cuda_testing.h"
#include "cuda/nvjpeg_loader.h"
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
  if (!value.IsString()) invalid(object.Env(), cat("loader.candidates: Expected a string for ", name));
  return value.As<Napi::String>().Utf8Value();
}

std::vector<std::string> strings_field(Napi::Object object, const char* name) {
  Napi::Value value = object.Get(name);
  std::vector<std::string> strings;
  if (value.IsUndefined()) return strings;
  if (!value.IsArray()) invalid(object.Env(), cat("loader.candidates: Expected an array of strings for ", name));
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) {
      invalid(object.Env(), cat("loader.candidates: Expected an array of strings for ", name));
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

/// How a loader's environment is spelled in JS: { <path field>?, cudaHomes?, <python field>? }.
struct EnvironmentFields {
  const char* path;    // "cudnnPath", "nvjpegPath"
  const char* python;  // "pythonCudnnDirs", "pythonDirs"
};
constexpr EnvironmentFields kCudnnFields{"cudnnPath", "pythonCudnnDirs"};
constexpr EnvironmentFields kNvjpegFields{"nvjpegPath", "pythonDirs"};

// candidates({ <path>?, cudaHomes?, <python>? }) → [{ path, source }]
template <const EnvironmentFields& fields, const LibrarySearchSpec& (*spec)()>
Napi::Value candidates(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) invalid(env, "loader.candidates: Expected an environment object");
  Napi::Object given = info[0].As<Napi::Object>();
  LoaderEnvironment environment;
  environment.named_path = string_field(given, fields.path);
  environment.cuda_homes = strings_field(given, "cudaHomes");
  environment.python_dirs = strings_field(given, fields.python);
  const std::vector<LoaderCandidate> list = library_candidates(spec(), environment);
  Napi::Array result = Napi::Array::New(env, list.size());
  for (uint32_t i = 0; i < list.size(); ++i) {
    Napi::Object candidate = Napi::Object::New(env);
    candidate.Set("path", list[i].path);
    candidate.Set("source", list[i].source);
    result.Set(i, candidate);
  }
  return result;
}

// environment() → { <path>, cudaHomes, <python> } of this process (runs the python3 probe).
template <const EnvironmentFields& fields, const LibrarySearchSpec& (*spec)()>
Napi::Value environment(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const LoaderEnvironment found = current_loader_environment(spec());
  Napi::Object result = Napi::Object::New(env);
  result.Set(fields.path, found.named_path);
  result.Set("cudaHomes", to_js(env, found.cuda_homes));
  result.Set(fields.python, to_js(env, found.python_dirs));
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
Napi::Value load_cudnn_js(const Napi::CallbackInfo& info) {
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

// nvjpegLoader.load() → { ok: true, path, major, minor, patch } or { ok: false, code, message }: load_nvjpeg().
Napi::Value load_nvjpeg_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Result<const NvjpegLibrary*> loaded = load_nvjpeg();
  Napi::Object result = Napi::Object::New(env);
  result.Set("ok", loaded.ok());
  if (loaded.ok()) {
    const NvjpegLibrary* library = loaded.value();
    result.Set("path", library->path);
    result.Set("major", library->major);
    result.Set("minor", library->minor);
    result.Set("patch", library->patch);
  } else {
    result.Set("code", code_name(loaded.status().code()));
    result.Set("message", loaded.status().message());
  }
  return result;
}

/// An nvjpegStatus_t from JS; false for an integer outside the enum's values.
bool nvjpeg_status_from_js(const Napi::Value& value, nvjpeg::nvjpegStatus_t& status) {
  if (!value.IsNumber()) invalid(value.Env(), "nvjpegLoader: Expected an integer status code");
  const double code = value.As<Napi::Number>().DoubleValue();
  if (code != static_cast<double>(static_cast<long long>(code))) {
    invalid(value.Env(), "nvjpegLoader: Expected an integer status code");
  }
  if (code < 0 || code > 10) return false;  // NVJPEG_STATUS_SUCCESS … NVJPEG_STATUS_INCOMPLETE_BITSTREAM
  status = static_cast<nvjpeg::nvjpegStatus_t>(static_cast<int>(code));
  return true;
}

Napi::Value nvjpeg_status_name_js(const Napi::CallbackInfo& info) {
  nvjpeg::nvjpegStatus_t status{};
  const bool known = nvjpeg_status_from_js(info.Length() > 0 ? info[0] : info.Env().Undefined(), status);
  return Napi::String::New(info.Env(), known ? nvjpeg_status_name(status) : "NVJPEG_STATUS_UNKNOWN");
}

// nvjpegLoader.error(code, what) → { code, message }: nvjpeg_error.
Napi::Value nvjpeg_error_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  nvjpeg::nvjpegStatus_t status{};
  if (!nvjpeg_status_from_js(info.Length() > 0 ? info[0] : env.Undefined(), status)) {
    invalid(env, "nvjpegLoader.error: Expected a status code in 0..10");
  }
  if (info.Length() < 2 || !info[1].IsString()) invalid(env, "nvjpegLoader.error: Expected a string for what");
  const Status failure = nvjpeg_error(status, info[1].As<Napi::String>().Utf8Value());
  Napi::Object result = Napi::Object::New(env);
  result.Set("code", code_name(failure.code()));
  result.Set("message", failure.message());
  return result;
}

Napi::Value sublibraries(const Napi::CallbackInfo& info) {
  return to_js(info.Env(), std::vector<std::string>(std::begin(kCudnnSublibraries), std::end(kCudnnSublibraries)));
}

}  // namespace

void add_loader_testing(Napi::Env env, Napi::Object& testing) {
  Napi::Object loader = Napi::Object::New(env);
  loader.Set("candidates", Napi::Function::New(env, candidates<kCudnnFields, cudnn_search_spec>, "candidates"));
  loader.Set("environment", Napi::Function::New(env, environment<kCudnnFields, cudnn_search_spec>, "environment"));
  loader.Set("statusName", Napi::Function::New(env, status_name, "statusName"));
  loader.Set("error", Napi::Function::New(env, error, "error"));
  loader.Set("load", Napi::Function::New(env, load_cudnn_js, "load"));
  loader.Set("functionNames", Napi::Function::New(env, function_names, "functionNames"));
  loader.Set("sublibraries", Napi::Function::New(env, sublibraries, "sublibraries"));
  testing.Set("cudnnLoader", loader);

  Napi::Object nvjpeg = Napi::Object::New(env);
  nvjpeg.Set("candidates", Napi::Function::New(env, candidates<kNvjpegFields, nvjpeg_search_spec>, "candidates"));
  nvjpeg.Set("environment", Napi::Function::New(env, environment<kNvjpegFields, nvjpeg_search_spec>, "environment"));
  nvjpeg.Set("statusName", Napi::Function::New(env, nvjpeg_status_name_js, "statusName"));
  nvjpeg.Set("error", Napi::Function::New(env, nvjpeg_error_js, "error"));
  nvjpeg.Set("load", Napi::Function::New(env, load_nvjpeg_js, "load"));
  nvjpeg.Set("functionNames", Napi::Function::New(
                                  env,
                                  [](const Napi::CallbackInfo& info) -> Napi::Value {
                                    return to_js(info.Env(), nvjpeg_function_names());
                                  },
                                  "functionNames"));
  testing.Set("nvjpegLoader", nvjpeg);
}

}  // namespace cuda
}  // namespace resnet
