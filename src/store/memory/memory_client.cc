#include "store/memory/memory_client.h"

#include <algorithm>

#include "common/json/document.h"

namespace iomt::store {
namespace {

std::string Key(std::string_view type, std::string_view id) {
  std::string key(type);
  key.push_back('/');
  key.append(id);
  return key;
}

std::string IdentifierKey(std::string_view type, std::string_view value) {
  std::string key(type);
  key.push_back('|');
  key.append(value);
  return key;
}

}  // namespace

Result<std::vector<Resource>> MemoryFhirClient::SearchByIdentifier(std::string_view type, std::string_view system,
                                                                   std::string_view value, std::size_t limit) {
  std::lock_guard lock(mu_);
  std::vector<const Entry*> found;
  auto [begin, end] = by_identifier_.equal_range(IdentifierKey(type, value));
  for (auto it = begin; it != end; ++it) {
    const Entry& e = resources_.at(it->second);
    bool match = std::any_of(e.identifiers.begin(), e.identifiers.end(), [&](const Identifier& i) {
      return i.value == value && (system.empty() || i.system == system);
    });
    if (match && std::find(found.begin(), found.end(), &e) == found.end()) found.push_back(&e);
  }
  // A server returns matches in a stable order; so does this one.
  std::sort(found.begin(), found.end(), [](const Entry* a, const Entry* b) { return a->order < b->order; });
  std::vector<Resource> out;
  for (const Entry* e : found) {
    if (out.size() >= limit) break;
    out.push_back(e->resource);
  }
  return out;
}

Result<std::optional<Resource>> MemoryFhirClient::Read(std::string_view type, std::string_view id) {
  std::lock_guard lock(mu_);
  auto it = resources_.find(Key(type, id));
  if (it == resources_.end()) return std::optional<Resource>();
  return std::optional<Resource>(it->second.resource);
}

Result<Resource> MemoryFhirClient::Put(std::string_view type, std::string_view id, std::string json,
                                       std::optional<std::string_view> if_match) {
  thread_local json::Document doc;  // simdjson's buffers are kept from one Put to the next
  IOMT_RETURN_IF_ERROR(doc.Parse(json));
  std::vector<Identifier> identifiers;
  json::Value list;
  if (doc.root().Find("identifier", &list) && list.is_array()) {
    for (json::Value i : list.elements()) {
      json::Value system, value;
      if (!i.Find("value", &value) || !value.is_string()) continue;
      Identifier identifier;
      identifier.value = value.string_value();
      if (i.Find("system", &system) && system.is_string()) identifier.system = system.string_value();
      identifiers.push_back(std::move(identifier));
    }
  }

  std::lock_guard lock(mu_);
  std::string key = Key(type, id);
  auto it = resources_.find(key);
  if (if_match && (it == resources_.end() || it->second.resource.version_id != *if_match)) {
    return Conflict("The resource " + key + " is not at version " + std::string(*if_match) + ".");
  }
  if (it == resources_.end()) {
    it = resources_.emplace(key, Entry{}).first;
    it->second.order = next_order_++;
    it->second.resource.id = id;
    it->second.resource.version_id = "0";
  } else {
    // Drop the old identifiers from the index.
    for (const Identifier& i : it->second.identifiers) {
      auto [begin, end] = by_identifier_.equal_range(IdentifierKey(type, i.value));
      for (auto j = begin; j != end;) {
        j = j->second == key ? by_identifier_.erase(j) : std::next(j);
      }
    }
  }
  Entry& e = it->second;
  e.resource.version_id = std::to_string(std::stoll(e.resource.version_id) + 1);
  e.resource.json = std::move(json);
  e.identifiers = std::move(identifiers);
  for (const Identifier& i : e.identifiers)
    by_identifier_.emplace(IdentifierKey(type, i.value), key);
  return e.resource;
}

std::vector<std::pair<std::string, Resource>> MemoryFhirClient::All() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::size_t, std::pair<std::string, Resource>>> ordered;
  ordered.reserve(resources_.size());
  for (const auto& [key, e] : resources_) {
    ordered.push_back({e.order, {key.substr(0, key.find('/')), e.resource}});
  }
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<std::string, Resource>> out;
  out.reserve(ordered.size());
  for (auto& [order, item] : ordered)
    out.push_back(std::move(item));
  return out;
}

std::size_t MemoryFhirClient::size() const {
  std::lock_guard lock(mu_);
  return resources_.size();
}

}  // namespace iomt::store
