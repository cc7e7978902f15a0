// The data flow, assembled in one place: a Pipeline is built from the two
// mappings, a FHIR client and options, and owns what carries events to FHIR
// resources — normalizer, grouping, identity resolver, Observation writer,
// group converter — and the one PipelineStats they count into. `iomt run`,
// `iomt transform` and the service's connector workers each build one;
// nothing else wires the stages (docs/ARCHITECTURE.md).
//
// One Pipeline per worker. Its two stages (taking events in: Accept, Seal;
// writing: Write, Retry, GiveUp, Flush) may each run on a thread of its own
// (RunStream does); nothing else is thread-safe. The mappings, the client and
// the dead letters must outlive it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

#include "common/errors.h"
#include "common/measurement.h"
#include "common/status.h"
#include "fhir/fhir_mapping.h"
#include "identity/resolver.h"
#include "ingest/line_reader.h"
#include "normalize/device_mapping.h"
#include "pipeline/dead_letters.h"
#include "pipeline/event_processor.h"
#include "pipeline/options.h"
#include "store/fhir_client.h"

namespace iomt::fhir {
class ObservationWriter;
}

namespace iomt::pipeline {

class GroupConverter;

class Pipeline {
 public:
  // `device` may be null for a Pipeline that only converts measurements
  // (`iomt transform`); `dead_letters` may be null then too.
  Pipeline(const normalize::DeviceMapping* device, const fhir::FhirMapping& fhir, store::FhirClient* client,
           DeadLetters* dead_letters, PipelineOptions options);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Events (run, serve): each is taken into the batch, or dead-lettered with
  // it; Seal groups the batch, Write writes and commits it, and then it is
  // counted. Fail only when dead letters cannot be written or the commit
  // fails (EventProcessor).
  Status Accept(const EventInput& input);
  SealedBatch Seal();
  // kUnavailable: the FHIR service (or the store) could not be reached and
  // the batch is held (nothing of it dead-lettered); Retry tries it again,
  // GiveUp ends it (its failed groups dead-lettered, the later batches not
  // attempted).
  Status Write(SealedBatch batch);
  Status Retry();
  Status GiveUp();
  // Seal and Write in one (or Retry the held batch).
  Status Flush();
  // Events accepted since the last Seal.
  [[nodiscard]] std::size_t pending() const;

  // Measurements (transform): grouped and converted together; returns the
  // error record of each group that failed (the others are written).
  std::vector<ErrorRecord> Convert(std::vector<OwnedMeasurement> measurements);

  // Up to date after each Flush and Convert.
  [[nodiscard]] const PipelineStats& stats() const { return stats_; }
  // Adds to the stats what the caller counted (measurements read, lines
  // that were not measurements).
  PipelineStats& mutable_stats() { return stats_; }
  // True once the FHIR service could not be reached (after the client's
  // retries): the rest is not attempted.
  [[nodiscard]] bool unavailable() const;
  [[nodiscard]] const PipelineOptions& options() const { return options_; }
  [[nodiscard]] std::int64_t Now() const;

 private:
  PipelineOptions options_;
  PipelineStats stats_;
  std::unique_ptr<identity::IdentityResolver> resolver_;
  std::unique_ptr<fhir::ObservationWriter> writer_;
  std::unique_ptr<GroupConverter> converter_;
  std::unique_ptr<EventProcessor> events_;  // null without a device mapping
};

// `iomt run`: every line of `reader` through the pipeline, batch by batch
// (PipelineOptions::batch_events), on two threads: one reads, parses,
// normalizes and groups the next batch while the other writes this one, so
// both cores work (batches are still written one after another, in order). A line that is a dead-letter record (it
// has "errorName" and "event") is replayed: its "event" is the event. A batch
// that meets an outage is held and tried again, with backoff, for up to
// PipelineOptions::outage_patience; then the run gives up on it. Fails only
// when reading, writing dead letters or committing fails; everything about
// the data is in the stats and the dead letters.
Status RunStream(ingest::LineReader* reader, Pipeline* pipeline);

// `iomt transform`: reads measurements (NDJSON, docs/formats.md) and converts
// them `batch_size` at a time. A line that is not a measurement gets an
// IncompatibleDataException record and is skipped; so does every failed
// group. Error records go to `errors` as NDJSON. Fails only when reading or
// writing fails.
Status TransformStream(ingest::LineReader* reader, Pipeline* pipeline, std::size_t batch_size, std::FILE* errors,
                       std::int64_t* bad_lines);

}  // namespace iomt::pipeline
