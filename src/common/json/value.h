// json::Value — the one in-memory JSON value model that every stage uses.
//
// A Value is a 24-byte handle, cheap to copy, that never owns memory:
//  * scalars are held inline (null, bool, int64, uint64, double, date);
//  * strings are a pointer and a length into memory someone else keeps alive
//    (a parsed Document, an Arena, an expression's literal pool);
//  * arrays and objects are either views onto a parsed Document's tape (no
//    copy is made when a message is parsed) or arrays of Values/Members that
//    live in an Arena (what JMESPath builds).
//
// Lifetime rule: a Value is valid while the Document or Arena it came from is
// alive and has not been re-used (Document::Parse, Arena::Reset invalidate).
//
// The model keeps what Json.NET distinguishes and iomt-fhir depends on:
// integer vs float tokens (kInt/kUInt vs kDouble) and, for strings read from a
// message, whether Json.NET would have read them as a date (from_document()
// plus datetime::ParseJsonNetDate). See docs/adr/0001-json-value-model.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string_view>

namespace iomt::json {

enum class Kind : std::uint8_t {
  kNull,
  kBool,
  kInt,     // an integer token that fits int64
  kUInt,    // an integer token in (INT64_MAX, UINT64_MAX]
  kDouble,  // a token with a fraction or an exponent (Json.NET "Float")
  kString,
  kDate,  // a date value made by a function (e.g. fromUnixTimestamp); UTC ticks
  kArray,
  kObject,
};

std::string_view KindName(Kind kind);

struct Member;
struct DocView;  // the parsed tape of a Document (document.h)

class Value {
 public:
  constexpr Value() = default;  // null

  static Value Null() { return {}; }
  static Value Bool(bool b) {
    Value v(Kind::kBool);
    v.p_.i = b ? 1 : 0;
    return v;
  }
  static Value Int(std::int64_t i) {
    Value v(Kind::kInt);
    v.p_.i = i;
    return v;
  }
  static Value UInt(std::uint64_t u) {
    // Integers that fit int64 are always kInt, so equal numbers look equal.
    if (u <= static_cast<std::uint64_t>(INT64_MAX)) return Int(static_cast<std::int64_t>(u));
    Value v(Kind::kUInt);
    v.p_.u = u;
    return v;
  }
  static Value Double(double d) {
    Value v(Kind::kDouble);
    v.p_.d = d;
    return v;
  }
  // The caller keeps `s` alive for as long as the Value is used.
  static Value String(std::string_view s) {
    Value v(Kind::kString);
    v.p_.s = s.data();
    v.len_ = static_cast<std::uint32_t>(s.size());
    return v;
  }
  // 100-nanosecond ticks since 1970-01-01T00:00:00Z (the .NET tick unit).
  static Value Date(std::int64_t ticks) {
    Value v(Kind::kDate);
    v.p_.i = ticks;
    return v;
  }
  // Containers over storage the caller keeps alive (usually an Arena).
  static Value Array(const Value* items, std::size_t n) {
    Value v(Kind::kArray);
    v.p_.items = items;
    v.len_ = static_cast<std::uint32_t>(n);
    return v;
  }
  static Value Object(const Member* members, std::size_t n) {
    Value v(Kind::kObject);
    v.p_.members = members;
    v.len_ = static_cast<std::uint32_t>(n);
    return v;
  }
  // Internal: views onto a Document's tape (used by Document and iterators).
  static Value FromTape(const DocView* doc, const std::uint64_t* word);

  [[nodiscard]] Kind kind() const { return kind_; }
  [[nodiscard]] bool is_null() const { return kind_ == Kind::kNull; }
  [[nodiscard]] bool is_bool() const { return kind_ == Kind::kBool; }
  [[nodiscard]] bool is_integer() const { return kind_ == Kind::kInt || kind_ == Kind::kUInt; }
  [[nodiscard]] bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kUInt || kind_ == Kind::kDouble; }
  [[nodiscard]] bool is_string() const { return kind_ == Kind::kString; }
  [[nodiscard]] bool is_date() const { return kind_ == Kind::kDate; }
  [[nodiscard]] bool is_array() const { return kind_ == Kind::kArray; }
  [[nodiscard]] bool is_object() const { return kind_ == Kind::kObject; }
  [[nodiscard]] bool is_container() const { return kind_ == Kind::kArray || kind_ == Kind::kObject; }

  [[nodiscard]] bool bool_value() const { return p_.i != 0; }
  [[nodiscard]] std::int64_t int_value() const { return p_.i; }
  [[nodiscard]] std::uint64_t uint_value() const { return p_.u; }
  [[nodiscard]] double double_value() const { return p_.d; }
  [[nodiscard]] std::int64_t date_ticks() const { return p_.i; }
  // Any number as a double (kInt, kUInt, kDouble); 0 otherwise.
  [[nodiscard]] double AsDouble() const {
    switch (kind_) {
      case Kind::kInt: return static_cast<double>(p_.i);
      case Kind::kUInt: return static_cast<double>(p_.u);
      case Kind::kDouble: return p_.d;
      default: return 0;
    }
  }
  [[nodiscard]] std::string_view string_value() const { return {p_.s, len_}; }

  // True for a string token that came from parsing JSON text: Json.NET, which
  // iomt-fhir uses, turns such strings into dates when they look like ISO
  // 8601 date-times, which changes how they print as measurement values.
  [[nodiscard]] bool from_document() const { return (flags_ & kFlagDocString) != 0; }

  // Number of array elements or object members (0 for scalars).
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] bool empty() const { return size() == 0; }

  // Element `i` of an array (null when out of range). O(i) for document arrays.
  [[nodiscard]] Value ElementAt(std::size_t i) const;
  // The value of member `key` of an object. With duplicate keys the first
  // one is found (docs/jsonpath-dialect.md: Json.NET keeps the last; a
  // lookup that stops at the first match is what keeps field access fast).
  [[nodiscard]] bool Find(std::string_view key, Value* out) const;
  [[nodiscard]] bool Has(std::string_view key) const;

  class ElementIterator;
  class MemberIterator;
  // Ranges hold a copy of the Value, so `for (auto e : Parse().elements())`
  // does not dangle. Empty ranges for values of another kind.
  struct ElementRange;
  struct MemberRange;
  [[nodiscard]] ElementRange elements() const;
  [[nodiscard]] MemberRange members() const;
  // Calls f(value) for each member value of an object (keys not decoded),
  // or each element of an array, until f returns false.
  template <typename F>
  bool ForEachChild(F&& f) const;
  // The same, for the children that are arrays or objects only (scalars are
  // skipped without being decoded).
  template <typename F>
  bool ForEachContainerChild(F&& f) const;

  // Identity of the underlying node (same token of the same document, or the
  // same arena storage). Used where Json.NET compares token references.
  [[nodiscard]] bool SameNode(const Value& other) const;

 private:
  explicit constexpr Value(Kind k) : kind_(k) {}
  [[nodiscard]] bool on_tape() const { return doc_ != nullptr; }

  static constexpr std::uint8_t kFlagDocString = 1;

  Kind kind_ = Kind::kNull;
  std::uint8_t flags_ = 0;
  std::uint32_t len_ = 0;  // string bytes, or element/member count of arena containers
  union Payload {
    std::int64_t i;
    std::uint64_t u;
    double d;
    const char* s;
    const Value* items;
    const Member* members;
    const std::uint64_t* tape;  // the container's opening word on a Document tape
  } p_{0};
  const DocView* doc_ = nullptr;  // set only for containers on a Document tape
};

struct Member {
  std::string_view key;
  Value value;
};

struct Value::ElementRange {
  Value self;
  [[nodiscard]] ElementIterator begin() const;
  [[nodiscard]] ElementIterator end() const;
};
struct Value::MemberRange {
  Value self;
  [[nodiscard]] MemberIterator begin() const;
  [[nodiscard]] MemberIterator end() const;
};
inline Value::ElementRange Value::elements() const { return {*this}; }
inline Value::MemberRange Value::members() const { return {*this}; }

// The parsed form of a Document: simdjson's DOM tape and string buffer.
// Layout (simdjson doc/tape.md): one 64-bit word per token, the type in the
// top byte. '{' and '[' carry in their low 32 bits the index of the word after
// their closing bracket, and in bits 32..55 their element count (saturated at
// 0xFFFFFF); 'l', 'u', 'd' are followed by a word holding the number; '"'
// points into the string buffer at a 32-bit length followed by the bytes.
struct DocView {
  const std::uint64_t* tape = nullptr;
  const std::uint8_t* strings = nullptr;
};

namespace tape {
inline std::uint8_t Type(const std::uint64_t* w) { return static_cast<std::uint8_t>(*w >> 56); }
inline std::uint64_t Payload(const std::uint64_t* w) { return *w & 0x00FFFFFFFFFFFFFFULL; }
// The word after the token at `w` (skips whole containers).
inline const std::uint64_t* Next(const DocView* doc, const std::uint64_t* w) {
  switch (Type(w)) {
    case '{':
    case '[': return doc->tape + (Payload(w) & 0xFFFFFFFFULL);
    case 'l':
    case 'u':
    case 'd': return w + 2;
    default: return w + 1;
  }
}
// The closing word of the container opened at `w`.
inline const std::uint64_t* Close(const DocView* doc, const std::uint64_t* w) {
  return doc->tape + (Payload(w) & 0xFFFFFFFFULL) - 1;
}
inline std::string_view String(const DocView* doc, const std::uint64_t* w) {
  const std::uint8_t* p = doc->strings + Payload(w);
  std::uint32_t len;
  std::memcpy(&len, p, sizeof len);
  return {reinterpret_cast<const char*>(p + sizeof len), len};
}
}  // namespace tape

inline Value Value::FromTape(const DocView* doc, const std::uint64_t* w) {
  switch (tape::Type(w)) {
    case '{':
    case '[': {
      Value v(tape::Type(w) == '{' ? Kind::kObject : Kind::kArray);
      v.p_.tape = w;
      v.doc_ = doc;
      return v;
    }
    case '"': {
      Value v = String(tape::String(doc, w));
      v.flags_ = kFlagDocString;
      return v;
    }
    case 'l': return Int(static_cast<std::int64_t>(w[1]));
    case 'u': return UInt(w[1]);
    case 'd': {
      double d;
      std::memcpy(&d, w + 1, sizeof d);
      return Double(d);
    }
    case 't': return Bool(true);
    case 'f': return Bool(false);
    default: return Null();
  }
}

class Value::ElementIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = Value;
  using difference_type = std::ptrdiff_t;
  using pointer = void;
  using reference = Value;
  ElementIterator() = default;
  ElementIterator(const DocView* doc, const void* pos) : doc_(doc), pos_(pos) {}
  Value operator*() const {
    if (doc_ != nullptr) return FromTape(doc_, static_cast<const std::uint64_t*>(pos_));
    return *static_cast<const Value*>(pos_);
  }
  ElementIterator& operator++() {
    if (doc_ != nullptr) {
      pos_ = tape::Next(doc_, static_cast<const std::uint64_t*>(pos_));
    } else {
      pos_ = static_cast<const Value*>(pos_) + 1;
    }
    return *this;
  }
  bool operator==(const ElementIterator& o) const { return pos_ == o.pos_; }
  bool operator!=(const ElementIterator& o) const { return pos_ != o.pos_; }

 private:
  const DocView* doc_ = nullptr;
  const void* pos_ = nullptr;  // tape word, or Value*
};

class Value::MemberIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = Member;
  using difference_type = std::ptrdiff_t;
  using pointer = void;
  using reference = Member;
  MemberIterator() = default;
  MemberIterator(const DocView* doc, const void* pos) : doc_(doc), pos_(pos) {}
  Member operator*() const {
    if (doc_ != nullptr) {
      const auto* w = static_cast<const std::uint64_t*>(pos_);
      return Member{tape::String(doc_, w), FromTape(doc_, w + 1)};
    }
    return *static_cast<const Member*>(pos_);
  }
  MemberIterator& operator++() {
    if (doc_ != nullptr) {
      pos_ = tape::Next(doc_, static_cast<const std::uint64_t*>(pos_) + 1);
    } else {
      pos_ = static_cast<const Member*>(pos_) + 1;
    }
    return *this;
  }
  bool operator==(const MemberIterator& o) const { return pos_ == o.pos_; }
  bool operator!=(const MemberIterator& o) const { return pos_ != o.pos_; }

 private:
  const DocView* doc_ = nullptr;
  const void* pos_ = nullptr;  // key word on the tape, or Member*
};

inline Value::ElementIterator Value::ElementRange::begin() const {
  if (!self.is_array()) return {};
  if (self.on_tape()) return {self.doc_, self.p_.tape + 1};
  return {nullptr, self.p_.items};
}
inline Value::ElementIterator Value::ElementRange::end() const {
  if (!self.is_array()) return {};
  if (self.on_tape()) return {self.doc_, tape::Close(self.doc_, self.p_.tape)};
  return {nullptr, self.p_.items + self.len_};
}
inline Value::MemberIterator Value::MemberRange::begin() const {
  if (!self.is_object()) return {};
  if (self.on_tape()) return {self.doc_, self.p_.tape + 1};
  return {nullptr, self.p_.members};
}
inline Value::MemberIterator Value::MemberRange::end() const {
  if (!self.is_object()) return {};
  if (self.on_tape()) return {self.doc_, tape::Close(self.doc_, self.p_.tape)};
  return {nullptr, self.p_.members + self.len_};
}

namespace tape {
// Key comparison for lookups: length, then first byte, then the rest.
inline bool KeyEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && (a.empty() || (a[0] == b[0] && std::memcmp(a.data(), b.data(), a.size()) == 0));
}
}  // namespace tape

inline bool Value::Find(std::string_view key, Value* out) const {
  if (!is_object()) return false;
  if (on_tape()) {
    const std::uint64_t* end = tape::Close(doc_, p_.tape);
    for (const std::uint64_t* w = p_.tape + 1; w != end; w = tape::Next(doc_, w + 1)) {
      if (tape::KeyEquals(tape::String(doc_, w), key)) {
        *out = FromTape(doc_, w + 1);
        return true;
      }
    }
    return false;
  }
  for (std::uint32_t i = 0; i < len_; ++i) {
    if (tape::KeyEquals(p_.members[i].key, key)) {
      *out = p_.members[i].value;
      return true;
    }
  }
  return false;
}

inline bool Value::Has(std::string_view key) const {
  if (!is_object()) return false;
  if (on_tape()) {
    const std::uint64_t* end = tape::Close(doc_, p_.tape);
    for (const std::uint64_t* w = p_.tape + 1; w != end; w = tape::Next(doc_, w + 1)) {
      if (tape::String(doc_, w) == key) return true;
    }
    return false;
  }
  for (std::uint32_t i = 0; i < len_; ++i) {
    if (p_.members[i].key == key) return true;
  }
  return false;
}

template <typename F>
bool Value::ForEachChild(F&& f) const {
  if (is_object()) {
    if (on_tape()) {
      const std::uint64_t* end = tape::Close(doc_, p_.tape);
      for (const std::uint64_t* w = p_.tape + 1; w != end;) {
        const std::uint64_t* v = w + 1;
        if (!f(FromTape(doc_, v))) return false;
        w = tape::Next(doc_, v);
      }
      return true;
    }
    for (std::uint32_t i = 0; i < len_; ++i) {
      if (!f(p_.members[i].value)) return false;
    }
    return true;
  }
  if (is_array()) {
    if (on_tape()) {
      const std::uint64_t* end = tape::Close(doc_, p_.tape);
      for (const std::uint64_t* w = p_.tape + 1; w != end; w = tape::Next(doc_, w)) {
        if (!f(FromTape(doc_, w))) return false;
      }
      return true;
    }
    for (std::uint32_t i = 0; i < len_; ++i) {
      if (!f(p_.items[i])) return false;
    }
  }
  return true;
}

template <typename F>
bool Value::ForEachContainerChild(F&& f) const {
  if (!is_container()) return true;
  if (on_tape()) {
    const std::uint64_t* end = tape::Close(doc_, p_.tape);
    const bool object = is_object();
    for (const std::uint64_t* w = p_.tape + 1; w != end;) {
      const std::uint64_t* v = object ? w + 1 : w;
      const std::uint8_t type = tape::Type(v);
      if ((type == '{' || type == '[') && !f(FromTape(doc_, v))) return false;
      w = tape::Next(doc_, v);
    }
    return true;
  }
  return ForEachChild([&](const Value& c) { return !c.is_container() || f(c); });
}

inline bool Value::SameNode(const Value& other) const {
  if (kind_ != other.kind_) return false;
  if (is_container()) return p_.tape == other.p_.tape && doc_ == other.doc_ && len_ == other.len_;
  return p_.u == other.p_.u && len_ == other.len_;
}

}  // namespace iomt::json
