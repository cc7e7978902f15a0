// The embedded FHIR store: FHIR R4 resources in one SQLite file
// (`DIR/store.db`), the default destination of `iomt run` and the store that
// `iomt serve` exposes under /fhir (docs/adr/0008-embedded-store.md).
//
// What it promises:
// - Every write stamps `id`, `meta.versionId` (1, 2, ...) and
//   `meta.lastUpdated` (UTC, ms) into the stored JSON; superseded versions
//   and deletions are kept as history.
// - A resource's row and its index rows are written in one SQLite
//   transaction, so a crash at any moment leaves a consistent store.
// - Group commit: PutMany, bundles and Flush commit (durably: WAL with
//   synchronous=FULL) before they return; single writes (Put, Update,
//   Create, Delete) join an open transaction that the next of those commits,
//   or the background committer when EmbeddedStoreOptions enables it. Reads
//   see every write that has returned, committed or not.
// - Thread-safe: one SQLite connection, every call serialized by a mutex.
// - Failures of the disk: a write or commit that fails (SQLITE_FULL, an I/O
//   error) is rolled back whole and reported as kIoError naming the file
//   ("disk full" when it is); the store takes the next write as if the
//   failed one had never been. A damaged file is kIoError (detail
//   "damaged") saying what to do: at Open for its header, schema and root
//   pages, at a read for the rest (Check reads it all).
//
// The methods after the FhirClient ones are the FHIR REST operations, shaped
// so that an HTTP layer only maps URLs and Status codes (HttpStatus,
// OperationOutcome in store/rest_outcome.h) onto them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "store/fhir_client.h"

namespace iomt::store {

struct EmbeddedStoreOptions {
  // Background committer: pending single writes are committed at most this
  // many ms after the first of them (0: off; they wait for the next
  // PutMany, bundle or Flush). `iomt serve` turns it on.
  int commit_interval_ms = 0;
  // Single writes pending before a commit is forced.
  std::size_t max_pending_writes = 10'000;
  // PRAGMA synchronous: FULL syncs the WAL at every commit; false: NORMAL
  // (a power loss may lose the last commits, never consistency).
  bool synchronous_full = true;
  // New index rows collect in a small table; beyond this many rows (~50,000
  // Observations) each PutMany moves the excess into the main index, a
  // key-ordered slice at a time: a batch's random inserts then dirty a few
  // thousand pages, not every page of an index that grows with the store.
  std::int64_t token_delta_rows = 250'000;
  // SQLite's page cache, in MiB.
  int cache_mib = 256;
  // Search page size when `_count` is not given, and its maximum.
  std::size_t default_count = 50;
  std::size_t max_count = 1000;
  // The deepest page a search may ask for (_offset): SQLite walks every row
  // before it, so a deep offset costs as much as reading them all. Beyond,
  // the search is refused as too costly (narrow it, e.g. by date).
  std::size_t max_offset = 100'000;
  // The most entries a batch or transaction Bundle may hold (each is a
  // write inside one database transaction).
  std::size_t max_bundle_entries = 10'000;
  // Milliseconds since 1970 for meta.lastUpdated; default: the system clock.
  std::function<std::int64_t()> clock_ms;
};

// A write's outcome for HTTP: `created` is 201 (and Location), else 200.
struct WriteResult {
  Resource resource;
  bool created = false;
  std::string last_updated;  // meta.lastUpdated
};

struct HistoryEntry {
  std::string version_id;
  std::string last_updated;
  bool deleted = false;
  std::string json;  // empty for a deletion
};

// One page of a search. `query` is the search in canonical form without
// `_count`/`_offset`, for self/next links.
struct SearchPage {
  std::vector<Resource> resources;
  std::int64_t total = 0;
  std::size_t count = 0;
  std::size_t offset = 0;
  std::optional<std::size_t> next_offset;
  std::string query;
};

class EmbeddedStore : public FhirClient {
 public:
  // Opens the store in `dir`, creating the directory and `dir/store.db` when
  // absent. kIoError when the directory or file cannot be used or the file
  // is damaged (its header, schema or a table's root page; detail
  // "damaged"), kInvalidArgument when the file is not an iomt store.
  static Result<std::unique_ptr<EmbeddedStore>> Open(const std::string& dir, EmbeddedStoreOptions options = {});
  // Commits what is pending (a clean close loses nothing).
  ~EmbeddedStore() override;
  EmbeddedStore(const EmbeddedStore&) = delete;
  EmbeddedStore& operator=(const EmbeddedStore&) = delete;

  // --- FhirClient ---
  Result<std::vector<Resource>> SearchByIdentifier(std::string_view type, std::string_view system,
                                                   std::string_view value, std::size_t limit) override;
  Result<std::optional<Resource>> Read(std::string_view type, std::string_view id) override;
  Result<Resource> Put(std::string_view type, std::string_view id, std::string json,
                       std::optional<std::string_view> if_match) override;
  // One transaction for all the writes, committed before it returns.
  Result<std::vector<Result<Resource>>> PutMany(std::vector<PutRequest> requests) override;
  Result<std::vector<Resource>> SearchByIdentifiers(std::string_view type, std::string_view system,
                                                    const std::vector<std::string>& values) override;
  Status Flush() override;
  // The duration of each COMMIT so far (WAL write and fsync), in ms, oldest
  // first (the last 100,000 at most).
  std::vector<double> CommitMillis();

  // --- FHIR REST ---
  // The current version; kNotFound (detail "deleted" when it was deleted: 410).
  Result<Resource> ReadCurrent(std::string_view type, std::string_view id);
  Result<Resource> VRead(std::string_view type, std::string_view id, std::string_view version);
  // Every version, newest first; kNotFound when there never was one.
  Result<std::vector<HistoryEntry>> History(std::string_view type, std::string_view id);
  // PUT type/id. `if_match` is "3" or an ETag (W/"3"); a mismatch is
  // kConflict with detail "precondition" (412). Bad JSON, another
  // resourceType or id: kInvalidArgument.
  Result<WriteResult> Update(std::string_view type, std::string_view id, std::string_view json,
                             std::optional<std::string_view> if_match);
  // POST type with a new id. With `if_none_exist` (a search query) the
  // resource matching it is returned instead (created = false); more than
  // one match is kConflict with detail "precondition".
  Result<WriteResult> Create(std::string_view type, std::string_view json,
                             std::optional<std::string_view> if_none_exist = std::nullopt);
  // DELETE type/id: false when there was nothing to delete.
  Result<bool> Delete(std::string_view type, std::string_view id);
  // GET type?query: `_id`, `identifier`, `patient`, `subject`, `device`,
  // `code`, `date`, `_lastUpdated`, `_count`, `_offset`, `_sort` (`date`,
  // `_id`, `_lastUpdated`, `-` for descending); `,` is OR, `&` is AND.
  // An unknown parameter, modifier or prefix is kInvalidArgument naming it.
  Result<SearchPage> Search(std::string_view type, std::string_view query);
  // The same page as a searchset Bundle, links under `base_url` (".../fhir").
  Result<std::string> SearchBundle(std::string_view type, std::string_view query, std::string_view base_url);
  // POST / with a `batch` or `transaction` Bundle: the response Bundle. A
  // transaction is all or nothing (its error names the failing entry); a
  // batch answers each entry on its own. Committed before it returns.
  Result<std::string> ProcessBundle(std::string_view bundle_json, std::string_view base_url);

  // Every current resource (of `type`, or all), ordered by type then id.
  Status Export(std::string_view type, const std::function<void(std::string_view type, const Resource&)>& f);
  // Checks the store against itself: SQLite's integrity check, every
  // resource's index rows equal to those of its JSON, meta matching the
  // row, versions contiguous. For tests and tools; reads everything.
  Status CheckConsistency();
  // The same checks for `iomt store check`: what is wrong, one finding per
  // entry (SQLite's integrity_check gives up to `max_findings`; the store's
  // own rules, checked only when the file is sound, the first they break).
  // Empty when the store is sound. Reads every page: minutes for a big store.
  std::vector<std::string> Check(std::size_t max_findings = 100);

 private:
  struct Impl;
  explicit EmbeddedStore(std::unique_ptr<Impl> impl);
  void CommitterLoop();
  // Update, Create and Delete: `write(impl)` in a savepoint of the open
  // transaction, so that a failure undoes that write alone; a result that
  // `wrote` says changed the store is a pending single write (the first one
  // wakes the committer).
  template <typename T, typename Write, typename Wrote>
  Result<T> SingleWrite(const Write& write, const Wrote& wrote) IOMT_REQUIRES(mu_);

  // One connection, one writer: every call holds mu_ while it uses impl_.
  Mutex mu_;
  std::unique_ptr<Impl> impl_ IOMT_PT_GUARDED_BY(mu_);
  CondVar wake_;
  bool stopping_ IOMT_GUARDED_BY(mu_) = false;
  std::thread committer_;
};

}  // namespace iomt::store
