// The embedded store's SQLite file: its schema, opening (and recognizing) a
// store, the statements prepared once, the types table, the checkpointer,
// and transactions (the group commit's BEGIN/COMMIT, and savepoints).
#include <algorithm>
#include <string>

#include "store/embedded/store_impl.h"

namespace iomt::store {
namespace {

// 'IOMT' in SQLite's application_id: how a store file is told from any
// other SQLite database.
constexpr std::int64_t kApplicationId = 0x494F4D54;
constexpr const char* kFormat = "2";

constexpr const char* kSchema = R"sql(
CREATE TABLE iomt_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE types(tid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
-- One row per resource: its current version. rid grows with each new
-- resource, so inserts append; the lookup by (type, id) goes through a
-- small index on a 64-bit hash of "type/id" (ids are often SHA-256 hex:
-- indexing the text would be four times larger). json is last so that the
-- other columns are read without touching its overflow pages.
CREATE TABLE resources(
  rid INTEGER PRIMARY KEY,
  key INTEGER NOT NULL,
  tid INTEGER NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  dlo INTEGER,
  dhi INTEGER,
  json TEXT NOT NULL);
CREATE INDEX resources_key ON resources(key);
CREATE INDEX resources_date ON resources(tid, dlo) WHERE dlo IS NOT NULL;
-- Superseded versions and deletions only.
CREATE TABLE history(
  rid INTEGER NOT NULL,
  version INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  json TEXT NOT NULL);
CREATE INDEX history_rid ON history(rid, version);
-- Token index: identifiers, codes and references of current versions.
-- p = type number * 16 + parameter; vh = hash of the value (or referenced
-- id); sh = hash of the system (or referenced type).
CREATE TABLE tok(
  p INTEGER NOT NULL,
  vh INTEGER NOT NULL,
  sh INTEGER NOT NULL,
  rid INTEGER NOT NULL,
  PRIMARY KEY(p, vh, sh, rid)) WITHOUT ROWID;
-- New token rows go to tok_delta, small enough that a batch's random
-- inserts dirty few pages; past EmbeddedStoreOptions::token_delta_rows,
-- each batch moves a slice of it into tok, in key order (an LSM tree of two
-- levels with an incremental merge).
-- A token row is in one of the two; searches read both.
CREATE TABLE tok_delta(
  p INTEGER NOT NULL,
  vh INTEGER NOT NULL,
  sh INTEGER NOT NULL,
  rid INTEGER NOT NULL,
  PRIMARY KEY(p, vh, sh, rid)) WITHOUT ROWID;
)sql";

}  // namespace

// -------------------------------------------------------- Checkpointer ---

Status Checkpointer::Start(const std::string& path) {
  IOMT_RETURN_IF_ERROR(db_.Open(path));
  // A connection learns that the database is in WAL mode when it first
  // reads it; until then sqlite3_wal_checkpoint_v2 does nothing (and says
  // nothing), and the WAL grows without end.
  IOMT_RETURN_IF_ERROR(db_.Exec("PRAGMA journal_mode=WAL"));
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void Checkpointer::Notify() {
  {
    MutexLock lock(mu_);
    due_ = true;
  }
  cv_.NotifyOne();
}

void Checkpointer::Stop() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.NotifyOne();
  if (thread_.joinable()) thread_.join();
  db_.Close();
}

void Checkpointer::Loop() {
  MutexLock lock(mu_);
  while (true) {
    while (!due_ && !stop_)
      cv_.Wait(lock);
    if (stop_) return;
    due_ = false;
    lock.Unlock();
    // A failed or partial checkpoint is harmless: the WAL keeps the pages
    // and the next one (or closing the store) copies them.
    (void)sqlite3_wal_checkpoint_v2(db_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    lock.Lock();
  }
}

// ---------------------------------------------------------------- Impl ---

Status EmbeddedStore::Impl::Init() {
  IOMT_RETURN_IF_ERROR(db.Open(path));
  sqlite3_busy_timeout(db.handle(), 5000);
  // The first read tells a database from any other file.
  Result<sqlite::Stmt> prepared = db.Prepare("SELECT count(*) FROM sqlite_master");
  Result<bool> row = prepared.ok() ? prepared->Step() : Result<bool>(prepared.status());
  if (!row.ok()) {
    int rc = db.ErrorCode() & 0xff;
    std::string message = path;
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) {
      message.append(" is not an iomt store (not a SQLite database)");
      return InvalidArgument(std::move(message));
    }
    message.append(": ").append(row.status().message());
    return IoError(std::move(message));
  }
  const bool empty = prepared->Int(0) == 0;
  prepared->Reset();
  IOMT_ASSIGN_OR_RETURN(sqlite::Stmt app, db.Prepare("PRAGMA application_id"));
  IOMT_ASSIGN_OR_RETURN(bool has_app, app.Step());
  const std::int64_t app_id = has_app ? app.Int(0) : 0;
  app.Reset();
  if (!empty && app_id != kApplicationId) {
    std::string message = path;
    message.append(" is not an iomt store (a SQLite database of another application)");
    return InvalidArgument(std::move(message));
  }

  IOMT_RETURN_IF_ERROR(db.Exec("PRAGMA journal_mode=WAL"));
  IOMT_RETURN_IF_ERROR(db.Exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  std::string cache = "PRAGMA cache_size=-" + std::to_string(std::max(1, options.cache_mib) * 1024);
  IOMT_RETURN_IF_ERROR(db.Exec(cache.c_str()));
  IOMT_RETURN_IF_ERROR(db.Exec("PRAGMA temp_store=MEMORY"));
  // Checkpoints run on the Checkpointer's connection, not in commits.
  IOMT_RETURN_IF_ERROR(db.Exec("PRAGMA wal_autocheckpoint=0"));
  // Once checkpointed, a WAL bigger than this is cut back when it restarts.
  IOMT_RETURN_IF_ERROR(db.Exec("PRAGMA journal_size_limit=67108864"));

  if (empty) {
    IOMT_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    Status st = db.Exec(kSchema);
    if (st.ok()) {
      std::string meta = "INSERT INTO iomt_meta VALUES('format','";
      meta.append(kFormat).append("'); PRAGMA application_id=").append(std::to_string(kApplicationId));
      st = db.Exec(meta.c_str());
    }
    if (!st.ok()) {
      (void)db.Exec("ROLLBACK");
      return st;
    }
    IOMT_RETURN_IF_ERROR(db.Exec("COMMIT"));
  } else {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt format, db.Prepare("SELECT value FROM iomt_meta WHERE key='format'"));
    IOMT_ASSIGN_OR_RETURN(bool has_format, format.Step());
    if (!has_format || format.Text(0) != kFormat) {
      std::string message = path;
      message.append(" is an iomt store of another format (expected format ").append(kFormat).append(")");
      return InvalidArgument(std::move(message));
    }
  }

  auto prepare = [&](sqlite::Stmt* s, std::string_view sql) -> Status {
    IOMT_ASSIGN_OR_RETURN(*s, db.Prepare(sql));
    return Status::Ok();
  };
  IOMT_RETURN_IF_ERROR(prepare(&find, "SELECT rid, tid, id, version, updated, deleted FROM resources WHERE key=?1"));
  IOMT_RETURN_IF_ERROR(prepare(&find_json, "SELECT json FROM resources WHERE rid=?1"));
  IOMT_RETURN_IF_ERROR(prepare(&insert_resource,
                               "INSERT OR FAIL INTO resources(key, tid, id, version, updated, deleted, dlo, dhi, json) "
                               "VALUES(?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8)"));
  IOMT_RETURN_IF_ERROR(
      prepare(&update_resource,
              "UPDATE OR FAIL resources SET version=?2, updated=?3, deleted=?4, dlo=?5, dhi=?6, json=?7 "
              "WHERE rid=?1"));
  IOMT_RETURN_IF_ERROR(prepare(&to_history,
                               "INSERT OR FAIL INTO history(rid, version, updated, deleted, json) "
                               "SELECT rid, version, updated, deleted, json FROM resources WHERE rid=?1"));
  IOMT_RETURN_IF_ERROR(prepare(&delete_token, "DELETE FROM tok WHERE p=?1 AND vh=?2 AND sh=?3 AND rid=?4"));
  IOMT_RETURN_IF_ERROR(prepare(&delete_token_delta, "DELETE FROM tok_delta WHERE p=?1 AND vh=?2 AND sh=?3 AND rid=?4"));
  IOMT_RETURN_IF_ERROR(prepare(&merge_end,
                               "SELECT p, vh, sh, rid FROM tok_delta WHERE (p, vh, sh, rid) > (?1, ?2, ?3, ?4) "
                               "ORDER BY p, vh, sh, rid LIMIT 1 OFFSET ?5"));
  IOMT_RETURN_IF_ERROR(prepare(&merge_move,
                               "INSERT OR IGNORE INTO tok SELECT p, vh, sh, rid FROM tok_delta "
                               "WHERE (p, vh, sh, rid) > (?1, ?2, ?3, ?4) AND (p, vh, sh, rid) <= (?5, ?6, ?7, ?8) "
                               "ORDER BY p, vh, sh, rid"));
  IOMT_RETURN_IF_ERROR(prepare(&merge_delete,
                               "DELETE FROM tok_delta "
                               "WHERE (p, vh, sh, rid) > (?1, ?2, ?3, ?4) AND (p, vh, sh, rid) <= (?5, ?6, ?7, ?8)"));
  {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt count, db.Prepare("SELECT count(*) FROM tok_delta"));
    IOMT_ASSIGN_OR_RETURN(bool has_row, count.Step());
    delta_rows = has_row ? count.Int(0) : 0;
  }
  IOMT_RETURN_IF_ERROR(prepare(&by_identifier,
                               "SELECT r.rid, r.id, r.version, r.json FROM (SELECT rid FROM tok WHERE p=?1 AND vh=?2 "
                               "UNION ALL SELECT rid FROM tok_delta WHERE p=?1 AND vh=?2) t "
                               "JOIN resources r ON r.rid=t.rid"));
  IOMT_RETURN_IF_ERROR(
      prepare(&by_identifier_system,
              "SELECT r.rid, r.id, r.version, r.json FROM (SELECT rid FROM tok WHERE p=?1 AND vh=?2 AND sh=?3 "
              "UNION ALL SELECT rid FROM tok_delta WHERE p=?1 AND vh=?2 AND sh=?3) t "
              "JOIN resources r ON r.rid=t.rid"));
  IOMT_RETURN_IF_ERROR(
      prepare(&history_of, "SELECT version, updated, deleted, json FROM history WHERE rid=?1 ORDER BY version DESC"));
  IOMT_RETURN_IF_ERROR(
      prepare(&history_version, "SELECT version, updated, deleted, json FROM history WHERE rid=?1 AND version=?2"));
  IOMT_RETURN_IF_ERROR(prepare(&insert_type, "INSERT INTO types(name) VALUES(?1)"));
  IOMT_RETURN_IF_ERROR(checkpointer.Start(path));
  return ReloadTypes();
}

Status EmbeddedStore::Impl::ReloadTypes() {
  types.clear();
  IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s, db.Prepare("SELECT tid, name FROM types"));
  while (true) {
    IOMT_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    types.emplace(std::string(s.Text(1)), s.Int(0));
  }
  return Status::Ok();
}

Result<std::int64_t> EmbeddedStore::Impl::TypeId(std::string_view type, bool create) {
  auto it = types.find(std::string(type));
  if (it != types.end()) return it->second;
  if (!create) return std::int64_t{0};
  IOMT_RETURN_IF_ERROR(insert_type.Bind(1, type).Run());
  std::int64_t tid = sqlite3_last_insert_rowid(db.handle());
  types.emplace(std::string(type), tid);
  return tid;
}

Status EmbeddedStore::Impl::Begin() {
  if (in_txn) return Status::Ok();
  IOMT_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  in_txn = true;
  // Each transaction moves what tok_delta holds beyond its size into tok,
  // whatever writes follow (batches, bundles or single writes).
  if (delta_rows > options.token_delta_rows) {
    if (Status st = MergeDelta(delta_rows - options.token_delta_rows); !st.ok()) {
      Rollback();
      return st;
    }
  }
  return Status::Ok();
}

Status EmbeddedStore::Impl::Commit() {
  if (!in_txn) return Status::Ok();
  const auto start = std::chrono::steady_clock::now();
  Status st = db.Exec("COMMIT");
  if (commit_ms.size() >= 100'000) commit_ms.erase(commit_ms.begin(), commit_ms.begin() + 50'000);
  commit_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  in_txn = false;
  pending = 0;
  if (st.ok()) checkpointer.Notify();
  if (!st.ok()) {
    // A failed COMMIT may leave the transaction open: undo it whole, so the
    // store stays as it was at the last commit.
    if (sqlite3_get_autocommit(db.handle()) == 0) (void)db.Exec("ROLLBACK");
    (void)ReloadTypes();
  }
  return st;
}

void EmbeddedStore::Impl::Rollback() {
  if (!in_txn) return;
  (void)db.Exec("ROLLBACK");
  in_txn = false;
  pending = 0;
  (void)ReloadTypes();
}

Status EmbeddedStore::Impl::Savepoint(const char* name) {
  return db.Exec(std::string("SAVEPOINT ").append(name).c_str());
}

Status EmbeddedStore::Impl::Release(const char* name) { return db.Exec(std::string("RELEASE ").append(name).c_str()); }

void EmbeddedStore::Impl::RollbackTo(const char* name) {
  std::string sql = "ROLLBACK TO ";
  sql.append(name).append("; RELEASE ").append(name);
  (void)db.Exec(sql.c_str());
  // A type created inside the savepoint is gone again.
  (void)ReloadTypes();
}

Status EmbeddedStore::Impl::AfterSingleWrite() {
  if (++pending == 1) first_pending = std::chrono::steady_clock::now();
  if (pending >= options.max_pending_writes) return Commit();
  return Status::Ok();
}

Result<sqlite::Stmt*> EmbeddedStore::Impl::CachedStatement(const std::string& sql) {
  auto it = search_cache.find(sql);
  if (it != search_cache.end()) return &it->second;
  // Queries are built from the parameters' shapes, not their values, so few
  // distinct texts exist; the bound keeps a stream of odd queries in check.
  if (search_cache.size() >= 256) search_cache.clear();
  IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s, db.Prepare(sql));
  return &search_cache.emplace(sql, std::move(s)).first->second;
}

}  // namespace iomt::store
