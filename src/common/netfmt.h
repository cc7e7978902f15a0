// Text formats of .NET that iomt-fhir's output depends on.
//
// iomt-fhir turns every selected value into a string with .NET's invariant
// culture, so a Float token 70.0 becomes "70", 1e-05 becomes "1E-05", true
// becomes "True". Compatible output (same Observation values, same ids)
// needs the same spelling; these functions produce it.
#pragma once

#include <string>

namespace iomt::netfmt {

// double.ToString(CultureInfo.InvariantCulture) on .NET Core 3.0 and later:
// the shortest round-trip digits, in fixed notation unless the decimal
// exponent is below -4 or above max(15, digit count), then "1.5E+20".
void AppendDouble(std::string* out, double value);
std::string FormatDouble(double value);

}  // namespace iomt::netfmt
