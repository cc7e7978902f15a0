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
// - Each part records "k/n" (EmbeddedStoreOptions::split_part) and opens
//   only as that part: EmbeddedStore::Open refuses a part, SplitStore::Open a
//   store of one file or of another number of parts.
// - Each part holds only what routes to it: its writes refuse anything else
//   (kInternal: a routing bug), the ids it makes for a POST route to it, and
//   its check reports any resource that does not.
// - The FHIR operations on one resource (read, vread, its history, update,
//   create, patch, delete) go to its part; the store-wide ones (check,
//   compact, backup, bulk export, the change feed) go over every part.
// - Searches and type and system history merge every part's page.
//
// - Conditional writes hold every part's lock while they match and write.
//
// Not yet: batch and transaction Bundles over parts. Until then `iomt` does not open a split
// store; see the ADR for what remains.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
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

  // --- FHIR REST on one resource: in its part, as EmbeddedStore's ---
  Result<Resource> ReadCurrent(std::string_view type, std::string_view id);
  Result<Resource> VRead(std::string_view type, std::string_view id, std::string_view version);
  Result<std::vector<HistoryEntry>> History(std::string_view type, std::string_view id);
  Result<WriteResult> Update(std::string_view type, std::string_view id, std::string_view json,
                             std::optional<std::string_view> if_match);
  // POST without a condition: into the parts in turn, each making an id
  // that routes to it.
  Result<WriteResult> Create(std::string_view type, std::string_view json);
  Result<bool> Delete(std::string_view type, std::string_view id);
  Result<WriteResult> CreateAt(std::string_view type, std::string_view id, std::string_view json);
  Result<WriteResult> Patch(std::string_view type, std::string_view id, std::string_view patch,
                            std::optional<std::string_view> if_match);

  // --- Conditional writes: every part's lock, every part searched ---
  // As EmbeddedStore's. Each holds every part's lock, taken in part order
  // (so that two of them never wait for each other), while it matches the
  // condition in every part and writes: in the match's part; with no match,
  // at the JSON's id in its part, or at a new id in the parts in turn.
  Result<WriteResult> CreateWhereNone(std::string_view type, std::string_view json, std::string_view if_none_exist);
  Result<WriteResult> UpdateWhere(std::string_view type, std::string_view condition, std::string_view json);
  Result<bool> DeleteWhere(std::string_view type, std::string_view condition);
  Result<WriteResult> PatchWhere(std::string_view type, std::string_view condition, std::string_view patch);

  // --- Searches: every part's matches merged (docs/adr/0029) ---
  // EmbeddedStore::Search over the parts: in the order of the sort's keys,
  // then the part, then each part's own order (without _sort: the
  // parts one after the other). `_total` is the parts' totals summed;
  // `_offset` pages by merging each part's first `_offset + _count`;
  // `_cursor` names each part's place. `_include` reads the merged page's
  // references from their parts, `_revinclude` searches every part, then
  // the matches are cut down as `_summary`/`_elements` ask.
  Result<SearchPage> Search(std::string_view type, std::string_view query, SearchOptions options = {});
  Result<std::string> SearchBundle(std::string_view type, std::string_view query, std::string_view base_url,
                                   SearchOptions options = {});
  // EmbeddedStore::TypeHistory over the parts (every type when `type` is
  // empty): newest first, at the same millisecond the lower part first;
  // `_offset` pages by merging each part's first `_offset + _count`.
  Result<HistoryPage> TypeHistory(std::string_view type, std::string_view query);

  // --- The whole store: every part ---
  // Ok when every part is.
  Status CheckConsistency();
  // Every part's findings, each led by the part's directory, at most
  // `max_findings` in all.
  std::vector<std::string> Check(std::size_t max_findings = 100);
  // Each part in turn; the reports summed.
  Result<CompactReport> Compact();
  // A split store of as many parts in `dest_dir` (new or empty): part k
  // into PartDir(dest_dir, k), each from a snapshot of its own taken as its
  // copy starts. Part 0's store.db comes last, renamed into place once every
  // part is complete, so that a backup cut short is never opened as a
  // store (it has no part 0); a failed backup removes what it wrote.
  Result<BackupReport> BackupTo(const std::string& dest_dir, int pages_per_step = 4096);
  // The changes of every part's commits. Parts commit on threads of their
  // own: the observer is called by one of them at a time, each call in its
  // part's commit order (parts' calls interleave in no set order).
  void WatchChanges(const std::vector<std::string>& types, std::function<void(std::vector<StoreChange>&&)> observer);
  // Bulk export: each part's snapshot in turn; `*at_ms` is the earliest
  // part's, so that an export `_since` it misses nothing.
  Status ExportSnapshot(const std::vector<std::string>& types, std::optional<std::int64_t> since_ms,
                        const std::function<Status(std::string_view type, std::string_view json)>& f,
                        std::int64_t* at_ms);

 private:
  class LaneClient;
  SplitStore(std::string dir, std::vector<std::unique_ptr<EmbeddedStore>> parts);
  EmbeddedStore& PartFor(std::string_view type, std::string_view id) { return *parts_[PartOf(type, id)]; }
  Result<std::vector<Result<Resource>>> PutManyPlaced(std::vector<PutRequest> requests,
                                                      EmbeddedStore::Placement placement);
  std::string dir_;
  std::vector<std::unique_ptr<EmbeddedStore>> parts_;
  std::vector<std::unique_ptr<FhirClient>> lanes_;
  std::atomic<std::size_t> next_create_{0};  // Create's part, in turn
  class AllParts;
  // With every part's lock held: the part of the one match of `condition`
  // (none: no match), or ManyMatch(`what`) when more match.
  Result<std::optional<std::size_t>> MatchOne(std::string_view what, std::string_view type, std::string_view condition);
  std::size_t NextPart() { return next_create_.fetch_add(1, std::memory_order_relaxed) % parts_.size(); }
  // The parts' search limits (EmbeddedStoreOptions), for the merged pages.
  std::size_t default_count_ = 50;
  std::size_t max_count_ = 1000;
  std::size_t max_offset_ = 100'000;
};

}  // namespace iomt::store
