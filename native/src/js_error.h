// The Node-API boundary for failures: a Status becomes a JS Error with a stable `code`, and C++
// exceptions caught at an entry point become rejected promises instead of crossing into V8.
#pragma once

#include <napi.h>

#include <new>

#include "status.h"

namespace resnet {

/// `new Error(message)` with `code` set to the status's code name.
Napi::Error make_error(Napi::Env env, const Status& status);

/// A promise already rejected with `make_error(status)`.
Napi::Promise rejected(Napi::Env env, const Status& status);

/// Runs `body` (returning a promise) and turns anything it throws into a rejected promise: a JS exception
/// (a hostile getter, say) as itself, bad_alloc as ERR_OUT_OF_MEMORY, anything else as ERR_BACKEND.
template <typename Body>
Napi::Value promise_boundary(Napi::Env env, const char* what, Body&& body) {
  try {
    return body();
  } catch (const Napi::Error& error) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(error.Value());
    return deferred.Promise();
  } catch (const std::bad_alloc&) {
    return rejected(env, Status(Code::kOutOfMemory, cat(what, ": out of memory; use a smaller batch or free memory")));
  } catch (const std::exception& error) {
    return rejected(env, Status(Code::kBackend, cat(what, ": ", error.what())));
  }
}

}  // namespace resnet
