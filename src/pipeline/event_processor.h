// The event half of a Pipeline (pipeline.h): each event is parsed, put
// through the envelope and normalized as it comes (a failure dead-letters it
// at once); Flush groups, resolves, builds or merges and writes the batch,
// then commits it. Used through Pipeline; not thread-safe.
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

  // Counts the event and takes it into the batch (or dead-letters it).
  Status Accept(const EventInput& input);
  // Writes the batch and commits it (PipelineOptions::commit); then the
  // stats are up to date. When the FHIR service (or the store) cannot be
  // reached, the batch is held instead: kUnavailable, nothing of the batch
  // dead-lettered or counted; Flush again tries it again, GiveUp ends it.
  Status Flush();
  // Ends a held batch: its failed groups are dead-lettered with their errors,
  // and every later event is dead-lettered as not attempted.
  Status GiveUp();
  // Events accepted since the last Flush.
  [[nodiscard]] std::size_t pending() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iomt::pipeline
