// A thin RAII layer over the SQLite C API, for the embedded store only:
// statements prepared once and reset after each use, errors as Status with
// SQLite's own message. Not thread-safe; the store serializes access.
//
// Errors that are about the file rather than the statement name the file:
// a full disk (kIoError, detail kDiskFull), an I/O error (kIoError) and a
// damaged file (kIoError, detail kDamaged, with what to do about it).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace iomt::store::sqlite {

class Db;

// Status details of the errors above.
inline constexpr const char* kDiskFull = "disk_full";
inline constexpr const char* kDamaged = "damaged";

// What to do about a damaged store file at `path` (DIR/store.db).
std::string DamagedAdvice(const std::string& path);

class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Stmt& operator=(Stmt&& other) noexcept;
  ~Stmt();

  [[nodiscard]] bool valid() const { return stmt_ != nullptr; }

  // Parameters are 1-based, as in SQLite. Text is copied only when `copy`
  // (SQLITE_TRANSIENT); the default binds the caller's bytes, which must stay
  // alive until the statement is reset.
  Stmt& Bind(int i, std::int64_t v);
  Stmt& Bind(int i, std::string_view text, bool copy = false);
  // Bytes as a BLOB (not copied: alive until the reset, as above).
  Stmt& BindBlob(int i, std::string_view bytes);
  Stmt& BindNull(int i);

  // One step: true when a row is ready, false when done, or an error.
  Result<bool> Step();
  // Step for a loop over rows: on an error the statement is also Reset
  // (its bindings cleared), so that the loop can return the error at once.
  Result<bool> NextRow();
  // Steps to the end (for statements that return no rows) and resets.
  Status Run();
  // Resets the statement and clears its bindings, ready for the next use.
  void Reset();

  [[nodiscard]] std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  [[nodiscard]] bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  [[nodiscard]] bool IsBlob(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_BLOB; }
  // Valid until the next Step or Reset.
  [[nodiscard]] std::string_view Text(int col) const;
  // A BLOB's bytes (of any other value, its text); valid as Text.
  [[nodiscard]] std::string_view Blob(int col) const;

 private:
  friend class Db;
  Db* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Db {
 public:
  Db() = default;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  Status Open(const std::string& path);
  // A connection that only reads (another thread's, beside the writer's).
  Status OpenReadOnly(const std::string& path);
  void Close();
  [[nodiscard]] sqlite3* handle() const { return db_; }
  [[nodiscard]] const std::string& path() const { return path_; }

  // Runs one or more statements that return no rows.
  Status Exec(const char* sql);
  Result<Stmt> Prepare(std::string_view sql);
  // A Status for the connection's last error, prefixed with `what`.
  [[nodiscard]] Status Error(std::string_view what) const;
  [[nodiscard]] int ErrorCode() const { return sqlite3_errcode(db_); }

 private:
  Status OpenWith(const std::string& path, int flags);
  // The Status for result code `rc` with SQLite's message `message`.
  [[nodiscard]] Status ErrorStatus(int rc, std::string_view what, std::string_view message) const;

  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace iomt::store::sqlite
