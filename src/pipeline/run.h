// `iomt run`: the whole data flow on a stream of events — normalize, group,
// resolve identities, build or merge Observations, write them — with every
// event either carried through or dead-lettered (../shared/spec/cli.md,
// formats.md: "input = carried + dead-lettered, always").
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
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
  // Called for every failure, once each (an event's, or a group's): the
  // service counts them by errorName/errorType/severity/stage.
  std::function<void(const ErrorRecord&)> on_error;
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

// One event handed to an EventProcessor: the message or envelope text as it
// was received (one NDJSON line, one HTTP message, one Kafka record).
struct EventInput {
  std::string_view text;
  InputLocation location;  // for error records: line, partition/offset or request id
  // When the product or the broker received it; unset: RunOptions, else now.
  std::optional<std::int64_t> ingestion_ticks;
  bool too_long = false;  // the reader cut it: dead-lettered as NotSupported
  // `text` is followed by json::Document::kPadding readable bytes (parsed in
  // place; else it is copied first).
  bool padded = false;
};

// The data flow for a stream of events, batch by batch: Accept each event
// (parsed, enveloped, normalized; a failure is dead-lettered at once), then
// Flush (group, resolve, build or merge, write, commit). `iomt run` feeds it
// lines; `iomt serve` feeds it what its sources received. Not thread-safe;
// the references must outlive it. Fails only when dead letters cannot be
// written or the commit fails; everything about the data is in the summary
// and the dead letters.
class EventProcessor {
 public:
  EventProcessor(const normalize::DeviceMapping& mapping, GroupConverter* converter,
                 const identity::IdentityResolver& resolver, DeadLetters* dead_letters, const RunOptions& options,
                 RunSummary* summary);
  ~EventProcessor();
  EventProcessor(const EventProcessor&) = delete;
  EventProcessor& operator=(const EventProcessor&) = delete;

  // Counts the event and takes it into the batch (or dead-letters it).
  Status Accept(const EventInput& input);
  // Writes the batch and commits it (RunOptions::commit); then the summary
  // is up to date.
  Status Flush();
  // Events accepted since the last Flush.
  [[nodiscard]] std::size_t pending() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs every line of `reader` through the mapping and `converter`. A line
// that is a dead-letter record (it has "errorName" and "event") is replayed:
// its "event" is the event. Fails only when reading or writing dead letters
// fails; everything about the data is in the summary and the dead letters.
Status RunStream(const normalize::DeviceMapping& mapping, GroupConverter* converter,
                 const identity::IdentityResolver& resolver, ingest::LineReader* reader, DeadLetters* dead_letters,
                 const RunOptions& options, RunSummary* summary);

}  // namespace iomt::pipeline
