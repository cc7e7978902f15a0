// The embedded FHIR store: FHIR R4 resources in one SQLite file
// (`DIR/store.db`), the default destination of `iomt run` and the store that
// `iomt serve` exposes under /fhir (docs/adr/0008-embedded-store.md).
//
// What it promises:
// - Every write stamps `id`, `meta.versionId` (1, 2, ...) and
//   `meta.lastUpdated` (UTC, ms) into the stored JSON; superseded versions
//   and deletions are kept as history, as far as the history policy
//   (EmbeddedStoreOptions::history_*) keeps them: always the newest ones,
//   contiguous up to the current version, which is never removed.
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

class UnroutedTypes;  // store_impl.h

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
  // New index rows collect in a small table; beyond this many rows (~5,000
  // Observations) each PutMany moves the excess into the main index, a
  // key-ordered slice at a time: a batch's random inserts then dirty a few
  // hundred pages, not every page of an index that grows with the store.
  // Each commit writes every page it dirtied, so the small table's size is
  // what a small batch pays: 250,000 rows made a 1,000-event batch write
  // 20 KB per Observation; 30,000: 14 KB, ×1.21 faster, write p99 ~120 →
  // ~50 ms (8,000 merged too often: 17.6 KB). docs/adr/0021.
  std::int64_t token_delta_rows = 30'000;
  // SQLite's page cache, in MiB. The hot pages of a write (the ends of
  // `resources` and `tok_delta`, the slice of `tok` being merged) fit in far
  // less; 256 MiB doubled the peak memory of a 1 M-message `iomt run` (381 vs
  // 174 MB) for no measurable speed (docs/adr/0021).
  int cache_mib = 64;
  // The page size of a new store (an existing one keeps its own): 16 KiB
  // pages hold more rows and index entries per page and mean a quarter of
  // the WAL writes of 4 KiB ones; `iomt run` wrote ×1.17 (10,000-event
  // batches) to ×1.25 (1,000) faster into a store 23 % smaller, for commits
  // of 20-event batches ~20 % slower (docs/adr/0021).
  int page_size_kib = 16;
  // The WAL is copied into store.db by the checkpointer without blocking the
  // writer, but it can only start over once a copy catches up with its end:
  // with frequent commits (small batches, `iomt serve`) it never did, and the
  // WAL grew by gigabytes. Past this size, the writer itself runs a
  // checkpoint that restarts it, after a commit (a pause of the copy's
  // length; 0: never).
  int wal_restart_mib = 256;
  // Search page size when `_count` is not given, and its maximum.
  std::size_t default_count = 50;
  std::size_t max_count = 1000;
  // The deepest page a search may ask for (_offset): SQLite walks every row
  // before it, so a deep offset costs as much as reading them all. Beyond,
  // the search is refused as too costly (narrow it, e.g. by date).
  std::size_t max_offset = 100'000;
  // The most candidates a search may read to evaluate the parameters the
  // store has no index for (value-quantity, status, ...: filter.h) on their
  // JSON; beyond, it is refused as too costly (narrow it with an indexed
  // parameter: patient, code, date, identifier).
  std::size_t max_filter_rows = 100'000;
  // The most entries a batch or transaction Bundle may hold (each is a
  // write inside one database transaction).
  std::size_t max_bundle_entries = 10'000;
  // Set by SplitStore only: this store is part k of a store split in n
  // files, "k/n" (docs/adr/0029). A new store records it; an existing one
  // opens only as what it records, so that a part is never taken for a
  // store of its own, nor a store of one file for a part.
  std::string split_part;
  // Milliseconds since 1970 for meta.lastUpdated; default: the system clock.
  std::function<std::int64_t()> clock_ms;

  // The history policy: a superseded version is removed when it is not among
  // the newest `history_max_versions` superseded versions of its resource,
  // or when it was written more than `history_max_age_ms` ago (0: no such
  // limit; both 0: every version is kept). Each is a limit, not a grace: a
  // grace period ("and every version younger than D") would let the history
  // grow with the write rate, and a rate of one rewrite a second keeps 3,600
  // versions of an hourly Observation per hour of D. The current version,
  // and so a deletion record, is never removed.
  //
  // Default 3: iomt's hourly SampledData Observation is rewritten whole at
  // every batch that brings one of its readings (3,600 slots, the same size
  // each time), so N versions cost N times the resource. A stream read
  // once a second and written each second keeps 1,800 versions in half an
  // hour without a limit (342 MB for 212 KB of current resources); with 3
  // it stays at ~4x its current resources, with 10 at ~11x
  // (docs/adr/0008-embedded-store.md, "History policy, compaction,
  // backup"). A Patient or Device, rarely rewritten, keeps its recent
  // history; If-Match needs only the current version.
  std::int64_t history_max_versions = 3;
  std::int64_t history_max_age_ms = 0;
  // The policy is applied inside the write transactions, in bounded slices
  // (never a transaction of its own that would hold the write lock): each
  // update removes what it pushed beyond history_max_versions (at most two
  // rows), and a sweep over the whole history, `history_sweep_rows` rows per
  // transaction, removes what is older than history_max_age_ms and what an
  // earlier policy kept. The sweep makes one pass at open and, with an age
  // limit, another every `history_sweep_interval_ms`.
  std::int64_t history_sweep_rows = 2'000;
  std::int64_t history_sweep_interval_ms = 60'000;
};

// What `Compact` did.
struct CompactReport {
  std::int64_t removed_versions = 0;  // history rows the policy removed
  std::int64_t bytes_before = 0;      // store.db and its WAL
  std::int64_t bytes_after = 0;
  double prune_seconds = 0;
  double vacuum_seconds = 0;
};

// What `BackupTo` did.
struct BackupReport {
  std::int64_t pages = 0;
  std::int64_t bytes = 0;  // of the backup's store.db
  int steps = 0;
  double seconds = 0;
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
  // Set in a type's or the whole store's history (several resources).
  std::string type;
  std::string id;
  std::int64_t updated_ms = 0;  // last_updated in ms, the history's order
};

// One page of a search. `query` is the search in canonical form without
// `_count`/`_offset`, for the paging links.
struct SearchPage {
  std::vector<Resource> resources;  // the matches, cut down as _summary/_elements ask
  // What `_include` and `_revinclude` brought along: (type, resource).
  std::vector<std::pair<std::string, Resource>> included;
  std::int64_t total = 0;
  bool total_known = true;  // false with `_total=none` (no count is made)
  bool count_only = false;  // `_summary=count`: the total and no resources
  std::size_t count = 0;
  std::size_t offset = 0;
  std::optional<std::size_t> next_offset;
  std::optional<std::size_t> last_offset;  // when the total is known and the offset is within bounds
  // Keyset paging: the page after this one starts after the last resource
  // of this one in the search's order (`_cursor=next_cursor`), so writes
  // meanwhile do not shift it. Empty when the search cannot page so (its
  // sort has several keys, or it has parameters evaluated on JSON): then
  // `next_offset` alone. `cursor` is the one this page was asked with.
  std::string next_cursor;
  std::string cursor;
  std::string query;
  // The search can page by cursor (`next_cursor`): one sort key at most,
  // no parameter evaluated on JSON.
  bool keyset = false;
  // With SearchOptions::positions: each match's place in the search's
  // order, "rid" or "rid~key" (the key of the sort's one key, empty for
  // none), as a cursor after it would say.
  std::vector<std::string> positions;
  // With SearchOptions::whole_matches: the `_include` and `_revinclude`
  // values to follow, and what `_summary`/`_elements` make of a match's
  // JSON (empty: it stays whole).
  std::vector<std::string> includes, revincludes;
  std::function<std::string(std::string_view json)> shape;
  // What the search did not do as asked, for the Bundle's OperationOutcome:
  // the parameters a lenient search ignored, includes cut short.
  std::vector<std::string> warnings;
};

// A page of a type's or the store's history. `query` is the request in
// canonical form without `_count`/`_offset`, for the paging links.
struct HistoryPage {
  std::vector<HistoryEntry> entries;
  std::size_t count = 0;
  std::size_t offset = 0;
  std::optional<std::size_t> next_offset;
  std::string query;
};

struct SearchOptions {
  // FHIR's `Prefer: handling=lenient`: an unknown parameter, modifier or
  // include is ignored (and named in `warnings`) instead of failing the
  // search.
  bool lenient = false;
  // For SplitStore, which merges its parts' pages (split_store.h): a page
  // of this many matches instead of `_count`'s (not capped by max_count),
  // and each match's place in the search's order in SearchPage::positions.
  std::optional<std::size_t> count;
  bool positions = false;
  // Also for SplitStore: the matches whole, includes not followed. The page
  // says what to follow (`includes`, `revincludes`) and how to cut the
  // matches down (`shape`), for after the merge.
  bool whole_matches = false;
};

// A write that a commit made durable (EmbeddedStore::WatchChanges).
struct StoreChange {
  std::string type;
  std::string id;
  std::int64_t version = 0;
  bool deleted = false;
  std::string json;  // the stored resource; empty for a deletion
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
  // SearchByIdentifiers over what is committed only, on a read-only
  // connection of its own: it never waits for the store's lock, so that the
  // writer of one part of a split store (split_store.h) looks into the other
  // parts without waiting behind their writers' batches. The store's open
  // transaction (pending single writes, a batch being written) is not seen.
  Result<std::vector<Resource>> SearchCommittedByIdentifiers(std::string_view type, std::string_view system,
                                                             const std::vector<std::string>& values);
  // How the resources of a write were placed in a split store's parts
  // (docs/adr/0029). kByIdentifier: by the writer of Observations' lanes,
  // each into the part of the id its identifier gives; kAny: any other way.
  enum class Placement { kAny, kByIdentifier };
  // PutMany and Put, saying how the resources were placed (UnroutedTypes in
  // store_impl.h): only a lane of a split store (split_store.h) says
  // kByIdentifier.
  Result<std::vector<Result<Resource>>> PutManyPlaced(std::vector<PutRequest> requests, Placement placement);
  Result<Resource> PutPlaced(std::string_view type, std::string_view id, std::string json,
                             std::optional<std::string_view> if_match, Placement placement);
  // Whether this part of a split store may hold resources of `type` placed
  // some other way than by identifier (always, in a store that keeps no
  // record of it: a store of one file). Never waits for the store's lock.
  [[nodiscard]] bool MayHoldUnrouted(std::string_view type) const;
  // The duration of each COMMIT so far (WAL write and fsync), in ms, oldest
  // first (the last 100,000 at most).
  std::vector<double> CommitMillis();
  // Checkpoints the writer ran to restart a long WAL (wal_restart_mib).
  std::int64_t WalRestarts();

  // --- FHIR REST ---
  // The current version; kNotFound (detail "deleted" when it was deleted: 410).
  Result<Resource> ReadCurrent(std::string_view type, std::string_view id);
  Result<Resource> VRead(std::string_view type, std::string_view id, std::string_view version);
  // Every version, newest first; kNotFound when there never was one.
  Result<std::vector<HistoryEntry>> History(std::string_view type, std::string_view id);
  // GET [type]/_history: the versions of every resource of `type` (every
  // type when empty), newest first, a page at a time. `query`: `_count`
  // (as a search's), `_since` (a FHIR instant or date: versions written at
  // or after it), `_offset`; anything else is kInvalidArgument. Versions the
  // history policy removed are not there. There is no index on time (it
  // would cost every write on the data path): each request reads the
  // type's version rows, without their JSON (~0.3 s for 300,000 on the
  // development machine); `_since` narrows what is returned, not what is read.
  // `count`, for SplitStore's merged pages: a page of this many entries
  // instead of `_count`'s (not capped by max_count).
  Result<HistoryPage> TypeHistory(std::string_view type, std::string_view query,
                                  std::optional<std::size_t> count = std::nullopt);
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
  // PUT type/id with If-None-Match: * — created only when no current
  // resource has the id; else kConflict with detail "precondition" (412).
  Result<WriteResult> CreateAt(std::string_view type, std::string_view id, std::string_view json);

  // Conditional interactions: `condition` is a search (without parameters
  // about the answer such as _count or _summary: those, or no condition at
  // all, are kInvalidArgument). More than one match is kConflict with detail
  // "precondition" (412). Each runs under the store's lock, so the match and
  // the write see the same resources.
  // PUT type?condition: the match is updated (`json`'s id, if it has one,
  // must be the match's); with none, `json` is created at its id (kConflict
  // when that id is another resource's) or a new one.
  Result<WriteResult> UpdateWhere(std::string_view type, std::string_view condition, std::string_view json);
  // DELETE type?condition: false when nothing matched.
  Result<bool> DeleteWhere(std::string_view type, std::string_view condition);
  // PATCH type/id: a JSON Patch (RFC 6902) applied to the current version,
  // written as an update (id and resourceType must stay); `if_match` as
  // Update's. A patch that does not apply is kInvalidArgument with detail
  // "unprocessable" (422); one that is not a JSON Patch, kInvalidArgument.
  Result<WriteResult> Patch(std::string_view type, std::string_view id, std::string_view patch,
                            std::optional<std::string_view> if_match);
  // PATCH type?condition: the match patched; kNotFound when none matched.
  Result<WriteResult> PatchWhere(std::string_view type, std::string_view condition, std::string_view patch);
  // GET type?query: `_id`, `identifier`, `patient`, `subject`, `device`,
  // `code`, `date`, `_lastUpdated`, `_count`, `_offset`, `_sort` (`date`,
  // `_id`, `_lastUpdated`, `-` for descending); `,` is OR, `&` is AND; the
  // parameters filter.h evaluates on the candidates' JSON. What
  // comes back: `_summary` (true, text, data, count, false), `_elements`,
  // `_total` (none, estimate, accurate), `_include` and `_revinclude` (the
  // references iomt writes: Observation:subject, Observation:patient,
  // Observation:device, Device:patient, Encounter:subject,
  // Encounter:patient). An unknown parameter, modifier, prefix or include is
  // kInvalidArgument naming it (unless `options.lenient`).
  Result<SearchPage> Search(std::string_view type, std::string_view query, SearchOptions options = {});
  // The same page as a searchset Bundle, links under `base_url` (".../fhir").
  Result<std::string> SearchBundle(std::string_view type, std::string_view query, std::string_view base_url,
                                   SearchOptions options = {});
  // POST / with a `batch` or `transaction` Bundle: the response Bundle. A
  // transaction is all or nothing (its error names the failing entry); a
  // batch answers each entry on its own. Committed before it returns.
  Result<std::string> ProcessBundle(std::string_view bundle_json, std::string_view base_url);

  // Every current resource (of `type`, or all), ordered by type then id.
  Status Export(std::string_view type, const std::function<void(std::string_view type, const Resource&)>& f);
  // Bulk export: the current resources of each of `types` (every type in
  // the store when empty), written since `since_ms` if given, as one
  // snapshot — read on a connection of its own, without the store's lock,
  // so writers go on (the WAL cannot restart meanwhile: it grows for as long
  // as the export reads). `f` gets each resource's type and JSON and may
  // stop the export by failing. `*at_ms` receives the snapshot's time.
  Status ExportSnapshot(const std::vector<std::string>& types, std::optional<std::int64_t> since_ms,
                        const std::function<Status(std::string_view type, std::string_view json)>& f,
                        std::int64_t* at_ms);
  // Checks the store against itself: SQLite's integrity check, every
  // resource's index rows equal to those of its JSON, meta matching the
  // row, versions contiguous. For tests and tools; reads everything.
  Status CheckConsistency();
  // The same checks for `iomt store check`: what is wrong, one finding per
  // entry (SQLite's integrity_check gives up to `max_findings`; the store's
  // own rules, checked only when the file is sound, the first they break).
  // Empty when the store is sound. Reads every page: minutes for a big store.
  std::vector<std::string> Check(std::size_t max_findings = 100);

  // --- Watching writes (for subscriptions) ---
  // After each commit, `observer` gets the writes it made durable to
  // resources of `types` (creations, updates, deletions), in order, called
  // on the committing thread with the store's lock held: it must only hand
  // them on (a queue), never call the store. Nothing is copied for other
  // types, and nothing at all when `types` is empty, so that ingestion pays
  // only for what is watched. Writes rolled back (a failed batch entry, a
  // failed commit) are never reported. Replaces the previous watch; an
  // empty `observer` ends it.
  void WatchChanges(std::vector<std::string> types, std::function<void(std::vector<StoreChange>&&)> observer);

  // --- Maintenance (maintenance.cc) ---
  // Applies the history policy to the whole store now (in transactions of
  // a bounded slice each, so other writers get their turn), then VACUUMs:
  // the file is rebuilt without its free pages (through a temporary file in
  // SQLite's temporary directory, then the WAL: room for twice the compacted
  // size is needed meanwhile). Writers of other processes wait while the
  // VACUUM runs; it is one transaction, so a crash leaves the store as it
  // was.
  Result<CompactReport> Compact();
  // Copies the store into `dest_dir`/store.db with SQLite's online backup,
  // a step of `pages_per_step` pages at a time, from a read snapshot taken
  // at the start (what was committed then; pending single writes are
  // committed first): writers go on meanwhile, in this process or another
  // (the WAL keeps their pages until the backup ends). `dest_dir` is
  // created (0700) when absent and must otherwise be empty; store.db is
  // 0600, written under a temporary name and renamed when complete, so a
  // failed backup leaves no store.db. kInvalidArgument for a non-empty
  // `dest_dir`, kIoError when it cannot be written. `progress`, when given,
  // is called after each step with the pages copied and the total.
  Result<BackupReport> BackupTo(const std::string& dest_dir, int pages_per_step = 4096,
                                const std::function<void(std::int64_t copied, std::int64_t total)>& progress = {});
  // The number of superseded versions the history policy removed through
  // this store object so far.
  std::int64_t RemovedVersions();

 private:
  struct Impl;
  struct CommittedReader;  // SearchCommittedByIdentifiers' connection (store_impl.h)
  explicit EmbeddedStore(std::unique_ptr<Impl> impl);
  void CommitterLoop();
  // Update, Create and Delete: `write(impl)` in a savepoint of the open
  // transaction, so that a failure undoes that write alone; a result that
  // `wrote` says changed the store is a pending single write (the first one
  // wakes the committer).
  template <typename T, typename Write, typename Wrote>
  Result<T> SingleWrite(const Write& write, const Wrote& wrote) IOMT_REQUIRES(mu_);
  // SplitStore's conditional writes, which hold every part's mu_ while they
  // match and write: a single write through the Impl (`created_only`: it
  // changed the store only when it created), and a conditional delete.
  friend class SplitStore;
  Result<WriteResult> WriteHeld(const std::function<Result<WriteResult>(Impl&)>& write, bool created_only)
      IOMT_REQUIRES(mu_);
  Result<bool> RemoveWhereHeld(std::string_view type, std::string_view condition) IOMT_REQUIRES(mu_);

  const std::string path_;  // store.db, for the committed reader (which must not wait for mu_)
  // impl_'s record of the unrouted types, which has a lock of its own:
  // MayHoldUnrouted must not wait for mu_.
  const UnroutedTypes* const unrouted_;
  // One connection, one writer: every call holds mu_ while it uses impl_.
  Mutex mu_;
  std::unique_ptr<Impl> impl_ IOMT_PT_GUARDED_BY(mu_);
  CondVar wake_;
  bool stopping_ IOMT_GUARDED_BY(mu_) = false;
  std::thread committer_;
  Mutex reader_mu_;
  std::unique_ptr<CommittedReader> reader_ IOMT_PT_GUARDED_BY(reader_mu_);
};

}  // namespace iomt::store
