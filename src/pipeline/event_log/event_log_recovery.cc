// Opening an event log: the lock, the checkpoint, every segment checked
// record by record (CRC, contiguous seqs), the torn tail of the last one cut
// off, and anything else damaged reported with the file and what to do.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "pipeline/event_log/event_log_format.h"
#include "pipeline/event_log/event_log_impl.h"

namespace iomt::pipeline {

Status EventLog::Impl::OpenActive(const std::string& path, bool create) {
  if (active_fd_ >= 0) ::close(active_fd_);
  active_fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
  if (active_fd_ < 0) return Errno("open", path);
  active_path_ = path;
  struct stat st {};
  if (::fstat(active_fd_, &st) != 0) return Errno("stat", path);
  active_bytes_ = static_cast<std::uint64_t>(st.st_size);
  if (create) return SyncDir();  // the new name must survive a crash as well as the data in it
  return Status::Ok();
}

// Checks every record of a segment (CRC, seq in order from *expected) and
// keeps the uncommitted ones in pending_. A bad record in the last segment is
// a torn tail, cut off; elsewhere it is damage, an error.
Status EventLog::Impl::ScanSegment(const Segment& segment, bool last, std::uint64_t* expected) {
  IOMT_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(segment.path));
  std::size_t off = 0;
  const char* what = nullptr;  // why the record at `off` is bad
  while (off < bytes.size()) {
    const char* h = bytes.data() + off;
    if (bytes.size() - off < kHeaderBytes) {
      what = "the file ends inside a record header";
      break;
    }
    std::uint32_t length = GetU32(h);
    if (bytes.size() - off - kHeaderBytes < length) {
      what = "a record's length runs past the end of the file";
      break;
    }
    std::string_view data(h + kHeaderBytes, length);
    if (GetU32(h + 4) != RecordCrc(h, data)) {
      what = "a record's checksum does not match";
      break;
    }
    if (GetU64(h + 8) != *expected) {
      what = "a record is out of sequence";
      break;
    }
    if (*expected > committed_) {
      pending_.push_back({*expected, std::string(data)});
      pending_bytes_ += length;
    }
    ++*expected;
    off += kHeaderBytes + length;
  }
  if (off == bytes.size()) return Status::Ok();
  if (!last) {
    // Not a torn write: appends go to the last segment only, after this one
    // was synced whole. Truncating here would drop acknowledged records.
    return IoError("event log: damaged segment " + segment.path + ": at offset " + std::to_string(off) + " (record " +
                   std::to_string(*expected) + ") " + what + "; it is not the last segment, so this is not a write " +
                   "a crash cut short: the records from there on cannot be read. " + DamageAdvice());
  }
  int fd = ::open(segment.path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open", segment.path);
  bool ok = ::ftruncate(fd, static_cast<off_t>(off)) == 0 && (!options_.sync || ::fsync(fd) == 0);
  Status s = ok ? Status::Ok() : Errno("truncate", segment.path);
  ::close(fd);
  truncated_bytes_ = bytes.size() - off;
  return s;
}

Status EventLog::Impl::Recover() {
  // Nobody else has the log yet; the lock is for the analysis' sake (and free).
  MutexLock lock(mu_);
  std::error_code ec;
  // Queued events are patient data: the log's directory is private.
  if (std::filesystem::create_directories(dir_, ec) && !ec) {
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all, ec);
  }
  if (ec) return IoError("event log: cannot create " + dir_ + ": " + ec.message());
  dir_fd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) return Errno("open", dir_);
  if (options_.sync) {
    // The directory's own name must be durable too, or a power loss could
    // take the whole log with it (it may have just been created).
    std::filesystem::path self = std::filesystem::absolute(dir_, ec).lexically_normal();
    if (!self.has_filename()) self = self.parent_path();  // "dir/"
    const std::string parent = self.parent_path().string();
    int parent_fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent_fd < 0) return Errno("open", parent);
    Status synced = ::fsync(parent_fd) == 0 ? Status::Ok() : Errno("fsync", parent);
    ::close(parent_fd);
    IOMT_RETURN_IF_ERROR(synced);
  }
  const std::string lock_path = Path("LOCK");
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) return Errno("open", lock_path);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return Unavailable("event log: " + dir_ + " is in use by another process or log");
    return Errno("flock", lock_path);
  }

  // The checkpoint is replaced by rename, so it is whole or absent; anything
  // else is damage, and guessing could drop or replay a whole queue.
  const std::string checkpoint_path = Path("checkpoint");
  if (std::filesystem::exists(checkpoint_path, ec)) {
    IOMT_ASSIGN_OR_RETURN(std::string c, ReadWholeFile(checkpoint_path));
    if (c.size() != kCheckpointBytes || !c.starts_with(kCheckpointMagic) ||
        GetU32(c.data() + 16) != Crc32c(std::string_view(c.data(), 16))) {
      return IoError("event log: damaged checkpoint " + checkpoint_path +
                     " (it is replaced whole by a rename, so a crash cannot leave it so): which records were " +
                     "processed is unknown. " + DamageAdvice());
    }
    committed_ = GetU64(c.data() + 8);
  }
  std::filesystem::remove(Path("checkpoint.tmp"), ec);

  std::vector<Segment> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    std::uint64_t first = ParseSegmentName(entry.path().filename().string());
    if (first > 0) found.push_back({first, entry.path().string()});
  }
  if (ec) return IoError("event log: cannot list " + dir_ + ": " + ec.message());
  std::sort(found.begin(), found.end(), [](const Segment& a, const Segment& b) { return a.first_seq < b.first_seq; });

  // Segments wholly committed whose deletion a crash interrupted.
  std::size_t first_kept = 0;
  while (first_kept + 1 < found.size() && found[first_kept + 1].first_seq <= committed_ + 1) {
    std::filesystem::remove(found[first_kept].path, ec);
    ++first_kept;
  }
  found.erase(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(first_kept));

  std::uint64_t expected = found.empty() ? committed_ + 1 : found.front().first_seq;
  if (expected > committed_ + 1) {
    return IoError("event log: records " + std::to_string(committed_ + 1) + " to " + std::to_string(expected - 1) +
                   " are missing from " + dir_ + " (a segment file was removed). " + DamageAdvice());
  }
  for (std::size_t i = 0; i < found.size(); ++i) {
    if (found[i].first_seq != expected) {
      return IoError("event log: " + found[i].path + " should start at record " + std::to_string(expected) +
                     " (a segment file is missing or misnamed). " + DamageAdvice());
    }
    IOMT_RETURN_IF_ERROR(ScanSegment(found[i], i + 1 == found.size(), &expected));
  }
  pending_records_ = pending_.size();
  // The disk can be behind the checkpoint only if it lost synced data (or ran
  // with sync off): go on after the checkpoint, in a segment of its own so
  // that seqs stay contiguous within every file.
  next_seq_ = std::max(expected, committed_ + 1);
  segments_ = std::move(found);
  if (!segments_.empty() && expected == next_seq_) return OpenActive(segments_.back().path, false);
  segments_.push_back({next_seq_, Path(SegmentName(next_seq_))});
  return OpenActive(segments_.back().path, true);
}

std::string EventLog::Impl::DamageAdvice() const {
  return "Stop iomt, move the directory " + dir_ +
         " aside (keep it: the records in it can be recovered by hand) or restore it from a backup, and start " +
         "again with an empty queue.";
}

}  // namespace iomt::pipeline
