// The embedded store's internals, shared by the files that implement them:
// database.cc (schema, opening, transactions), write.cc (writes and the
// token index), read.cc (reads and history), search.cc, bundle.cc, and
// embedded_store.cc (the public methods). Everything here runs with
// EmbeddedStore::mu_ held.
#pragma once

#include <array>
#include <chrono>
#include <climits>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/json/document.h"
#include "common/mutex.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/packed_json.h"
#include "store/embedded/resource_text.h"
#include "store/embedded/sqlite.h"

namespace iomt::store {

// The stored key of a token row: the type's number and the parameter, so
// that one type's rows of one parameter are contiguous in the index.
inline std::int64_t TokenKey(std::int64_t tid, embedded::TokenParam param) {
  return tid * 16 + static_cast<std::int64_t>(param);
}

// The hash of "tid/id" by which a resource is found: its kKey token row
// (and the resources table's key column, which the check compares).
inline std::int64_t ResourceKey(std::int64_t tid, std::string_view id) {
  std::string key = std::to_string(tid);
  key.push_back('/');
  key.append(id);
  return embedded::Hash64(key);
}

// Copies the WAL into the database file on its own connection and thread,
// so that the writer's commits only append to the WAL (and the copy runs on
// the other core). PASSIVE checkpoints never block the writer.
class Checkpointer {
 public:
  Checkpointer() = default;
  ~Checkpointer() { Stop(); }
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  Status Start(const std::string& path);
  // After a commit: a checkpoint is due.
  void Notify();
  void Stop();

 private:
  void Loop();
  sqlite::Db db_;
  Mutex mu_;
  CondVar cv_;
  bool due_ IOMT_GUARDED_BY(mu_) = false;
  bool stop_ IOMT_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The resource types that a part of a split store may hold placed some
// other way than by identifier (docs/adr/0029, "A lane's reads"). A lane
// of the Observation writer writes each Observation into the part its
// identifier gives (EmbeddedStore::Placement::kByIdentifier), so another
// lane, looking for an identifier of its own, can only find it in this
// part among resources written otherwise: by the FHIR API, by identity, by
// an import. Until such a write of a type, the other lanes need not search
// this part for that type. Noted before the write commits and never
// forgotten (a conservative answer costs a search, a wrong one a duplicate),
// and recorded in iomt_meta ('unrouted:TYPE') in the write's transaction.
// Read by the other parts' lanes, which must not wait for the store's lock:
// hence a lock of its own.
class UnroutedTypes {
 public:
  // Every type, as for a store that keeps no record (a store of one file).
  void SetAll() {
    MutexLock lock(mu_);
    all_ = true;
  }
  void Reset() {
    MutexLock lock(mu_);
    all_ = false;
    types_.clear();
  }
  void Note(std::string_view type) {
    MutexLock lock(mu_);
    if (!all_) types_.emplace(type);
  }
  [[nodiscard]] bool May(std::string_view type) const {
    MutexLock lock(mu_);
    return all_ || types_.find(type) != types_.end();
  }

 private:
  mutable Mutex mu_;
  bool all_ IOMT_GUARDED_BY(mu_) = true;
  std::set<std::string, std::less<>> types_ IOMT_GUARDED_BY(mu_);
};

struct EmbeddedStore::Impl {
  // The current row of a resource.
  struct Row {
    std::int64_t rid = 0;
    std::int64_t version = 0;
    std::int64_t updated = 0;
    bool deleted = false;
    std::string json;  // filled only when asked for
  };

  EmbeddedStoreOptions options;
  std::string path;
  sqlite::Db db;
  sqlite::Stmt find, find_json, insert_resource, insert_key, update_resource, to_history, delete_token,
      delete_token_delta;
  sqlite::Stmt by_identifier, by_identifier_system, history_of, history_version, insert_type;
  std::array<sqlite::Stmt, 8> insert_tokens;  // [n - 1] inserts n rows
  std::unordered_map<std::string, std::int64_t> types;
  std::unordered_map<std::string, sqlite::Stmt> search_cache;
  json::Document doc, old_doc;
  // Resource JSON in and out of the json columns (text, or a zstd frame).
  embedded::JsonPacker packer;
  embedded::IndexRows rows, old_rows;
  std::string stamped;
  bool in_txn = false;
  // How long each COMMIT took (WAL write and fsync), in ms, oldest first;
  // the last 100,000. For `iomt run --timings` and the benchmarks.
  std::vector<double> commit_ms;
  std::int64_t wal_restarts = 0;  // RestartWalIfLarge's checkpoints
  std::int64_t wal_frames = 0;    // in the WAL after the last commit
  std::int64_t page_size = 0;
  // Single writes wait for a group commit, and several threads (connector
  // workers, the FHIR API) may have writes in one transaction. If it is lost
  // (a failed COMMIT, SQLite's own rollback after a full disk), each thread
  // that wrote into it hears so at its own next Flush or PutMany, before
  // that PutMany writes anything: a batch must not be written on top of,
  // and acknowledged without, the Patient its thread created a moment ago.
  std::int64_t txn = 0;  // the open (or last) transaction's number
  // thread -> the first and last transactions its unconfirmed single writes went to
  std::unordered_map<std::thread::id, std::pair<std::int64_t, std::int64_t>> waiting;
  std::map<std::int64_t, Status> lost;  // lost transactions that held single writes (the last 256)
  std::size_t pending = 0;              // single writes not committed yet
  std::chrono::steady_clock::time_point first_pending;
  std::mt19937_64 rng{std::random_device{}()};
  // meta.lastUpdated of the last write, by its millisecond: a batch's writes
  // mostly share one, and formatting it was ~1 % of a write.
  std::int64_t instant_ms = -1;
  std::string instant_text;
  // UnroutedTypes: kept only by the parts of a split store made since it
  // was (iomt_meta 'placement' = 'tracked'); `placed_by_identifier` is set
  // for the writes of a lane's batch; `unrouted_noted`, the types whose
  // iomt_meta row this transaction already holds (cleared by a rollback).
  UnroutedTypes unrouted;
  bool placement_tracked = false;
  bool placed_by_identifier = false;
  std::set<std::string, std::less<>> unrouted_noted;
  sqlite::Stmt note_unrouted;
  // Before a write of `type` that was not placed by identifier.
  Status NoteUnrouted(std::string_view type);
  Status LoadUnrouted();
  Checkpointer checkpointer;
  // WatchChanges: the watched types, the observer, the writes of the open
  // transaction to watched types, and where each open savepoint began in
  // `changes` (a savepoint rolled back takes its writes out).
  std::unordered_set<std::string> watched;
  std::function<void(std::vector<StoreChange>&&)> on_commit;
  std::vector<StoreChange> changes;
  std::vector<std::size_t> change_marks;
  void Changed(std::string_view type, std::string_view id, std::int64_t version, bool deleted, std::string_view json) {
    if (watched.empty() || watched.count(std::string(type)) == 0) return;
    changes.push_back({std::string(type), std::string(id), version, deleted, std::string(json)});
  }

  Status Init();
  // The JSON in column `col` of `s`'s row, unpacked if it was stored
  // compressed: valid until the next StoredJson (or the statement's next
  // step).
  // A frame that does not decompress is reported as the store's other
  // damage is: the file, what is wrong, and what to do about it.
  Result<std::string_view> StoredJson(const sqlite::Stmt& s, int col) {
    if (!s.IsBlob(col)) return s.Text(col);
    Result<std::string_view> json = packer.Unpack(s.Blob(col), true);
    if (json.ok()) return json;
    return IoError(path + " is damaged: " + json.status().message() + ". " + sqlite::DamagedAdvice(path))
        .WithDetail(sqlite::kDamaged);
  }
  // Binds a resource's JSON to parameter `i`: text or, when large, a zstd
  // frame (valid until the next BindJson).
  void BindJson(sqlite::Stmt& s, int i, std::string_view json) {
    bool blob = false;
    std::string_view stored = packer.Pack(json, &blob);
    if (blob) {
      s.BindBlob(i, stored);
    } else {
      s.Bind(i, stored);
    }
  }
  // An existing store's schema has every table and index, and each table's
  // root page reads: damage found at open, at the cost of a few pages.
  Status CheckSchema();
  // An existing store is what EmbeddedStoreOptions::split_part says: a part
  // of a split store, or a store of its own.
  Status CheckSplit();
  // This store is part `part_k` of `part_n` (0 of 1: a store of one file).
  // A part holds only what routes to it (embedded::PartOfResource): its
  // writes refuse anything else, the ids it makes route to it, and its
  // check says so of any resource that does not.
  std::size_t part_k = 0;
  std::size_t part_n = 1;
  bool InThisPart(std::string_view type, std::string_view id) const {
    return part_n <= 1 || embedded::PartOfResource(type, id, part_n) == part_k;
  }
  Status Migrate();
  Status ReloadTypes();
  std::int64_t NowMs() const;

  // Transactions. Begin opens the group's transaction when none is open;
  // savepoints nest inside it, so a failed write undoes only itself.
  Status Begin();
  Status Commit();
  // After a commit: a checkpoint that restarts the WAL once it is longer
  // than EmbeddedStoreOptions::wal_restart_mib.
  void RestartWalIfLarge();
  // Undoes the open transaction whole (pending single writes included).
  void Rollback();
  // After a rollback: what is cached about the store (types, tok_delta's
  // size) read again.
  void AfterRollback();
  // The Status of `what` (a batch, the commit, ...) that failed on the file
  // and was rolled back: names the file, says "disk full" when it is and
  // that nothing was stored. Other Statuses as they are.
  Status RolledBack(const Status& st, std::string_view what) const;
  Status Savepoint(const char* name);
  Status Release(const char* name);
  void RollbackTo(const char* name);
  // Commits the pending single writes when the limit is reached.
  Status AfterSingleWrite();
  // The open transaction, holding `pending_before` single writes, is gone:
  // remembered for the threads that wrote into it.
  void LosePending(std::size_t pending_before, const Status& why);
  // The calling thread's single writes: Ok once committed (or when it has
  // none), the error that lost them otherwise (said once).
  Status TakeLost();

  // The type's number; 0 when unknown and !create.
  Result<std::int64_t> TypeId(std::string_view type, bool create);
  Result<std::optional<Row>> FindRow(std::int64_t tid, std::string_view id, bool with_json);
  // The row of type/id with its JSON (deleted or not); kNotFound when there
  // never was one.
  Result<Row> ExistingRow(std::string_view type, std::string_view id);

  // PUT (or POST with `new_id`: the JSON's id is replaced).
  Result<WriteResult> Write(std::string_view type, std::string_view id, std::string_view json,
                            std::optional<std::string_view> if_match, bool new_id);
  Result<bool> Remove(std::string_view type, std::string_view id);
  // Inserts the index rows in `rows` for resource `rid` (into tok_delta),
  // or with defer_tokens keeps them for FlushTokens.
  Status InsertTokens(std::int64_t tid, std::int64_t rid);
  Status FlushTokens();
  bool defer_tokens = false;
  std::vector<std::array<std::int64_t, 4>> token_rows;  // (p, vh, sh, rid) not inserted yet
  std::unordered_set<std::int64_t> token_rids;          // the resources they belong to
  // Deletes a resource's index rows from both token tables.
  Status DeleteTokens(std::int64_t tid, std::int64_t rid, const embedded::IndexRows& old);
  // Moves the next `n` rows of tok_delta (from merge_cursor, in key order)
  // into tok, inside the open transaction.
  Status MergeDelta(std::int64_t n);
  sqlite::Stmt merge_end, merge_move, merge_delete;
  std::array<std::int64_t, 4> merge_cursor = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN};
  std::int64_t delta_rows = 0;  // rows inserted since the last merge (deletes not counted)

  // The history policy (history.cc). After `rid` was superseded by
  // `version`: removes at most two of its oldest superseded versions beyond
  // history_max_versions, inside the open transaction.
  Status TrimHistory(std::int64_t rid, std::int64_t version);
  // One slice of the sweep over the history, from sweep_cursor (in rid
  // order), examining about `slice_rows` rows and removing at most as many:
  // versions beyond the policy. Inside the open transaction. `*done` says
  // the pass reached the end (the cursor starts again from the beginning).
  Status SweepHistory(std::int64_t slice_rows, bool* done);
  // Whether a sweep slice is due in the next transaction.
  bool SweepDue();
  // Removes versions [first, last] of `rid` (the oldest ones) and marks the
  // store as pruned.
  Status RemoveVersions(std::int64_t rid, std::int64_t first, std::int64_t last);
  // After `count` history rows were removed: counted, and the store marked.
  Status Removed(int count);
  bool HasHistoryPolicy() const { return options.history_max_versions > 0 || options.history_max_age_ms > 0; }
  sqlite::Stmt trim_history, remove_versions, sweep_end, sweep_groups, sweep_groups_aged, mark_pruned;
  std::int64_t sweep_cursor = 0;  // the sweep resumes after this rid
  bool sweeping = false;          // a pass is under way
  std::chrono::steady_clock::time_point next_sweep;
  // The store's history was pruned once (iomt_meta 'history' = 'pruned'):
  // until then CheckIndexes knows every resource has all its versions.
  bool pruned = false;
  Status ReloadPruned();
  std::int64_t removed_versions = 0;

  Result<Resource> ReadCurrent(std::string_view type, std::string_view id);
  Result<Resource> VRead(std::string_view type, std::string_view id, std::string_view version);
  Result<std::vector<HistoryEntry>> History(std::string_view type, std::string_view id);
  Result<HistoryPage> TypeHistory(std::string_view type, std::string_view query, std::optional<std::size_t> count);
  Result<std::vector<Resource>> ByIdentifier(std::string_view type, std::string_view system,
                                             const std::vector<std::string_view>& values, std::size_t limit);
  Result<SearchPage> Search(std::string_view type, std::string_view query, SearchOptions options = {});
  // `_include` and `_revinclude` (search.cc): what `page`'s matches bring along.
  Status Include(std::string_view type, const std::vector<std::string>& includes, bool reverse, SearchPage* page);
  Result<WriteResult> Create(std::string_view type, std::string_view json,
                             std::optional<std::string_view> if_none_exist);
  // Conditional interactions (write.cc): the ids of the resources matching
  // a condition, up to 3 (a third means "more than one").
  Result<std::vector<std::string>> Matching(std::string_view type, std::string_view condition);
  Result<WriteResult> UpdateWhere(std::string_view type, std::string_view condition, std::string_view json);
  Result<bool> RemoveWhere(std::string_view type, std::string_view condition);
  Result<WriteResult> Patch(std::string_view type, std::string_view id, std::string_view patch,
                            std::optional<std::string_view> if_match);
  Result<WriteResult> PatchWhere(std::string_view type, std::string_view condition, std::string_view patch);
  // A current (not deleted) resource has this id.
  Result<bool> Exists(std::string_view type, std::string_view id);
  // A new id (a random UUID) for a resource of `type`, in this part.
  std::string NewId(std::string_view type);
  Result<std::string> ProcessBundle(std::string_view bundle_json, std::string_view base_url);
  Result<sqlite::Stmt*> CachedStatement(const std::string& sql);
  // The store's own rules (check.cc): every resource's index rows equal to
  // those of its JSON, meta matching the row, the versions kept contiguous
  // up to the current one (all of them while the store was never pruned).
  Status CheckIndexes();

  // Several reads in one read transaction when no transaction is open
  // (SQLite would otherwise start and end one per statement).
  class ReadScope {
   public:
    explicit ReadScope(Impl* impl) : impl_(impl), own_(!impl->in_txn && impl->db.Exec("BEGIN").ok()) {}
    ~ReadScope() {
      if (own_) (void)impl_->db.Exec("COMMIT");
    }
    ReadScope(const ReadScope&) = delete;
    ReadScope& operator=(const ReadScope&) = delete;

   private:
    Impl* impl_;
    bool own_;
  };
};

// The lookups of a resource by identifier: (rid, id, version, json) of the
// rows whose identifier token (parameter ?1, value hash ?2, and system hash
// ?3 in the second) matches, from both token tables.
inline constexpr const char* kByIdentifierSql =
    "SELECT r.rid, r.id, r.version, r.json FROM (SELECT rid FROM tok WHERE p=?1 AND vh=?2 "
    "UNION ALL SELECT rid FROM tok_delta WHERE p=?1 AND vh=?2) t "
    "JOIN resources r ON r.rid=t.rid";
inline constexpr const char* kByIdentifierSystemSql =
    "SELECT r.rid, r.id, r.version, r.json FROM (SELECT rid FROM tok WHERE p=?1 AND vh=?2 AND sh=?3 "
    "UNION ALL SELECT rid FROM tok_delta WHERE p=?1 AND vh=?2 AND sh=?3) t "
    "JOIN resources r ON r.rid=t.rid";

// The rows of `s` (a kByIdentifier* statement, bound) whose JSON does carry
// the identifier `system|value` (the index holds hashes), at most `limit`,
// in the order they were first written, appended to `out`; `seen` skips the
// rows found already. `stored_json(col)` unpacks the JSON column. Resets `s`.
Status IdentifierMatches(sqlite::Stmt& s, std::string_view system, std::string_view value, std::size_t limit,
                         json::Document& doc, const std::function<Result<std::string_view>(int col)>& stored_json,
                         std::vector<std::int64_t>* seen, std::vector<Resource>* out);

// EmbeddedStore::SearchCommittedByIdentifiers' read-only connection.
struct EmbeddedStore::CommittedReader {
  sqlite::Db db;
  sqlite::Stmt type_id, by_identifier, by_identifier_system;
  embedded::JsonPacker packer;
  json::Document doc;
};

// A conditional interaction (`what`) whose condition more than one resource
// matches (`matches`, 3: more than two): kConflict, detail "precondition".
Status ManyMatch(std::string_view what, std::string_view condition, std::size_t matches);

// The id member of a resource's JSON; "" when it has none (or it is not
// JSON: the write that takes it says so).
std::string IdOfJson(std::string_view json);

// What `_include` values (`_revinclude` with `reverse`) bring along for the
// matches of `page` (whole, not shaped yet), into page->included: each
// resource once, at most `cap` (a warning in the page says more were left
// out). `read_current` reads a referenced resource, `search` finds the
// referring ones. The values were checked by the search that parsed them.
Status IncludeInto(std::string_view type, const std::vector<std::string>& includes, bool reverse, std::size_t cap,
                   const std::function<Result<Resource>(std::string_view type, std::string_view id)>& read_current,
                   const std::function<Result<SearchPage>(std::string_view type, const std::string& query)>& search,
                   SearchPage* page);

namespace embedded {
// Makes `dir` (0700) or accepts it when it is an empty directory: where a
// backup goes. kInvalidArgument when it is not empty or not a directory.
Status EmptyDirectory(const std::string& dir);
// fsync of a file or (O_DIRECTORY) a directory.
Status SyncPath(const std::string& path, int flags);
}  // namespace embedded

// Search results as a searchset Bundle.
std::string RenderSearchBundle(std::string_view type, const SearchPage& page, std::string_view base_url);
// A FHIR id: [A-Za-z0-9-.]{1,64}.
bool IsValidId(std::string_view id);
bool IsValidType(std::string_view type);
// "3", "W/\"3\"" or "\"3\"" (If-Match, a vread's version) as a version
// number; -1 when it is none.
std::int64_t ParseVersion(std::string_view v);

}  // namespace iomt::store
