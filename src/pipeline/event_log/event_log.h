// EventLog: a connector's durable queue of raw events, between ingestion and
// its worker (docs/adr/0010-durable-event-log.md).
//
// Promises:
// - Durability. Once Append returns OK its records survive a crash (with
//   `sync`, a power loss too): they are on disk, fdatasync'ed, framed as
//   [length][crc32c][seq][data]. Open truncates a torn or corrupt tail away and
//   fails with kIoError on damage anywhere else (it never drops acknowledged
//   records silently).
// - Order. Every record gets the next sequence number (1, 2, ...; increasing
//   across restarts); a batch's records are contiguous; Read returns them in
//   that order, only once they are durable.
// - At-least-once. Read resumes after the last Commit when the log is opened
//   again; what was read and not committed is delivered again.
// - Bounded. Records appended and not yet committed are also kept in memory;
//   Append refuses (kOutOfRange) a batch that would take them past
//   max_pending_bytes (sum of record sizes) or max_pending_records. Disk use is
//   the pending records plus at most the segments that still hold one.
// - Threads. Append, pending_*, Close are thread-safe; concurrent Appends
//   share one write and one fdatasync (group commit). Read, Commit and Rewind
//   belong to one reader thread (they are safe against the appenders).
// - One process at a time: the directory is locked (flock) while open.
//
// Failures. A group write or fdatasync that fails (disk full, I/O error) is
// undone: the active segment is cut back to where the group began, every
// Append of the group (and those queued behind it) fails with kIoError, and
// later Appends are tried again, so ingestion resumes when space returns.
// After a failed fdatasync the segment is left as it is and the next group
// goes to a new one. Only when the undo itself fails does the log stop taking
// appends until it is reopened. A failed checkpoint write keeps the previous
// checkpoint (Commit fails; nothing is forgotten).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace iomt::pipeline {

struct EventLogOptions {
  std::uint64_t max_pending_bytes = 256ull << 20;  // appended, not yet committed; an Append beyond it fails kOutOfRange
  std::uint64_t max_pending_records = 1'000'000;
  std::uint64_t segment_bytes = 64ull << 20;  // a new segment file after this; wholly committed segments are deleted
  bool sync = true;  // fdatasync before Append returns, fsync checkpoints (false: for tests/bench only)
};

struct LogRecord {
  std::uint64_t seq = 0;
  std::string data;
};

class EventLog {
 public:
  // Opens (creating) the log in `dir`; recovers after a crash: a torn or
  // corrupt tail record (length/CRC check) is truncated away, every record
  // whose Append returned OK is there. Resumes reading after the committed
  // checkpoint. kUnavailable when another EventLog has `dir` open; kIoError
  // on damage that is not a torn tail.
  static Result<std::unique_ptr<EventLog>> Open(const std::string& dir, EventLogOptions options = {});
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Thread-safe. Appends all records or none, in order, and returns once they
  // are durable. Concurrent callers share one write+fdatasync (group commit).
  // kOutOfRange (nothing appended) when pending bytes/records would exceed the
  // limits: the HTTP layer answers 429. kUnavailable after Close(). kIoError
  // when the disk fails (full, I/O error): none of the records is readable or
  // counted, and the segment was cut back; only a crash before that cut was
  // durable can bring them back after a restart (at-least-once).
  // On OK, *first_seq (when given) is the seq of records[0]; the others follow.
  Status Append(const std::vector<std::string_view>& records, std::uint64_t* first_seq = nullptr);

  // The one reader. Waits up to `wait` for a record past the read cursor, then
  // returns up to max_records records totalling up to max_bytes (always at
  // least one when any is there). Empty on timeout, or after Close() once
  // everything appended has been read.
  Result<std::vector<LogRecord>> Read(std::size_t max_records, std::size_t max_bytes, std::chrono::milliseconds wait);

  // Everything up to and including `seq` is done: the checkpoint is made
  // durable (temp file, fsync, rename, fsync dir) and segments wholly before
  // it are deleted; pending counts shrink (so Append can succeed again).
  // A seq at or below the last commit is a no-op; one past what Read returned
  // is kInvalidArgument. kIoError when the checkpoint cannot be written (the
  // previous one stays and nothing is forgotten: a later Commit covers it).
  Status Commit(std::uint64_t seq);

  // Moves the read cursor back to the last commit (the worker's batch failed;
  // it will be read again).
  void Rewind();

  std::uint64_t pending_records() const;
  std::uint64_t pending_bytes() const;
  // The last committed seq (0 before any), and the seq the next record gets.
  std::uint64_t committed_seq() const;
  std::uint64_t next_seq() const;

  // Stops appends (kUnavailable), waits for the Appends already admitted to
  // finish, and wakes a waiting Read; Read still returns what is left (drain
  // on SIGTERM). Idempotent; the destructor calls it.
  void Close();

  // Bytes of torn or corrupt tail that Open truncated away (0 after a clean
  // shutdown): worth a log line.
  std::uint64_t truncated_bytes() const;
  // Successful Appends, and the group writes (each one write + fdatasync)
  // that made them durable: their ratio is how well group commit groups.
  std::uint64_t appends() const;
  std::uint64_t group_writes() const;

 private:
  class Impl;
  explicit EventLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// CRC-32C (Castagnoli) of `data`, continuing from `crc` (0 to start): the
// checksum of each record. SSE4.2 when the CPU has it, else a table.
std::uint32_t Crc32c(std::string_view data, std::uint32_t crc = 0);

namespace internal {
// The table version Crc32c falls back to; exposed for the test that checks
// both agree.
std::uint32_t Crc32cPortable(std::string_view data, std::uint32_t crc = 0);
// Tests only: `sync` stands in for fdatasync of segment files (to inject
// EIO, which no real disk gives on demand); nullptr restores fdatasync.
void SetSegmentSyncForTest(int (*sync)(int fd));
}  // namespace internal

}  // namespace iomt::pipeline
