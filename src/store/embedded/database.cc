// The embedded store's SQLite file: its schema, opening (and recognizing) a
// store, the statements prepared once, the types table, the checkpointer,
// and transactions (the group commit's BEGIN/COMMIT, and savepoints).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>

#include "store/embedded/store_impl.h"

namespace iomt::store {
namespace {

// 'IOMT' in SQLite's application_id: how a store file is told from any
// other SQLite database.
constexpr std::int64_t kApplicationId = 0x494F4D54;
constexpr const char* kFormat = "4";
// Format 2 had the index resources_key on resources(key) instead of the kKey
// token rows; format 3 stored every json as text, where format 4 stores large
// ones as zstd frames (packed_json.h). Open migrates both in place (Migrate):
// a format 3 store's texts stay as they are (a json column holds either), but
// an older iomt must not open a store it would misread.

constexpr const char* kSchema = R"sql(
CREATE TABLE iomt_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE types(tid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
-- One row per resource: its current version. rid grows with each new
-- resource, so inserts append. key is a 64-bit hash of "type/id" (ids are
-- often SHA-256 hex: indexing the text would be four times larger); the
-- lookup by (type, id) goes through a token row of that hash (parameter 0,
-- kKey), not an index on this table: hashes are random, so an index's inserts
-- land on random leaves and every commit rewrote most of them, while token
-- rows go to the small tok_delta first (below). json is last so that the
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
CREATE INDEX resources_date ON resources(tid, dlo) WHERE dlo IS NOT NULL;
-- Superseded versions and deletions only.
CREATE TABLE history(
  rid INTEGER NOT NULL,
  version INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  json TEXT NOT NULL);
CREATE INDEX history_rid ON history(rid, version);
-- Token index: identifiers, codes and references of current versions, and
-- each resource's key. p = type number * 16 + parameter; vh = hash of the value (or referenced
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

// Every table and index of kSchema (and the one SQLite makes for the UNIQUE
// of types): a store whose schema lacks one is damaged.
constexpr const char* kSchemaObjects[] = {
    "iomt_meta", "types",    "sqlite_autoindex_types_1", "resources", "resources_date", "history", "history_rid",
    "tok",       "tok_delta"};
// The tables whose first page Init reads (through their root page).
constexpr const char* kTables[] = {"types", "resources", "history", "tok", "tok_delta"};

std::uint32_t BigEndian(const unsigned char* p, int n) {
  std::uint32_t v = 0;
  for (int i = 0; i < n; ++i)
    v = (v << 8) | p[i];
  return v;
}

// The database header (the first 100 bytes; sqlite.org/fileformat.html) of
// an existing store file, read before SQLite opens it: cheap, and it tells a
// damaged store from a file that is not a store. Empty when it looks sound
// (or there is no file yet), else what is wrong with it.
std::string HeaderProblem(const std::string& path, bool* not_sqlite) {
  *not_sqlite = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";  // absent: created; unreadable: SQLite says why
  struct stat st {};
  unsigned char h[100];
  ssize_t n = ::fstat(fd, &st) == 0 ? ::pread(fd, h, sizeof(h), 0) : -1;
  ::close(fd);
  if (n < 0 || st.st_size == 0) return "";
  // 'IOMT', our application_id, at offset 68 says it was a store, whatever
  // else was overwritten.
  const bool ours = n == 100 && BigEndian(h + 68, 4) == static_cast<std::uint32_t>(kApplicationId);
  if (n < 100) {
    *not_sqlite = true;
    return "the file is shorter than a database header (" + std::to_string(n) + " bytes)";
  }
  if (std::memcmp(h, "SQLite format 3", 16) != 0) {
    *not_sqlite = !ours;
    return "its header does not start with \"SQLite format 3\"";
  }
  const std::uint32_t page = BigEndian(h + 16, 2) == 1 ? 65536 : BigEndian(h + 16, 2);
  if (page < 512 || (page & (page - 1)) != 0)
    return "its header gives an impossible page size (" + std::to_string(page) + ")";
  if (h[18] < 1 || h[18] > 2 || h[19] < 1 || h[19] > 2) return "its header gives an unknown file format version";
  if (h[21] != 64 || h[22] != 32 || h[23] != 32) return "its header's payload fractions are not SQLite's fixed values";
  // A checkpoint copies pages from the WAL into the file, and a page write
  // that extends the file lands 4 KiB at a time: a process that dies during
  // it (SIGKILL, or a process ending while its checkpointer runs), or one
  // checkpointing while this one looks, leaves the size between two pages.
  // The WAL still holds that page then and the next checkpoint writes it
  // whole, so the size says something only when there is no WAL to replay.
  struct stat wal {};
  const bool wal_has_frames = ::stat((path + "-wal").c_str(), &wal) == 0 && wal.st_size >= 32 + 24 + page;
  if (static_cast<std::uint64_t>(st.st_size) % page != 0 && !wal_has_frames) {
    return "its size (" + std::to_string(st.st_size) + " bytes) is not a whole number of " + std::to_string(page) +
           "-byte pages (cut short?)";
  }
  return "";
}

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
  if (!options.split_part.empty()) {
    // "k/n", as SplitStore::Open sets it.
    const std::string& part = options.split_part;
    const std::size_t slash = part.find('/');
    const char* end = part.data() + part.size();
    auto [k_end, k_ec] = std::from_chars(part.data(), part.data() + std::min(slash, part.size()), part_k);
    auto [n_end, n_ec] = slash == std::string::npos ? std::from_chars(end, end, part_n)
                                                    : std::from_chars(part.data() + slash + 1, end, part_n);
    if (slash == std::string::npos || k_ec != std::errc() || n_ec != std::errc() || k_end != part.data() + slash ||
        n_end != end || part_n < 2 || part_k >= part_n) {
      return InvalidArgument("not a part of a split store: '" + part + "' (k/n, k < n)");
    }
  }
  // A damaged store is told at open, cheaply: the header, the schema, and
  // the root page of every table (each read is a few pages, whatever the
  // size of the store). Damage deeper in the file is found by reads that
  // reach it (an error naming the file) and by `iomt store check`, which
  // reads every page: too slow to run at every start of a big store.
  bool not_sqlite = false;
  if (std::string problem = HeaderProblem(path, &not_sqlite); !problem.empty()) {
    if (not_sqlite) {
      return InvalidArgument(path + " is not an iomt store (not a SQLite database: " + problem +
                             "). If it was one, it is damaged: " + sqlite::DamagedAdvice(path));
    }
    return IoError(path + " is damaged: " + problem + ". " + sqlite::DamagedAdvice(path)).WithDetail(sqlite::kDamaged);
  }
  IOMT_RETURN_IF_ERROR(db.Open(path));
  sqlite3_busy_timeout(db.handle(), 5000);
  // The first read tells a database from any other file.
  Result<sqlite::Stmt> prepared = db.Prepare("SELECT count(*) FROM sqlite_master");
  Result<bool> row = prepared.ok() ? prepared->Step() : Result<bool>(prepared.status());
  if (!row.ok()) {
    if ((db.ErrorCode() & 0xff) == SQLITE_NOTADB) {
      return InvalidArgument(path + " is not an iomt store (not a SQLite database)");
    }
    return row.status();  // damaged or unreadable, said with the file's name
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

  if (empty && options.page_size_kib > 0) {
    // Only before the first table: later it would take a VACUUM.
    const std::string page = "PRAGMA page_size=" + std::to_string(options.page_size_kib * 1024);
    IOMT_RETURN_IF_ERROR(db.Exec(page.c_str()));
  }
  IOMT_RETURN_IF_ERROR(db.Exec("PRAGMA journal_mode=WAL"));
  IOMT_RETURN_IF_ERROR(db.Exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  std::string cache = "PRAGMA cache_size=-" + std::to_string(std::max(1, options.cache_mib) * 1024);
  IOMT_RETURN_IF_ERROR(db.Exec(cache.c_str()));
  IOMT_RETURN_IF_ERROR(db.Exec("PRAGMA temp_store=MEMORY"));
  // Checkpoints run on the Checkpointer's connection, not in commits.
  IOMT_RETURN_IF_ERROR(db.Exec("PRAGMA wal_autocheckpoint=0"));
  // (After wal_autocheckpoint, which installs a hook of its own.)
  sqlite3_wal_hook(
      db.handle(),
      [](void* self, sqlite3* /*db*/, const char* /*name*/, int frames) {
        static_cast<EmbeddedStore::Impl*>(self)->wal_frames = frames;
        return SQLITE_OK;
      },
      this);
  // Once checkpointed, a WAL bigger than this is cut back when it restarts.
  IOMT_RETURN_IF_ERROR(db.Exec("PRAGMA journal_size_limit=67108864"));
  {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt size, db.Prepare("PRAGMA page_size"));
    IOMT_ASSIGN_OR_RETURN(bool has_size, size.Step());
    page_size = has_size ? size.Int(0) : 0;
  }

  if (empty) {
    IOMT_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    Status st = db.Exec(kSchema);
    if (st.ok()) {
      std::string meta = "INSERT INTO iomt_meta VALUES('format','";
      meta.append(kFormat).append("'); PRAGMA application_id=").append(std::to_string(kApplicationId));
      st = db.Exec(meta.c_str());
    }
    if (st.ok() && !options.split_part.empty()) {
      Result<sqlite::Stmt> split = db.Prepare("INSERT INTO iomt_meta VALUES('split', ?1)");
      st = split.ok() ? split->Bind(1, options.split_part).Run() : split.status();
      // A new part keeps the record of what was written unrouted from its
      // first write (UnroutedTypes).
      if (st.ok()) st = db.Exec("INSERT INTO iomt_meta VALUES('placement', 'tracked')");
    }
    if (!st.ok()) {
      (void)db.Exec("ROLLBACK");
      return st;
    }
    IOMT_RETURN_IF_ERROR(db.Exec("COMMIT"));
  } else {
    IOMT_RETURN_IF_ERROR(Migrate());
    IOMT_RETURN_IF_ERROR(CheckSchema());
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt format, db.Prepare("SELECT value FROM iomt_meta WHERE key='format'"));
    IOMT_ASSIGN_OR_RETURN(bool has_format, format.Step());
    if (!has_format || format.Text(0) != kFormat) {
      std::string message = path;
      message.append(" is an iomt store of another format (expected format ").append(kFormat).append(")");
      return InvalidArgument(std::move(message));
    }
    IOMT_RETURN_IF_ERROR(CheckSplit());
  }

  auto prepare = [&](sqlite::Stmt* s, std::string_view sql) -> Status {
    IOMT_ASSIGN_OR_RETURN(*s, db.Prepare(sql));
    return Status::Ok();
  };
  IOMT_RETURN_IF_ERROR(prepare(&find,
                               "SELECT r.rid, r.tid, r.id, r.version, r.updated, r.deleted FROM "
                               "(SELECT rid FROM tok WHERE p=?1 AND vh=?2 UNION ALL SELECT rid FROM tok_delta "
                               "WHERE p=?1 AND vh=?2) t JOIN resources r ON r.rid=t.rid"));
  IOMT_RETURN_IF_ERROR(prepare(&find_json, "SELECT json FROM resources WHERE rid=?1"));
  IOMT_RETURN_IF_ERROR(prepare(&insert_resource,
                               "INSERT OR FAIL INTO resources(key, tid, id, version, updated, deleted, dlo, dhi, json) "
                               "VALUES(?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8)"));
  IOMT_RETURN_IF_ERROR(prepare(&insert_key, "INSERT INTO tok_delta(p, vh, sh, rid) VALUES(?1, ?2, 0, ?3)"));
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
  IOMT_RETURN_IF_ERROR(prepare(&by_identifier, kByIdentifierSql));
  IOMT_RETURN_IF_ERROR(prepare(&by_identifier_system, kByIdentifierSystemSql));
  IOMT_RETURN_IF_ERROR(
      prepare(&history_of, "SELECT version, updated, deleted, json FROM history WHERE rid=?1 ORDER BY version DESC"));
  IOMT_RETURN_IF_ERROR(
      prepare(&history_version, "SELECT version, updated, deleted, json FROM history WHERE rid=?1 AND version=?2"));
  IOMT_RETURN_IF_ERROR(prepare(&insert_type, "INSERT INTO types(name) VALUES(?1)"));
  // The history policy (history.cc). A resource's oldest versions first, by
  // history_rid; the sweep reads the index alone unless it needs `updated`.
  IOMT_RETURN_IF_ERROR(prepare(&trim_history,
                               "DELETE FROM history WHERE rowid IN (SELECT rowid FROM history "
                               "WHERE rid=?1 AND version<=?2 ORDER BY version LIMIT 2)"));
  IOMT_RETURN_IF_ERROR(prepare(&remove_versions, "DELETE FROM history WHERE rid=?1 AND version>=?2 AND version<=?3"));
  IOMT_RETURN_IF_ERROR(prepare(&sweep_end, "SELECT rid FROM history WHERE rid>?1 ORDER BY rid LIMIT 1 OFFSET ?2"));
  IOMT_RETURN_IF_ERROR(prepare(&sweep_groups,
                               "SELECT h.rid, min(h.version), max(h.version), "
                               "(SELECT version FROM resources r WHERE r.rid=h.rid), NULL "
                               "FROM history h WHERE h.rid>?1 AND h.rid<=?2 GROUP BY h.rid ORDER BY h.rid"));
  IOMT_RETURN_IF_ERROR(prepare(&sweep_groups_aged,
                               "SELECT h.rid, min(h.version), max(h.version), "
                               "(SELECT version FROM resources r WHERE r.rid=h.rid), "
                               "max(CASE WHEN h.updated<?3 THEN h.version END) "
                               "FROM history h WHERE h.rid>?1 AND h.rid<=?2 GROUP BY h.rid ORDER BY h.rid"));
  IOMT_RETURN_IF_ERROR(prepare(&mark_pruned, "INSERT OR REPLACE INTO iomt_meta VALUES('history','pruned')"));
  IOMT_RETURN_IF_ERROR(ReloadPruned());
  IOMT_RETURN_IF_ERROR(prepare(&note_unrouted, "INSERT OR IGNORE INTO iomt_meta VALUES('unrouted:' || ?1, '1')"));
  IOMT_RETURN_IF_ERROR(LoadUnrouted());
  // One pass of the sweep after open: what an earlier policy (or none) kept
  // beyond this one goes, a slice per transaction.
  sweeping = HasHistoryPolicy();
  next_sweep = std::chrono::steady_clock::now();
  IOMT_RETURN_IF_ERROR(checkpointer.Start(path));
  return ReloadTypes();
}

Status EmbeddedStore::Impl::CheckSplit() {
  IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s, db.Prepare("SELECT value FROM iomt_meta WHERE key='split'"));
  IOMT_ASSIGN_OR_RETURN(bool has_split, s.Step());
  const std::string recorded = has_split ? std::string(s.Text(0)) : std::string();
  if (recorded == options.split_part) return Status::Ok();
  std::string message = path;
  if (options.split_part.empty()) {
    message.append(" is part ")
        .append(recorded)
        .append(
            " of a store split in files (docs/adr/0029-store-split.md), which iomt does not open as a store "
            "of its own");
  } else if (recorded.empty()) {
    message.append(" is a store of one file, not part ").append(options.split_part).append(" of a split store");
  } else {
    message.append(" is part ").append(recorded).append(" of a split store, not part ").append(options.split_part);
  }
  return InvalidArgument(std::move(message));
}

Status EmbeddedStore::Impl::LoadUnrouted() {
  IOMT_ASSIGN_OR_RETURN(sqlite::Stmt tracked, db.Prepare("SELECT 1 FROM iomt_meta WHERE key='placement'"));
  IOMT_ASSIGN_OR_RETURN(placement_tracked, tracked.Step());
  // A store without the record (of one file, or a part made before it was
  // kept) may hold anything anywhere.
  if (!placement_tracked) {
    unrouted.SetAll();
    return Status::Ok();
  }
  unrouted.Reset();
  IOMT_ASSIGN_OR_RETURN(
      sqlite::Stmt s,
      db.Prepare("SELECT substr(key, 10) FROM iomt_meta WHERE key >= 'unrouted:' AND key < 'unrouted;'"));
  for (;;) {
    IOMT_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    unrouted.Note(s.Text(0));
  }
  return Status::Ok();
}

Status EmbeddedStore::Impl::NoteUnrouted(std::string_view type) {
  if (!placement_tracked || placed_by_identifier) return Status::Ok();
  // Before the write: a lane that looks meanwhile searches this part.
  unrouted.Note(type);
  if (unrouted_noted.find(type) != unrouted_noted.end()) return Status::Ok();
  IOMT_RETURN_IF_ERROR(note_unrouted.Bind(1, type).Run());
  unrouted_noted.emplace(type);
  return Status::Ok();
}

Status EmbeddedStore::Impl::ReloadPruned() {
  IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s, db.Prepare("SELECT value FROM iomt_meta WHERE key='history'"));
  IOMT_ASSIGN_OR_RETURN(bool row, s.Step());
  pruned = row && s.Text(0) == "pruned";
  return Status::Ok();
}

// A format 2 store becomes format 3: a kKey token row for each resource (into
// tok, in key order), and the index resources_key dropped; a format 3 store
// becomes format 4 by its mark alone. One transaction, so a crash leaves the
// old format; the format is read again inside it, so two processes opening
// the same old store migrate it once. Anything that is not a readable format
// 2 or 3 store is left to CheckSchema and the format check.
Status EmbeddedStore::Impl::Migrate() {
  static_assert(static_cast<int>(embedded::TokenParam::kKey) == 0, "the SQL below writes p = tid * 16");
  auto format = [this]() -> std::string {
    Result<sqlite::Stmt> s = db.Prepare("SELECT value FROM iomt_meta WHERE key='format'");
    if (!s.ok()) return "";
    Result<bool> row = s->Step();
    return row.ok() && *row ? std::string(s->Text(0)) : "";
  };
  auto migrates = [](const std::string& f) { return f == "2" || f == "3"; };
  if (!migrates(format())) return Status::Ok();
  IOMT_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  Status st;
  const std::string from = format();
  if (from == "2") {
    st = db.Exec(
        "INSERT OR IGNORE INTO tok(p, vh, sh, rid) SELECT tid * 16, key, 0, rid FROM resources ORDER BY 1, 2, 3, 4; "
        "DROP INDEX IF EXISTS resources_key;");
  }
  if (st.ok() && migrates(from)) {
    const std::string mark = std::string("UPDATE iomt_meta SET value='") + kFormat + "' WHERE key='format';";
    st = db.Exec(mark.c_str());
  }
  if (!st.ok()) {
    (void)db.Exec("ROLLBACK");
    return st;
  }
  return db.Exec("COMMIT");
}

Status EmbeddedStore::Impl::CheckSchema() {
  std::unordered_set<std::string> names;
  {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s, db.Prepare("SELECT name FROM sqlite_master"));
    while (true) {
      IOMT_ASSIGN_OR_RETURN(bool row, s.NextRow());
      if (!row) break;
      names.emplace(s.Text(0));
    }
  }
  for (const char* name : kSchemaObjects) {
    if (names.count(name) == 0) {
      return IoError(path + " is damaged: its schema has no '" + name + "'. " + sqlite::DamagedAdvice(path))
          .WithDetail(sqlite::kDamaged);
    }
  }
  // A damaged root page would fail every statement on its table.
  for (const char* table : kTables) {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s, db.Prepare(std::string("SELECT 1 FROM ") + table + " LIMIT 1"));
    IOMT_RETURN_IF_ERROR(s.NextRow().status());
  }
  return Status::Ok();
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
  ++txn;
  // Each transaction moves what tok_delta holds beyond its size into tok,
  // whatever writes follow (batches, bundles or single writes).
  if (delta_rows > options.token_delta_rows) {
    if (Status st = MergeDelta(delta_rows - options.token_delta_rows); !st.ok()) {
      Rollback();
      return RolledBack(st, "the transaction");
    }
  }
  // So does a slice of the history sweep: in the writer's own transaction,
  // since a second connection would have to take SQLite's one write lock
  // and make the writer wait for it (and could never get it while single
  // writes keep a transaction open).
  if (SweepDue()) {
    bool done = false;
    if (Status st = SweepHistory(options.history_sweep_rows, &done); !st.ok()) {
      Rollback();
      return RolledBack(st, "the transaction");
    }
  }
  return Status::Ok();
}

void EmbeddedStore::Impl::RestartWalIfLarge() {
  // wal_frames: from SQLite's WAL hook, the frames the WAL holds after this
  // commit (the file's size says nothing: it keeps its high-water mark).
  if (options.wal_restart_mib <= 0 || page_size <= 0) return;
  if (wal_frames * page_size < static_cast<std::int64_t>(options.wal_restart_mib) * 1024 * 1024) return;
  // RESTART waits (busy timeout) for the checkpointer's copy and readers,
  // copies what is left, and makes the next commit write the WAL from its
  // start (journal_size_limit then cuts the file back). Busy or failed: the
  // WAL only stays long until the next try; nothing is lost either way.
  int frames = 0;
  int copied = 0;
  (void)sqlite3_wal_checkpoint_v2(db.handle(), nullptr, SQLITE_CHECKPOINT_RESTART, &frames, &copied);
  ++wal_restarts;
}

Status EmbeddedStore::Impl::Commit() {
  if (!in_txn) return Status::Ok();
  const auto start = std::chrono::steady_clock::now();
  Status st = db.Exec("COMMIT");
  if (commit_ms.size() >= 100'000) commit_ms.erase(commit_ms.begin(), commit_ms.begin() + 50'000);
  commit_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  in_txn = false;
  const std::size_t pending_before = std::exchange(pending, 0);
  if (st.ok()) {
    if (!changes.empty()) {
      if (on_commit) on_commit(std::move(changes));
      changes.clear();
    }
    RestartWalIfLarge();
    checkpointer.Notify();
    return st;
  }
  // A failed COMMIT (a full disk, an I/O error) may leave the transaction
  // open: undo it whole, so the store stays as it was at the last commit and
  // takes the next transaction as if this one had never been.
  if (sqlite3_get_autocommit(db.handle()) == 0) (void)db.Exec("ROLLBACK");
  AfterRollback();
  Status failed = RolledBack(st, "the transaction");
  LosePending(pending_before, failed);
  return failed;
}

void EmbeddedStore::Impl::Rollback() {
  if (!in_txn) return;
  (void)db.Exec("ROLLBACK");
  in_txn = false;
  const std::size_t pending_before = std::exchange(pending, 0);
  AfterRollback();
  LosePending(pending_before, IoError("embedded store " + path + ": a failed write rolled back the " +
                                      std::to_string(pending_before) + " single writes waiting for a commit"));
}

void EmbeddedStore::Impl::LosePending(std::size_t pending_before, const Status& why) {
  if (pending_before == 0) return;
  lost[txn] = why;
  while (lost.size() > 256)
    lost.erase(lost.begin());
}

Status EmbeddedStore::Impl::TakeLost() {
  auto it = waiting.find(std::this_thread::get_id());
  if (it == waiting.end()) return Status::Ok();
  const auto [first, last] = it->second;
  const bool open = in_txn && last == txn;  // its newest writes still wait for their commit
  // Any of its transactions may have been lost, not only the newest: after
  // a failed commit its next writes go to a new one, which may commit.
  auto gone = lost.lower_bound(first);
  Status st = gone != lost.end() && gone->first <= last ? gone->second : Status::Ok();
  if (open) {
    it->second.first = last;
  } else {
    waiting.erase(it);
  }
  return st;
}

void EmbeddedStore::Impl::AfterRollback() {
  changes.clear();
  change_marks.clear();
  unrouted_noted.clear();  // their rows may have gone with it (the types stay noted)
  // What was cached about the rolled-back writes is gone with them.
  (void)ReloadTypes();
  (void)ReloadPruned();
  Result<sqlite::Stmt> count = db.Prepare("SELECT count(*) FROM tok_delta");
  Result<bool> row = count.ok() ? count->Step() : Result<bool>(count.status());
  if (row.ok() && *row) delta_rows = count->Int(0);
}

Status EmbeddedStore::Impl::RolledBack(const Status& st, std::string_view what) const {
  if (st.code() != StatusCode::kIoError) return st;
  std::string message = "embedded store ";
  message.append(st.message()).append("; ").append(what).append(" was rolled back: none of its writes is stored");
  if (st.detail() == sqlite::kDiskFull) message.append(" (write it again once there is space)");
  return Status(StatusCode::kIoError, std::move(message)).WithDetail(st.detail());
}

Status EmbeddedStore::Impl::Savepoint(const char* name) {
  IOMT_RETURN_IF_ERROR(db.Exec(std::string("SAVEPOINT ").append(name).c_str()));
  change_marks.push_back(changes.size());
  return Status::Ok();
}

Status EmbeddedStore::Impl::Release(const char* name) {
  IOMT_RETURN_IF_ERROR(db.Exec(std::string("RELEASE ").append(name).c_str()));
  if (!change_marks.empty()) change_marks.pop_back();
  return Status::Ok();
}

void EmbeddedStore::Impl::RollbackTo(const char* name) {
  std::string sql = "ROLLBACK TO ";
  sql.append(name).append("; RELEASE ").append(name);
  (void)db.Exec(sql.c_str());
  if (!change_marks.empty()) {
    changes.resize(std::min(changes.size(), change_marks.back()));
    change_marks.pop_back();
  }
  if (in_txn && sqlite3_get_autocommit(db.handle()) != 0) {
    // After some errors (a full disk while the cache spilled, an I/O error)
    // SQLite rolls the whole transaction back itself: the pending single
    // writes went with it, and the next Flush must say so.
    in_txn = false;
    const std::size_t pending_before = std::exchange(pending, 0);
    AfterRollback();
    LosePending(pending_before, IoError("embedded store " + path + ": a failed write rolled back the " +
                                        std::to_string(pending_before) + " single writes waiting for a commit"));
    return;
  }
  // A type created inside the savepoint is gone again, and so may be an
  // unrouted type's row.
  (void)ReloadTypes();
  unrouted_noted.clear();
}

Status EmbeddedStore::Impl::AfterSingleWrite() {
  auto [entry, added] = waiting.try_emplace(std::this_thread::get_id(), txn, txn);
  if (!added) entry->second.second = txn;
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
