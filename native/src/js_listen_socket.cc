#include "js_listen_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <cmath>
#include <string>

#include "graph_from_js.h"
#include "js_error.h"
#include "listen_socket.h"

namespace resnet {
namespace {

/// An integer argument from `min` to `max`, or the coded error sharp's wording gives.
int integer_argument(Napi::Env env, const Napi::Value& value, double min, double max, const char* name) {
  const double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (!(number >= min && number <= max && std::floor(number) == number)) {
    throw make_error(env, Status(Code::kInvalidArgument, cat("Expected an integer from ", min, " to ", max, " for ",
                                                             name, " but received ", describe_js_value(value))));
  }
  return static_cast<int>(number);
}

}  // namespace

Napi::Value open_listening_socket_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    throw make_error(env, Status(Code::kInvalidArgument, cat("Expected an IPv4 or IPv6 address for host but received ",
                                                             describe_js_value(info[0]))));
  }
  const int port = integer_argument(env, info[1], 0, 65535, "port");
  if (!info[2].IsBoolean()) {
    throw make_error(env, Status(Code::kInvalidArgument,
                                 cat("Expected a boolean for reusePort but received ", describe_js_value(info[2]))));
  }
  const int backlog = integer_argument(env, info[3], 1, 65535, "backlog");
  ListenRequest request;
  request.host = info[0].As<Napi::String>().Utf8Value();
  request.port = static_cast<uint16_t>(port);
  request.reuse_port = info[2].As<Napi::Boolean>().Value();
  request.backlog = backlog;
  Result<ListeningSocket> opened = open_listening_socket(request);
  if (!opened.ok()) throw make_error(env, opened.status());
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", Napi::Number::New(env, opened.value().fd));
  result.Set("port", Napi::Number::New(env, opened.value().port));
  result.Set("family", Napi::Number::New(env, opened.value().family == AF_INET6 ? 6 : 4));
  return result;
}

Napi::Value close_listening_socket_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double fd = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  struct stat status {};
  const bool is_socket = fd >= 0 && fd <= 1 << 30 && std::floor(fd) == fd &&
                         ::fstat(static_cast<int>(fd), &status) == 0 && S_ISSOCK(status.st_mode);
  if (!is_socket) {
    throw make_error(env, Status(Code::kInvalidArgument,
                                 cat("Expected the descriptor of an open socket for fd but received ",
                                     describe_js_value(info[0]))));
  }
  close_listening_socket(static_cast<int>(fd));
  return env.Undefined();
}

}  // namespace resnet
