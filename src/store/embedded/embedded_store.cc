#include "store/embedded/embedded_store.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <set>
#include <tuple>
#include <utility>

#include "common/json/writer.h"
#include "common/mutex.h"
#include "store/embedded/store_impl.h"

namespace iomt::store {
namespace {

using embedded::Hash64;

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

// "3", "W/\"3\"" or "\"3\"" as a version number; -1 when it is none.
std::int64_t ParseVersion(std::string_view v) {
  if (v.substr(0, 2) == "W/") v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 18) return -1;
  std::int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

bool IsTransient(const Status& st) {
  return st.code() != StatusCode::kInvalidArgument && st.code() != StatusCode::kConflict &&
         st.code() != StatusCode::kNotFound;
}

Status Gone(std::string_view type, std::string_view id) {
  std::string message = "The resource ";
  message.append(type).append("/").append(id).append(" was deleted.");
  return NotFound(std::move(message)).WithDetail("deleted");
}

Status Missing(std::string_view type, std::string_view id) {
  std::string message = "The resource ";
  message.append(type).append("/").append(id).append(" does not exist.");
  return NotFound(std::move(message));
}

}  // namespace

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

bool IsValidType(std::string_view type) {
  if (type.empty() || type.size() > 64 || type[0] < 'A' || type[0] > 'Z') return false;
  return std::all_of(type.begin(), type.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); });
}

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

std::int64_t EmbeddedStore::Impl::NowMs() const {
  if (options.clock_ms) return options.clock_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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
  std::string sql = "SAVEPOINT ";
  sql.append(name);
  return db.Exec(sql.c_str());
}

Status EmbeddedStore::Impl::Release(const char* name) {
  std::string sql = "RELEASE ";
  sql.append(name);
  return db.Exec(sql.c_str());
}

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

Result<std::int64_t> EmbeddedStore::Impl::TypeId(std::string_view type, bool create) {
  auto it = types.find(std::string(type));
  if (it != types.end()) return it->second;
  if (!create) return std::int64_t{0};
  IOMT_RETURN_IF_ERROR(insert_type.Bind(1, type).Run());
  std::int64_t tid = sqlite3_last_insert_rowid(db.handle());
  types.emplace(std::string(type), tid);
  return tid;
}

Result<std::optional<EmbeddedStore::Impl::Row>> EmbeddedStore::Impl::FindRow(std::int64_t tid, std::string_view id,
                                                                             bool with_json) {
  find.Bind(1, ResourceKey(tid, id));
  std::optional<Row> found;
  while (true) {
    Result<bool> step = find.Step();
    if (!step.ok()) {
      find.Reset();
      return step.status();
    }
    if (!*step) break;
    // The key is a hash: check that the row is this resource.
    if (find.Int(1) != tid || find.Text(2) != id) continue;
    Row row;
    row.rid = find.Int(0);
    row.version = find.Int(3);
    row.updated = find.Int(4);
    row.deleted = find.Int(5) != 0;
    found = std::move(row);
    break;
  }
  find.Reset();
  if (found && with_json) {
    find_json.Bind(1, found->rid);
    Result<bool> step = find_json.Step();
    if (step.ok() && *step) found->json.assign(find_json.Text(0));
    find_json.Reset();
    if (!step.ok()) return step.status();
  }
  return found;
}

Result<WriteResult> EmbeddedStore::Impl::Write(std::string_view type, std::string_view id, std::string_view json,
                                               std::optional<std::string_view> if_match, bool new_id) {
  if (!IsValidType(type)) {
    std::string message = "Not a resource type: '";
    message.append(type).append("'.");
    return InvalidArgument(std::move(message));
  }
  if (!IsValidId(id)) {
    std::string message = "Not a valid resource id: '";
    message.append(id).append("' (FHIR ids are 1 to 64 of A-Z a-z 0-9 - .).");
    return InvalidArgument(std::move(message));
  }
  if (Status st = doc.Parse(json); !st.ok()) {
    std::string message = "The ";
    message.append(type).append(" is not valid JSON: ").append(st.message());
    return InvalidArgument(std::move(message));
  }
  json::Value root = doc.root();
  json::Value member;
  if (!root.is_object()) return InvalidArgument("A resource must be a JSON object.");
  if (!root.Find("resourceType", &member) || !member.is_string() || member.string_value() != type) {
    std::string message = "The resource's resourceType is not '";
    message.append(type).append("'.");
    return InvalidArgument(std::move(message));
  }
  if (!new_id && root.Find("id", &member) && (!member.is_string() || member.string_value() != id)) {
    std::string message = "The resource's id does not match the id of the request ('";
    message.append(id).append("').");
    return InvalidArgument(std::move(message));
  }
  embedded::ExtractIndex(root, &rows);

  IOMT_ASSIGN_OR_RETURN(std::int64_t tid, TypeId(type, true));
  IOMT_ASSIGN_OR_RETURN(std::optional<Row> existing, FindRow(tid, id, true));
  if (if_match) {
    std::int64_t wanted = ParseVersion(*if_match);
    if (!existing || existing->version != wanted) {
      std::string message = "The resource ";
      message.append(type).append("/").append(id).append(" is not at version ").append(*if_match).append(".");
      return Conflict(std::move(message)).WithDetail("precondition");
    }
  }

  WriteResult out;
  const std::int64_t now = NowMs();
  out.last_updated = embedded::FormatInstant(now);
  std::int64_t rid = 0;
  std::int64_t version = 1;
  bool same_tokens = false;
  if (existing) {
    rid = existing->rid;
    version = existing->version + 1;
    // Written earlier in this batch: its index rows must be in the table
    // before they can be compared and replaced.
    if (token_rids.count(rid) != 0) IOMT_RETURN_IF_ERROR(FlushTokens());
    old_rows.tokens.clear();
    if (!existing->deleted && old_doc.Parse(existing->json).ok()) embedded::ExtractIndex(old_doc.root(), &old_rows);
    // Merged Observations keep their identifier, code and references: the
    // index rows stay as they are.
    same_tokens = !existing->deleted && old_rows.tokens == rows.tokens;
    if (!same_tokens) {
      IOMT_RETURN_IF_ERROR(DeleteTokens(tid, rid, old_rows));
    }
    IOMT_RETURN_IF_ERROR(to_history.Bind(1, rid).Run());
    embedded::StampResource(json, id, version, out.last_updated, &stamped);
    update_resource.Bind(1, rid).Bind(2, version).Bind(3, now).Bind(4, std::int64_t{0});
    if (rows.date_lo) {
      update_resource.Bind(5, *rows.date_lo).Bind(6, *rows.date_hi);
    } else {
      update_resource.BindNull(5).BindNull(6);
    }
    IOMT_RETURN_IF_ERROR(update_resource.Bind(7, stamped).Run());
  } else {
    embedded::StampResource(json, id, version, out.last_updated, &stamped);
    insert_resource.Bind(1, ResourceKey(tid, id)).Bind(2, tid).Bind(3, id).Bind(4, version).Bind(5, now);
    if (rows.date_lo) {
      insert_resource.Bind(6, *rows.date_lo).Bind(7, *rows.date_hi);
    } else {
      insert_resource.BindNull(6).BindNull(7);
    }
    IOMT_RETURN_IF_ERROR(insert_resource.Bind(8, stamped).Run());
    rid = sqlite3_last_insert_rowid(db.handle());
    out.created = true;
  }
  if (!same_tokens) IOMT_RETURN_IF_ERROR(InsertTokens(tid, rid));
  out.resource.id = std::string(id);
  out.resource.version_id = std::to_string(version);
  out.resource.json = stamped;
  return out;
}

Status EmbeddedStore::Impl::InsertTokens(std::int64_t tid, std::int64_t rid) {
  for (const embedded::TokenRow& t : rows.tokens)
    token_rows.push_back({TokenKey(tid, t.param), t.value_hash, t.system_hash, rid});
  if (defer_tokens) {
    token_rids.insert(rid);
    return Status::Ok();
  }
  return FlushTokens();
}

Status EmbeddedStore::Impl::FlushTokens() {
  // In key order: consecutive inserts then land on the same pages of the
  // index, which a batch's thousands of rows, inserted in arrival order,
  // would not (hashes are random).
  std::sort(token_rows.begin(), token_rows.end());
  // Several rows per statement: the statement's own cost (bind, step,
  // reset) is a good part of a row's.
  std::size_t at = 0;
  Status st;
  while (at < token_rows.size() && st.ok()) {
    const std::size_t n = std::min(token_rows.size() - at, insert_tokens.size());
    sqlite::Stmt& s = insert_tokens[n - 1];
    if (!s.valid()) {
      std::string sql = "INSERT OR IGNORE INTO tok_delta(p, vh, sh, rid) VALUES";
      for (std::size_t i = 0; i < n; ++i)
        sql.append(i == 0 ? "(?,?,?,?)" : ",(?,?,?,?)");
      Result<sqlite::Stmt> prepared = db.Prepare(sql);
      if (!prepared.ok()) {
        st = prepared.status();
        break;
      }
      s = std::move(*prepared);
    }
    for (std::size_t i = 0; i < n; ++i) {
      const std::array<std::int64_t, 4>& row = token_rows[at + i];
      for (int k = 0; k < 4; ++k)
        s.Bind(static_cast<int>(i) * 4 + k + 1, row[static_cast<std::size_t>(k)]);
    }
    st = s.Run();
    delta_rows += static_cast<std::int64_t>(n);
    at += n;
  }
  token_rows.clear();
  token_rids.clear();
  return st;
}

Status EmbeddedStore::Impl::DeleteTokens(std::int64_t tid, std::int64_t rid, const embedded::IndexRows& old) {
  for (const embedded::TokenRow& t : old.tokens) {
    for (sqlite::Stmt* s : {&delete_token, &delete_token_delta})
      IOMT_RETURN_IF_ERROR(
          s->Bind(1, TokenKey(tid, t.param)).Bind(2, t.value_hash).Bind(3, t.system_hash).Bind(4, rid).Run());
    delta_rows -= sqlite3_changes(db.handle());  // of the tok_delta DELETE
  }
  return Status::Ok();
}

Status EmbeddedStore::Impl::MergeDelta(std::int64_t n) {
  // A slice of the next n rows after the cursor, in key order, moves per
  // call: it covers a contiguous key range, so it dirties only that range's
  // pages of the big index, and over successive batches the cursor sweeps
  // the whole key space (an incremental merge: no batch pays for all of it).
  // Inside the caller's transaction, so a crash leaves each row in one table.
  if (n <= 0) return Status::Ok();
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::array<std::int64_t, 4> end = {kMax, kMax, kMax, kMax};
  bool wrap = true;
  merge_end.Bind(1, merge_cursor[0]).Bind(2, merge_cursor[1]).Bind(3, merge_cursor[2]).Bind(4, merge_cursor[3]);
  merge_end.Bind(5, n - 1);
  Result<bool> step = merge_end.Step();
  if (step.ok() && *step) {
    for (int i = 0; i < 4; ++i)
      end[static_cast<std::size_t>(i)] = merge_end.Int(i);
    wrap = false;
  }
  merge_end.Reset();
  if (!step.ok()) return step.status();
  for (sqlite::Stmt* s : {&merge_move, &merge_delete}) {
    for (int i = 0; i < 4; ++i) {
      s->Bind(i + 1, merge_cursor[static_cast<std::size_t>(i)]);
      s->Bind(i + 5, end[static_cast<std::size_t>(i)]);
    }
    IOMT_RETURN_IF_ERROR(s->Run());
  }
  delta_rows -= sqlite3_changes(db.handle());
  merge_cursor = wrap ? std::array<std::int64_t, 4>{kMin, kMin, kMin, kMin} : end;
  return Status::Ok();
}

Result<bool> EmbeddedStore::Impl::Remove(std::string_view type, std::string_view id) {
  IOMT_ASSIGN_OR_RETURN(std::int64_t tid, TypeId(type, false));
  if (tid == 0) return false;
  IOMT_ASSIGN_OR_RETURN(std::optional<Row> existing, FindRow(tid, id, true));
  if (!existing || existing->deleted) return false;
  old_rows.tokens.clear();
  if (old_doc.Parse(existing->json).ok()) embedded::ExtractIndex(old_doc.root(), &old_rows);
  IOMT_RETURN_IF_ERROR(DeleteTokens(tid, existing->rid, old_rows));
  IOMT_RETURN_IF_ERROR(to_history.Bind(1, existing->rid).Run());
  update_resource.Bind(1, existing->rid).Bind(2, existing->version + 1).Bind(3, NowMs()).Bind(4, std::int64_t{1});
  update_resource.BindNull(5).BindNull(6);
  IOMT_RETURN_IF_ERROR(update_resource.Bind(7, std::string_view()).Run());
  return true;
}

Result<Resource> EmbeddedStore::Impl::ReadCurrent(std::string_view type, std::string_view id) {
  IOMT_ASSIGN_OR_RETURN(std::int64_t tid, TypeId(type, false));
  if (tid == 0) return Missing(type, id);
  IOMT_ASSIGN_OR_RETURN(std::optional<Row> row, FindRow(tid, id, true));
  if (!row) return Missing(type, id);
  if (row->deleted) return Gone(type, id);
  return Resource{std::string(id), std::to_string(row->version), std::move(row->json)};
}

Result<Resource> EmbeddedStore::Impl::VRead(std::string_view type, std::string_view id, std::string_view version) {
  IOMT_ASSIGN_OR_RETURN(std::int64_t tid, TypeId(type, false));
  if (tid == 0) return Missing(type, id);
  IOMT_ASSIGN_OR_RETURN(std::optional<Row> row, FindRow(tid, id, true));
  const std::int64_t v = ParseVersion(version);
  if (!row || v <= 0 || v > row->version) {
    std::string message = "The resource ";
    message.append(type).append("/").append(id).append(" has no version ").append(version).append(".");
    return NotFound(std::move(message));
  }
  if (v == row->version) {
    if (row->deleted) return Gone(type, id);
    return Resource{std::string(id), std::to_string(v), std::move(row->json)};
  }
  history_version.Bind(1, row->rid).Bind(2, v);
  Result<bool> step = history_version.Step();
  Resource out{std::string(id), std::to_string(v), {}};
  bool deleted = false;
  if (step.ok() && *step) {
    deleted = history_version.Int(2) != 0;
    out.json.assign(history_version.Text(3));
  }
  history_version.Reset();
  if (!step.ok()) return step.status();
  if (!*step) return Missing(type, id);
  if (deleted) return Gone(type, id);
  return out;
}

Result<std::vector<Resource>> EmbeddedStore::Impl::ByIdentifier(std::string_view type, std::string_view system,
                                                                const std::vector<std::string_view>& values,
                                                                std::size_t limit) {
  std::vector<Resource> out;
  IOMT_ASSIGN_OR_RETURN(std::int64_t tid, TypeId(type, false));
  if (tid == 0) return out;
  const std::int64_t p = TokenKey(tid, embedded::TokenParam::kIdentifier);
  const std::int64_t sh = Hash64(system);
  // One read transaction for all the lookups, not one per statement.
  ReadScope scope(this);
  sqlite::Stmt& s = system.empty() ? by_identifier : by_identifier_system;
  std::vector<std::int64_t> seen;
  for (std::string_view value : values) {
    s.Bind(1, p).Bind(2, Hash64(value));
    if (!system.empty()) s.Bind(3, sh);
    // Matches in the order they were first written (rid), as the memory
    // store answers; sorted here rather than by SQL, which would build a
    // temporary B-tree for every one of a batch's thousands of lookups.
    std::vector<std::pair<std::int64_t, Resource>> hits;
    while (true) {
      Result<bool> step = s.Step();
      if (!step.ok()) {
        s.Reset();
        return step.status();
      }
      if (!*step) break;
      std::int64_t rid = s.Int(0);
      if (std::find(seen.begin(), seen.end(), rid) != seen.end()) continue;
      // The index holds hashes: confirm the identifier in the resource, so
      // that a collision can never make the writer merge into a stranger.
      std::string_view text = s.Text(3);
      if (!old_doc.Parse(text).ok()) continue;
      json::Value list;
      bool match = false;
      if (old_doc.root().Find("identifier", &list)) {
        for (json::Value i : list.elements()) {
          json::Value v, sys;
          if (!i.Find("value", &v) || !v.is_string() || v.string_value() != value) continue;
          std::string_view sys_text = i.Find("system", &sys) && sys.is_string() ? sys.string_value() : "";
          if (system.empty() || sys_text == system) match = true;
        }
      }
      if (!match) continue;
      seen.push_back(rid);
      hits.emplace_back(rid, Resource{std::string(s.Text(1)), std::to_string(s.Int(2)), std::string(text)});
    }
    std::sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < hits.size() && i < limit; ++i)
      out.push_back(std::move(hits[i].second));
    s.Reset();
  }
  return out;
}

std::string EmbeddedStore::Impl::NewId() {
  // A random UUID (version 4) as the id of a POSTed resource.
  std::uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(a >> 32),
                static_cast<unsigned long long>((a >> 16) & 0xffff), static_cast<unsigned long long>(a & 0xffff),
                static_cast<unsigned long long>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

Result<WriteResult> EmbeddedStore::Impl::Create(std::string_view type, std::string_view json,
                                                std::optional<std::string_view> if_none_exist) {
  if (if_none_exist) {
    IOMT_ASSIGN_OR_RETURN(SearchPage page, Search(type, *if_none_exist));
    if (page.total > 1) {
      std::string message = "If-None-Exist: ";
      message.append(std::to_string(page.total)).append(" resources match '").append(*if_none_exist).append("'.");
      return Conflict(std::move(message)).WithDetail("precondition");
    }
    if (page.total == 1 && !page.resources.empty()) {
      WriteResult out;
      out.resource = std::move(page.resources.front());
      return out;
    }
  }
  return Write(type, NewId(), json, std::nullopt, /*new_id=*/true);
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

// ------------------------------------------------------ EmbeddedStore ---

EmbeddedStore::EmbeddedStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  if (impl_->options.commit_interval_ms > 0) committer_ = std::thread([this] { CommitterLoop(); });
}

EmbeddedStore::~EmbeddedStore() {
  // A destructor must not throw; what could (a lock, an allocation) would
  // only lose the last uncommitted writes, as a crash would.
  try {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    wake_.NotifyAll();
    if (committer_.joinable()) committer_.join();
    MutexLock lock(mu_);
    (void)impl_->Commit();
    impl_->search_cache.clear();
  } catch (...) {  // NOLINT(bugprone-empty-catch): nothing left to tell
  }
}

Result<std::unique_ptr<EmbeddedStore>> EmbeddedStore::Open(const std::string& dir, EmbeddedStoreOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir, ec)) {
    std::string message = "cannot use ";
    message.append(dir).append(" as a store directory: ").append(ec ? ec.message() : "not a directory");
    return IoError(std::move(message));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->path = (std::filesystem::path(dir) / "store.db").string();
  IOMT_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<EmbeddedStore>(new EmbeddedStore(std::move(impl)));
}

void EmbeddedStore::CommitterLoop() {
  MutexLock lock(mu_);
  const auto interval = std::chrono::milliseconds(impl_->options.commit_interval_ms);
  while (!stopping_) {
    if (impl_->pending == 0) {
      wake_.Wait(lock);
      continue;
    }
    const auto deadline = impl_->first_pending + interval;
    if (std::chrono::steady_clock::now() < deadline) {
      wake_.WaitUntil(lock, deadline);
      continue;
    }
    // There is no caller to tell here: the next Flush reports it, so that
    // nobody takes the lost writes for durable.
    if (Status st = impl_->Commit(); !st.ok()) impl_->lost_commit = std::move(st);
  }
}

Result<std::vector<Resource>> EmbeddedStore::SearchByIdentifier(std::string_view type, std::string_view system,
                                                                std::string_view value, std::size_t limit) {
  MutexLock lock(mu_);
  return impl_->ByIdentifier(type, system, {value}, limit);
}

std::vector<double> EmbeddedStore::CommitMillis() {
  MutexLock lock(mu_);
  return impl_->commit_ms;
}

Result<std::vector<Resource>> EmbeddedStore::SearchByIdentifiers(std::string_view type, std::string_view system,
                                                                 const std::vector<std::string>& values) {
  std::vector<std::string_view> views(values.begin(), values.end());
  MutexLock lock(mu_);
  return impl_->ByIdentifier(type, system, views, static_cast<std::size_t>(-1));
}

Result<std::optional<Resource>> EmbeddedStore::Read(std::string_view type, std::string_view id) {
  MutexLock lock(mu_);
  Result<Resource> r = impl_->ReadCurrent(type, id);
  if (r.ok()) return std::optional<Resource>(std::move(r).value());
  if (r.status().code() == StatusCode::kNotFound) return std::optional<Resource>();
  return r.status();
}

Result<Resource> EmbeddedStore::Put(std::string_view type, std::string_view id, std::string json,
                                    std::optional<std::string_view> if_match) {
  IOMT_ASSIGN_OR_RETURN(WriteResult w, Update(type, id, json, if_match));
  return std::move(w.resource);
}

Result<WriteResult> EmbeddedStore::Update(std::string_view type, std::string_view id, std::string_view json,
                                          std::optional<std::string_view> if_match) {
  MutexLock lock(mu_);
  IOMT_RETURN_IF_ERROR(impl_->Begin());
  IOMT_RETURN_IF_ERROR(impl_->Savepoint("w"));
  Result<WriteResult> r = impl_->Write(type, id, json, if_match, false);
  if (!r.ok()) {
    impl_->RollbackTo("w");
    return r;
  }
  IOMT_RETURN_IF_ERROR(impl_->Release("w"));
  if (impl_->pending == 0) wake_.NotifyAll();
  IOMT_RETURN_IF_ERROR(impl_->AfterSingleWrite());
  return r;
}

Result<WriteResult> EmbeddedStore::Create(std::string_view type, std::string_view json,
                                          std::optional<std::string_view> if_none_exist) {
  MutexLock lock(mu_);
  IOMT_RETURN_IF_ERROR(impl_->Begin());
  IOMT_RETURN_IF_ERROR(impl_->Savepoint("w"));
  Result<WriteResult> r = impl_->Create(type, json, if_none_exist);
  if (!r.ok()) {
    impl_->RollbackTo("w");
    return r;
  }
  IOMT_RETURN_IF_ERROR(impl_->Release("w"));
  if (r->created) {
    if (impl_->pending == 0) wake_.NotifyAll();
    IOMT_RETURN_IF_ERROR(impl_->AfterSingleWrite());
  }
  return r;
}

Result<bool> EmbeddedStore::Delete(std::string_view type, std::string_view id) {
  MutexLock lock(mu_);
  IOMT_RETURN_IF_ERROR(impl_->Begin());
  IOMT_RETURN_IF_ERROR(impl_->Savepoint("w"));
  Result<bool> r = impl_->Remove(type, id);
  if (!r.ok()) {
    impl_->RollbackTo("w");
    return r;
  }
  IOMT_RETURN_IF_ERROR(impl_->Release("w"));
  if (*r) {
    if (impl_->pending == 0) wake_.NotifyAll();
    IOMT_RETURN_IF_ERROR(impl_->AfterSingleWrite());
  }
  return r;
}

Result<std::vector<Result<Resource>>> EmbeddedStore::PutMany(std::vector<PutRequest> requests) {
  MutexLock lock(mu_);
  // Single writes still pending are committed first, so that the batch can
  // run without a savepoint (which would copy every page it touches) and
  // still be undone alone if it fails half-way.
  IOMT_RETURN_IF_ERROR(impl_->Commit());
  IOMT_RETURN_IF_ERROR(impl_->Begin());
  // The batch's index rows are inserted together, sorted, at its end.
  impl_->defer_tokens = true;
  std::vector<Result<Resource>> out;
  out.reserve(requests.size());
  for (PutRequest& r : requests) {
    std::optional<std::string_view> if_match;
    if (r.if_match) if_match = *r.if_match;
    Result<WriteResult> w = impl_->Write(r.type, r.id, r.json, if_match, false);
    if (w.ok()) {
      out.emplace_back(std::move(w->resource));
      continue;
    }
    // A bad resource or a lost If-Match fails before anything is written;
    // anything else (I/O) may have written half a resource: undo the batch.
    if (IsTransient(w.status())) {
      impl_->defer_tokens = false;
      impl_->token_rows.clear();
      impl_->token_rids.clear();
      impl_->Rollback();
      return w.status();
    }
    out.emplace_back(w.status());
  }
  impl_->defer_tokens = false;
  if (Status st = impl_->FlushTokens(); !st.ok()) {
    impl_->Rollback();
    return st;
  }
  IOMT_RETURN_IF_ERROR(impl_->Commit());
  return out;
}

Status EmbeddedStore::Flush() {
  MutexLock lock(mu_);
  if (!impl_->lost_commit.ok()) return std::exchange(impl_->lost_commit, Status::Ok());
  return impl_->Commit();
}

Result<Resource> EmbeddedStore::ReadCurrent(std::string_view type, std::string_view id) {
  MutexLock lock(mu_);
  return impl_->ReadCurrent(type, id);
}

Result<Resource> EmbeddedStore::VRead(std::string_view type, std::string_view id, std::string_view version) {
  MutexLock lock(mu_);
  return impl_->VRead(type, id, version);
}

Result<std::vector<HistoryEntry>> EmbeddedStore::History(std::string_view type, std::string_view id) {
  MutexLock lock(mu_);
  IOMT_ASSIGN_OR_RETURN(std::int64_t tid, impl_->TypeId(type, false));
  if (tid == 0) return Missing(type, id);
  IOMT_ASSIGN_OR_RETURN(std::optional<Impl::Row> row, impl_->FindRow(tid, id, true));
  if (!row) return Missing(type, id);
  std::vector<HistoryEntry> out;
  out.push_back({std::to_string(row->version), embedded::FormatInstant(row->updated), row->deleted, row->json});
  sqlite::Stmt& s = impl_->history_of;
  s.Bind(1, row->rid);
  while (true) {
    Result<bool> step = s.Step();
    if (!step.ok()) {
      s.Reset();
      return step.status();
    }
    if (!*step) break;
    out.push_back({std::to_string(s.Int(0)), embedded::FormatInstant(s.Int(1)), s.Int(2) != 0, std::string(s.Text(3))});
  }
  s.Reset();
  return out;
}

Result<SearchPage> EmbeddedStore::Search(std::string_view type, std::string_view query) {
  MutexLock lock(mu_);
  return impl_->Search(type, query);
}

Result<std::string> EmbeddedStore::SearchBundle(std::string_view type, std::string_view query,
                                                std::string_view base_url) {
  IOMT_ASSIGN_OR_RETURN(SearchPage page, Search(type, query));
  return RenderSearchBundle(type, page, base_url);
}

Result<std::string> EmbeddedStore::ProcessBundle(std::string_view bundle_json, std::string_view base_url) {
  MutexLock lock(mu_);
  return impl_->ProcessBundle(bundle_json, base_url);
}

Status EmbeddedStore::Export(std::string_view type,
                             const std::function<void(std::string_view type, const Resource&)>& f) {
  MutexLock lock(mu_);
  std::string sql =
      "SELECT t.name, r.id, r.version, r.json FROM resources r JOIN types t ON t.tid=r.tid WHERE r.deleted=0";
  if (!type.empty()) sql.append(" AND t.name=?1");
  sql.append(" ORDER BY t.name, r.id");
  IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s, impl_->db.Prepare(sql));
  if (!type.empty()) s.Bind(1, type);
  Resource r;
  while (true) {
    IOMT_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    r.id.assign(s.Text(1));
    r.version_id = std::to_string(s.Int(2));
    r.json.assign(s.Text(3));
    f(s.Text(0), r);
  }
  return Status::Ok();
}

Status EmbeddedStore::CheckConsistency() {
  MutexLock lock(mu_);
  sqlite::Db& db = impl_->db;
  auto fail = [](const std::string& message) { return Internal("store inconsistent: " + message); };
  {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s, db.Prepare("PRAGMA integrity_check"));
    IOMT_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row || s.Text(0) != "ok") return fail("integrity_check: " + std::string(row ? s.Text(0) : ""));
  }
  std::unordered_map<std::int64_t, std::string> type_names;
  for (const auto& [name, tid] : impl_->types)
    type_names[tid] = name;
  using Key = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>;
  std::set<Key> expected;
  std::unordered_map<std::int64_t, std::int64_t> versions;
  {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s,
                          db.Prepare("SELECT rid, key, tid, id, version, deleted, dlo, dhi, json FROM resources"));
    json::Document doc;
    embedded::IndexRows rows;
    while (true) {
      IOMT_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      const std::int64_t rid = s.Int(0), tid = s.Int(2), version = s.Int(4);
      const std::string id(s.Text(3));
      versions[rid] = version;
      if (s.Int(1) != ResourceKey(tid, id)) return fail("key of " + id);
      if (s.Int(5) != 0) continue;
      if (!doc.Parse(s.Text(8)).ok()) return fail("JSON of " + id);
      json::Value v, meta;
      if (!doc.root().Find("id", &v) || v.string_value() != id) return fail("id in JSON of " + id);
      if (!doc.root().Find("resourceType", &v) || v.string_value() != type_names[tid]) return fail("type of " + id);
      if (!doc.root().Find("meta", &meta) || !meta.Find("versionId", &v) || v.string_value() != std::to_string(version))
        return fail("meta.versionId of " + id);
      embedded::ExtractIndex(doc.root(), &rows);
      for (const embedded::TokenRow& t : rows.tokens)
        expected.emplace(TokenKey(tid, t.param), t.value_hash, t.system_hash, rid);
      const bool has_date = !s.IsNull(6);
      if (has_date != rows.date_lo.has_value() ||
          (has_date && (s.Int(6) != *rows.date_lo || s.Int(7) != *rows.date_hi)))
        return fail("date of " + id);
    }
  }
  {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s,
                          db.Prepare("SELECT p, vh, sh, rid FROM tok UNION ALL SELECT p, vh, sh, rid FROM tok_delta"));
    std::size_t n = 0;
    while (true) {
      IOMT_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      ++n;
      if (expected.count(Key{s.Int(0), s.Int(1), s.Int(2), s.Int(3)}) == 0)
        return fail("a token row of a resource that does not have it (rid " + std::to_string(s.Int(3)) + ")");
    }
    if (n != expected.size()) return fail("token rows missing");
  }
  {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s,
                          db.Prepare("SELECT rid, count(*), min(version), max(version) FROM history GROUP BY rid"));
    std::size_t with_history = 0;
    while (true) {
      IOMT_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      auto it = versions.find(s.Int(0));
      if (it == versions.end()) return fail("history of a resource that does not exist");
      if (s.Int(1) != it->second - 1 || s.Int(2) != 1 || s.Int(3) != it->second - 1)
        return fail("versions not contiguous (rid " + std::to_string(s.Int(0)) + ")");
      ++with_history;
    }
    std::size_t should = 0;
    for (const auto& [rid, version] : versions)
      should += version > 1 ? 1 : 0;
    if (with_history != should) return fail("history missing");
  }
  return Status::Ok();
}

// ------------------------------------------------------ HTTP helpers ---

int HttpStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kNotFound: return status.detail() == "deleted" ? 410 : 404;
    case StatusCode::kConflict: return status.detail() == "precondition" ? 412 : 409;
    case StatusCode::kInvalidArgument:
    case StatusCode::kSyntaxError:
    case StatusCode::kTypeError:
    case StatusCode::kOutOfRange: return 400;
    case StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

std::string OperationOutcome(const Status& status) {
  const int http = HttpStatus(status);
  const char* code = "exception";
  if (http == 404 || http == 410) code = "not-found";
  if (http == 409 || http == 412) code = "conflict";
  if (http == 400) code = "invalid";
  std::string out = R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":")";
  out.append(code).append(R"(","diagnostics":)");
  json::AppendQuoted(&out, status.message());
  out.append("}]}");
  return out;
}

}  // namespace iomt::store
