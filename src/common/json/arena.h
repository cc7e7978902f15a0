// json::Arena — memory for Values built at run time (JMESPath results,
// envelopes, the `matchedToken` wrapper of CalculatedContent).
//
// Allocation is a pointer bump; nothing is freed until Reset() or
// destruction, which invalidate every Value that points into the arena.
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <span>
#include <string_view>

#include "common/json/value.h"

namespace iomt::json {

class Arena {
 public:
  Arena() : resource_(initial_, sizeof initial_) {}
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Drops everything allocated so far (keeps the first block for re-use).
  void Reset() { resource_.release(); }

  [[nodiscard]] void* Allocate(std::size_t bytes, std::size_t align) { return resource_.allocate(bytes, align); }

  // A copy of `s` that lives as long as the arena.
  std::string_view CopyString(std::string_view s) {
    if (s.empty()) return {};
    char* p = static_cast<char*>(Allocate(s.size(), 1));
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }
  Value MakeString(std::string_view s) { return Value::String(CopyString(s)); }

  Value MakeArray(std::span<const Value> items) {
    if (items.empty()) return Value::Array(nullptr, 0);
    auto* p = static_cast<Value*>(Allocate(items.size() * sizeof(Value), alignof(Value)));
    std::uninitialized_copy(items.begin(), items.end(), p);
    return Value::Array(p, items.size());
  }
  Value MakeObject(std::span<const Member> members) {
    if (members.empty()) return Value::Object(nullptr, 0);
    auto* p = static_cast<Member*>(Allocate(members.size() * sizeof(Member), alignof(Member)));
    std::uninitialized_copy(members.begin(), members.end(), p);
    return Value::Object(p, members.size());
  }

  std::pmr::memory_resource* resource() { return &resource_; }

 private:
  alignas(std::max_align_t) std::byte initial_[2048];
  std::pmr::monotonic_buffer_resource resource_;
};

}  // namespace iomt::json
