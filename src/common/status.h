// Status and Result<T>: how fallible functions on the data path report failure.
//
// No exceptions cross a library boundary in iomt: a bad message is data, so a
// function that can fail on user input returns a Status (or a Result<T> that
// carries either a T or a Status). An OK Status costs one null pointer.
#pragma once

#include <cassert>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "common/errors.h"

namespace iomt {

enum class StatusCode : unsigned char {
  kOk = 0,
  kInvalidArgument,  // the caller passed something unusable (bad flag, bad option)
  kSyntaxError,      // an expression or document does not parse
  kEvaluationError,  // an expression failed on a given input
  kTypeError,        // a value had the wrong type (e.g. JMESPath invalid-type)
  kOutOfRange,       // a limit was exceeded (depth, size, numeric range)
  kNotFound,
  kIoError,
  kInternal,
  kConflict,     // a write lost a race: the resource changed since it was read (HTTP 409/412)
  kUnavailable,  // an external system (FHIR server, broker) could not be reached or failed
};

std::string_view StatusCodeName(StatusCode code);

class Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message)
      : state_(code == StatusCode::kOk ? nullptr
                                       : std::make_unique<State>(State{code, std::move(message), {}, -1, {}})) {}
  Status(const Status& other) : state_(other.state_ ? std::make_unique<State>(*other.state_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;
  ~Status() = default;

  static Status Ok() { return Status(); }

  [[nodiscard]] bool ok() const { return state_ == nullptr; }
  [[nodiscard]] StatusCode code() const { return state_ ? state_->code : StatusCode::kOk; }
  [[nodiscard]] const std::string& message() const {
    static const std::string kEmpty;
    return state_ ? state_->message : kEmpty;
  }
  // The entry of the error catalogue (common/errors.h) this failure is, when
  // it is one: what its error record, dead letter and metrics are named.
  // Typed, so a misspelt name cannot compile.
  [[nodiscard]] std::optional<ErrorName> error() const { return state_ ? state_->error : std::nullopt; }
  // Its catalogue name ("DeviceNotFoundException"), or empty.
  [[nodiscard]] std::string_view error_name() const {
    return state_ && state_->error ? Describe(*state_->error).name : std::string_view();
  }
  Status& WithError(ErrorName name) & {
    if (state_) state_->error = name;
    return *this;
  }
  Status&& WithError(ErrorName name) && {
    if (state_) state_->error = name;
    return std::move(*this);
  }
  // A short machine-readable detail below the catalogue's level (e.g. the
  // JMESPath error kind "invalid-type", the .NET exception an expression
  // failure corresponds to, or why a lookup failed). Empty when unset.
  [[nodiscard]] const std::string& detail() const {
    static const std::string kEmpty;
    return state_ ? state_->detail : kEmpty;
  }
  Status& WithDetail(std::string detail) & {
    if (state_) state_->detail = std::move(detail);
    return *this;
  }
  Status&& WithDetail(std::string detail) && {
    if (state_) state_->detail = std::move(detail);
    return std::move(*this);
  }
  // Where in the input (an expression or a document) the problem is, as a
  // 0-based character offset; -1 when unknown. Lets tools point at it.
  [[nodiscard]] long position() const { return state_ ? state_->position : -1; }
  Status& WithPosition(long position) & {
    if (state_) state_->position = position;
    return *this;
  }
  Status&& WithPosition(long position) && {
    if (state_) state_->position = position;
    return std::move(*this);
  }

  // "SyntaxError: message" — for logs and CLI output.
  [[nodiscard]] std::string ToString() const;

 private:
  struct State {
    StatusCode code;
    std::string message;
    std::string detail;
    long position = -1;
    std::optional<ErrorName> error;
  };
  std::unique_ptr<State> state_;
};

inline Status SyntaxError(std::string msg) { return {StatusCode::kSyntaxError, std::move(msg)}; }
inline Status EvaluationError(std::string msg) { return {StatusCode::kEvaluationError, std::move(msg)}; }
inline Status TypeError(std::string msg) { return {StatusCode::kTypeError, std::move(msg)}; }
inline Status OutOfRange(std::string msg) { return {StatusCode::kOutOfRange, std::move(msg)}; }
inline Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
inline Status IoError(std::string msg) { return {StatusCode::kIoError, std::move(msg)}; }
inline Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
inline Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
inline Status Conflict(std::string msg) { return {StatusCode::kConflict, std::move(msg)}; }
inline Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }

// Either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result needs a value or an error");
  }

  [[nodiscard]] bool ok() const { return std::holds_alternative<T>(v_); }
  [[nodiscard]] const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  Status TakeStatus() && { return ok() ? Status() : std::move(std::get<Status>(v_)); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace iomt

// Propagates a non-OK Status from an expression that yields a Status.
#define IOMT_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::iomt::Status iomt_status_ = (expr);        \
    if (!iomt_status_.ok()) return iomt_status_; \
  } while (0)

#define IOMT_STATUS_CONCAT_INNER_(a, b) a##b
#define IOMT_STATUS_CONCAT_(a, b) IOMT_STATUS_CONCAT_INNER_(a, b)
// `IOMT_ASSIGN_OR_RETURN(T x, ResultExpr)`: declares x from a Result's value,
// or returns its Status.
#define IOMT_ASSIGN_OR_RETURN(decl, expr) \
  IOMT_ASSIGN_OR_RETURN_IMPL_(IOMT_STATUS_CONCAT_(iomt_result_, __LINE__), decl, expr)
// `tmp` and `decl` cannot take parentheses: they name and declare.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define IOMT_ASSIGN_OR_RETURN_IMPL_(tmp, decl, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).TakeStatus(); \
  decl = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
