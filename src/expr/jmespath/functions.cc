// The built-in JMESPath functions and the eight that Microsoft.Health.Expressions
// (iomt-fhir) registers with JmesPath.Net.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>

#include "common/datetime.h"
#include "common/json/compare.h"
#include "common/json/writer.h"
#include "expr/jmespath/interpreter.h"

namespace iomt::jmespath::internal {

using json::Kind;
using json::Member;
using json::Value;

namespace {

constexpr FunctionInfo kFunctions[] = {
    {"abs", FunctionId::kAbs, 1, 1},
    {"avg", FunctionId::kAvg, 1, 1},
    {"ceil", FunctionId::kCeil, 1, 1},
    {"contains", FunctionId::kContains, 2, 2},
    {"ends_with", FunctionId::kEndsWith, 2, 2},
    {"floor", FunctionId::kFloor, 1, 1},
    {"join", FunctionId::kJoin, 2, 2},
    {"keys", FunctionId::kKeys, 1, 1},
    {"length", FunctionId::kLength, 1, 1},
    {"map", FunctionId::kMap, 2, 2},
    {"max", FunctionId::kMax, 1, 1},
    {"max_by", FunctionId::kMaxBy, 2, 2},
    {"merge", FunctionId::kMerge, 1, -1},
    {"min", FunctionId::kMin, 1, 1},
    {"min_by", FunctionId::kMinBy, 2, 2},
    {"not_null", FunctionId::kNotNull, 1, -1},
    {"reverse", FunctionId::kReverse, 1, 1},
    {"sort", FunctionId::kSort, 1, 1},
    {"sort_by", FunctionId::kSortBy, 2, 2},
    {"starts_with", FunctionId::kStartsWith, 2, 2},
    {"sum", FunctionId::kSum, 1, 1},
    {"to_array", FunctionId::kToArray, 1, 1},
    {"to_string", FunctionId::kToString, 1, 1},
    {"to_number", FunctionId::kToNumber, 1, 1},
    {"type", FunctionId::kType, 1, 1},
    {"values", FunctionId::kValues, 1, 1},
    {"add", FunctionId::kAdd, 2, 2},
    {"subtract", FunctionId::kSubtract, 2, 2},
    {"multiply", FunctionId::kMultiply, 2, 2},
    {"divide", FunctionId::kDivide, 2, 2},
    {"pow", FunctionId::kPow, 2, 2},
    {"insertString", FunctionId::kInsertString, 3, 3},
    {"appendString", FunctionId::kAppendString, 2, 2},
    {"fromUnixTimestamp", FunctionId::kFromUnixTimestamp, 1, 1},
    {"fromUnixTimestampMs", FunctionId::kFromUnixTimestampMs, 1, 1},
};

// The argument that must be an expression reference (&expr), or -1.
int ExprefArgument(FunctionId id) {
  switch (id) {
    case FunctionId::kMap: return 0;
    case FunctionId::kMaxBy:
    case FunctionId::kMinBy:
    case FunctionId::kSortBy: return 1;
    default: return -1;
  }
}

// One function call: the call node, its evaluated arguments (null in the
// places of expression references), and the evaluation context.
struct Call {
  const Node* node;
  const Value* args;
  std::size_t argc;
  EvalContext* ctx;

  [[nodiscard]] std::string_view name() const { return node->name; }
  [[nodiscard]] bool is_expref(std::size_t i) const { return node->children[i]->type == NodeType::kExpRef; }
  // The expression behind `&expr` argument i.
  [[nodiscard]] const Node* expref(std::size_t i) const { return node->children[i]->lhs; }
};

std::string Describe(const Value& v) {
  switch (v.kind()) {
    case Kind::kNull: return "null";
    case Kind::kBool: return "a boolean";
    case Kind::kInt:
    case Kind::kUInt:
    case Kind::kDouble: return "a number";
    case Kind::kString: return "a string";
    case Kind::kDate: return "a date";
    case Kind::kArray: return "an array";
    case Kind::kObject: return "an object";
  }
  return "null";
}

// "invalid-type: function abs() expects argument 1 to be a number, but got a string"
bool TypeMismatch(const Call& c, std::size_t i, std::string_view expected, std::string got = {}) {
  if (got.empty()) got = c.is_expref(i) ? "an expression reference" : Describe(c.args[i]);
  std::string msg = "invalid-type: function ";
  msg.append(c.name()).append("() expects argument ").append(std::to_string(i + 1)).append(" to be ");
  msg.append(expected).append(", but got ").append(got);
  return InvalidType(c.ctx, std::move(msg));
}

std::string ElementGot(std::size_t index, const Value& element) {
  return "an array whose element " + std::to_string(index) + " is " + Describe(element);
}

// --- numbers ---------------------------------------------------------------

constexpr double kTwoPow63 = 9223372036854775808.0;

// A double as kInt when it is a whole number in range (ceil, floor).
Value WholeNumber(double d) {
  if (d >= -kTwoPow63 && d < kTwoPow63) return Value::Int(static_cast<std::int64_t>(d));
  return Value::Double(d);
}

// Number order for sorting: a strict weak order even with NaN (NaN last).
bool NumberLess(const Value& a, const Value& b) {
  std::partial_ordering c = CompareNumbers(a, b);
  if (c == std::partial_ordering::unordered) {
    bool a_nan = a.kind() == Kind::kDouble && std::isnan(a.double_value());
    bool b_nan = b.kind() == Kind::kDouble && std::isnan(b.double_value());
    return !a_nan && b_nan;
  }
  return c == std::partial_ordering::less;
}

enum class SortKind { kNone, kNumber, kString };
SortKind SortKindOf(const Value& v) {
  if (v.is_number()) return SortKind::kNumber;
  if (v.is_string()) return SortKind::kString;
  return SortKind::kNone;
}
bool SortLess(SortKind kind, const Value& a, const Value& b) {
  // UTF-8 byte order is code point order (char_traits compares as unsigned char).
  return kind == SortKind::kNumber ? NumberLess(a, b) : a.string_value() < b.string_value();
}

bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// to_number on a string, after JmesPath.Net: an Int64 when the text is one
// (surrounding white space and a sign allowed), else a double in decimal or
// exponent notation; anything else is not a number.
bool ParseNumber(std::string_view s, Value* out) {
  while (!s.empty() && IsSpace(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back()))
    s.remove_suffix(1);
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);  // from_chars takes no '+'
    if (!s.empty() && s.front() == '-') return false;
  }
  std::size_t i = (!s.empty() && s.front() == '-') ? 1 : 0;
  std::size_t digits = 0;
  bool whole = true;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9')
    ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    whole = false;
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    whole = false;
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t exp_digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  if (i != s.size()) return false;
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  if (whole) {
    std::int64_t v;
    auto [ptr, ec] = std::from_chars(begin, end, v);
    if (ec == std::errc() && ptr == end) {
      *out = Value::Int(v);
      return true;
    }
  }
  double d;
  auto [ptr, ec] = std::from_chars(begin, end, d);
  if (ec != std::errc() || ptr != end) return false;
  *out = Value::Double(d);
  return true;
}

// --- strings ---------------------------------------------------------------

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Length of the UTF-8 sequence that starts with `lead` (1 for stray bytes).
std::size_t SequenceLength(char lead) {
  auto c = static_cast<unsigned char>(lead);
  if (c >= 0xF0 && c <= 0xF7) return 4;
  if (c >= 0xE0) return c <= 0xEF ? 3 : 1;
  if (c >= 0xC0) return 2;
  return 1;
}

std::size_t CodePoints(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    n += IsContinuation(c) ? 0 : 1;
  return n;
}

// Bytes json::AppendJson writes for `v` (compact), numbers counted at their
// longest; stops early once past `limit`.
std::size_t JsonLengthBound(const Value& v, std::size_t limit);

std::size_t QuotedLength(std::string_view s) {
  std::size_t n = 2;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f') {
      n += 2;
    } else {
      n += c < 0x20 ? 6 : 1;
    }
  }
  return n;
}

std::size_t JsonLengthBound(const Value& v, std::size_t limit) {
  switch (v.kind()) {
    case Kind::kNull:
    case Kind::kBool: return 5;
    case Kind::kInt:
    case Kind::kUInt: return 20;
    case Kind::kDouble: return 32;
    case Kind::kDate: return 40;
    case Kind::kString: return QuotedLength(v.string_value());
    case Kind::kArray: {
      std::size_t n = 2;
      for (Value e : v.elements()) {
        n += 1 + JsonLengthBound(e, limit);
        if (n > limit) break;
      }
      return n;
    }
    case Kind::kObject: {
      std::size_t n = 2;
      for (const Member& m : v.members()) {
        n += 2 + QuotedLength(m.key) + JsonLengthBound(m.value, limit);
        if (n > limit) break;
      }
      return n;
    }
  }
  return 0;
}

// --- built-in functions ----------------------------------------------------

bool Abs(const Call& c, Value* out) {
  const Value& v = c.args[0];
  switch (v.kind()) {
    case Kind::kInt:
      if (v.int_value() >= 0) {
        *out = v;
      } else if (v.int_value() == INT64_MIN) {
        *out = Value::UInt(std::uint64_t{1} << 63);
      } else {
        *out = Value::Int(-v.int_value());
      }
      return true;
    case Kind::kUInt: *out = v; return true;
    case Kind::kDouble: *out = Value::Double(std::fabs(v.double_value())); return true;
    default: return TypeMismatch(c, 0, "a number");
  }
}

bool CeilOrFloor(const Call& c, bool ceil, Value* out) {
  const Value& v = c.args[0];
  if (v.is_integer()) {
    *out = v;
    return true;
  }
  if (v.kind() != Kind::kDouble) return TypeMismatch(c, 0, "a number");
  *out = WholeNumber(ceil ? std::ceil(v.double_value()) : std::floor(v.double_value()));
  return true;
}

bool Avg(const Call& c, Value* out) {
  const Value& a = c.args[0];
  if (!a.is_array()) return TypeMismatch(c, 0, "an array of numbers");
  double sum = 0;
  std::size_t n = 0;
  for (Value e : a.elements()) {
    if (!e.is_number()) return TypeMismatch(c, 0, "an array of numbers", ElementGot(n, e));
    sum += e.AsDouble();
    ++n;
  }
  *out = n == 0 ? Value() : Value::Double(sum / static_cast<double>(n));
  return true;
}

bool Sum(const Call& c, Value* out) {
  const Value& a = c.args[0];
  if (!a.is_array()) return TypeMismatch(c, 0, "an array of numbers");
  // Integers add up exactly while they fit; anything else goes to double.
  std::int64_t isum = 0;
  double dsum = 0;
  bool integral = true;
  std::size_t n = 0;
  for (Value e : a.elements()) {
    if (!e.is_number()) return TypeMismatch(c, 0, "an array of numbers", ElementGot(n, e));
    ++n;
    std::int64_t next;
    if (integral && e.kind() == Kind::kInt && !__builtin_add_overflow(isum, e.int_value(), &next)) {
      isum = next;
      continue;
    }
    if (integral) {
      integral = false;
      dsum = static_cast<double>(isum);
    }
    dsum += e.AsDouble();
  }
  *out = integral ? Value::Int(isum) : Value::Double(dsum);
  return true;
}

bool Contains(const Call& c, Value* out) {
  const Value& subject = c.args[0];
  const Value& search = c.args[1];
  if (subject.is_array()) {
    bool found = false;
    for (Value e : subject.elements()) {
      if (json::DeepEquals(e, search)) {
        found = true;
        break;
      }
    }
    *out = Value::Bool(found);
    return true;
  }
  if (subject.is_string()) {
    *out =
        Value::Bool(search.is_string() && subject.string_value().find(search.string_value()) != std::string_view::npos);
    return true;
  }
  return TypeMismatch(c, 0, "an array or a string");
}

bool StartsOrEndsWith(const Call& c, bool starts, Value* out) {
  if (!c.args[0].is_string()) return TypeMismatch(c, 0, "a string");
  if (!c.args[1].is_string()) return TypeMismatch(c, 1, "a string");
  std::string_view s = c.args[0].string_value();
  std::string_view affix = c.args[1].string_value();
  *out = Value::Bool(starts ? s.starts_with(affix) : s.ends_with(affix));
  return true;
}

bool Join(const Call& c, Value* out) {
  if (!c.args[0].is_string()) return TypeMismatch(c, 0, "a string");
  const Value& a = c.args[1];
  if (!a.is_array()) return TypeMismatch(c, 1, "an array of strings");
  std::string_view glue = c.args[0].string_value();
  std::size_t total = 0;
  std::size_t n = 0;
  for (Value e : a.elements()) {
    if (!e.is_string()) return TypeMismatch(c, 1, "an array of strings", ElementGot(n, e));
    total += e.string_value().size() + (n > 0 ? glue.size() : 0);
    ++n;
  }
  char* p = c.ctx->Allocate<char>(total);
  if (total > 0 && p == nullptr) return false;
  std::size_t at = 0;
  bool first = true;
  for (Value e : a.elements()) {
    if (!first) glue.copy(p + at, glue.size()), at += glue.size();
    first = false;
    std::string_view s = e.string_value();
    s.copy(p + at, s.size());
    at += s.size();
  }
  *out = Value::String({p, total});
  return true;
}

bool KeysOrValues(const Call& c, bool keys, Value* out) {
  const Value& o = c.args[0];
  if (!o.is_object()) return TypeMismatch(c, 0, "an object");
  const std::size_t n = o.size();
  Value* items = c.ctx->Allocate<Value>(n);
  if (n > 0 && items == nullptr) return false;
  std::size_t i = 0;
  for (const Member& m : o.members())
    items[i++] = keys ? Value::String(m.key) : m.value;
  *out = Value::Array(items, i);
  return true;
}

bool Length(const Call& c, Value* out) {
  const Value& v = c.args[0];
  if (v.is_string()) {
    *out = Value::Int(static_cast<std::int64_t>(CodePoints(v.string_value())));
  } else if (v.is_container()) {
    *out = Value::Int(static_cast<std::int64_t>(v.size()));
  } else {
    return TypeMismatch(c, 0, "a string, an array or an object");
  }
  return true;
}

bool Map(const Call& c, Value* out) {
  const Value& a = c.args[1];
  if (!a.is_array()) return TypeMismatch(c, 1, "an array");
  const Node* expr = c.expref(0);
  const std::size_t n = a.size();
  Value* items = c.ctx->Allocate<Value>(n);
  if (n > 0 && items == nullptr) return false;
  std::size_t i = 0;
  for (Value e : a.elements()) {
    if (!Eval(expr, e, &items[i], c.ctx)) return false;
    ++i;
  }
  *out = Value::Array(items, i);
  return true;
}

bool MinOrMax(const Call& c, bool max, Value* out) {
  static constexpr std::string_view kExpected = "an array of numbers or an array of strings";
  const Value& a = c.args[0];
  if (!a.is_array()) return TypeMismatch(c, 0, kExpected);
  SortKind kind = SortKind::kNone;
  Value best;
  std::size_t i = 0;
  for (Value e : a.elements()) {
    SortKind k = SortKindOf(e);
    if (i == 0) kind = k;
    if (k == SortKind::kNone || k != kind) return TypeMismatch(c, 0, kExpected, ElementGot(i, e));
    if (i == 0 || (max ? SortLess(kind, best, e) : SortLess(kind, e, best))) best = e;
    ++i;
  }
  *out = best;
  return true;
}

bool MinOrMaxBy(const Call& c, bool max, Value* out) {
  const Value& a = c.args[0];
  if (!a.is_array()) return TypeMismatch(c, 0, "an array");
  const Node* expr = c.expref(1);
  SortKind kind = SortKind::kNone;
  Value best, best_key;
  std::size_t i = 0;
  for (Value e : a.elements()) {
    Value key;
    if (!Eval(expr, e, &key, c.ctx)) return false;
    SortKind k = SortKindOf(key);
    if (i == 0) kind = k;
    if (k == SortKind::kNone || k != kind) {
      return InvalidType(c.ctx, "invalid-type: the expression given to " + std::string(c.name()) +
                                    "() must give all numbers or all strings, but gives " + Describe(key) +
                                    " for element " + std::to_string(i));
    }
    if (i == 0 || (max ? SortLess(kind, best_key, key) : SortLess(kind, key, best_key))) {
      best = e;
      best_key = key;
    }
    ++i;
  }
  *out = best;
  return true;
}

bool Merge(const Call& c, Value* out) {
  std::size_t total = 0;
  for (std::size_t i = 0; i < c.argc; ++i) {
    if (!c.args[i].is_object()) return TypeMismatch(c, i, "an object");
    total += c.args[i].size();
  }
  Member* members = c.ctx->Allocate<Member>(total);
  if (total > 0 && members == nullptr) return false;
  std::size_t n = 0;
  // Later arguments override earlier ones; a key keeps its first position.
  std::unordered_map<std::string_view, std::size_t> index;
  const bool use_index = total > 16;
  for (std::size_t i = 0; i < c.argc; ++i) {
    for (const Member& m : c.args[i].members()) {
      std::size_t at = n;
      if (use_index) {
        auto [it, inserted] = index.emplace(m.key, n);
        at = it->second;
      } else {
        for (std::size_t k = 0; k < n; ++k) {
          if (members[k].key == m.key) {
            at = k;
            break;
          }
        }
      }
      if (at == n) {
        new (&members[n++]) Member{m.key, m.value};
      } else {
        members[at].value = m.value;
      }
    }
  }
  *out = Value::Object(members, n);
  return true;
}

bool Reverse(const Call& c, Value* out) {
  const Value& v = c.args[0];
  if (v.is_string()) {
    std::string_view s = v.string_value();
    char* p = c.ctx->Allocate<char>(s.size());
    if (!s.empty() && p == nullptr) return false;
    // Whole UTF-8 sequences are moved, so code points stay intact.
    std::size_t end = s.size();
    std::size_t at = 0;
    while (end > 0) {
      std::size_t begin = end - 1;
      while (begin > 0 && end - begin < 4 && IsContinuation(s[begin]))
        --begin;
      s.copy(p + at, end - begin, begin);
      at += end - begin;
      end = begin;
    }
    *out = Value::String({p, s.size()});
    return true;
  }
  if (v.is_array()) {
    const std::size_t n = v.size();
    Value* items = c.ctx->Allocate<Value>(n);
    if (n > 0 && items == nullptr) return false;
    std::size_t i = n;
    for (Value e : v.elements())
      items[--i] = e;
    *out = Value::Array(items, n);
    return true;
  }
  return TypeMismatch(c, 0, "a string or an array");
}

bool Sort(const Call& c, Value* out) {
  static constexpr std::string_view kExpected = "an array of numbers or an array of strings";
  const Value& a = c.args[0];
  if (!a.is_array()) return TypeMismatch(c, 0, kExpected);
  const std::size_t n = a.size();
  Value* items = c.ctx->Allocate<Value>(n);
  if (n > 0 && items == nullptr) return false;
  SortKind kind = SortKind::kNone;
  std::size_t i = 0;
  for (Value e : a.elements()) {
    SortKind k = SortKindOf(e);
    if (i == 0) kind = k;
    if (k == SortKind::kNone || k != kind) return TypeMismatch(c, 0, kExpected, ElementGot(i, e));
    items[i++] = e;
  }
  std::stable_sort(items, items + i, [kind](const Value& x, const Value& y) { return SortLess(kind, x, y); });
  *out = Value::Array(items, i);
  return true;
}

struct Keyed {
  Value key;
  Value item;
};

bool SortBy(const Call& c, Value* out) {
  const Value& a = c.args[0];
  if (!a.is_array()) return TypeMismatch(c, 0, "an array");
  const Node* expr = c.expref(1);
  const std::size_t n = a.size();
  if (n == 0) {
    *out = Value::Array(nullptr, 0);
    return true;
  }
  Keyed* keyed = c.ctx->Allocate<Keyed>(n);
  Value* items = c.ctx->Allocate<Value>(n);
  if (keyed == nullptr || items == nullptr) return false;
  SortKind kind = SortKind::kNone;
  std::size_t i = 0;
  for (Value e : a.elements()) {
    new (&keyed[i]) Keyed{Value(), e};
    if (!Eval(expr, e, &keyed[i].key, c.ctx)) return false;
    SortKind k = SortKindOf(keyed[i].key);
    if (i == 0) kind = k;
    if (k == SortKind::kNone || k != kind) {
      return InvalidType(c.ctx,
                         "invalid-type: the expression given to sort_by() must give all numbers or all strings, "
                         "but gives " +
                             Describe(keyed[i].key) + " for element " + std::to_string(i));
    }
    ++i;
  }
  std::stable_sort(keyed, keyed + i, [kind](const Keyed& x, const Keyed& y) { return SortLess(kind, x.key, y.key); });
  for (std::size_t k = 0; k < i; ++k)
    items[k] = keyed[k].item;
  *out = Value::Array(items, i);
  return true;
}

bool ToArray(const Call& c, Value* out) {
  const Value& v = c.args[0];
  if (v.is_array()) {
    *out = v;
    return true;
  }
  Value* item = c.ctx->Allocate<Value>(1);
  if (item == nullptr) return false;
  *item = v;
  *out = Value::Array(item, 1);
  return true;
}

bool ToString(const Call& c, Value* out) {
  const Value& v = c.args[0];
  // JmesPath.Net returns string tokens as they are, and Json.NET dates count
  // as strings there, so a date stays a date.
  if (v.is_string() || v.is_date()) {
    *out = v;
    return true;
  }
  if (JsonLengthBound(v, c.ctx->budget) > c.ctx->budget) {
    c.ctx->BudgetExceeded();
    return false;
  }
  std::string json = json::ToJson(v);
  return c.ctx->MakeString(json, out);
}

bool ToNumber(const Call& c, Value* out) {
  const Value& v = c.args[0];
  if (v.is_number()) {
    *out = v;
  } else if (!v.is_string() || !ParseNumber(v.string_value(), out)) {
    *out = Value();
  }
  return true;
}

// --- Microsoft.Health.Expressions ------------------------------------------

// Upstream (JmesPathExpressionExtensions) formats the argument's 0-based
// index into this message; iomt prints the same text, so that a user who
// searches for it finds iomt-fhir's explanations.
constexpr std::size_t kCustomArgumentBase = 0;

bool CustomTypeError(const Call& c, std::size_t i, const char* types) {
  std::string msg = "Error: invalid-type, function ";
  msg.append(c.name()).append(" expects argument ").append(std::to_string(i + kCustomArgumentBase));
  msg.append(" to be one of the following: ").append(types);
  return InvalidType(c.ctx, std::move(msg));
}

bool Overflow(EvalContext* ctx, const char* type) {
  return DotNetException(ctx, "OverflowException",
                         std::string("Value was either too large or too small for an ") + type + ".");
}

// .NET Convert.ToInt64(double): round half to even, OverflowException when
// the value (or NaN) does not fit.
bool CheckedToInt64(double d, Value* out, EvalContext* ctx) {
  if (!(d >= -kTwoPow63 && d < kTwoPow63)) return Overflow(ctx, "Int64");
  *out = Value::Int(static_cast<std::int64_t>(std::nearbyint(d)));
  return true;
}

// add, subtract, multiply, divide, pow: double arithmetic when either
// argument is a float token, else Int64 arithmetic that wraps like C#'s
// unchecked default. A kUInt (beyond Int64) cannot be read as Int64, so it is
// an OverflowException on the integer path.
bool Arithmetic(const Call& c, FunctionId fn, Value* out) {
  const Value& a = c.args[0];
  const Value& b = c.args[1];
  if (!a.is_number()) return CustomTypeError(c, 0, "Integer|Float");
  if (!b.is_number()) return CustomTypeError(c, 1, "Integer|Float");
  if (a.kind() == Kind::kDouble || b.kind() == Kind::kDouble) {
    const double x = a.AsDouble();
    const double y = b.AsDouble();
    double r = 0;
    switch (fn) {
      case FunctionId::kAdd: r = x + y; break;
      case FunctionId::kSubtract: r = x - y; break;
      case FunctionId::kMultiply: r = x * y; break;
      case FunctionId::kDivide: r = x / y; break;  // IEEE: ±inf or NaN for 0 divisors
      default: r = std::pow(x, y); break;
    }
    *out = Value::Double(r);
    return true;
  }
  if (a.kind() == Kind::kUInt || b.kind() == Kind::kUInt) return Overflow(c.ctx, "Int64");
  const std::int64_t x = a.int_value();
  const std::int64_t y = b.int_value();
  const auto ux = static_cast<std::uint64_t>(x);
  const auto uy = static_cast<std::uint64_t>(y);
  switch (fn) {
    case FunctionId::kAdd: *out = Value::Int(static_cast<std::int64_t>(ux + uy)); return true;
    case FunctionId::kSubtract: *out = Value::Int(static_cast<std::int64_t>(ux - uy)); return true;
    case FunctionId::kMultiply: *out = Value::Int(static_cast<std::int64_t>(ux * uy)); return true;
    case FunctionId::kDivide:
      if (y == 0) return DotNetException(c.ctx, "DivideByZeroException", "Attempted to divide by zero.");
      // The one quotient that does not fit; .NET raises OverflowException.
      if (x == INT64_MIN && y == -1) {
        return DotNetException(c.ctx, "OverflowException", "Arithmetic operation resulted in an overflow.");
      }
      *out = Value::Int(x / y);
      return true;
    default: return CheckedToInt64(std::pow(static_cast<double>(x), static_cast<double>(y)), out, c.ctx);
  }
}

bool OutOfRange(EvalContext* ctx, const std::string& detail_message) {
  return DotNetException(ctx, "ArgumentOutOfRangeException", detail_message);
}

// insertString(original, toInsert, pos): .NET StringBuilder.Insert, where pos
// counts UTF-16 code units. A pos that falls between the two halves of a
// surrogate pair splits the character in .NET; the lone halves then become
// U+FFFD when the string is written as UTF-8, and that is what is produced
// here, so the result is always valid UTF-8.
bool InsertString(const Call& c, Value* out) {
  const Value& original = c.args[0];
  const Value& insert = c.args[1];
  const Value& pos_value = c.args[2];
  if (!original.is_string()) return CustomTypeError(c, 0, "String");
  if (!insert.is_string()) return CustomTypeError(c, 1, "String");
  if (!pos_value.is_integer()) return CustomTypeError(c, 2, "Integer");
  // Upstream reads the position with Value<int>().
  if (pos_value.kind() == Kind::kUInt || pos_value.int_value() > INT32_MAX || pos_value.int_value() < INT32_MIN) {
    return Overflow(c.ctx, "Int32");
  }
  static const std::string kRangeMessage =
      "Specified argument was out of the range of valid values. (Parameter 'index')";
  const std::int64_t pos = pos_value.int_value();
  if (pos < 0) return OutOfRange(c.ctx, kRangeMessage);
  std::string_view s = original.string_value();
  std::string_view add = insert.string_value();
  std::size_t at = 0;
  std::int64_t units = 0;
  bool split = false;
  while (at < s.size() && units < pos) {
    std::size_t len = SequenceLength(s[at]);
    if (at + len > s.size()) len = 1;
    const std::int64_t width = len == 4 ? 2 : 1;  // UTF-16 code units
    if (units + width > pos) {
      split = true;
      break;
    }
    units += width;
    at += len;
  }
  if (!split && units < pos) return OutOfRange(c.ctx, kRangeMessage);
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  const std::size_t skip = split ? 4 : 0;
  const std::size_t total = s.size() - skip + add.size() + (split ? 2 * kReplacement.size() : 0);
  char* p = c.ctx->Allocate<char>(total);
  if (total > 0 && p == nullptr) return false;
  std::size_t w = 0;
  auto put = [&](std::string_view part) {
    part.copy(p + w, part.size());
    w += part.size();
  };
  put(s.substr(0, at));
  if (split) put(kReplacement);
  put(add);
  if (split) put(kReplacement);
  put(s.substr(at + skip));
  *out = Value::String({p, total});
  return true;
}

// appendString(toModify, toAppend): the ninth function of newer iomt-fhir
// versions (Microsoft.Health.Expressions/AppendStringFunction).
bool AppendString(const Call& c, Value* out) {
  const Value& original = c.args[0];
  const Value& append = c.args[1];
  if (!original.is_string()) return CustomTypeError(c, 0, "String");
  if (!append.is_string()) return CustomTypeError(c, 1, "String");
  std::string_view a = original.string_value();
  std::string_view b = append.string_value();
  const std::size_t total = a.size() + b.size();
  char* p = c.ctx->Allocate<char>(total);
  if (total > 0 && p == nullptr) return false;
  a.copy(p, a.size());
  b.copy(p + a.size(), b.size());
  *out = Value::String({p, total});
  return true;
}

// fromUnixTimestamp / fromUnixTimestampMs: DateTimeOffset.FromUnixTimeSeconds
// / FromUnixTimeMilliseconds, which accept exactly the .NET DateTime range.
bool FromUnixTimestamp(const Call& c, bool milliseconds, Value* out) {
  const Value& v = c.args[0];
  if (!v.is_integer()) return CustomTypeError(c, 0, "Integer");
  const std::int64_t per = milliseconds ? datetime::kTicksPerMillisecond : datetime::kTicksPerSecond;
  const std::int64_t lo = datetime::kMinTicks / per;
  const std::int64_t hi = datetime::kMaxTicks / per;
  if (v.kind() == Kind::kUInt || v.int_value() < lo || v.int_value() > hi) {
    return OutOfRange(c.ctx, "Valid values are between " + std::to_string(lo) + " and " + std::to_string(hi) +
                                 ", inclusive. (Parameter '" + (milliseconds ? "milliseconds" : "seconds") + "')");
  }
  *out = Value::Date(v.int_value() * per);
  return true;
}

}  // namespace

const FunctionInfo* LookupFunction(std::string_view name) {
  for (const FunctionInfo& f : kFunctions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool CallFunction(const Node* node, const Value& input, Value* out, EvalContext* ctx) {
  static constexpr std::size_t kInlineArgs = 8;
  const std::size_t argc = node->children.size();
  Value inline_args[kInlineArgs];
  Value* args = inline_args;
  if (argc > kInlineArgs) {
    args = ctx->Allocate<Value>(argc);
    if (args == nullptr) return false;
  }
  const int expref_at = ExprefArgument(node->function);
  for (std::size_t i = 0; i < argc; ++i) {
    const Node* arg = node->children[i];
    const bool is_expref = arg->type == NodeType::kExpRef;
    if (static_cast<int>(i) == expref_at || is_expref) {
      args[i] = Value();
      continue;
    }
    if (!Eval(arg, input, &args[i], ctx)) return false;
  }
  const Call c{node, args, argc, ctx};
  // Expression references go where the signature wants them and nowhere else.
  for (std::size_t i = 0; i < argc; ++i) {
    if (static_cast<int>(i) == expref_at && !c.is_expref(i)) {
      return TypeMismatch(c, i, "an expression reference", "a plain expression (write &expression)");
    }
    if (static_cast<int>(i) != expref_at && c.is_expref(i)) {
      return InvalidType(ctx, "invalid-type: function " + std::string(c.name()) +
                                  "() does not take an expression "
                                  "reference (&...) as argument " +
                                  std::to_string(i + 1));
    }
  }
  switch (node->function) {
    case FunctionId::kAbs: return Abs(c, out);
    case FunctionId::kAvg: return Avg(c, out);
    case FunctionId::kCeil: return CeilOrFloor(c, true, out);
    case FunctionId::kContains: return Contains(c, out);
    case FunctionId::kEndsWith: return StartsOrEndsWith(c, false, out);
    case FunctionId::kFloor: return CeilOrFloor(c, false, out);
    case FunctionId::kJoin: return Join(c, out);
    case FunctionId::kKeys: return KeysOrValues(c, true, out);
    case FunctionId::kLength: return Length(c, out);
    case FunctionId::kMap: return Map(c, out);
    case FunctionId::kMax: return MinOrMax(c, true, out);
    case FunctionId::kMaxBy: return MinOrMaxBy(c, true, out);
    case FunctionId::kMerge: return Merge(c, out);
    case FunctionId::kMin: return MinOrMax(c, false, out);
    case FunctionId::kMinBy: return MinOrMaxBy(c, false, out);
    case FunctionId::kNotNull:
      *out = Value();
      for (std::size_t i = 0; i < argc; ++i) {
        if (!args[i].is_null()) {
          *out = args[i];
          break;
        }
      }
      return true;
    case FunctionId::kReverse: return Reverse(c, out);
    case FunctionId::kSort: return Sort(c, out);
    case FunctionId::kSortBy: return SortBy(c, out);
    case FunctionId::kStartsWith: return StartsOrEndsWith(c, true, out);
    case FunctionId::kSum: return Sum(c, out);
    case FunctionId::kToArray: return ToArray(c, out);
    case FunctionId::kToString: return ToString(c, out);
    case FunctionId::kToNumber: return ToNumber(c, out);
    case FunctionId::kType: *out = Value::String(TypeName(args[0])); return true;
    case FunctionId::kValues: return KeysOrValues(c, false, out);
    case FunctionId::kAdd:
    case FunctionId::kSubtract:
    case FunctionId::kMultiply:
    case FunctionId::kDivide:
    case FunctionId::kPow: return Arithmetic(c, node->function, out);
    case FunctionId::kInsertString: return InsertString(c, out);
    case FunctionId::kAppendString: return AppendString(c, out);
    case FunctionId::kFromUnixTimestamp: return FromUnixTimestamp(c, false, out);
    case FunctionId::kFromUnixTimestampMs: return FromUnixTimestamp(c, true, out);
  }
  return InvalidValue(ctx, "unknown function");
}

}  // namespace iomt::jmespath::internal
