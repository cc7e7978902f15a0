// Bulk export from a snapshot: a read-only connection of its own, in one
// read transaction, so that a long export neither takes the store's lock
// nor sees half of a batch.
#include <chrono>

#include "store/embedded/packed_json.h"
#include "store/embedded/store_impl.h"

namespace iomt::store {

Status EmbeddedStore::ExportSnapshot(const std::vector<std::string>& types, std::optional<std::int64_t> since_ms,
                                     const std::function<Status(std::string_view type, std::string_view json)>& f,
                                     std::int64_t* at_ms) {
  std::string path;
  {
    MutexLock lock(mu_);
    path = impl_->path;
  }
  sqlite::Db db;
  IOMT_RETURN_IF_ERROR(db.OpenReadOnly(path));
  IOMT_RETURN_IF_ERROR(db.Exec("BEGIN"));
  // The snapshot starts at the transaction's first read.
  std::vector<std::string> names = types;
  {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s, db.Prepare("SELECT name FROM types ORDER BY name"));
    std::vector<std::string> all;
    while (true) {
      IOMT_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      all.emplace_back(s.Text(0));
    }
    if (names.empty()) names = std::move(all);
  }
  *at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
               .count();
  embedded::JsonPacker packer;
  // In the order they were first written (rowid order: no sort).
  std::string sql = "SELECT r.json FROM resources r JOIN types t ON t.tid=r.tid WHERE t.name=?1 AND r.deleted=0";
  if (since_ms) sql.append(" AND r.updated>=?2");
  sql.append(" ORDER BY r.rid");
  IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s, db.Prepare(sql));
  for (const std::string& type : names) {
    s.Bind(1, type);
    if (since_ms) s.Bind(2, *since_ms);
    while (true) {
      IOMT_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      IOMT_ASSIGN_OR_RETURN(std::string_view json, packer.Unpack(s.IsBlob(0) ? s.Blob(0) : s.Text(0), s.IsBlob(0)));
      IOMT_RETURN_IF_ERROR(f(type, json));
    }
    s.Reset();
  }
  return db.Exec("COMMIT");
}

}  // namespace iomt::store
