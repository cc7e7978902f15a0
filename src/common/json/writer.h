// Serializes Values as JSON text.
#pragma once

#include <string>
#include <string_view>

#include "common/json/value.h"

namespace iomt::json {

struct WriteOptions {
  // 0 writes compact JSON; N > 0 pretty-prints with N spaces per level.
  int indent = 0;
};

void AppendJson(std::string* out, const Value& value, const WriteOptions& options = {});
std::string ToJson(const Value& value, const WriteOptions& options = {});
// Appends `s` as a quoted JSON string (UTF-8 kept as is, controls escaped).
void AppendQuoted(std::string* out, std::string_view s);

// The most bytes WriteQuoted may write for `s`.
inline std::size_t QuotedBound(std::string_view s) { return 6 * s.size() + 2; }
// Writes `s` quoted at `p` (room for QuotedBound(s) bytes); returns the end.
// For writers that reserve once and fill a buffer directly.
char* WriteQuoted(char* p, std::string_view s);

}  // namespace iomt::json
