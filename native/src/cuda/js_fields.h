// Reading the plain option objects of the test-only `testing.*` functions (js_*_testing.cc, js_image_decoder.cc):
// one shape of message, "<where>: Expected <what> for <name> but received <value>", thrown as ERR_INVALID_ARGUMENT.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "graph_from_js.h"
#include "js_error.h"

namespace resnet {
namespace cuda {

[[noreturn]] inline void throw_invalid(Napi::Env env, const std::string& message) {
  throw make_error(env, Status(Code::kInvalidArgument, message));
}

[[noreturn]] inline void throw_expected(const Napi::Value& value, const std::string& what, const std::string& name,
                                        const char* where) {
  throw_invalid(value.Env(),
                cat(where, ": Expected ", what, " for ", name, " but received ", describe_js_value(value)));
}

/// `value` as an integer in [min, max].
inline int64_t js_integer(const Napi::Value& value, const std::string& name, int64_t min, int64_t max,
                          const char* where) {
  const double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : NAN;
  if (!(number >= static_cast<double>(min) && number <= static_cast<double>(max)) || std::floor(number) != number) {
    throw_expected(value, cat("an integer in [", min, ", ", max, "]"), name, where);
  }
  return static_cast<int64_t>(number);
}

/// The integer field `name` of `object`, or `fallback` when absent.
inline int64_t js_integer_field(const Napi::Object& object, const char* name, int64_t fallback, int64_t min,
                                int64_t max, const char* where) {
  const Napi::Value value = object.Get(name);
  return value.IsUndefined() ? fallback : js_integer(value, name, min, max, where);
}

/// The boolean field `name` of `object`, false when absent.
inline bool js_flag_field(const Napi::Object& object, const char* name, const char* where) {
  const Napi::Value value = object.Get(name);
  if (value.IsUndefined()) return false;
  if (!value.IsBoolean()) throw_expected(value, "a boolean", name, where);
  return value.As<Napi::Boolean>().Value();
}

/// The string field `name` of `object`, "" when absent.
inline std::string js_string_field(const Napi::Object& object, const char* name, const char* where) {
  const Napi::Value value = object.Get(name);
  if (value.IsUndefined()) return "";
  if (!value.IsString()) throw_expected(value, "a string", name, where);
  return value.As<Napi::String>().Utf8Value();
}

}  // namespace cuda
}  // namespace resnet
