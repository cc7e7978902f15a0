// Tree-walking evaluation of compiled JMESPath. Private to src/expr/jmespath.
//
// Evaluation functions return false on error, with the reason in
// EvalContext::status; the happy path builds no Status and no std::string.
#pragma once

#include <compare>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/json/arena.h"
#include "common/json/value.h"
#include "common/status.h"
#include "expr/jmespath/ast.h"

namespace iomt::jmespath::internal {

struct EvalContext {
  json::Arena* arena = nullptr;
  std::size_t budget = kMaxEvaluationBytes;  // bytes this evaluation may still allocate
  Status status;

  // Memory for `n` objects of T from the arena, within the budget; nullptr
  // (with status set) when the budget is exhausted.
  template <typename T>
  T* Allocate(std::size_t n) {
    if (n == 0) return nullptr;
    if (n > budget / sizeof(T)) {
      BudgetExceeded();
      return nullptr;
    }
    budget -= n * sizeof(T);
    return static_cast<T*>(arena->Allocate(n * sizeof(T), alignof(T)));
  }
  // Reserves budget for memory allocated some other way (temporary strings).
  bool Charge(std::size_t bytes) {
    if (bytes > budget) {
      BudgetExceeded();
      return false;
    }
    budget -= bytes;
    return true;
  }
  // A copy of `s` in the arena.
  bool MakeString(std::string_view s, json::Value* out) {
    if (s.empty()) {
      *out = json::Value::String({});
      return true;
    }
    char* p = Allocate<char>(s.size());
    if (p == nullptr) return false;
    std::char_traits<char>::copy(p, s.data(), s.size());
    *out = json::Value::String({p, s.size()});
    return true;
  }
  void BudgetExceeded();
};

bool Eval(const Node* node, const json::Value& input, json::Value* out, EvalContext* ctx);

// Calls the function of `node` (kFunction) with its arguments evaluated
// against `input` (functions.cc).
bool CallFunction(const Node* node, const json::Value& input, json::Value* out, EvalContext* ctx);

// JMESPath truthiness: false, null, "", [] and {} are false.
bool IsTruthy(const json::Value& v);

// Order of two numbers (any of kInt, kUInt, kDouble); unordered with NaN.
std::partial_ordering CompareNumbers(const json::Value& a, const json::Value& b);

// Error helpers; they set ctx->status and return false.
bool InvalidType(EvalContext* ctx, std::string message);
bool InvalidValue(EvalContext* ctx, std::string message);
bool DotNetException(EvalContext* ctx, const char* exception, std::string message);

// JMESPath's name of a value's type ("number", "string", ...). Dates are strings.
std::string_view TypeName(const json::Value& v);

}  // namespace iomt::jmespath::internal
