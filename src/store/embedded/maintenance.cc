// Maintenance of an embedded store: compaction (the history policy over the
// whole store, then VACUUM) and online backup (SQLite's backup API from a
// read snapshot). docs/adr/0008-embedded-store.md, "History policy,
// compaction, backup".
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <thread>

#include "common/strings.h"
#include "store/embedded/store_impl.h"

namespace iomt::store {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::int64_t FileBytes(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
}

Status Errno(std::string_view what, const std::string& path) {
  return IoError(Cat({what, " ", path, ": ", std::strerror(errno)}));
}

}  // namespace

namespace embedded {

Status EmptyDirectory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) return InvalidArgument(Cat({dir, " exists and is not a directory"}));
    if (!fs::is_empty(dir, ec)) {
      return InvalidArgument(Cat({dir, " is not empty: a backup goes into a new or empty directory"}));
    }
    if (ec) return IoError(Cat({"cannot read ", dir, ": ", ec.message()}));
    return Status::Ok();
  }
  const fs::path parent = fs::path(dir).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) return IoError(Cat({"cannot create ", parent.string(), ": ", ec.message()}));
  // 0700 from the start: the backup is patient data.
  if (::mkdir(dir.c_str(), 0700) != 0) return Errno("cannot create", dir);
  return Status::Ok();
}

Status SyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("cannot sync", path);
  return Status::Ok();
}

}  // namespace embedded

using embedded::EmptyDirectory;
using embedded::SyncPath;

std::int64_t EmbeddedStore::RemovedVersions() {
  MutexLock lock(mu_);
  return impl_->removed_versions;
}

Result<CompactReport> EmbeddedStore::Compact() {
  MutexLock lock(mu_);
  Impl& impl = *impl_;
  CompactReport report;
  IOMT_RETURN_IF_ERROR(impl.Commit());
  report.bytes_before = FileBytes(impl.path) + FileBytes(impl.path + "-wal");

  // The policy over the whole history, a transaction per slice: other
  // processes' writers (iomt serve) get the write lock between slices.
  const auto prune_start = Clock::now();
  const std::int64_t removed_before = impl.removed_versions;
  if (impl.HasHistoryPolicy()) {
    // This pass is the sweep's: none in Begin meanwhile.
    impl.sweeping = false;
    impl.next_sweep = Clock::time_point::max();
    impl.sweep_cursor = 0;
    constexpr std::int64_t kSliceRows = 20'000;
    bool done = false;
    while (!done) {
      IOMT_RETURN_IF_ERROR(impl.Begin());
      if (Status st = impl.SweepHistory(kSliceRows, &done); !st.ok()) {
        impl.next_sweep = Clock::now();
        impl.Rollback();
        return impl.RolledBack(st, "the compaction's pruning");
      }
      IOMT_RETURN_IF_ERROR(impl.Commit());
    }
  }
  report.removed_versions = impl.removed_versions - removed_before;
  report.prune_seconds = SecondsSince(prune_start);

  // VACUUM rewrites the file without its free pages: through a temporary
  // database, then the WAL (one transaction: a crash leaves the store as it
  // was; SQLite's locks keep other connections' writes out meanwhile). The
  // temporary database goes to a file: in memory (temp_store=MEMORY, the
  // store's setting for its sorts) it would hold the whole store.
  const auto vacuum_start = Clock::now();
  IOMT_RETURN_IF_ERROR(impl.db.Exec("PRAGMA temp_store=FILE"));
  Status vacuumed = impl.db.Exec("VACUUM");
  (void)impl.db.Exec("PRAGMA temp_store=MEMORY");
  if (!vacuumed.ok()) {
    impl.AfterRollback();
    return impl.RolledBack(vacuumed, "the VACUUM");
  }
  // Copies the rebuilt pages into store.db, which it truncates, and empties
  // the WAL (which held all of them). The checkpointer's PASSIVE run may
  // hold the checkpoint at that moment (busy is a result, not an error):
  // again shortly. Readers of other processes may keep the WAL from being
  // emptied; it is then emptied by a later checkpoint.
  IOMT_ASSIGN_OR_RETURN(sqlite::Stmt checkpoint, impl.db.Prepare("PRAGMA wal_checkpoint(TRUNCATE)"));
  for (int attempt = 0; attempt < 100; ++attempt) {
    IOMT_ASSIGN_OR_RETURN(bool row, checkpoint.NextRow());
    const bool busy = row && checkpoint.Int(0) != 0;
    checkpoint.Reset();
    if (!busy) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  report.vacuum_seconds = SecondsSince(vacuum_start);
  report.bytes_after = FileBytes(impl.path) + FileBytes(impl.path + "-wal");
  return report;
}

Result<BackupReport> EmbeddedStore::BackupTo(const std::string& dest_dir, int pages_per_step,
                                             const std::function<void(std::int64_t, std::int64_t)>& progress) {
  std::string source;
  {
    // What this process wrote is in the backup: pending single writes are
    // committed first.
    MutexLock lock(mu_);
    IOMT_RETURN_IF_ERROR(impl_->Commit());
    source = impl_->path;
  }
  const auto start = Clock::now();
  IOMT_RETURN_IF_ERROR(EmptyDirectory(dest_dir));
  const std::string dest = (std::filesystem::path(dest_dir) / "store.db").string();
  const std::string partial = dest + ".partial";
  {
    // Created here so that its mode is 0600 whatever the umask; SQLite's
    // journal takes the same mode.
    const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("cannot create", partial);
    ::close(fd);
  }
  auto fail = [&](Status st) {
    std::error_code ec;
    std::filesystem::remove(partial, ec);
    std::filesystem::remove(partial + "-journal", ec);
    return st;
  };

  // A connection of its own, not the writer's: the store's mutex is not held
  // while pages are copied, so this process's writes go on too. Its read
  // transaction fixes the snapshot for the whole backup: without it SQLite
  // would start the backup again after every commit of another connection,
  // and under a steady write load never finish. In WAL mode a reader does
  // not block writers; checkpoints stop at its snapshot, so the WAL holds
  // what is written meanwhile until the backup ends.
  sqlite::Db src;
  if (Status st = src.Open(source); !st.ok()) return fail(st);
  sqlite3_busy_timeout(src.handle(), 5000);
  if (Status st = src.Exec("BEGIN"); !st.ok()) return fail(st);
  {
    Result<sqlite::Stmt> first = src.Prepare("SELECT count(*) FROM sqlite_master");
    Result<bool> row = first.ok() ? first->NextRow() : Result<bool>(first.status());
    if (!row.ok()) return fail(row.status());
  }
  sqlite::Db dst;
  if (Status st = dst.Open(partial); !st.ok()) return fail(st);
  sqlite3_backup* backup = sqlite3_backup_init(dst.handle(), "main", src.handle(), "main");
  if (backup == nullptr) return fail(dst.Error("SQLite backup"));
  BackupReport report;
  int rc = SQLITE_OK;
  int busy = 0;
  while (true) {
    rc = sqlite3_backup_step(backup, pages_per_step > 0 ? pages_per_step : -1);
    ++report.steps;
    if (rc == SQLITE_DONE) break;
    if (rc == SQLITE_OK) {
      if (progress) {
        const std::int64_t total = sqlite3_backup_pagecount(backup);
        progress(total - sqlite3_backup_remaining(backup), total);
      }
      continue;
    }
    // The destination is ours alone, the source only read: busy is brief.
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && ++busy < 500) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    break;
  }
  report.pages = sqlite3_backup_pagecount(backup);
  const int finished = sqlite3_backup_finish(backup);
  (void)src.Exec("COMMIT");
  src.Close();
  if (rc != SQLITE_DONE || finished != SQLITE_OK) {
    Status st = dst.Error("SQLite backup");
    if (st.ok() || rc != SQLITE_DONE)
      st = IoError(Cat({"backup of ", source, " into ", partial, ": ", sqlite3_errstr(rc)}));
    dst.Close();
    return fail(st);
  }
  dst.Close();
  // The backup's transaction was synced by its commit; the rename makes it
  // store.db only once it is whole.
  if (Status st = SyncPath(partial, O_RDONLY); !st.ok()) return fail(st);
  if (::rename(partial.c_str(), dest.c_str()) != 0) return fail(Errno("cannot rename into", dest));
  IOMT_RETURN_IF_ERROR(SyncPath(dest_dir, O_RDONLY | O_DIRECTORY));
  report.bytes = FileBytes(dest);
  report.seconds = SecondsSince(start);
  return report;
}

}  // namespace iomt::store
