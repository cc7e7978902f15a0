#include "expr/jmespath/interpreter.h"

#include <cmath>
#include <cstdint>

#include "common/json/compare.h"

namespace iomt::jmespath::internal {

using json::Kind;
using json::Member;
using json::Value;

void EvalContext::BudgetExceeded() {
  status = OutOfRange("JMESPath evaluation would allocate more than " + std::to_string(kMaxEvaluationBytes >> 20) +
                      " MiB; refusing to continue");
}

bool InvalidType(EvalContext* ctx, std::string message) {
  ctx->status = TypeError(std::move(message)).WithDetail("invalid-type");
  return false;
}

bool InvalidValue(EvalContext* ctx, std::string message) {
  ctx->status = EvaluationError(std::move(message)).WithDetail("invalid-value");
  return false;
}

bool DotNetException(EvalContext* ctx, const char* exception, std::string message) {
  ctx->status = EvaluationError(std::move(message)).WithDetail(exception);
  return false;
}

bool IsTruthy(const Value& v) {
  switch (v.kind()) {
    case Kind::kNull: return false;
    case Kind::kBool: return v.bool_value();
    case Kind::kString: return !v.string_value().empty();
    case Kind::kArray: return v.elements().begin() != v.elements().end();
    case Kind::kObject: return v.members().begin() != v.members().end();
    default: return true;  // numbers (0 included) and dates
  }
}

std::string_view TypeName(const Value& v) {
  switch (v.kind()) {
    case Kind::kNull: return "null";
    case Kind::kBool: return "boolean";
    case Kind::kInt:
    case Kind::kUInt:
    case Kind::kDouble: return "number";
    case Kind::kString:
    case Kind::kDate: return "string";  // as JmesPath.Net reports Json.NET dates
    case Kind::kArray: return "array";
    case Kind::kObject: return "object";
  }
  return "null";
}

namespace {

constexpr double kTwoPow63 = 9223372036854775808.0;

// i <=> d, exactly (no rounding of i to double).
std::partial_ordering CompareIntDouble(std::int64_t i, double d) {
  if (std::isnan(d)) return std::partial_ordering::unordered;
  if (d >= kTwoPow63) return std::partial_ordering::less;
  if (d < -kTwoPow63) return std::partial_ordering::greater;
  double whole = std::floor(d);
  auto w = static_cast<std::int64_t>(whole);
  if (i != w) return i <=> w;
  return d > whole ? std::partial_ordering::less : std::partial_ordering::equivalent;
}

std::partial_ordering CompareUIntDouble(std::uint64_t u, double d) {
  if (std::isnan(d)) return std::partial_ordering::unordered;
  if (d >= 2 * kTwoPow63) return std::partial_ordering::less;
  if (d < 0) return std::partial_ordering::greater;
  double whole = std::floor(d);
  auto w = static_cast<std::uint64_t>(whole);
  if (u != w) return u <=> w;
  return d > whole ? std::partial_ordering::less : std::partial_ordering::equivalent;
}

}  // namespace

std::partial_ordering CompareNumbers(const Value& a, const Value& b) {
  const Kind ka = a.kind();
  const Kind kb = b.kind();
  if (ka == Kind::kDouble && kb == Kind::kDouble) return a.double_value() <=> b.double_value();
  if (ka == Kind::kDouble) {
    std::partial_ordering r = kb == Kind::kInt ? CompareIntDouble(b.int_value(), a.double_value())
                                               : CompareUIntDouble(b.uint_value(), a.double_value());
    if (r == std::partial_ordering::less) return std::partial_ordering::greater;
    if (r == std::partial_ordering::greater) return std::partial_ordering::less;
    return r;
  }
  if (kb == Kind::kDouble) {
    return ka == Kind::kInt ? CompareIntDouble(a.int_value(), b.double_value())
                            : CompareUIntDouble(a.uint_value(), b.double_value());
  }
  if (ka == Kind::kInt && kb == Kind::kInt) return a.int_value() <=> b.int_value();
  if (ka == Kind::kUInt && kb == Kind::kUInt) return a.uint_value() <=> b.uint_value();
  // kUInt holds only values above INT64_MAX.
  return ka == Kind::kInt ? std::partial_ordering::less : std::partial_ordering::greater;
}

namespace {

bool EvalIndex(const Node* node, const Value& input, Value* out) {
  *out = Value();
  if (!input.is_array()) return true;
  const std::size_t n = input.size();
  std::int64_t i = node->index;
  std::size_t at;
  if (i < 0) {
    std::uint64_t back = 0 - static_cast<std::uint64_t>(i);
    if (back > n) return true;
    at = n - back;
  } else {
    if (static_cast<std::uint64_t>(i) >= n) return true;
    at = static_cast<std::size_t>(i);
  }
  *out = input.ElementAt(at);
  return true;
}

// Python's slice endpoint rules, as the specification adopts them.
std::int64_t AdjustEndpoint(std::int64_t length, std::int64_t endpoint, std::int64_t step) {
  if (endpoint < 0) {
    endpoint += length;  // length < 2^32: cannot overflow
    if (endpoint < 0) endpoint = step < 0 ? -1 : 0;
  } else if (endpoint >= length) {
    endpoint = step < 0 ? length - 1 : length;
  }
  return endpoint;
}

bool EvalSlice(const Node* node, const Value& input, Value* out, EvalContext* ctx) {
  std::int64_t step = (node->slice_given & 4) ? node->slice[2] : 1;
  if (step == 0) return InvalidValue(ctx, "invalid-value: a slice step cannot be 0");
  *out = Value();
  if (!input.is_array()) return true;
  const auto length = static_cast<std::int64_t>(input.size());
  // A step longer than the array picks one element at most; clamping keeps
  // the arithmetic below in range.
  if (step > length) step = length + 1;
  if (step < -length) step = -length - 1;
  std::int64_t start =
      (node->slice_given & 1) ? AdjustEndpoint(length, node->slice[0], step) : (step < 0 ? length - 1 : 0);
  std::int64_t stop = (node->slice_given & 2) ? AdjustEndpoint(length, node->slice[1], step) : (step < 0 ? -1 : length);
  std::int64_t count = 0;
  if (step > 0 && stop > start) count = (stop - start + step - 1) / step;
  if (step < 0 && start > stop) count = (start - stop - step - 1) / -step;
  if (count == 0) {
    *out = Value::Array(nullptr, 0);
    return true;
  }
  Value* items = ctx->Allocate<Value>(static_cast<std::size_t>(count));
  if (items == nullptr) return false;
  // One pass in document order (element access is sequential on documents).
  std::int64_t i = 0;
  for (Value e : input.elements()) {
    if (step > 0) {
      if (i >= start && i < stop && (i - start) % step == 0) items[(i - start) / step] = e;
    } else {
      if (i <= start && i > stop && (start - i) % -step == 0) items[(start - i) / -step] = e;
    }
    ++i;
  }
  *out = Value::Array(items, static_cast<std::size_t>(count));
  return true;
}

// Appends rhs(element) to items unless it is null.
inline bool ProjectOne(const Node* rhs, const Value& element, Value* items, std::size_t* count, EvalContext* ctx) {
  if (rhs->type == NodeType::kIdentity) {
    if (!element.is_null()) items[(*count)++] = element;
    return true;
  }
  Value r;
  if (!Eval(rhs, element, &r, ctx)) return false;
  if (!r.is_null()) items[(*count)++] = r;
  return true;
}

bool EvalProjection(const Node* node, const Value& input, Value* out, EvalContext* ctx) {
  Value base;
  if (!Eval(node->lhs, input, &base, ctx)) return false;
  *out = Value();
  const Node* rhs = node->rhs;
  std::size_t count = 0;
  Value* items = nullptr;
  switch (node->projection) {
    case ProjectionKind::kList:
    case ProjectionKind::kFilter: {
      if (!base.is_array()) return true;
      std::size_t n = base.size();
      if (n > 0 && (items = ctx->Allocate<Value>(n)) == nullptr) return false;
      for (Value e : base.elements()) {
        if (node->projection == ProjectionKind::kFilter) {
          Value keep;
          if (!Eval(node->condition, e, &keep, ctx)) return false;
          if (!IsTruthy(keep)) continue;
        }
        if (!ProjectOne(rhs, e, items, &count, ctx)) return false;
      }
      break;
    }
    case ProjectionKind::kObject: {
      if (!base.is_object()) return true;
      std::size_t n = base.size();
      if (n > 0 && (items = ctx->Allocate<Value>(n)) == nullptr) return false;
      for (const Member& m : base.members()) {
        if (!ProjectOne(rhs, m.value, items, &count, ctx)) return false;
      }
      break;
    }
    case ProjectionKind::kFlatten: {
      if (!base.is_array()) return true;
      std::size_t n = 0;
      for (Value e : base.elements())
        n += e.is_array() ? e.size() : 1;
      if (n > 0 && (items = ctx->Allocate<Value>(n)) == nullptr) return false;
      for (Value e : base.elements()) {
        if (e.is_array()) {
          for (Value inner : e.elements()) {
            if (!ProjectOne(rhs, inner, items, &count, ctx)) return false;
          }
        } else if (!ProjectOne(rhs, e, items, &count, ctx)) {
          return false;
        }
      }
      break;
    }
  }
  *out = Value::Array(items, count);
  return true;
}

bool EvalCompare(const Node* node, const Value& input, Value* out, EvalContext* ctx) {
  Value a, b;
  if (!Eval(node->lhs, input, &a, ctx) || !Eval(node->rhs, input, &b, ctx)) return false;
  switch (node->op) {
    case CompareOp::kEq: *out = Value::Bool(json::DeepEquals(a, b)); return true;
    case CompareOp::kNe: *out = Value::Bool(!json::DeepEquals(a, b)); return true;
    default: break;
  }
  // Ordering is defined for numbers only; anything else compares to null.
  if (!a.is_number() || !b.is_number()) {
    *out = Value();
    return true;
  }
  std::partial_ordering c = CompareNumbers(a, b);
  bool r = false;
  switch (node->op) {
    case CompareOp::kLt: r = c == std::partial_ordering::less; break;
    case CompareOp::kLte: r = c == std::partial_ordering::less || c == std::partial_ordering::equivalent; break;
    case CompareOp::kGt: r = c == std::partial_ordering::greater; break;
    case CompareOp::kGte: r = c == std::partial_ordering::greater || c == std::partial_ordering::equivalent; break;
    default: break;
  }
  *out = Value::Bool(r);
  return true;
}

}  // namespace

bool Eval(const Node* node, const Value& input, Value* out, EvalContext* ctx) {
  switch (node->type) {
    case NodeType::kIdentity: *out = input; return true;
    case NodeType::kField:
      if (!input.is_object() || !input.Find(node->name, out)) *out = Value();
      return true;
    case NodeType::kChain: {
      Value current = input;
      for (const Node* child : node->children) {
        Value next;  // never alias input and output of Eval
        if (!Eval(child, current, &next, ctx)) return false;
        current = next;
      }
      *out = current;
      return true;
    }
    case NodeType::kIndex: return EvalIndex(node, input, out);
    case NodeType::kSlice: return EvalSlice(node, input, out, ctx);
    case NodeType::kProjection: return EvalProjection(node, input, out, ctx);
    case NodeType::kLiteral: *out = node->literal; return true;
    case NodeType::kMultiList: {
      if (input.is_null()) {
        *out = Value();
        return true;
      }
      const std::size_t n = node->children.size();
      Value* items = ctx->Allocate<Value>(n);
      if (items == nullptr) return false;
      for (std::size_t i = 0; i < n; ++i) {
        if (!Eval(node->children[i], input, &items[i], ctx)) return false;
      }
      *out = Value::Array(items, n);
      return true;
    }
    case NodeType::kMultiHash: {
      if (input.is_null()) {
        *out = Value();
        return true;
      }
      const std::size_t n = node->children.size();
      Member* members = ctx->Allocate<Member>(n);
      if (members == nullptr) return false;
      for (std::size_t i = 0; i < n; ++i) {
        new (&members[i]) Member{node->keys[i], Value()};
        if (!Eval(node->children[i], input, &members[i].value, ctx)) return false;
      }
      *out = Value::Object(members, n);
      return true;
    }
    case NodeType::kNot: {
      Value v;
      if (!Eval(node->lhs, input, &v, ctx)) return false;
      *out = Value::Bool(!IsTruthy(v));
      return true;
    }
    case NodeType::kAnd:
    case NodeType::kOr: {
      // a && b is a when a is falsy, else b; a || b is a when a is truthy, else b.
      const bool stop_when = node->type == NodeType::kOr;
      Value v;
      for (const Node* child : node->children) {
        if (!Eval(child, input, &v, ctx)) return false;
        if (IsTruthy(v) == stop_when) break;
      }
      *out = v;
      return true;
    }
    case NodeType::kCompare: return EvalCompare(node, input, out, ctx);
    case NodeType::kFunction: return CallFunction(node, input, out, ctx);
    case NodeType::kExpRef:
      return InvalidType(ctx, "invalid-type: an expression reference (&...) can only be passed to a function");
  }
  return InvalidValue(ctx, "unknown expression node");
}

}  // namespace iomt::jmespath::internal
