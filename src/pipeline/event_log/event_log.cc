// The event log's files, in its directory:
//   00000000000000000001.log  segments, each named by the seq of its first
//                             record; records framed as
//                             [u32 length][u32 crc32c][u64 seq][data], little
//                             endian, the CRC over length, seq and data
//   checkpoint                "IOMTCKP1", u64 committed seq, u32 crc32c
//   LOCK                      flock'ed while open
// Appends go to the last segment only, so after a crash damage can only be a
// torn tail there; anything else is reported, not repaired. A group write
// that fails (disk full, I/O error) is cut off the segment again before
// anyone hears of it, so the files never hold a half-written group.
#include "pipeline/event_log/event_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <system_error>
#include <utility>
#include "common/mutex.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace iomt::pipeline {

namespace {

constexpr std::size_t kHeaderBytes = 16;  // length, crc, seq
constexpr std::uint64_t kMaxRecordBytes = 0xFFFFFFFFull;
constexpr std::string_view kCheckpointMagic = "IOMTCKP1";
constexpr std::size_t kCheckpointBytes = 8 + 8 + 4;
constexpr std::string_view kSegmentSuffix = ".log";
constexpr std::size_t kSegmentDigits = 20;

// ---- CRC-32C ----------------------------------------------------------------

constexpr std::array<std::uint32_t, 256> MakeCrcTable() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected Castagnoli polynomial
    table[i] = c;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = MakeCrcTable();

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t Crc32cSse42(std::string_view data, std::uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  std::uint64_t c = ~crc;
  while (n >= 8) {
    std::uint64_t v = 0;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n-- > 0)
    c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}
#endif

// ---- encoding -----------------------------------------------------------------

void PutU32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<char>(v >> (8 * i));
}
void PutU64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = static_cast<char>(v >> (8 * i));
}
std::uint32_t GetU32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
std::uint64_t GetU64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// The CRC of a record: its length and seq fields (bytes 0-3 and 8-15 of the
// header) and its data, so that a damaged length or seq is caught too.
std::uint32_t RecordCrc(const char* header, std::string_view data) {
  std::uint32_t crc = Crc32c(std::string_view(header, 4));
  crc = Crc32c(std::string_view(header + 8, 8), crc);
  return Crc32c(data, crc);
}

// Frames `data` as record `seq` at `out` (kHeaderBytes + data.size() bytes).
void EncodeRecord(char* out, std::uint64_t seq, std::string_view data) {
  PutU32(out, static_cast<std::uint32_t>(data.size()));
  PutU64(out + 8, seq);
  if (!data.empty()) std::memcpy(out + kHeaderBytes, data.data(), data.size());
  PutU32(out + 4, RecordCrc(out, data));
}

// ---- files --------------------------------------------------------------------

// Takes no computed string, so that errno is read before anything can
// change it. A full disk says so in words an operator searches for.
Status Errno(const char* op, const std::string& path) {
  int err = errno;
  std::string message = std::string("event log: ") + op + " " + path + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) message.append(" (disk full)");
  return IoError(std::move(message));
}

// The test hook that stands in for fdatasync of a segment (to inject EIO).
std::atomic<int (*)(int)> segment_sync_for_test{nullptr};

int SyncSegment(int fd) {
  if (int (*hook)(int) = segment_sync_for_test.load(std::memory_order_relaxed)) return hook(fd);
  return ::fdatasync(fd);
}

Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

Result<std::string> ReadWholeFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open", path);
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Errno("read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string SegmentName(std::uint64_t first_seq) {
  std::string digits = std::to_string(first_seq);
  return std::string(kSegmentDigits - digits.size(), '0') + digits + std::string(kSegmentSuffix);
}

// The first seq a segment file name stands for, or 0 when it is not one.
std::uint64_t ParseSegmentName(const std::string& name) {
  if (name.size() != kSegmentDigits + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) return 0;
  std::uint64_t seq = 0;
  for (std::size_t i = 0; i < kSegmentDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    seq = seq * 10 + static_cast<std::uint64_t>(name[i] - '0');
  }
  return seq;
}

}  // namespace

std::uint32_t internal::Crc32cPortable(std::string_view data, std::uint32_t crc) {
  crc = ~crc;
  for (unsigned char b : data)
    crc = kCrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void internal::SetSegmentSyncForTest(int (*sync)(int fd)) { segment_sync_for_test.store(sync); }

std::uint32_t Crc32c(std::string_view data, std::uint32_t crc) {
#if defined(__x86_64__)
  static const bool kHasSse42 = __builtin_cpu_supports("sse4.2");
  if (kHasSse42) return Crc32cSse42(data, crc);
#endif
  return internal::Crc32cPortable(data, crc);
}

// ---- the log --------------------------------------------------------------------

class EventLog::Impl {
 public:
  Impl(std::string dir, EventLogOptions options) : dir_(std::move(dir)), options_(options) {}
  ~Impl() {
    Close();
    for (int fd : {active_fd_, dir_fd_, lock_fd_})
      if (fd >= 0) ::close(fd);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Status Recover();
  Status Append(const std::vector<std::string_view>& records, std::uint64_t* first_seq);
  Result<std::vector<LogRecord>> Read(std::size_t max_records, std::size_t max_bytes, std::chrono::milliseconds wait);
  Status Commit(std::uint64_t seq);
  void Rewind() {
    MutexLock lock(mu_);
    read_index_ = 0;
  }
  void Close();

  std::uint64_t pending_records() const {
    MutexLock lock(mu_);
    return pending_records_;
  }
  std::uint64_t pending_bytes() const {
    MutexLock lock(mu_);
    return pending_bytes_;
  }
  std::uint64_t committed_seq() const {
    MutexLock lock(mu_);
    return committed_;
  }
  std::uint64_t next_seq() const {
    MutexLock lock(mu_);
    return next_seq_;
  }
  std::uint64_t truncated_bytes() const { return truncated_bytes_; }
  std::uint64_t appends() const {
    MutexLock lock(mu_);
    return appends_;
  }
  std::uint64_t group_writes() const {
    MutexLock lock(mu_);
    return group_writes_;
  }

 private:
  struct Segment {
    std::uint64_t first_seq = 0;
    std::string path;
  };
  // One Append call while it is queued for the disk.
  struct Writer {
    const std::vector<std::string_view>* records = nullptr;
    std::uint64_t first_seq = 0;
    std::uint64_t bytes = 0;
    std::string frame;              // the records as they go to disk
    std::vector<LogRecord> copies;  // and as Read will hand them out
    bool encoded = false;
    bool done = false;
    Status status;
    CondVar cv;
  };

  std::string Path(std::string_view name) const { return dir_ + "/" + std::string(name); }
  Status SyncDir() const {
    if (options_.sync && ::fsync(dir_fd_) != 0) return Errno("fsync", dir_);
    return Status::Ok();
  }
  Status OpenActive(const std::string& path, bool create);
  Status ScanSegment(const Segment& segment, bool last, std::uint64_t* expected) IOMT_REQUIRES(mu_);
  // The leader's disk work. On failure nothing of the group is left in the
  // log; *broken when even that could not be made sure of (the log stops).
  Status WriteGroup(const std::vector<Writer*>& group, bool* broken) IOMT_EXCLUDES(mu_);
  Status RollOver(std::uint64_t first_seq, bool* broken) IOMT_EXCLUDES(mu_);
  Status CutBack(std::uint64_t size, bool after_failed_sync);
  Status WriteCheckpoint(std::uint64_t seq);
  // What to do about damage found by Recover, after what it is.
  std::string DamageAdvice() const;
  static void Encode(Writer* w);

  const std::string dir_;
  const EventLogOptions options_;
  int dir_fd_ = -1;
  int lock_fd_ = -1;
  std::uint64_t truncated_bytes_ = 0;  // set by Recover only

  // Taken after commit_mu_ when both are held. A Writer's fields (encoded,
  // done, status) are touched under it too.
  mutable Mutex mu_;
  CondVar read_cv_;  // records became readable, or the log closed
  CondVar idle_cv_;  // writers_ emptied (Close waits for it)
  // Admitted Appends in seq order; the front one writes for the encoded prefix.
  std::deque<Writer*> writers_ IOMT_GUARDED_BY(mu_);
  // Durable and not committed: seqs committed_+1, committed_+2, ...
  std::deque<LogRecord> pending_ IOMT_GUARDED_BY(mu_);
  std::size_t read_index_ IOMT_GUARDED_BY(mu_) = 0;       // the index in pending_ Read goes on from
  std::uint64_t pending_bytes_ IOMT_GUARDED_BY(mu_) = 0;  // of pending_ and of the admitted writers
  std::uint64_t pending_records_ IOMT_GUARDED_BY(mu_) = 0;
  std::uint64_t next_seq_ IOMT_GUARDED_BY(mu_) = 1;
  std::uint64_t committed_ IOMT_GUARDED_BY(mu_) = 0;
  bool closed_ IOMT_GUARDED_BY(mu_) = false;
  // A failed group write that could not be undone (the segment could not be
  // cut back to where the group began): every later Append fails with it
  // until the log is reopened. Failures that could be undone are not kept.
  Status failed_ IOMT_GUARDED_BY(mu_);
  std::vector<Segment> segments_ IOMT_GUARDED_BY(mu_);  // oldest first; the last one is appended to
  std::uint64_t appends_ IOMT_GUARDED_BY(mu_) = 0;
  std::uint64_t group_writes_ IOMT_GUARDED_BY(mu_) = 0;

  // Touched only by the writing leader (one at a time, without mu_), and by
  // Recover before anyone else can.
  int active_fd_ = -1;
  std::string active_path_;
  std::uint64_t active_bytes_ = 0;
  // An fdatasync of the active segment failed: the next group goes to a new
  // segment (ADR 0010, "Failures").
  bool seal_active_ = false;

  Mutex commit_mu_ IOMT_ACQUIRED_BEFORE(mu_);  // one checkpoint write at a time
};

Status EventLog::Impl::OpenActive(const std::string& path, bool create) {
  if (active_fd_ >= 0) ::close(active_fd_);
  active_fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0644);
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
  std::filesystem::create_directories(dir_, ec);
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
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
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

void EventLog::Impl::Encode(Writer* w) {
  const std::vector<std::string_view>& records = *w->records;
  w->frame.resize(records.size() * kHeaderBytes + w->bytes);
  w->copies.reserve(records.size());
  char* out = w->frame.data();
  std::uint64_t seq = w->first_seq;
  for (std::string_view r : records) {
    EncodeRecord(out, seq, r);
    out += kHeaderBytes + r.size();
    w->copies.push_back({seq++, std::string(r)});
  }
}

std::string EventLog::Impl::DamageAdvice() const {
  return "Stop iomt, move the directory " + dir_ +
         " aside (keep it: the records in it can be recovered by hand) or restore it from a backup, and start " +
         "again with an empty queue.";
}

Status EventLog::Impl::WriteGroup(const std::vector<Writer*>& group, bool* broken) {
  // How a failure ends, for the appenders: whether they can send again.
  constexpr std::string_view kNothingStored = "; nothing of the append was stored: send it again later";
  constexpr std::string_view kStopped =
      ": the log takes no appends until it is opened again (restart iomt; records acknowledged before are kept)";
  if (seal_active_ || active_bytes_ >= options_.segment_bytes) {
    if (Status rolled = RollOver(group.front()->first_seq, broken); !rolled.ok()) {
      return IoError(rolled.message() + std::string(*broken ? kStopped : kNothingStored));
    }
  }
  const std::uint64_t start = active_bytes_;
  Status status;
  bool sync_failed = false;
  for (const Writer* w : group) {
    status = WriteAll(active_fd_, w->frame, active_path_);
    if (!status.ok()) break;
    active_bytes_ += w->frame.size();
  }
  if (status.ok() && options_.sync && SyncSegment(active_fd_) != 0) {
    status = Errno("fdatasync", active_path_);
    sync_failed = true;
  }
  if (status.ok()) return status;
  // A write may have left part of the group behind it (a short write on a
  // full disk): cut the segment back to where the group began, so that what
  // follows is framed right after the last acknowledged record.
  if (Status undone = CutBack(start, sync_failed); !undone.ok()) {
    *broken = true;
    return IoError(status.message() + "; undoing the write failed too (" + undone.message() + ")" +
                   std::string(kStopped));
  }
  return IoError(status.message() + std::string(kNothingStored));
}

Status EventLog::Impl::CutBack(std::uint64_t size, bool after_failed_sync) {
  if (::ftruncate(active_fd_, static_cast<off_t>(size)) != 0) return Errno("truncate", active_path_);
  active_bytes_ = size;
  // The shorter size must be durable before anything is appended after it.
  if (options_.sync && SyncSegment(active_fd_) != 0) return Errno("fdatasync", active_path_);
  // After a failed fdatasync the kernel may have marked the pages clean
  // without writing them, and the descriptor has reported its error: the
  // segment, synced up to `size` earlier, is left as it is and the next group
  // starts a new one (ADR 0010).
  if (after_failed_sync) seal_active_ = true;
  return Status::Ok();
}

Status EventLog::Impl::RollOver(std::uint64_t first_seq, bool* broken) {
  Segment next{first_seq, Path(SegmentName(first_seq))};
  if (next.path == active_path_) {
    // The active segment holds no record yet (it begins with this group):
    // nothing to seal, only the descriptor whose fdatasync failed to replace.
    int fd = ::open(active_path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return Errno("open", active_path_);
    ::close(active_fd_);
    active_fd_ = fd;
    seal_active_ = false;
    return Status::Ok();
  }
  // The old segment needs no sync: each write to it was synced before its
  // Append returned.
  int fd = ::open(next.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_CREAT | O_EXCL, 0644);
  if (fd < 0) return Errno("create", next.path);
  if (Status synced = SyncDir(); !synced.ok()) {
    // The new name may not survive a crash, so no record may go into it;
    // removed, it is created again by the next group.
    ::close(fd);
    if (::unlink(next.path.c_str()) != 0) {
      *broken = true;
      return Errno("unlink", next.path);
    }
    return synced;
  }
  ::close(active_fd_);
  active_fd_ = fd;
  active_path_ = next.path;
  active_bytes_ = 0;
  seal_active_ = false;
  MutexLock lock(mu_);
  segments_.push_back(std::move(next));
  return Status::Ok();
}

Status EventLog::Impl::Append(const std::vector<std::string_view>& records, std::uint64_t* first_seq) {
  Writer w;
  w.records = &records;
  for (std::string_view r : records) {
    if (r.size() > kMaxRecordBytes) return InvalidArgument("event log: a record is larger than 4 GiB");
    w.bytes += r.size();
  }
  {
    MutexLock lock(mu_);
    if (closed_) return Unavailable("event log: closed");
    if (!failed_.ok()) return failed_;
    if (records.empty()) return Status::Ok();
    if (pending_records_ + records.size() > options_.max_pending_records ||
        pending_bytes_ + w.bytes > options_.max_pending_bytes) {
      return OutOfRange("event log: full (" + std::to_string(pending_records_) + " records, " +
                        std::to_string(pending_bytes_) + " bytes not yet processed)");
    }
    // Reserve the room and the seqs now, so that the limits hold for what is
    // in flight and the queue order is the seq order.
    pending_records_ += records.size();
    pending_bytes_ += w.bytes;
    w.first_seq = next_seq_;
    next_seq_ += records.size();
    writers_.push_back(&w);
  }
  // Framing and CRCs outside the lock: concurrent appenders do it in parallel.
  Encode(&w);

  MutexLock lock(mu_);
  w.encoded = true;
  while (!w.done && writers_.front() != &w)
    w.cv.Wait(lock);
  if (w.done) {
    if (w.status.ok() && first_seq != nullptr) *first_seq = w.first_seq;
    return w.status;
  }

  // The leader: writes every encoded writer from the front on, with one sync.
  // Those behind it keep waiting in writers_, so no one else leads meanwhile.
  std::vector<Writer*> group;
  for (Writer* x : writers_) {
    if (!x->encoded) break;
    group.push_back(x);
  }
  Status status = failed_;
  if (status.ok()) {
    bool broken = false;
    lock.Unlock();
    status = WriteGroup(group, &broken);
    lock.Lock();
    if (broken) failed_ = status;
  }
  if (status.ok()) {
    ++group_writes_;
    appends_ += group.size();
    for (Writer* x : group) {
      writers_.pop_front();
      for (LogRecord& r : x->copies)
        pending_.push_back(std::move(r));
      x->done = true;
      if (x != &w) x->cv.NotifyOne();
    }
  } else {
    // Nothing of the group is in the log. The writers queued behind it hold
    // the seqs that follow and have framed their records with them; written
    // now, they would follow a gap. They fail too (none of them was
    // acknowledged) and every seq is given back, so that the log stays
    // contiguous and the next Append starts where the group did.
    next_seq_ = writers_.front()->first_seq;
    for (Writer* x : writers_) {
      pending_records_ -= x->records->size();
      pending_bytes_ -= x->bytes;
      x->status = status;
      x->done = true;
      if (x != &w) x->cv.NotifyOne();
    }
    writers_.clear();
  }
  if (writers_.empty()) {
    idle_cv_.NotifyAll();
  } else {
    writers_.front()->cv.NotifyOne();
  }
  read_cv_.NotifyAll();
  if (status.ok() && first_seq != nullptr) *first_seq = w.first_seq;
  return status;
}

Result<std::vector<LogRecord>> EventLog::Impl::Read(std::size_t max_records, std::size_t max_bytes,
                                                    std::chrono::milliseconds wait) {
  if (max_records == 0) return InvalidArgument("event log: Read of 0 records");
  MutexLock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (read_index_ >= pending_.size() && !(closed_ && writers_.empty())) {
    if (!read_cv_.WaitUntil(lock, deadline)) break;
  }
  std::vector<LogRecord> out;
  std::size_t bytes = 0;
  while (read_index_ < pending_.size() && out.size() < max_records) {
    const LogRecord& r = pending_[read_index_];
    if (!out.empty() && bytes + r.data.size() > max_bytes) break;
    bytes += r.data.size();
    out.push_back(r);
    ++read_index_;
  }
  return out;
}

Status EventLog::Impl::WriteCheckpoint(std::uint64_t seq) {
  char buf[kCheckpointBytes];
  std::memcpy(buf, kCheckpointMagic.data(), 8);
  PutU64(buf + 8, seq);
  PutU32(buf + 16, Crc32c(std::string_view(buf, 16)));
  const std::string tmp = Path("checkpoint.tmp");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  Status s = fd >= 0 ? WriteAll(fd, std::string_view(buf, sizeof(buf)), tmp) : Errno("open", tmp);
  if (s.ok() && options_.sync && ::fsync(fd) != 0) s = Errno("fsync", tmp);
  if (fd >= 0) ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), Path("checkpoint").c_str()) != 0) s = Errno("rename", tmp);
  if (!s.ok()) {
    // The old checkpoint is untouched; the temp file would only hold space.
    ::unlink(tmp.c_str());
    return IoError(s.message() + "; the previous checkpoint stays (the records after it are read again after a " +
                   "restart, unless a later commit succeeds)");
  }
  s = SyncDir();
  if (s.ok()) return s;
  return IoError(s.message() + "; the new checkpoint may not survive a crash (the records after the previous one " +
                 "are then read again)");
}

Status EventLog::Impl::Commit(std::uint64_t seq) {
  MutexLock commit_lock(commit_mu_);
  {
    MutexLock lock(mu_);
    if (seq <= committed_) return Status::Ok();
    if (seq > committed_ + read_index_) {
      return InvalidArgument("event log: commit of record " + std::to_string(seq) + ", which was not read (last read " +
                             std::to_string(committed_ + read_index_) + ")");
    }
  }
  // Durable before anything is forgotten: a crash in between replays.
  IOMT_RETURN_IF_ERROR(WriteCheckpoint(seq));
  std::vector<std::string> doomed;
  {
    MutexLock lock(mu_);
    const std::uint64_t n = seq - committed_;
    for (std::uint64_t i = 0; i < n; ++i) {
      pending_bytes_ -= pending_.front().data.size();
      pending_.pop_front();
    }
    pending_records_ -= n;
    read_index_ = read_index_ >= n ? read_index_ - n : 0;
    committed_ = seq;
    // The last segment is never deleted here: it is being appended to.
    while (segments_.size() > 1 && segments_[1].first_seq <= committed_ + 1) {
      doomed.push_back(std::move(segments_.front().path));
      segments_.erase(segments_.begin());
    }
  }
  // A deletion lost in a crash is redone by Open; no need to sync the dir.
  for (const std::string& path : doomed) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("unlink", path);
  }
  return Status::Ok();
}

void EventLog::Impl::Close() {
  MutexLock lock(mu_);
  closed_ = true;
  while (!writers_.empty())
    idle_cv_.Wait(lock);
  read_cv_.NotifyAll();
}

// ---- the public face ------------------------------------------------------------

EventLog::EventLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EventLog::~EventLog() = default;

Result<std::unique_ptr<EventLog>> EventLog::Open(const std::string& dir, EventLogOptions options) {
  if (options.max_pending_records == 0 || options.max_pending_bytes == 0) {
    return InvalidArgument("event log: max_pending_records and max_pending_bytes must be positive");
  }
  auto impl = std::make_unique<Impl>(dir, options);
  IOMT_RETURN_IF_ERROR(impl->Recover());
  return std::unique_ptr<EventLog>(new EventLog(std::move(impl)));
}

Status EventLog::Append(const std::vector<std::string_view>& records, std::uint64_t* first_seq) {
  return impl_->Append(records, first_seq);
}
Result<std::vector<LogRecord>> EventLog::Read(std::size_t max_records, std::size_t max_bytes,
                                              std::chrono::milliseconds wait) {
  return impl_->Read(max_records, max_bytes, wait);
}
Status EventLog::Commit(std::uint64_t seq) { return impl_->Commit(seq); }
void EventLog::Rewind() { impl_->Rewind(); }
std::uint64_t EventLog::pending_records() const { return impl_->pending_records(); }
std::uint64_t EventLog::pending_bytes() const { return impl_->pending_bytes(); }
std::uint64_t EventLog::committed_seq() const { return impl_->committed_seq(); }
std::uint64_t EventLog::next_seq() const { return impl_->next_seq(); }
std::uint64_t EventLog::truncated_bytes() const { return impl_->truncated_bytes(); }
std::uint64_t EventLog::appends() const { return impl_->appends(); }
std::uint64_t EventLog::group_writes() const { return impl_->group_writes(); }
void EventLog::Close() { impl_->Close(); }

}  // namespace iomt::pipeline
