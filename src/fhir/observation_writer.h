// Saving Observations into the FHIR server as iomt-fhir's
// R4FhirImportService.SaveObservationAsync does (docs/fhir-mappings.md,
// "The Observation"): find the Observation by its identifier (a cache first, then a
// search), create it with PUT to its deterministic id, or merge into it and
// PUT it only when the merge changed something, with If-Match on the version
// it was read at; a lost race is retried twice from a fresh read.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "fhir/fhir_mapping.h"
#include "fhir/observation.h"
#include "fhir/observation_group.h"
#include "store/fhir_client.h"

namespace iomt::fhir {

enum class SaveOutcome : std::uint8_t { kCreated, kUpdated, kUnchanged };

struct SaveResult {
  SaveOutcome outcome = SaveOutcome::kCreated;
  std::string id;
};

class ObservationWriter {
 public:
  // `cache_entries`: Observations kept in memory, most recently used first
  // (iomt-fhir keeps 5000 for an hour), and at most `cache_bytes` of them.
  // `write_bytes`: SaveMany writes what it built whenever it holds this much
  // text, so memory holds that much, not a whole batch's Observations
  // (hourly SampledData: ~10 KB each, thousands a batch). 16 MiB: a batch of
  // 10,000 Quantity Observations (~1.4 KB each) is still one write, one
  // commit (12 MiB split it in two: 6 % more bytes written). With the cache
  // at 24 MiB (was 32) the hourly SampledData run of 1 M messages peaked at
  // 249 MB in 96 s (16 and 32 MiB: 262 MB; 12 and 32 MiB: 248 MB in 101 s;
  // the whole batch at once: 432 MB at 300 k messages). docs/adr/0021.
  static constexpr std::size_t kDefaultWriteBytes = std::size_t{16} << 20;
  explicit ObservationWriter(store::FhirClient* client, std::size_t cache_entries = 10'000,
                             std::size_t cache_bytes = std::size_t{24} << 20,
                             std::size_t write_bytes = kDefaultWriteBytes);

  // Creates or merges the Observation of `group`. Failures: the builder's
  // (InvalidQuantityFhirValueException, FhirDataMappingException),
  // MultipleResourceFoundException when two Observations have the
  // identifier, and the client's. Thread-safe for different identifiers;
  // callers serialize the groups of one device (as iomt-fhir does).
  Result<SaveResult> Save(const FhirTemplate& t, const ObservationGroup& group, std::string_view type,
                          const ObservationRefs& refs, std::int64_t now_ticks);

  struct SaveRequest {
    const FhirTemplate* t = nullptr;
    const ObservationGroup* group = nullptr;
    std::string_view type;
    const ObservationRefs* refs = nullptr;
  };
  // Saves many Observations with few round trips: a search for each 200
  // identifiers the cache does not know, and one PutMany (the embedded store
  // commits it at once; a server gets batch Bundles) for each `write_bytes`
  // of what changed. A write that loses a race goes the way of Save. Results in
  // request order. Requests for the same Observation are applied in order.
  std::vector<Result<SaveResult>> SaveMany(const std::vector<SaveRequest>& requests, std::int64_t now_ticks);

  // Writes that lost a race (If-Match) and were merged again.
  [[nodiscard]] std::int64_t conflicts() const;

 private:
  // The cache is keyed by the Observation's deterministic id (the SHA-256 of
  // its identifier): the map by its first 64 bits, the entry holds all of it.
  // Identifiers searched for at once: a batch is looked up, built or merged
  // a slice at a time, so memory holds one slice's stored texts.
  static constexpr std::size_t kSlice = 200;
  // The writes of SaveMany (by request index: ids, put_of), into `results`.
  void WriteAll(const std::vector<SaveRequest>& requests, const std::vector<std::string>& ids,
                std::vector<store::PutRequest> puts, const std::vector<std::size_t>& put_of,
                const std::vector<bool>& creates, std::int64_t now_ticks, std::vector<Result<SaveResult>>* results);

  std::optional<store::Resource> Cached(const std::string& id);
  void Remember(const std::string& id, store::Resource resource);
  void Forget(const std::string& id);

  struct CacheEntry {
    std::string id;
    store::Resource resource;
  };
  store::FhirClient* client_;
  std::size_t cache_entries_;
  Mutex mu_;
  std::list<CacheEntry> lru_ IOMT_GUARDED_BY(mu_);  // least recently used last
  std::unordered_map<std::uint64_t, std::list<CacheEntry>::iterator> index_ IOMT_GUARDED_BY(mu_);
  std::size_t cache_bytes_;
  std::size_t cached_bytes_ IOMT_GUARDED_BY(mu_) = 0;
  std::size_t write_bytes_;
  std::int64_t conflicts_ = 0;
  // With a client of several lanes (store::FhirClient::lanes, the split
  // store): a writer a lane, each with its share of the cache and of
  // write_bytes. SaveMany deals the Observations by the lane of their id and
  // saves the lanes' shares at once, each lane on a thread of its own: an
  // Observation is always saved by its lane, in order, and each lane's
  // writes go to a store file no other lane writes (docs/adr/0029).
  std::vector<std::unique_ptr<ObservationWriter>> lanes_;
  std::size_t LaneOf(const SaveRequest& r) const;
  std::vector<Result<SaveResult>> SaveByLane(const std::vector<SaveRequest>& requests, std::int64_t now_ticks);
};

}  // namespace iomt::fhir
