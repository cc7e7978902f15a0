// .NET System.Decimal as iomt-fhir meets it: a measurement value parsed
// with decimal.Parse (NumberStyles.Number, invariant culture) becomes a
// Quantity's value, and a mapping's defaultPeriod is a decimal. A decimal
// keeps its scale ("70.0" stays 70.0, not 70) and is written to FHIR JSON as
// that text, so iomt keeps the value as canonical decimal text rather than a
// double (a double would turn 0.1 into 0.1000000000000000055...).
#pragma once

#include <string>
#include <string_view>

namespace iomt::decimal {

// decimal.Parse(s, NumberStyles.Number, CultureInfo.InvariantCulture):
// leading and trailing white space, one sign before or after the digits,
// a decimal point, ',' group separators in the integer part. No exponent,
// no currency, no parentheses, no "NaN"/"Infinity". On success writes the
// value as a JSON number (no '+', no group separators, no leading zeros,
// "0.5" for ".5", "5" for "5.", zero without a sign) and returns true.
// Values beyond the decimal range (|v| > 79228162514264337593543950335)
// fail; digits beyond 28 decimal places are rounded half to even, as .NET
// rounds them.
bool ParseNumber(std::string_view s, std::string* json);

// The decimal a JSON number token converts to (Json.NET reading a number
// into a decimal property): integers and plain decimals keep their text
// (canonicalized as above); exponent forms are expanded ("1e3" -> "1000").
bool FromJsonNumber(std::string_view lexeme, std::string* json);

// The value of a decimal from ParseNumber or FromJsonNumber times
// 10^scale_digits, rounded half away from zero (a millisecond decimal in
// .NET ticks is scale_digits 4); false when out of the int64 range.
bool ToScaledInt(std::string_view json, int scale_digits, long long* out);

}  // namespace iomt::decimal
