// `iomt run`: the whole data flow on a stream of events — normalize, group,
// resolve identities, build or merge Observations, write them — with every
// event either carried through or dead-lettered (../shared/spec/cli.md,
// formats.md: "input = carried + dead-lettered, always").
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/status.h"
#include "ingest/envelope.h"
#include "ingest/line_reader.h"
#include "normalize/device_mapping.h"
#include "pipeline/transform.h"

namespace iomt::pipeline {

struct RunOptions {
  ingest::EnvelopeMode envelope = ingest::EnvelopeMode::kAuto;
  // When set, every event's ingestion time (reproducible output); else the
  // envelope's enqueued time, or the time the line was read.
  std::optional<std::int64_t> ingestion_ticks;
  // When set, "now" for `issued` and error records.
  std::optional<std::int64_t> now_ticks;
  // Events grouped and written together. A bigger batch groups more readings
  // into one write (an hour of SampledData); a smaller one bounds memory and
  // the time to the first write.
  std::size_t batch_events = 10'000;
  // Called after each batch's writes, before the batch counts as done: makes
  // them durable (the store's Flush, the dead-letter file's Sync). A failure
  // stops the run: what the batch wrote cannot be vouched for, so the caller
  // must say so (the input is still there to run again; writes are
  // idempotent).
  std::function<Status()> commit;
  // Called after each batch (for a progress line).
  std::function<void(const struct RunSummary&)> on_batch;
};

struct RunSummary {
  std::int64_t events = 0;
  std::int64_t measurements = 0;
  std::int64_t groups = 0;
  std::int64_t created = 0;
  std::int64_t updated = 0;
  std::int64_t unchanged = 0;
  std::int64_t patients_created = 0;
  std::int64_t devices_created = 0;
  std::int64_t dead_lettered = 0;              // events, each once
  std::map<std::string, std::int64_t> errors;  // by errorName, each failure once
  double seconds = 0;
  bool unavailable = false;  // the FHIR service could not be reached; later events were not attempted
};

// The run summary of formats.md, one JSON object (no newline).
std::string RunSummaryJson(const RunSummary& summary);

// Where dead-letter records go (formats.md): an error record with the event
// as the mapping saw it under "event", one NDJSON line each.
class DeadLetters {
 public:
  virtual ~DeadLetters() = default;
  virtual Status Write(std::string_view record_json) = 0;
};

// A dead-letter file, created at the first record (a clean run leaves none).
class DeadLetterFile : public DeadLetters {
 public:
  explicit DeadLetterFile(std::string path) : path_(std::move(path)) {}
  ~DeadLetterFile() override;
  DeadLetterFile(const DeadLetterFile&) = delete;
  DeadLetterFile& operator=(const DeadLetterFile&) = delete;
  Status Write(std::string_view record_json) override;
  // Flushes and syncs the file: dead letters are as durable as the writes.
  Status Sync();
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] bool opened() const { return file_ != nullptr; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// Runs every line of `reader` through the mapping and `converter`. A line
// that is a dead-letter record (it has "errorName" and "event") is replayed:
// its "event" is the event. Fails only when reading or writing dead letters
// fails; everything about the data is in the summary and the dead letters.
Status RunStream(const normalize::DeviceMapping& mapping, GroupConverter* converter,
                 const identity::IdentityResolver& resolver, ingest::LineReader* reader, DeadLetters* dead_letters,
                 const RunOptions& options, RunSummary* summary);

}  // namespace iomt::pipeline
