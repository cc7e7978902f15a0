// The data path's side of a store split in files, each with a writer of its
// own (docs/adr/0029-store-split.md): the FhirClient of N embedded stores,
// every resource in exactly one of them, chosen by a hash of its type and
// id. One SQLite file takes one writer at a time; two files take two at
// once, on both cores (ADR 0024 measured ×1.8-2.0 on this machine).
//
// What it promises:
// - A resource, all its versions and index rows live in one part, so every
//   rule of EmbeddedStore (versions, history policy, crash safety, the
//   check) holds part by part unchanged. Part 0 is `DIR` itself (DIR/store.db),
//   part k `DIR/part-k` (k = 1 .. N-1).
// - PutMany writes each part's share of the batch at once, on threads of
//   their own, each share in its part's own transaction. The results come
//   back in the order of the requests. A part that fails as a whole (disk
//   full, I/O) fails the call; the other parts may have committed their
//   share: writing the batch again is what the caller does with any failed
//   batch, and the data path's writes are idempotent (ADR 0024, "Two
//   writers on this machine").
// - Flush runs on the calling thread for every part, so that the thread
//   hears of its single writes a background commit lost (EmbeddedStore's
//   rule) whichever part held them.
// - Searches by identifier ask every part; reads by id ask one.
// - Lanes (FhirClient::Lane): one a part, for writers on threads of their
//   own; see lanes() below.
//
// - Each part records "k/n" (EmbeddedStoreOptions::split_part) and opens
//   only as that part: EmbeddedStore::Open refuses a part, SplitStore::Open a
//   store of one file or of another number of parts.
//
// Not yet: the FHIR REST API (searches merged across parts, history,
// bundles, export, check, backup, compact, subscriptions). Until then `iomt`
// does not open a split store; see the ADR for what remains.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/embedded/embedded_store.h"
#include "store/fhir_client.h"

namespace iomt::store {

class SplitStore : public FhirClient {
 public:
  // Opens (creating when absent) the `parts` embedded stores of `dir`, each
  // with `options`. kInvalidArgument for 0 parts; else as EmbeddedStore::Open.
  static Result<std::unique_ptr<SplitStore>> Open(const std::string& dir, std::size_t parts,
                                                  const EmbeddedStoreOptions& options = {});
  // The directory of part `k` of the store in `dir`.
  static std::string PartDir(const std::string& dir, std::size_t k);

  // Which part holds type/id.
  [[nodiscard]] std::size_t PartOf(std::string_view type, std::string_view id) const;
  [[nodiscard]] std::size_t parts() const { return parts_.size(); }
  EmbeddedStore& part(std::size_t k) { return *parts_[k]; }

  // --- FhirClient ---
  Result<std::vector<Resource>> SearchByIdentifier(std::string_view type, std::string_view system,
                                                   std::string_view value, std::size_t limit) override;
  Result<std::optional<Resource>> Read(std::string_view type, std::string_view id) override;
  Result<Resource> Put(std::string_view type, std::string_view id, std::string json,
                       std::optional<std::string_view> if_match) override;
  Result<std::vector<Result<Resource>>> PutMany(std::vector<PutRequest> requests) override;
  Result<std::vector<Resource>> SearchByIdentifiers(std::string_view type, std::string_view system,
                                                    const std::vector<std::string>& values) override;
  Status Flush() override;
  // A lane a part: lane k writes what routes to part k without waiting for
  // the writers of the others, and reads the other parts' committed
  // resources (SearchCommittedByIdentifiers), never waiting behind their
  // batches. What another part holds uncommitted, a lane does not find: the
  // data path deals its Observations by LaneOf, so only their own lane
  // writes them (ObservationWriter).
  //
  // A lane's writes are placed by identifier (EmbeddedStore::Placement):
  // only the Observation writer writes through lanes, and it deals each
  // Observation to the lane of the id its identifier gives. So a lane
  // looking for an identifier of its own can only find it in another part
  // among that part's resources written otherwise (by the FHIR API, by
  // identity, migrated from another server), and it searches another part
  // only once that part may hold such a resource of the type
  // (EmbeddedStore::MayHoldUnrouted): a new Observation is then looked up
  // in its own part alone.
  [[nodiscard]] std::size_t lanes() const override { return parts_.size(); }
  [[nodiscard]] std::size_t LaneOf(std::string_view type, std::string_view id) const override {
    return PartOf(type, id);
  }
  FhirClient* Lane(std::size_t k) override { return lanes_[k].get(); }

 private:
  class LaneClient;
  explicit SplitStore(std::vector<std::unique_ptr<EmbeddedStore>> parts);
  Result<std::vector<Result<Resource>>> PutManyPlaced(std::vector<PutRequest> requests,
                                                      EmbeddedStore::Placement placement);
  std::vector<std::unique_ptr<EmbeddedStore>> parts_;
  std::vector<std::unique_ptr<FhirClient>> lanes_;
};

}  // namespace iomt::store
