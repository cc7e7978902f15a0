#include "common/netfmt.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace iomt::netfmt {

void AppendDouble(std::string* out, double value) {
  if (std::isnan(value)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out->append(value > 0 ? "Infinity" : "-Infinity");
    return;
  }
  if (value == 0) {
    out->append(std::signbit(value) ? "-0" : "0");
    return;
  }
  // Shortest round-trip digits and exponent, as "d.ddde+XX".
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  const char* p = buf;
  if (*p == '-') {
    out->push_back('-');
    ++p;
  }
  char digits[32];
  int ndigits = 0;
  for (; p < res.ptr && *p != 'e'; ++p) {
    if (*p != '.') digits[ndigits++] = *p;
  }
  int exponent = 0;  // p points at 'e'
  const char* e = p + 1;
  if (e < res.ptr && *e == '+') ++e;
  std::from_chars(e, res.ptr, exponent);
  // .NET's NumberBuffer "scale": value = 0.d1d2... * 10^scale.
  int scale = exponent + 1;
  int max_digits = std::max(ndigits, 15);
  if (scale > max_digits || scale < -3) {
    out->push_back(digits[0]);
    if (ndigits > 1) {
      out->push_back('.');
      out->append(digits + 1, ndigits - 1);
    }
    int exp10 = scale - 1;
    out->push_back('E');
    out->push_back(exp10 < 0 ? '-' : '+');
    exp10 = std::abs(exp10);
    if (exp10 < 10) out->push_back('0');
    out->append(std::to_string(exp10));
    return;
  }
  if (scale > 0) {
    for (int i = 0; i < scale; ++i)
      out->push_back(i < ndigits ? digits[i] : '0');
    if (ndigits > scale) {
      out->push_back('.');
      out->append(digits + scale, ndigits - scale);
    }
  } else {
    out->append("0.");
    out->append(static_cast<std::size_t>(-scale), '0');
    out->append(digits, ndigits);
  }
}

std::string FormatDouble(double value) {
  std::string s;
  AppendDouble(&s, value);
  return s;
}

}  // namespace iomt::netfmt
