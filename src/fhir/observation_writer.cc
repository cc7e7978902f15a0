#include "fhir/observation_writer.h"

namespace iomt::fhir {

ObservationWriter::ObservationWriter(store::FhirClient* client, std::size_t cache_entries)
    : client_(client), cache_entries_(cache_entries == 0 ? 1 : cache_entries) {}

namespace {

// The first 64 bits of a hex id (any text works: other characters count as 0).
std::uint64_t Prefix(const std::string& id) {
  std::uint64_t key = 0;
  for (std::size_t i = 0; i < 16 && i < id.size(); ++i) {
    char c = id[i];
    std::uint64_t nibble = c >= '0' && c <= '9'   ? static_cast<std::uint64_t>(c - '0')
                           : c >= 'a' && c <= 'f' ? static_cast<std::uint64_t>(c - 'a' + 10)
                                                  : 0;
    key = key << 4 | nibble;
  }
  return key;
}

}  // namespace

std::optional<store::Resource> ObservationWriter::Cached(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = index_.find(Prefix(id));
  if (it == index_.end() || it->second->id != id) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->resource;
}

void ObservationWriter::Remember(const std::string& id, store::Resource resource) {
  std::lock_guard lock(mu_);
  std::uint64_t key = Prefix(id);
  auto it = index_.find(key);
  if (it != index_.end()) {
    // The same id, or (never seen in practice) another with the same first
    // 64 bits, which it replaces.
    it->second->id = id;
    it->second->resource = std::move(resource);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(CacheEntry{id, std::move(resource)});
  index_.emplace(key, lru_.begin());
  if (lru_.size() > cache_entries_) {
    index_.erase(Prefix(lru_.back().id));
    lru_.pop_back();
  }
}

void ObservationWriter::Forget(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = index_.find(Prefix(id));
  if (it == index_.end() || it->second->id != id) return;
  lru_.erase(it->second);
  index_.erase(it);
}

Result<SaveResult> ObservationWriter::Save(const FhirTemplate& t, const ObservationGroup& group, std::string_view type,
                                           const ObservationRefs& refs, std::int64_t now_ticks) {
  const std::string value = ObservationIdentifierValue(refs, type, group.id_segment);
  const std::string id = ResourceIdForIdentifier(kServiceSystem, value);
  const std::string& key = id;

  std::optional<store::Resource> existing = Cached(key);
  if (!existing) {
    IOMT_ASSIGN_OR_RETURN(std::vector<store::Resource> found,
                          client_->SearchByIdentifier("Observation", kServiceSystem, value, 2));
    if (found.size() > 1) {
      return Status(StatusCode::kInvalidArgument,
                    "Multiple resources " + std::to_string(found.size()) +
                        " of type Observation found, expected one. Resource metadata: [Resource Id:" + found[0].id +
                        "; VersionId:" + found[0].version_id + "], [Resource Id:" + found[1].id +
                        "; VersionId:" + found[1].version_id + "].")
          .WithDetail("MultipleResourceFoundException");
    }
    if (!found.empty()) existing = std::move(found.front());
  }

  // A write that loses a race is retried from a fresh read, twice.
  for (int attempt = 0;; ++attempt) {
    if (!existing) {
      IOMT_ASSIGN_OR_RETURN(NewObservation obs, CreateObservation(t, group, type, refs, now_ticks, value, id));
      IOMT_ASSIGN_OR_RETURN(store::Resource saved,
                            client_->Put("Observation", obs.id, std::move(obs.json), std::nullopt));
      std::string saved_id = saved.id;
      // An Observation of one instant (periodInterval 0) is merged into
      // again only when a reading of the same second comes back; it is not
      // kept in the cache (a later merge finds it by its identifier).
      if (t.period != PeriodInterval::kSingle) Remember(key, std::move(saved));
      return SaveResult{SaveOutcome::kCreated, std::move(saved_id)};
    }
    IOMT_ASSIGN_OR_RETURN(json::Node node, json::ParseNode(existing->json));
    IOMT_ASSIGN_OR_RETURN(MergedObservation merged, MergeObservation(t, group, std::move(node)));
    if (!merged.changed) {
      Remember(key, std::move(*existing));
      return SaveResult{SaveOutcome::kUnchanged, id};
    }
    const std::string target_id = existing->id.empty() ? id : existing->id;
    Result<store::Resource> saved =
        client_->Put("Observation", target_id, std::move(merged.json), existing->version_id);
    if (saved.ok()) {
      std::string saved_id = saved->id;
      Remember(key, std::move(*saved));
      return SaveResult{SaveOutcome::kUpdated, std::move(saved_id)};
    }
    if (saved.status().code() != StatusCode::kConflict || attempt >= 2) return std::move(saved).TakeStatus();
    ++conflicts_;
    Forget(key);
    IOMT_ASSIGN_OR_RETURN(existing, client_->Read("Observation", target_id));
  }
}

}  // namespace iomt::fhir
