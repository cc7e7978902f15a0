// Dead letters (docs/formats.md): an event that was not carried through,
// whole, with its error record, one NDJSON line each. Nothing accepted is
// lost: it is written, still durably queued, or here.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

namespace iomt::pipeline {

// Where dead-letter records go.
class DeadLetters {
 public:
  virtual ~DeadLetters() = default;
  virtual Status Write(std::string_view record_json) = 0;
};

// A dead-letter file, created at the first record (a clean run leaves none).
// Not thread-safe (see SharedDeadLetterFile).
class DeadLetterFile : public DeadLetters {
 public:
  explicit DeadLetterFile(std::string path) : path_(std::move(path)) {}
  ~DeadLetterFile() override;
  DeadLetterFile(const DeadLetterFile&) = delete;
  DeadLetterFile& operator=(const DeadLetterFile&) = delete;
  Status Write(std::string_view record_json) override;
  // Flushes and syncs what was written since the last Sync: dead letters
  // are as durable as the writes.
  Status Sync();
  // Syncs and closes the file; the next Write opens it again (so that it
  // can be moved away in between).
  Status Close();
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] bool opened() const { return file_ != nullptr; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  bool dirty_ = false;  // written since the last Sync
};

// A service connector's dead-letter file: written by its workers, listed
// through the API and moved away for a replay, from any thread.
class SharedDeadLetterFile : public DeadLetters {
 public:
  explicit SharedDeadLetterFile(std::string path) : file_(std::move(path)) {}

  Status Write(std::string_view record_json) override IOMT_EXCLUDES(mu_);
  Status Sync() IOMT_EXCLUDES(mu_);
  // Moves the file to `to` (for a replay); new dead letters start a new
  // file. NotFound when there are none.
  Status MoveTo(const std::string& to) IOMT_EXCLUDES(mu_);
  // The last `limit` records, oldest first, and how many there are.
  Status ReadLast(std::size_t limit, std::vector<std::string>* records, std::int64_t* total) IOMT_EXCLUDES(mu_);

 private:
  Mutex mu_;
  DeadLetterFile file_ IOMT_GUARDED_BY(mu_);
};

}  // namespace iomt::pipeline
