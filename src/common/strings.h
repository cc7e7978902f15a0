// Small string helpers used across stages.
#pragma once

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace iomt {

// Joins pieces into one string. (GCC 12 warns, wrongly, about chains of
// "literal" + std::string + ...; this also allocates once.)
inline std::string Cat(std::initializer_list<std::string_view> parts) {
  std::size_t size = 0;
  for (std::string_view p : parts)
    size += p.size();
  std::string out;
  out.reserve(size);
  for (std::string_view p : parts)
    out.append(p);
  return out;
}

// "a", "a and b", "a, b and c" (or, with last = " or ", "a, b or c").
inline std::string JoinList(std::span<const std::string_view> items, std::string_view last = " and ") {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.append(i + 1 == items.size() ? last : ", ");
    out.append(items[i]);
  }
  return out;
}

// `s` with A-Z as a-z (names that compare without case: header names, ARM
// resource ids); other bytes as they are.
inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace iomt
