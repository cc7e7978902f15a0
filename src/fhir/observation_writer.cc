#include "fhir/observation_writer.h"

namespace iomt::fhir {

ObservationWriter::ObservationWriter(store::FhirClient* client, std::size_t cache_entries)
    : client_(client), cache_entries_(cache_entries == 0 ? 1 : cache_entries) {}

std::optional<store::Resource> ObservationWriter::Cached(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void ObservationWriter::Remember(const std::string& key, store::Resource resource) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it != index_.end()) {
    it->second->second = std::move(resource);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.emplace_front(key, std::move(resource));
  index_[key] = lru_.begin();
  if (lru_.size() > cache_entries_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

void ObservationWriter::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

Result<SaveResult> ObservationWriter::Save(const FhirTemplate& t, const ObservationGroup& group, std::string_view type,
                                           const ObservationRefs& refs, std::int64_t now_ticks) {
  const std::string value = ObservationIdentifierValue(refs, type, group.id_segment);
  const std::string id = ResourceIdForIdentifier(kServiceSystem, value);
  std::string key(kServiceSystem);
  key.push_back('|');
  key.append(value);

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
      IOMT_ASSIGN_OR_RETURN(NewObservation obs, CreateObservation(t, group, type, refs, now_ticks));
      IOMT_ASSIGN_OR_RETURN(store::Resource saved,
                            client_->Put("Observation", obs.id, std::move(obs.json), std::nullopt));
      Remember(key, saved);
      return SaveResult{SaveOutcome::kCreated, saved.id};
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
