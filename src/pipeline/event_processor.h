// The event half of a Pipeline (pipeline.h), in two stages:
// - taking in: each event is parsed, put through the envelope and normalized
//   as it comes (a failure dead-letters it), and Seal groups the batch;
// - writing: the sealed batch is resolved, built or merged, written and
//   committed (Write; Retry after an outage; GiveUp).
// The two stages share nothing but the options, so one thread may take in
// the next batch while another writes this one (RunStream does); each stage
// is used by one thread at a time. Flush does both, for callers that do not
// overlap them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "common/errors.h"
#include "common/status.h"
#include "identity/resolver.h"
#include "normalize/device_mapping.h"
#include "pipeline/dead_letters.h"
#include "pipeline/options.h"
#include "pipeline/transform.h"

namespace iomt::pipeline {

// One event handed to a Pipeline: the message or envelope text as it was
// received (one NDJSON line, one HTTP message, one Kafka record).
struct EventInput {
  std::string_view text;
  InputLocation location;  // for error records: line, partition/offset or request id
  // When the product or the broker received it; unset: the options', else now.
  std::optional<std::int64_t> ingestion_ticks;
  bool too_long = false;  // the reader cut it: dead-lettered as NotSupported
  // `text` is followed by json::Document::kPadding readable bytes (parsed in
  // place; else it is copied first).
  bool padded = false;
};

// A batch of events taken in and grouped, on its way to be written (its
// events, their measurements grouped, and the dead letters of those that
// failed on their own). Opaque: made by Seal, consumed by Write.
struct EventBatch;
struct EventBatchDeleter {
  void operator()(EventBatch* batch) const;
};
using SealedBatch = std::unique_ptr<EventBatch, EventBatchDeleter>;

// Fails only when dead letters cannot be written or the commit fails;
// everything about the data is in the stats and the dead letters. The
// references must outlive it.
class EventProcessor {
 public:
  EventProcessor(const normalize::DeviceMapping& mapping, GroupConverter* converter,
                 const identity::IdentityResolver& resolver, DeadLetters* dead_letters, const PipelineOptions& options,
                 PipelineStats* stats);
  ~EventProcessor();
  EventProcessor(const EventProcessor&) = delete;
  EventProcessor& operator=(const EventProcessor&) = delete;

  // Taking in. Takes the event into the batch (or dead-letters it with the
  // batch).
  Status Accept(const EventInput& input);
  // Events accepted since the last Seal.
  [[nodiscard]] std::size_t pending() const;
  // The batch taken in so far, grouped; the next Accept starts another.
  SealedBatch Seal();

  // Writing. Writes the batch and commits it (PipelineOptions::commit); then
  // the stats count it (events, measurements, dead letters, Observations).
  // When the FHIR service (or the store) cannot be reached, the batch is
  // held instead: kUnavailable, nothing of it dead-lettered or counted;
  // Retry tries it again, GiveUp ends it.
  Status Write(SealedBatch batch);
  Status Retry();
  // Ends a held batch: its failed groups are dead-lettered with their errors,
  // and the events of every later batch are dead-lettered as not attempted.
  Status GiveUp();

  // Both: retries the held batch if there is one, else seals and writes
  // what was accepted.
  Status Flush();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iomt::pipeline
