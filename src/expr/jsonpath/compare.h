// How Json.NET compares two JSON scalars inside a JSONPath filter
// (BooleanQueryExpression and JValue.CompareTo), private to expr/jsonpath.
//
// The rules are odd but relied upon: a number compared with a string parses
// the string (and fails with FormatException if it is not a number), floats
// compare with a tolerance, strings that Json.NET read as dates compare as
// dates. Failures are reported as Status with the .NET exception in detail().
#pragma once

#include <re2/re2.h>

#include <cstdint>

#include "common/datetime.h"
#include "common/json/value.h"
#include "common/status.h"

namespace iomt::jsonpath {

// JTokenType of a JValue.
enum class JType : std::uint8_t { kNull, kBoolean, kInteger, kFloat, kString, kDate };

// A scalar as Json.NET holds it in a JValue.
struct JScalar {
  JType type = JType::kNull;
  json::Value value;                                   // the original value (for strings, numbers, booleans)
  std::int64_t ticks = 0;                              // kDate
  datetime::Zone zone = datetime::Zone::kUnspecified;  // kDate
};

// False for containers (which are not JValues).
bool ToScalar(const json::Value& v, bool literal, JScalar* out);

// JValue.CompareTo: <0, 0, >0, or a FormatException/InvalidCastException/
// OverflowException status.
Result<int> Compare(const JScalar& left, const JScalar& right);
// BooleanQueryExpression.EqualsWithStringCoercion (==, !=).
Result<bool> EqualsWithStringCoercion(const JScalar& value, const JScalar& query);
// BooleanQueryExpression.EqualsWithStrictMatch (===, !==).
Result<bool> EqualsStrict(const JScalar& value, const JScalar& query);
// =~ : `pattern` is "/regex/flags"; `compiled` is its RE2 when known.
Result<bool> RegexMatches(const JScalar& input, const JScalar& pattern, const RE2* compiled);

}  // namespace iomt::jsonpath
