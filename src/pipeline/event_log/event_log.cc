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
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "pipeline/event_log/event_log_format.h"
#include "pipeline/event_log/event_log_impl.h"

namespace iomt::pipeline {

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
  int fd = ::open(next.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_CREAT | O_EXCL, 0600);
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
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
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
