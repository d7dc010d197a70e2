// Status and Result: how every native failure travels up to the Node-API boundary, where it becomes a
// JS Error with a stable `code` (lib/errors.ts). Nothing in native/ aborts the process: checks return.
#pragma once

#include <sstream>
#include <string>
#include <utility>
#include <variant>

namespace resnet {

/// The stable error codes, each spelled in JS as `code_name()` returns it.
enum class Code {
  kOk,
  kInvalidArgument,
  kInvalidShape,
  kUnsupported,
  kDisposed,
  kBackend,
  kBackendUnavailable,
  kOutOfMemory,
  kNoGpu,           // no CUDA driver, no device, or the device ordinal does not exist
  kCudnnNotFound,   // libcudnn.so.9 could not be found or loaded
  kCudnnVersion,    // a cuDNN of another major version (or sub-libraries that do not match)
  kGpuOutOfMemory,  // device memory exhausted (the message says how much was needed)
  kInvalidFile,     // encoded data (an image) that is malformed, truncated or not what it claims to be
  kNvjpegNotFound,  // libnvjpeg.so.13 / .12 could not be found or loaded
  kNvjpegVersion,   // an nvJPEG that is not 12.x or 13.x, or lacks a function the decoder calls
};

/// "ERR_INVALID_ARGUMENT", … ("" for kOk).
const char* code_name(Code code);

/// The outcome of an operation: ok, or a code and a message that says what to do.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

/// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}         // NOLINT(google-explicit-constructor): `return value;`
  Result(Status status) : state_(std::move(status)) {}  // NOLINT: `return status;` (must not be ok)

  bool ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const { return std::get<Status>(state_); }
  T& value() { return std::get<T>(state_); }
  T take() { return std::move(std::get<T>(state_)); }

 private:
  std::variant<Status, T> state_;
};

/// Concatenates anything streamable into one message.
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

}  // namespace resnet

/// Returns Status(code, message) from the enclosing function when `cond` is false. The message is only
/// built on failure.
#define RESNET_CHECK(cond, code, message)                    \
  do {                                                       \
    if (!(cond)) return ::resnet::Status((code), (message)); \
  } while (0)

/// Returns the Status of `expr` from the enclosing function when it is not ok.
#define RESNET_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::resnet::Status resnet_status_ = (expr);        \
    if (!resnet_status_.ok()) return resnet_status_; \
  } while (0)

#define RESNET_CONCAT_INNER_(a, b) a##b
#define RESNET_CONCAT_(a, b) RESNET_CONCAT_INNER_(a, b)

/// `RESNET_ASSIGN_OR_RETURN(auto x, make_x());` declares x from a Result, or returns its Status.
#define RESNET_ASSIGN_OR_RETURN(lhs, expr)                                                                      \
  auto RESNET_CONCAT_(resnet_result_, __LINE__) = (expr);                                                       \
  if (!RESNET_CONCAT_(resnet_result_, __LINE__).ok()) return RESNET_CONCAT_(resnet_result_, __LINE__).status(); \
  lhs = RESNET_CONCAT_(resnet_result_, __LINE__).take()
