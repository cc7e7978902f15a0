#include "common/json/compare.h"

namespace iomt::json {

namespace {

bool NumbersEqual(const Value& a, const Value& b) {
  if (a.kind() == Kind::kDouble || b.kind() == Kind::kDouble) return a.AsDouble() == b.AsDouble();
  if (a.kind() != b.kind()) return false;  // kInt vs kUInt never overlap
  return a.kind() == Kind::kInt ? a.int_value() == b.int_value() : a.uint_value() == b.uint_value();
}

}  // namespace

bool DeepEquals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return NumbersEqual(a, b);
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kNull: return true;
    case Kind::kBool: return a.bool_value() == b.bool_value();
    case Kind::kString: return a.string_value() == b.string_value();
    case Kind::kDate: return a.date_ticks() == b.date_ticks();
    case Kind::kArray: {
      if (a.size() != b.size()) return false;
      auto ib = b.elements().begin();
      for (Value ea : a.elements()) {
        if (!DeepEquals(ea, *ib)) return false;
        ++ib;
      }
      return true;
    }
    case Kind::kObject: {
      if (a.size() != b.size()) return false;
      for (const Member& m : a.members()) {
        Value other;
        if (!b.Find(m.key, &other) || !DeepEquals(m.value, other)) return false;
      }
      return true;
    }
    default: return false;
  }
}

}  // namespace iomt::json
