#include "store/embedded/sqlite.h"

#include <utility>

namespace iomt::store::sqlite {

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

Db::~Db() { Close(); }

void Db::Close() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
  db_ = nullptr;
}

Status Db::Open(const std::string& path) {
  // The store serializes every call with its own mutex, so SQLite's are not
  // needed (SQLITE_OPEN_NOMUTEX).
  int rc =
      sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
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
  std::string message = "SQLite: ";
  message.append(err != nullptr ? err : sqlite3_errstr(rc));
  sqlite3_free(err);
  return rc == SQLITE_FULL || rc == SQLITE_IOERR || (rc & 0xff) == SQLITE_IOERR ? IoError(std::move(message))
                                                                                : Internal(std::move(message));
}

Result<Stmt> Db::Prepare(std::string_view sql) {
  Stmt s;
  s.db_ = this;
  int rc =
      sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s.stmt_, nullptr);
  if (rc != SQLITE_OK) return Error("SQLite prepare");
  return s;
}

Status Db::Error(std::string_view what) const {
  std::string message(what);
  message.append(": ").append(sqlite3_errmsg(db_));
  int rc = sqlite3_errcode(db_) & 0xff;
  if (rc == SQLITE_IOERR || rc == SQLITE_FULL || rc == SQLITE_CANTOPEN) return IoError(std::move(message));
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return Unavailable(std::move(message));
  return Internal(std::move(message));
}

}  // namespace iomt::store::sqlite
