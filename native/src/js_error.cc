#include "js_error.h"

namespace resnet {

Napi::Error make_error(Napi::Env env, const Status& status) {
  Napi::Error error = Napi::Error::New(env, status.message());
  error.Set("code", Napi::String::New(env, code_name(status.code())));
  return error;
}

Napi::Promise rejected(Napi::Env env, const Status& status) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(make_error(env, status).Value());
  return deferred.Promise();
}

}  // namespace resnet
