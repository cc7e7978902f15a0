#include "common/decimal.h"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace iomt::decimal {
namespace {

// The largest decimal mantissa, 2^96 - 1.
constexpr std::string_view kMaxMantissa = "79228162514264337593543950335";
constexpr int kMaxScale = 28;

bool IsWhite(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// a <= b for digit strings without leading zeros.
bool LessOrEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return a.size() < b.size();
  return a <= b;
}

std::string_view StripLeadingZeros(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] == '0')
    ++i;
  return s.substr(i);
}

// `digits` (a mantissa) with its last `drop` digits removed, rounded half to
// even. May grow by one digit ("999" -> "1000").
std::string RoundOff(std::string_view digits, std::size_t drop) {
  if (drop == 0) return std::string(digits);
  if (drop > digits.size()) return "0";
  std::string kept(digits.substr(0, digits.size() - drop));
  std::string_view gone = digits.substr(digits.size() - drop);
  bool up = false;
  if (gone[0] > '5') {
    up = true;
  } else if (gone[0] == '5') {
    bool rest = gone.substr(1).find_first_not_of('0') != std::string_view::npos;
    bool odd = !kept.empty() && ((kept.back() - '0') % 2 == 1);
    up = rest || odd;
  }
  if (up) {
    int i = static_cast<int>(kept.size()) - 1;
    while (i >= 0 && kept[static_cast<std::size_t>(i)] == '9')
      kept[static_cast<std::size_t>(i--)] = '0';
    if (i < 0) {
      kept.insert(kept.begin(), '1');
    } else {
      ++kept[static_cast<std::size_t>(i)];
    }
  }
  return kept.empty() ? "0" : kept;
}

// Builds the canonical text of sign * 0.digits... with `scale` digits after
// the point, fitting the value into a .NET decimal.
bool Canonical(bool negative, std::string_view int_digits, std::string_view frac_digits, std::string* json) {
  std::string mantissa(int_digits);
  mantissa.append(frac_digits);
  std::size_t scale = frac_digits.size();
  // Reduce the scale (rounding) until the mantissa fits 96 bits.
  std::size_t drop = scale > kMaxScale ? scale - kMaxScale : 0;
  std::string rounded;
  for (;; ++drop) {
    if (drop > scale) return false;  // the integer part alone overflows
    rounded = RoundOff(mantissa, drop);
    std::string_view significant = StripLeadingZeros(rounded);
    if (LessOrEqual(significant, kMaxMantissa)) break;
  }
  scale -= drop;
  std::string_view significant = StripLeadingZeros(rounded);
  json->clear();
  bool zero = significant.empty();
  if (negative && !zero) json->push_back('-');
  // Pad so that there is at least one digit before the point.
  std::string digits(significant);
  if (digits.size() < scale + 1) digits.insert(0, scale + 1 - digits.size(), '0');
  json->append(digits, 0, digits.size() - scale);
  if (scale > 0) {
    json->push_back('.');
    json->append(digits, digits.size() - scale, scale);
  }
  return true;
}

}  // namespace

bool ParseNumber(std::string_view s, std::string* json) {
  std::size_t i = 0, n = s.size();
  while (n > 0 && s[n - 1] == '\0')
    --n;  // .NET ignores trailing NULs
  while (i < n && IsWhite(s[i]))
    ++i;
  while (n > i && IsWhite(s[n - 1]))
    --n;
  bool negative = false, signed_ = false;
  if (i < n && (s[i] == '+' || s[i] == '-')) {
    negative = s[i] == '-';
    signed_ = true;
    ++i;
  }
  if (n > i && (s[n - 1] == '+' || s[n - 1] == '-')) {
    if (signed_) return false;
    negative = s[n - 1] == '-';
    --n;
    // White space may separate the digits from a trailing sign.
    while (n > i && IsWhite(s[n - 1]))
      --n;
  }
  std::string int_digits, frac_digits;
  bool point = false, any_digit = false;
  for (; i < n; ++i) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      (point ? frac_digits : int_digits).push_back(c);
      any_digit = true;
    } else if (c == ',' && !point && any_digit) {
      continue;
    } else if (c == '.' && !point) {
      point = true;
    } else {
      return false;
    }
  }
  if (!any_digit) return false;
  return Canonical(negative, int_digits, frac_digits, json);
}

bool FromJsonNumber(std::string_view lexeme, std::string* json) {
  std::size_t e = lexeme.find_first_of("eE");
  if (e == std::string_view::npos) return ParseNumber(lexeme, json);
  // Json.NET reads an exponent form as a double and converts it to decimal,
  // which gives the shortest scale: expand the digits exactly instead.
  std::string_view m = lexeme.substr(0, e);
  long long exponent = 0;
  std::string_view x = lexeme.substr(e + 1);
  bool exp_negative = false;
  if (!x.empty() && (x[0] == '+' || x[0] == '-')) {
    exp_negative = x[0] == '-';
    x.remove_prefix(1);
  }
  if (x.empty() || x.size() > 6) return false;
  for (char c : x) {
    if (c < '0' || c > '9') return false;
    exponent = exponent * 10 + (c - '0');
  }
  if (exp_negative) exponent = -exponent;
  bool negative = !m.empty() && m[0] == '-';
  if (negative) m.remove_prefix(1);
  std::size_t point = m.find('.');
  std::string digits(m.substr(0, point));
  long long scale = 0;
  if (point != std::string_view::npos) {
    digits.append(m.substr(point + 1));
    scale = static_cast<long long>(m.size() - point - 1);
  }
  scale -= exponent;
  if (scale < 0) {
    if (-scale > 40) return false;
    digits.append(static_cast<std::size_t>(-scale), '0');
    scale = 0;
  }
  if (scale > 400) return false;
  while (scale > 0 && !digits.empty() && digits.back() == '0') {
    digits.pop_back();
    --scale;
  }
  if (static_cast<long long>(digits.size()) < scale)
    digits.insert(0, static_cast<std::size_t>(scale) - digits.size(), '0');
  std::string_view all(digits);
  return Canonical(negative, all.substr(0, all.size() - static_cast<std::size_t>(scale)),
                   all.substr(all.size() - static_cast<std::size_t>(scale)), json);
}

bool ToScaledInt(std::string_view json, int scale_digits, long long* out) {
  bool negative = !json.empty() && json[0] == '-';
  if (negative) json.remove_prefix(1);
  std::size_t point = json.find('.');
  std::string digits(json.substr(0, point));
  std::string_view frac = point == std::string_view::npos ? std::string_view() : json.substr(point + 1);
  auto scale = static_cast<std::size_t>(scale_digits);
  std::string kept(frac.substr(0, std::min(scale, frac.size())));
  kept.append(scale - kept.size(), '0');
  digits += kept;
  bool up = frac.size() > scale && frac[scale] >= '5';
  std::uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    if (v > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (up) ++v;
  if (v > static_cast<std::uint64_t>(std::numeric_limits<long long>::max())) return false;
  *out = negative ? -static_cast<long long>(v) : static_cast<long long>(v);
  return true;
}

}  // namespace iomt::decimal
