#include "common/json/value.h"

namespace iomt::json {

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kNull: return "null";
    case Kind::kBool: return "boolean";
    case Kind::kInt:
    case Kind::kUInt: return "integer";
    case Kind::kDouble: return "float";
    case Kind::kString: return "string";
    case Kind::kDate: return "date";
    case Kind::kArray: return "array";
    case Kind::kObject: return "object";
  }
  return "unknown";
}

std::size_t Value::size() const {
  if (!is_container()) return 0;
  if (!on_tape()) return len_;
  std::uint64_t count = (tape::Payload(p_.tape) >> 32) & 0xFFFFFFULL;
  if (count < 0xFFFFFFULL) return count;
  // simdjson saturates the count of very large containers: count by walking.
  std::size_t n = 0;
  const std::uint64_t* end = tape::Close(doc_, p_.tape);
  for (const std::uint64_t* w = p_.tape + 1; w != end; ++n) {
    w = is_object() ? tape::Next(doc_, w + 1) : tape::Next(doc_, w);
  }
  return n;
}

Value Value::ElementAt(std::size_t i) const {
  if (!is_array()) return {};
  if (!on_tape()) return i < len_ ? p_.items[i] : Value();
  const std::uint64_t* end = tape::Close(doc_, p_.tape);
  const std::uint64_t* w = p_.tape + 1;
  for (std::size_t k = 0; k < i && w != end; ++k)
    w = tape::Next(doc_, w);
  return w == end ? Value() : FromTape(doc_, w);
}

}  // namespace iomt::json
