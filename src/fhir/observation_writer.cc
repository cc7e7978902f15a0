#include "fhir/observation_writer.h"

#include <algorithm>
#include <optional>

#include "common/json/document.h"
#include "common/mutex.h"
#include "common/parallel.h"

namespace iomt::fhir {

ObservationWriter::ObservationWriter(store::FhirClient* client, std::size_t cache_entries, std::size_t cache_bytes,
                                     std::size_t write_bytes)
    : client_(client),
      cache_entries_(cache_entries == 0 ? 1 : cache_entries),
      cache_bytes_(cache_bytes),
      write_bytes_(write_bytes) {
  const std::size_t n = client != nullptr ? client->lanes() : 1;
  if (n > 1) {
    for (std::size_t k = 0; k < n; ++k)
      lanes_.push_back(
          std::make_unique<ObservationWriter>(client->Lane(k), cache_entries / n, cache_bytes / n, write_bytes / n));
  }
}

std::int64_t ObservationWriter::conflicts() const {
  std::int64_t sum = conflicts_;
  for (const auto& lane : lanes_)
    sum += lane->conflicts();
  return sum;
}

std::size_t ObservationWriter::LaneOf(const SaveRequest& r) const {
  const std::string value = ObservationIdentifierValue(*r.refs, r.type, r.group->id_segment);
  return client_->LaneOf("Observation", ResourceIdForIdentifier(kServiceSystem, value)) % lanes_.size();
}

std::vector<Result<SaveResult>> ObservationWriter::SaveByLane(const std::vector<SaveRequest>& requests,
                                                              std::int64_t now_ticks) {
  std::vector<std::vector<SaveRequest>> shares(lanes_.size());
  std::vector<std::vector<std::size_t>> origin(lanes_.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const std::size_t k = LaneOf(requests[i]);
    shares[k].push_back(requests[i]);
    origin[k].push_back(i);
  }
  // The lanes at once (common/parallel.h): a thread a lane costs little
  // beside a lane's commit.
  std::vector<std::vector<Result<SaveResult>>> saved(lanes_.size());
  RunShares(
      lanes_.size(), [&](std::size_t k) { return !shares[k].empty(); },
      [&](std::size_t k) { saved[k] = lanes_[k]->SaveMany(shares[k], now_ticks); });
  std::vector<Result<SaveResult>> results(requests.size(), Status(StatusCode::kInternal, "not saved"));
  for (std::size_t k = 0; k < lanes_.size(); ++k) {
    for (std::size_t j = 0; j < saved[k].size() && j < origin[k].size(); ++j)
      results[origin[k][j]] = std::move(saved[k][j]);
  }
  return results;
}

namespace {

// What an entry holds, roughly: its texts (the JSON dominates).
std::size_t EntryBytes(const std::string& id, const store::Resource& r) {
  return id.size() + r.id.size() + r.version_id.size() + r.json.size() + 64;
}

}  // namespace

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
  MutexLock lock(mu_);
  auto it = index_.find(Prefix(id));
  if (it == index_.end() || it->second->id != id) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->resource;
}

void ObservationWriter::Remember(const std::string& id, store::Resource resource) {
  MutexLock lock(mu_);
  std::uint64_t key = Prefix(id);
  auto it = index_.find(key);
  if (it != index_.end()) {
    // The same id, or (never seen in practice) another with the same first
    // 64 bits, which it replaces.
    cached_bytes_ -= EntryBytes(it->second->id, it->second->resource);
    it->second->id = id;
    it->second->resource = std::move(resource);
    cached_bytes_ += EntryBytes(it->second->id, it->second->resource);
    lru_.splice(lru_.begin(), lru_, it->second);
  } else {
    lru_.push_front(CacheEntry{id, std::move(resource)});
    index_.emplace(key, lru_.begin());
    cached_bytes_ += EntryBytes(lru_.front().id, lru_.front().resource);
  }
  // By count and by size: hourly SampledData Observations are ~10 KB each,
  // and 10,000 of them held ~3/4 of a run's peak memory. The newest entry
  // always stays.
  while (lru_.size() > 1 && (lru_.size() > cache_entries_ || cached_bytes_ > cache_bytes_)) {
    cached_bytes_ -= EntryBytes(lru_.back().id, lru_.back().resource);
    index_.erase(Prefix(lru_.back().id));
    lru_.pop_back();
  }
}

void ObservationWriter::Forget(const std::string& id) {
  MutexLock lock(mu_);
  auto it = index_.find(Prefix(id));
  if (it == index_.end() || it->second->id != id) return;
  cached_bytes_ -= EntryBytes(it->second->id, it->second->resource);
  lru_.erase(it->second);
  index_.erase(it);
}

namespace {

Status MultipleFound(const std::vector<const store::Resource*>& found) {
  std::string message = "Multiple resources " + std::to_string(found.size()) +
                        " of type Observation found, expected one. Resource metadata: ";
  for (std::size_t i = 0; i < found.size(); ++i) {
    if (i > 0) message += ", ";
    message.append("[Resource Id:").append(found[i]->id).append("; VersionId:").append(found[i]->version_id);
    message.push_back(']');
  }
  message.push_back('.');
  return Status(StatusCode::kInvalidArgument, std::move(message)).WithError(ErrorName::kMultipleResourceFound);
}

// The identifier value of an Observation in the connector's system, or "".
std::string IdentifierValueOf(const std::string& resource_json) {
  thread_local json::Document doc;
  if (!doc.Parse(resource_json).ok()) return {};
  json::Value list;
  if (!doc.root().Find("identifier", &list) || !list.is_array()) return {};
  for (json::Value i : list.elements()) {
    json::Value system, value;
    if (i.Find("system", &system) && system.is_string() && system.string_value() == kServiceSystem &&
        i.Find("value", &value) && value.is_string()) {
      return std::string(value.string_value());
    }
  }
  return {};
}

}  // namespace

std::vector<Result<SaveResult>> ObservationWriter::SaveMany(const std::vector<SaveRequest>& requests,
                                                            std::int64_t now_ticks) {
  if (!lanes_.empty()) return SaveByLane(requests, now_ticks);
  std::vector<Result<SaveResult>> results(requests.size(), Status(StatusCode::kInternal, "not saved"));
  std::vector<std::string> values(requests.size()), ids(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const SaveRequest& r = requests[i];
    values[i] = ObservationIdentifierValue(*r.refs, r.type, r.group->id_segment);
    ids[i] = ResourceIdForIdentifier(kServiceSystem, values[i]);
  }
  // Rounds: a request whose Observation an earlier request of the batch
  // also writes waits for the next round, so it merges into that write.
  std::vector<std::size_t> pending(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i)
    pending[i] = i;
  while (!pending.empty()) {
    std::vector<std::size_t> round, later;
    std::unordered_map<std::string_view, bool> taken;
    for (std::size_t i : pending)
      (taken.try_emplace(ids[i], true).second ? round : later).push_back(i);

    // The round goes a slice at a time (what exists: the cache, then one
    // search; then each built or merged), and its writes go out whenever
    // they hold write_bytes_ of text: memory holds a slice's stored texts
    // and about that much new text, not a whole batch of them.
    std::vector<store::PutRequest> puts;
    std::vector<std::size_t> put_of;  // request index of each write
    std::vector<bool> creates;
    std::size_t put_bytes = 0;
    auto write = [&] {
      WriteAll(requests, ids, std::move(puts), put_of, creates, now_ticks, &results);
      puts.clear();
      put_of.clear();
      creates.clear();
      put_bytes = 0;
    };
    bool search_failed = false;
    Status search_status;
    for (std::size_t at = 0; at < round.size(); at += kSlice) {
      const std::size_t slice_end = std::min(round.size(), at + kSlice);
      std::vector<std::optional<store::Resource>> existing(slice_end - at);
      std::vector<std::string> unknown;
      for (std::size_t k = at; k < slice_end; ++k) {
        existing[k - at] = Cached(ids[round[k]]);
        if (!existing[k - at]) unknown.push_back(values[round[k]]);
      }
      std::unordered_map<std::string, std::vector<store::Resource>> found;
      if (!unknown.empty() && !search_failed) {
        // After one failed search, the rest of the call is not searched:
        // each would wait out the client's retries again.
        auto got = client_->SearchByIdentifiers("Observation", kServiceSystem, unknown);
        if (got.ok()) {
          for (store::Resource& r : *got) {
            std::string value = IdentifierValueOf(r.json);
            if (!value.empty()) found[value].push_back(std::move(r));
          }
        } else {
          search_failed = true;
          search_status = got.status();
        }
      }
      for (std::size_t k = at; k < slice_end; ++k) {
        const std::size_t i = round[k];
        std::optional<store::Resource>& was = existing[k - at];
        const SaveRequest& r = requests[i];
        if (search_failed && !was) {
          results[i] = search_status;
          continue;
        }
        if (!was) {
          auto it = found.find(values[i]);
          if (it != found.end()) {
            // Distinct resources only (a resource may carry the identifier twice).
            std::vector<store::Resource*> distinct;
            for (store::Resource& res : it->second) {
              bool seen = std::any_of(distinct.begin(), distinct.end(),
                                      [&](const store::Resource* d) { return d->id == res.id; });
              if (!seen) distinct.push_back(&res);
            }
            if (distinct.size() > 1) {
              results[i] = MultipleFound({distinct.begin(), distinct.end()});
              continue;
            }
            // Moved, not copied: each stored text is read once.
            was = std::move(*distinct.front());
          }
        }
        if (!was) {
          auto obs = CreateObservation(*r.t, *r.group, r.type, *r.refs, now_ticks, values[i], ids[i]);
          if (!obs.ok()) {
            results[i] = obs.status();
            continue;
          }
          put_bytes += obs->json.size();
          puts.push_back({"Observation", ids[i], std::move(obs->json), std::nullopt});
          put_of.push_back(i);
          creates.push_back(true);
          if (put_bytes >= write_bytes_) write();
          continue;
        }
        auto node = json::ParseNode(was->json);
        if (!node.ok()) {
          results[i] = node.status();
          continue;
        }
        auto merged = MergeObservation(*r.t, *r.group, std::move(*node));
        if (!merged.ok()) {
          results[i] = merged.status();
          continue;
        }
        if (!merged->changed) {
          Remember(ids[i], std::move(*was));
          results[i] = SaveResult{SaveOutcome::kUnchanged, ids[i]};
          continue;
        }
        const std::string target = was->id.empty() ? ids[i] : was->id;
        put_bytes += merged->json.size();
        puts.push_back({"Observation", target, std::move(merged->json), was->version_id});
        put_of.push_back(i);
        creates.push_back(false);
        was.reset();  // its text is merged into the write
        if (put_bytes >= write_bytes_) write();
      }
    }
    write();
    pending = std::move(later);
  }
  return results;
}

void ObservationWriter::WriteAll(const std::vector<SaveRequest>& requests, const std::vector<std::string>& ids,
                                 std::vector<store::PutRequest> puts, const std::vector<std::size_t>& put_of,
                                 const std::vector<bool>& creates, std::int64_t now_ticks,
                                 std::vector<Result<SaveResult>>* results) {
  if (puts.empty()) return;
  auto written = client_->PutMany(std::move(puts));
  for (std::size_t k = 0; k < put_of.size(); ++k) {
    const std::size_t i = put_of[k];
    const SaveRequest& r = requests[i];
    Result<SaveResult>& result = (*results)[i];
    if (!written.ok()) {
      result = written.status();
      continue;
    }
    Result<store::Resource>& w = (*written)[k];
    const std::string& id = ids[i];
    if (w.ok()) {
      std::string saved_id = w->id;
      if (!creates[k] || r.t->period != PeriodInterval::kSingle) Remember(id, std::move(*w));
      result = SaveResult{creates[k] ? SaveOutcome::kCreated : SaveOutcome::kUpdated, std::move(saved_id)};
    } else if (w.status().code() == StatusCode::kConflict) {
      // Lost a race: from a fresh read, one at a time.
      ++conflicts_;
      Forget(id);
      result = Save(*r.t, *r.group, r.type, *r.refs, now_ticks);
    } else {
      result = w.status();
    }
  }
}

Result<SaveResult> ObservationWriter::Save(const FhirTemplate& t, const ObservationGroup& group, std::string_view type,
                                           const ObservationRefs& refs, std::int64_t now_ticks) {
  const std::string value = ObservationIdentifierValue(refs, type, group.id_segment);
  const std::string id = ResourceIdForIdentifier(kServiceSystem, value);
  if (!lanes_.empty()) {
    return lanes_[client_->LaneOf("Observation", id) % lanes_.size()]->Save(t, group, type, refs, now_ticks);
  }
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
          .WithError(ErrorName::kMultipleResourceFound);
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
