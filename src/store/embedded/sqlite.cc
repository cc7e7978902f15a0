#include "store/embedded/sqlite.h"

#include <filesystem>
#include <mutex>
#include <utility>

namespace iomt::store::sqlite {

std::string DamagedAdvice(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  std::string out = "Stop iomt and run `iomt store --store ";
  out.append(dir.empty() ? "." : dir)
      .append(" check` to see what is wrong; then restore ")
      .append(path)
      .append(" from a backup, or move it aside (with its -wal and -shm files) to start with an empty store.");
  return out;
}

Stmt& Stmt::operator=(Stmt&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = other.stmt_;
    other.stmt_ = nullptr;
  }
  return *this;
}

Stmt::~Stmt() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Stmt& Stmt::Bind(int i, std::int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}

Stmt& Stmt::Bind(int i, std::string_view text, bool copy) {
  // A non-null pointer even for "" so that SQLite binds '' and not NULL.
  sqlite3_bind_text64(stmt_, i, text.empty() ? "" : text.data(), text.size(), copy ? SQLITE_TRANSIENT : SQLITE_STATIC,
                      SQLITE_UTF8);
  return *this;
}

Stmt& Stmt::BindBlob(int i, std::string_view bytes) {
  sqlite3_bind_blob64(stmt_, i, bytes.empty() ? "" : bytes.data(), bytes.size(), SQLITE_STATIC);
  return *this;
}

Stmt& Stmt::BindNull(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

Result<bool> Stmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status st = db_->Error("SQLite step");
  sqlite3_reset(stmt_);
  return st;
}

Result<bool> Stmt::NextRow() {
  Result<bool> r = Step();
  if (!r.ok()) Reset();
  return r;
}

Status Stmt::Run() {
  Result<bool> r = Step();
  Reset();
  if (!r.ok()) return r.status();
  return Status::Ok();
}

void Stmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string_view Stmt::Text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) return {};
  return {p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
}

std::string_view Stmt::Blob(int col) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  if (p == nullptr) return {};
  return {p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
}

Db::~Db() { Close(); }

void Db::Close() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
  db_ = nullptr;
}

Status Db::Open(const std::string& path) {
  // The store serializes every call with its own mutex, so SQLite's are not
  // needed (SQLITE_OPEN_NOMUTEX).
  return OpenWith(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
}

Status Db::OpenReadOnly(const std::string& path) {
  IOMT_RETURN_IF_ERROR(OpenWith(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX));
  sqlite3_busy_timeout(db_, 5000);
  return Status::Ok();
}

Status Db::OpenWith(const std::string& path, int flags) {
  // SQLite counts every allocation under one process-wide mutex by default
  // (SQLITE_CONFIG_MEMSTATUS), which serialized the writers of a split store
  // (docs/adr/0029): the counts are not used. It must be set before SQLite
  // initializes, i.e. before the first open; a process whose SQLite was
  // initialized already keeps its counts.
  static std::once_flag configured;
  std::call_once(configured, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  path_ = path;
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = "cannot open ";
    message.append(path).append(": ").append(db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    Close();
    return IoError(std::move(message));
  }
  sqlite3_extended_result_codes(db_, 1);
  return Status::Ok();
}

Status Db::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string message = err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return ErrorStatus(rc, "SQLite", message);
}

Result<Stmt> Db::Prepare(std::string_view sql) {
  Stmt s;
  s.db_ = this;
  int rc =
      sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s.stmt_, nullptr);
  if (rc != SQLITE_OK) return Error("SQLite prepare");
  return s;
}

Status Db::Error(std::string_view what) const { return ErrorStatus(sqlite3_errcode(db_), what, sqlite3_errmsg(db_)); }

Status Db::ErrorStatus(int rc, std::string_view what, std::string_view message) const {
  std::string text;
  switch (rc & 0xff) {
    case SQLITE_FULL:
      text.append(path_).append(": disk full (").append(what).append(": ").append(message).append(")");
      return IoError(std::move(text)).WithDetail(kDiskFull);
    case SQLITE_IOERR:
      text.append(path_).append(": I/O error (").append(what).append(": ").append(message).append(")");
      return IoError(std::move(text));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      text.append(path_).append(" is damaged (").append(what).append(": ").append(message).append("). ");
      text.append(DamagedAdvice(path_));
      return IoError(std::move(text)).WithDetail(kDamaged);
    default: break;
  }
  text.append(what).append(": ").append(message);
  if ((rc & 0xff) == SQLITE_CANTOPEN) return IoError(std::move(text));
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) return Unavailable(std::move(text));
  return Internal(std::move(text));
}

}  // namespace iomt::store::sqlite
