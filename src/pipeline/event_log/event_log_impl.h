// EventLog's implementation, shared by its two files: event_log.cc
// (appending with group commit, reading, committing) and
// event_log_recovery.cc (opening the directory and checking its files).
// Internal to pipeline/event_log/.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "pipeline/event_log/event_log.h"
#include "pipeline/event_log/event_log_format.h"

namespace iomt::pipeline {

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

}  // namespace iomt::pipeline
