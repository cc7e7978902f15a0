#include "normalize/type_match_index.h"

namespace iomt::normalize {

std::uint64_t TypeMatchIndex::HashName(std::string_view s) {
  // Member names are short and mostly differ early or in length: the length
  // and the first eight bytes, mixed, are a good enough hash and cheap.
  std::uint64_t w = 0;
  const std::size_t n = s.size() < 8 ? s.size() : 8;
  for (std::size_t i = 0; i < n; ++i)
    w |= std::uint64_t{static_cast<unsigned char>(s[i])} << (8 * i);
  std::uint64_t h = (w ^ (s.size() * 0x9E3779B97F4A7C15ULL)) * 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 31);
}

const TypeMatchIndex::Slot* TypeMatchIndex::Lookup(std::string_view name) const {
  if (((lengths_ >> (name.size() % 64)) & 1) == 0) return nullptr;
  for (std::uint64_t i = HashName(name) & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.name.empty()) return nullptr;
    if (slot.name == name) return &slot;
  }
}

TypeMatchIndex::Slot* TypeMatchIndex::Insert(const std::string& name) {
  std::uint64_t i = HashName(name) & mask_;
  while (!slots_[i].name.empty() && slots_[i].name != name)
    i = (i + 1) & mask_;
  if (slots_[i].name.empty()) {
    slots_[i].name = name;
    lengths_ |= std::uint64_t{1} << (name.size() % 64);
  }
  return &slots_[i];
}

TypeMatchIndex::TypeMatchIndex(const DeviceMapping& mapping) : plans_(mapping.templates.size()) {
  std::vector<std::pair<std::uint32_t, std::vector<std::string>>> required;
  std::size_t name_count = 0;
  for (std::uint32_t i = 0; i < mapping.templates.size(); ++i) {
    const ContentTemplate& t = mapping.templates[i];
    const jsonpath::Path* path = t.type_match && !t.type_match->blank() ? t.type_match->jsonpath() : nullptr;
    if (path == nullptr) continue;  // JMESPath or blank: always evaluated
    std::vector<std::string> names = path->RequiredMemberNames();
    bool usable = !names.empty();
    for (const std::string& n : names)
      usable = usable && !n.empty();
    if (!usable) continue;
    plans_[i].kind = Plan::kIndexed;
    if (const auto* chain = path->ExistsScanChain(); chain != nullptr && !(*chain)[0]->empty()) {
      plans_[i].kind = Plan::kChain;
      plans_[i].names = chain;
      ++name_count;  // the chain's first name gets a slot too (see below)
    }
    name_count += names.size();
    required.emplace_back(i, std::move(names));
  }
  std::size_t size = 16;
  while (size < name_count * 2)
    size *= 2;
  slots_.resize(size);
  mask_ = size - 1;
  for (auto& [t, names] : required) {
    for (const std::string& name : names) {
      Slot* slot = Insert(name);
      if (slot->templates.empty() || slot->templates.back() != t) slot->templates.push_back(t);
    }
    Plan& plan = plans_[t];
    if (plan.kind == Plan::kChain) {
      // The objects having the first name are collected for the group; the
      // template itself is a candidate only through its required names.
      Slot* first = Insert(*(*plan.names)[0]);
      if (first->first_of_chain < 0) first->first_of_chain = chain_groups_++;
      plan.chain = first->first_of_chain;
    }
  }
  chain_objects_.resize(static_cast<std::size_t>(chain_groups_));
}

void TypeMatchIndex::Visit(const json::Value& v, int depth) {
  if (depth > 128) return;  // documents are limited to 64 levels; arena values add a few
  if (v.is_object()) {
    for (const json::Member& m : v.members()) {
      if (const Slot* slot = Lookup(m.key)) {
        for (std::uint32_t t : slot->templates)
          candidates_[t] = 1;
        // Objects are visited in document order, so the lists are too.
        if (slot->first_of_chain >= 0) {
          chain_objects_[static_cast<std::size_t>(slot->first_of_chain)].emplace_back(v, m.value);
        }
      }
    }
  }
  v.ForEachContainerChild([&](const json::Value& c) {
    Visit(c, depth + 1);
    return true;
  });
}

void TypeMatchIndex::Prepare(const json::Value& input) {
  candidates_.assign(plans_.size(), 0);
  for (auto& objects : chain_objects_)
    objects.clear();
  if (!slots_.empty()) Visit(input, 0);
}

TypeMatchIndex::Answer TypeMatchIndex::Match(std::size_t template_index, std::vector<json::Value>* matches) const {
  const Plan& plan = plans_[template_index];
  if (plan.kind == Plan::kAlways) return Answer::kEvaluate;
  if (candidates_[template_index] == 0) return Answer::kNone;
  if (plan.kind == Plan::kIndexed) return Answer::kEvaluate;
  // `$..[?(@a.b.c)]`: the objects that have `a`, and then b.c below it.
  for (const auto& [object, first] : chain_objects_[static_cast<std::size_t>(plan.chain)]) {
    json::Value x = first;  // the first name's value, found by the walk
    bool found = true;
    for (std::size_t k = 1; k < plan.names->size() && found; ++k)
      found = x.Find(*(*plan.names)[k], &x);
    if (found) matches->push_back(object);
  }
  return Answer::kMatches;
}

}  // namespace iomt::normalize
