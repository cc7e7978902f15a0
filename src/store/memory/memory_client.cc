#include "store/memory/memory_client.h"

#include <algorithm>

#include "common/json/document.h"
#include "common/mutex.h"

namespace iomt::store {

std::uint64_t MemoryFhirClient::Hash(std::string_view type, std::string_view key) {
  std::uint64_t h = std::hash<std::string_view>{}(key);
  return h ^ (std::hash<std::string_view>{}(type)*0x9e3779b97f4a7c15ULL);
}

MemoryFhirClient::Entry* MemoryFhirClient::FindEntry(std::string_view type, std::string_view id) const {
  auto [begin, end] = by_id_.equal_range(Hash(type, id));
  for (auto it = begin; it != end; ++it) {
    if (it->second->type == type && it->second->resource.id == id) return it->second;
  }
  return nullptr;
}

Result<std::vector<Resource>> MemoryFhirClient::SearchByIdentifier(std::string_view type, std::string_view system,
                                                                   std::string_view value, std::size_t limit) {
  MutexLock lock(mu_);
  std::vector<const Entry*> found;
  auto [begin, end] = by_identifier_.equal_range(Hash(type, value));
  for (auto it = begin; it != end; ++it) {
    const Entry* e = it->second;
    if (e->type != type) continue;
    bool match = std::any_of(e->identifiers.begin(), e->identifiers.end(), [&](const Identifier& i) {
      return i.value == value && (system.empty() || i.system == system);
    });
    if (match && std::find(found.begin(), found.end(), e) == found.end()) found.push_back(e);
  }
  // A server returns matches in a stable order; so does this one: the order
  // of first writes (entries are in that order in the deque).
  std::sort(found.begin(), found.end());
  std::vector<Resource> out;
  for (const Entry* e : found) {
    if (out.size() >= limit) break;
    out.push_back(e->resource);
  }
  return out;
}

Result<std::optional<Resource>> MemoryFhirClient::Read(std::string_view type, std::string_view id) {
  MutexLock lock(mu_);
  const Entry* e = FindEntry(type, id);
  if (e == nullptr) return std::optional<Resource>();
  return std::optional<Resource>(e->resource);
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

  MutexLock lock(mu_);
  Entry* e = FindEntry(type, id);
  if (if_match && (e == nullptr || e->resource.version_id != *if_match)) {
    std::string message = "The resource ";
    message.append(type).append("/").append(id).append(" is not at version ").append(*if_match).append(".");
    return Conflict(std::move(message));
  }
  if (e == nullptr) {
    e = &entries_.emplace_back();
    e->type = type;
    e->resource.id = id;
    e->resource.version_id = "1";
    by_id_.emplace(Hash(type, id), e);
  } else {
    // Drop the old identifiers from the index.
    for (const Identifier& i : e->identifiers) {
      auto [begin, end] = by_identifier_.equal_range(Hash(type, i.value));
      for (auto j = begin; j != end;)
        j = j->second == e ? by_identifier_.erase(j) : std::next(j);
    }
    e->resource.version_id = std::to_string(std::stoll(e->resource.version_id) + 1);
  }
  e->resource.json = std::move(json);
  e->identifiers = std::move(identifiers);
  for (const Identifier& i : e->identifiers)
    by_identifier_.emplace(Hash(type, i.value), e);
  return e->resource;
}

void MemoryFhirClient::ForEach(const std::function<void(std::string_view type, const Resource&)>& f) const {
  MutexLock lock(mu_);
  for (const Entry& e : entries_)
    f(e.type, e.resource);
}

std::size_t MemoryFhirClient::size() const {
  MutexLock lock(mu_);
  return entries_.size();
}

}  // namespace iomt::store
