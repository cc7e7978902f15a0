#include "expr/jsonpath/compare.h"

#include <charconv>
#include <cmath>
#include <string>

namespace iomt::jsonpath {
namespace {

using json::Kind;

Status FormatException() {
  return EvaluationError("Input string was not in a correct format.").WithDetail("FormatException");
}
Status OverflowException() {
  return EvaluationError("Value was either too large or too small for an Int64.").WithDetail("OverflowException");
}
Status InvalidCast(std::string_view from, std::string_view to) {
  return EvaluationError("Invalid cast from '" + std::string(from) + "' to '" + std::string(to) + "'.")
      .WithDetail("InvalidCastException");
}

std::string_view DotNetTypeName(const JScalar& s) {
  switch (s.type) {
    case JType::kBoolean: return "Boolean";
    case JType::kInteger: return s.value.kind() == Kind::kUInt ? "BigInteger" : "Int64";
    case JType::kFloat: return "Double";
    case JType::kString: return "String";
    case JType::kDate: return "DateTime";
    case JType::kNull: return "Null";
  }
  return "Object";
}

bool IsWhite(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsWhite(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && IsWhite(s.back()))
    s.remove_suffix(1);
  return s;
}

// Int64.Parse(s, NumberStyles.Integer, InvariantCulture).
Result<std::int64_t> ParseInt64(std::string_view text) {
  std::string_view s = Trim(text);
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return FormatException();
  unsigned long long magnitude = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return FormatException();
    if (magnitude > (ULLONG_MAX - 9) / 10) return OverflowException();
    magnitude = magnitude * 10 + static_cast<unsigned>(c - '0');
  }
  if (negative) {
    if (magnitude > 9223372036854775808ULL) return OverflowException();
    return static_cast<std::int64_t>(0 - magnitude);
  }
  if (magnitude > static_cast<unsigned long long>(INT64_MAX)) return OverflowException();
  return static_cast<std::int64_t>(magnitude);
}

// double.Parse(s, NumberStyles.Float | NumberStyles.AllowThousands, InvariantCulture).
Result<double> ParseDouble(std::string_view text) {
  std::string_view s = Trim(text);
  std::string cleaned;
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s == "NaN") return std::nan("");
  if (s == "Infinity" || s == "\xE2\x88\x9E") return negative ? -INFINITY : INFINITY;
  bool before_point = true;
  for (char c : s) {
    if (c == '.' || c == 'e' || c == 'E') before_point = false;
    if (c == ',' && before_point) continue;  // group separators in the integral part
    cleaned.push_back(c);
  }
  if (cleaned.empty() || cleaned.front() == 'e' || cleaned.front() == 'E') return FormatException();
  double d = 0;
  auto res = std::from_chars(cleaned.data(), cleaned.data() + cleaned.size(), d);
  if (res.ptr != cleaned.data() + cleaned.size()) return FormatException();
  if (res.ec == std::errc::result_out_of_range)
    d = std::strtod(cleaned.c_str(), nullptr);
  else if (res.ec != std::errc())
    return FormatException();
  return negative ? -d : d;
}

// Boolean.Parse: "True"/"False" in any case, white space and NULs trimmed.
Result<bool> ParseBoolean(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && (IsWhite(s.front()) || s.front() == '\0'))
    s.remove_prefix(1);
  while (!s.empty() && (IsWhite(s.back()) || s.back() == '\0'))
    s.remove_suffix(1);
  auto equals_ci = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
    }
    return true;
  };
  if (equals_ci(s, "true")) return true;
  if (equals_ci(s, "false")) return false;
  return EvaluationError("String '" + std::string(text) + "' was not recognized as a valid Boolean.")
      .WithDetail("FormatException");
}

Result<std::int64_t> ToInt64(const JScalar& s) {
  switch (s.type) {
    case JType::kInteger:
      if (s.value.kind() == Kind::kUInt) return OverflowException();
      return s.value.int_value();
    case JType::kBoolean: return std::int64_t{s.value.bool_value() ? 1 : 0};
    case JType::kString: return ParseInt64(s.value.string_value());
    case JType::kFloat: {
      double d = std::nearbyint(s.value.double_value());  // Convert.ToInt64 rounds to even
      if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return OverflowException();
      return static_cast<std::int64_t>(d);
    }
    default: return InvalidCast(DotNetTypeName(s), "Int64");
  }
}

Result<double> ToDouble(const JScalar& s) {
  switch (s.type) {
    case JType::kInteger: return s.value.AsDouble();
    case JType::kFloat: return s.value.double_value();
    case JType::kBoolean: return s.value.bool_value() ? 1.0 : 0.0;
    case JType::kString: return ParseDouble(s.value.string_value());
    default: return InvalidCast(DotNetTypeName(s), "Double");
  }
}

Result<bool> ToBoolean(const JScalar& s) {
  switch (s.type) {
    case JType::kBoolean: return s.value.bool_value();
    case JType::kInteger:
      if (s.value.kind() == Kind::kUInt) return InvalidCast("BigInteger", "Boolean");
      return s.value.int_value() != 0;
    case JType::kFloat: return s.value.double_value() != 0;
    case JType::kString: return ParseBoolean(s.value.string_value());
    default: return InvalidCast(DotNetTypeName(s), "Boolean");
  }
}

Result<std::int64_t> ToDateTime(const JScalar& s) {
  switch (s.type) {
    case JType::kDate: return s.ticks;
    case JType::kString: {
      std::int64_t ticks = 0;
      if (datetime::ParseJsonNetDate(Trim(s.value.string_value()), &ticks)) return ticks;
      return EvaluationError("String '" + std::string(s.value.string_value()) +
                             "' was not recognized as a valid DateTime.")
          .WithDetail("FormatException");
    }
    default: return InvalidCast(DotNetTypeName(s), "DateTime");
  }
}

// MathUtils.ApproxEquals: equal within a relative epsilon.
bool ApproxEquals(double a, double b) {
  constexpr double kEpsilon = 2.2204460492503131E-16;
  if (a == b) return true;
  double tolerance = ((std::fabs(a) + std::fabs(b)) + 10.0) * kEpsilon;
  double difference = a - b;
  return -tolerance < difference && tolerance > difference;
}

// double.CompareTo: NaN sorts first and equals itself.
int CompareDoubles(double a, double b) {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a == b) return 0;
  if (std::isnan(a)) return std::isnan(b) ? 0 : -1;
  return 1;
}

Result<int> CompareFloat(const JScalar& a, const JScalar& b) {
  auto d1 = ToDouble(a);
  if (!d1.ok()) return d1.status();
  auto d2 = ToDouble(b);
  if (!d2.ok()) return d2.status();
  if (ApproxEquals(*d1, *d2)) return 0;
  return CompareDoubles(*d1, *d2);
}

// CompareBigInteger(i1, i2) for an i1 beyond Int64 (kUInt).
Result<int> CompareBig(std::uint64_t big, const JScalar& other) {
  switch (other.type) {
    case JType::kInteger:
      if (other.value.kind() == Kind::kUInt) {
        return big < other.value.uint_value() ? -1 : (big > other.value.uint_value() ? 1 : 0);
      }
      return 1;  // every Int64 is smaller
    case JType::kFloat: {
      double d = other.value.double_value();
      long double truncated = std::trunc(static_cast<long double>(d));
      long double b = static_cast<long double>(big);
      if (b != truncated) return b < truncated ? -1 : 1;
      return d == std::trunc(d) ? 0 : -1;
    }
    case JType::kString: {
      auto parsed = ParseDouble(other.value.string_value());
      if (!parsed.ok() || std::trunc(*parsed) != *parsed) return FormatException();
      long double b = static_cast<long double>(big);
      long double o = static_cast<long double>(*parsed);
      return b < o ? -1 : (b > o ? 1 : 0);
    }
    default: return InvalidCast(DotNetTypeName(other), "BigInteger");
  }
}

// JValue.Compare(valueType, objA, objB).
Result<int> CompareAs(JType type, const JScalar& a, const JScalar& b) {
  if (a.type == JType::kNull && b.type == JType::kNull) return 0;
  if (b.type == JType::kNull) return 1;
  if (a.type == JType::kNull) return -1;
  switch (type) {
    case JType::kInteger:
    case JType::kFloat: {
      if (a.type == JType::kInteger && a.value.kind() == Kind::kUInt) return CompareBig(a.value.uint_value(), b);
      if (b.type == JType::kInteger && b.value.kind() == Kind::kUInt) {
        auto r = CompareBig(b.value.uint_value(), a);
        if (!r.ok()) return r;
        return -*r;
      }
      if (type == JType::kFloat || a.type == JType::kFloat || b.type == JType::kFloat) return CompareFloat(a, b);
      auto i1 = ToInt64(a);
      if (!i1.ok()) return i1.status();
      auto i2 = ToInt64(b);
      if (!i2.ok()) return i2.status();
      return *i1 < *i2 ? -1 : (*i1 > *i2 ? 1 : 0);
    }
    case JType::kString: {
      // Both are strings here. Ordinal: UTF-8 byte order is code point order.
      int c = a.value.string_value().compare(b.value.string_value());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    case JType::kBoolean: {
      auto b1 = ToBoolean(a);
      if (!b1.ok()) return b1.status();
      auto b2 = ToBoolean(b);
      if (!b2.ok()) return b2.status();
      return static_cast<int>(*b1) - static_cast<int>(*b2);
    }
    case JType::kDate: {
      if (a.type != JType::kDate) return InvalidCast(DotNetTypeName(a), "DateTimeOffset");
      auto t2 = ToDateTime(b);
      if (!t2.ok()) return t2.status();
      return a.ticks < *t2 ? -1 : (a.ticks > *t2 ? 1 : 0);
    }
    case JType::kNull: return -1;  // a is null and b is not (handled above)
  }
  return 0;
}

bool ValuesEqual(const JScalar& a, const JScalar& b) {
  if (a.type != b.type) return false;
  auto r = CompareAs(a.type, a, b);
  return r.ok() && *r == 0;
}

bool IntegerFloatPair(const JScalar& a, const JScalar& b) {
  return (a.type == JType::kInteger && b.type == JType::kFloat) ||
         (a.type == JType::kFloat && b.type == JType::kInteger);
}

// DateTimeUtils.WriteDateTimeString with DateFormatHandling.IsoDateFormat.
std::string IsoDateString(const JScalar& s) {
  std::string out;
  datetime::AppendIso(&out, s.ticks);
  out.pop_back();  // the 'Z'
  if (s.zone == datetime::Zone::kUtc) out.push_back('Z');
  if (s.zone == datetime::Zone::kLocal) out.append("+00:00");  // local time of a UTC host
  return out;
}

}  // namespace

bool ToScalar(const json::Value& v, bool literal, JScalar* out) {
  out->value = v;
  switch (v.kind()) {
    case Kind::kNull: out->type = JType::kNull; return true;
    case Kind::kBool: out->type = JType::kBoolean; return true;
    case Kind::kInt:
    case Kind::kUInt: out->type = JType::kInteger; return true;
    case Kind::kDouble: out->type = JType::kFloat; return true;
    case Kind::kString:
      out->type = JType::kString;
      // Json.NET read date-looking strings of the message as dates.
      if (!literal && v.from_document() && datetime::MayBeJsonNetDate(v.string_value()) &&
          datetime::ParseJsonNetDate(v.string_value(), &out->ticks, &out->zone)) {
        out->type = JType::kDate;
      }
      return true;
    case Kind::kDate:
      out->type = JType::kDate;
      out->ticks = v.date_ticks();
      out->zone = datetime::Zone::kUtc;
      return true;
    default: return false;
  }
}

Result<int> Compare(const JScalar& left, const JScalar& right) {
  // JValue.CompareTo: a string compared with another type compares as that type.
  JType type = (left.type == JType::kString && right.type != JType::kString) ? right.type : left.type;
  return CompareAs(type, left, right);
}

Result<bool> EqualsWithStringCoercion(const JScalar& value, const JScalar& query) {
  if (ValuesEqual(value, query)) return true;
  if (IntegerFloatPair(value, query)) {
    auto r = CompareAs(value.type, value, query);
    if (!r.ok()) return r.status();
    return *r == 0;
  }
  if (query.type != JType::kString) return false;
  if (value.type == JType::kDate) return IsoDateString(value) == query.value.string_value();
  return false;
}

Result<bool> EqualsStrict(const JScalar& value, const JScalar& query) {
  if (IntegerFloatPair(value, query)) {
    auto r = CompareAs(value.type, value, query);
    if (!r.ok()) return r.status();
    return *r == 0;
  }
  if (value.type != query.type) return false;
  return ValuesEqual(value, query);
}

Result<bool> RegexMatches(const JScalar& input, const JScalar& pattern, const RE2* compiled) {
  if (input.type != JType::kString || pattern.type != JType::kString) return false;
  if (compiled != nullptr) return RE2::PartialMatch(input.value.string_value(), *compiled);
  // A pattern that comes from the document: compile it now.
  std::string_view text = pattern.value.string_value();
  std::size_t slash = text.rfind('/');
  if (slash == std::string_view::npos || slash == 0) {
    return EvaluationError("Regex must be written /pattern/flags.").WithDetail("ArgumentOutOfRangeException");
  }
  RE2::Options options;
  options.set_log_errors(false);
  std::string prefix;
  for (char flag : text.substr(slash + 1)) {
    if (flag == 'i') options.set_case_sensitive(false);
    if (flag == 'm') prefix += "(?m)";
    if (flag == 's') options.set_dot_nl(true);
  }
  RE2 re(prefix + std::string(text.substr(1, slash - 1)), options);
  if (!re.ok()) return EvaluationError("Invalid regex: " + re.error()).WithDetail("ArgumentException");
  return RE2::PartialMatch(input.value.string_value(), re);
}

}  // namespace iomt::jsonpath
