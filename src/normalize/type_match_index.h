// Finds the messages' type matches for all templates of a mapping with one
// walk over the message, so that the cost of a message does not grow with
// the number of templates that do not match it.
//
// Device mappings find their messages with `$..[?(@name ...)]`, which can only
// match when a member called `name` occurs somewhere in the message, and most
// are of the exact form `$..[?(@a.b)]`, which selects the objects having the
// member chain a.b. One walk over the message's objects and member names
// (a small hash table of the names the templates need) then tells, for every
// template, either its matches (the exact form), that it cannot match, or
// that its expression must be evaluated (JMESPath and other shapes).
//
// Not thread-safe: one per Normalizer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json/value.h"
#include "normalize/device_mapping.h"

namespace iomt::normalize {

class TypeMatchIndex {
 public:
  explicit TypeMatchIndex(const DeviceMapping& mapping);

  // Walks `input` once; Match() then answers for this input.
  void Prepare(const json::Value& input);

  enum class Answer : std::uint8_t {
    kMatches,   // *matches holds the type matches, in document order
    kNone,      // the template cannot match this input
    kEvaluate,  // evaluate the template's type match expression
  };
  Answer Match(std::size_t template_index, std::vector<json::Value>* matches) const;

 private:
  struct Slot {
    std::string name;
    std::vector<std::uint32_t> templates;  // templates that need this name somewhere
    int first_of_chain = -1;               // chain group whose first name this is
  };
  struct Plan {
    enum Kind : std::uint8_t { kChain, kIndexed, kAlways } kind = kAlways;
    int chain = -1;  // kChain: the chain group (templates sharing the first name)
    const std::vector<const std::string*>* names = nullptr;  // kChain: the whole chain
  };

  static std::uint64_t HashName(std::string_view s);
  [[nodiscard]] const Slot* Lookup(std::string_view name) const;
  Slot* Insert(const std::string& name);
  void Visit(const json::Value& v, int depth);

  std::vector<Plan> plans_;
  std::vector<Slot> slots_;  // open addressing, power-of-two size; empty name = free
  std::uint64_t mask_ = 0;
  std::uint64_t lengths_ = 0;  // bit n: some name has length n (mod 64), a cheap first test
  int chain_groups_ = 0;

  // Per input.
  std::vector<std::uint8_t> candidates_;
  // Per chain group: the objects having its first name, with that member's value.
  std::vector<std::vector<std::pair<json::Value, json::Value>>> chain_objects_;
};

}  // namespace iomt::normalize
