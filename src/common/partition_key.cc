#include "common/partition_key.h"

#include <cstdlib>

namespace iomt {

std::int32_t DeterministicHash(std::string_view s) {
  std::uint32_t h = 0;
  auto add = [&](std::uint32_t unit) { h = 31u * h + unit; };
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = c;
    std::size_t len = 1;
    if (c >= 0xF0 && i + 3 < s.size()) {
      cp = ((c & 0x07u) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12) |
           ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) | (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
      len = 4;
    } else if (c >= 0xE0 && i + 2 < s.size()) {
      cp = ((c & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
           (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
      len = 3;
    } else if (c >= 0xC0 && i + 1 < s.size()) {
      cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      len = 2;
    }
    if (cp >= 0x10000) {  // a surrogate pair in UTF-16
      cp -= 0x10000;
      add(0xD800u + (cp >> 10));
      add(0xDC00u + (cp & 0x3FFu));
    } else {
      add(cp);
    }
    i += len;
  }
  return static_cast<std::int32_t>(h);
}

std::string HashKey(std::string_view utf8, int range) {
  std::int64_t h = DeterministicHash(utf8);
  if (h < 0) h = -h;
  return std::to_string(h % range);
}

std::string DevicePartitionKey(std::string_view device_id) {
  std::string lower(device_id);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return HashKey(lower, 256);
}

}  // namespace iomt
