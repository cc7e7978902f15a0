// What a Pipeline is told (PipelineOptions) and what it counts
// (PipelineStats): the same for `iomt run`, `iomt transform` and the
// service's workers, whose metrics read the same counters.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/errors.h"
#include "common/measurement.h"
#include "common/status.h"
#include "identity/resolver.h"
#include "ingest/envelope.h"

namespace iomt::pipeline {

struct PipelineStats {
  std::int64_t events = 0;
  std::int64_t measurements = 0;  // normalized (or, for transform, read)
  std::int64_t groups = 0;
  std::int64_t failed_groups = 0;
  std::int64_t created = 0;  // Observations
  std::int64_t updated = 0;
  std::int64_t unchanged = 0;
  std::int64_t patients_created = 0;
  std::int64_t devices_created = 0;
  std::int64_t dead_lettered = 0;              // events, each once
  std::map<std::string, std::int64_t> errors;  // by errorName, each failure once
  double seconds = 0;
  bool unavailable = false;  // the FHIR service could not be reached; later events were not attempted

  // What was counted since `before` (for metrics: the growth of one batch).
  [[nodiscard]] PipelineStats Since(const PipelineStats& before) const;
};

// The run summary (docs/formats.md): one JSON object, no newline.
std::string StatsJson(const PipelineStats& stats);

struct PipelineOptions {
  // Identity resolution (Create, Lookup, LookupWithEncounter) and the
  // identifier system of Devices.
  identity::ResolverOptions resolver;
  ingest::EnvelopeMode envelope = ingest::EnvelopeMode::kAuto;
  // When set, every event's ingestion time (reproducible output); else the
  // envelope's enqueued time, or the time the event was received.
  std::optional<std::int64_t> ingestion_ticks;
  // When set, "now" for `issued` and error records.
  std::optional<std::int64_t> now_ticks;
  // Events grouped and written together. A bigger batch groups more readings
  // into one write (an hour of SampledData); a smaller one bounds memory and
  // the time to the first write.
  std::size_t batch_events = 10'000;
  // Called after each batch's writes, before the batch counts as done: makes
  // them durable (the store's Flush, the dead letters' Sync). A failure
  // stops the run: what the batch wrote cannot be vouched for, so the caller
  // must say so (the input is still there to run again; writes are
  // idempotent).
  std::function<Status()> commit;
  // Called after each batch (a progress line).
  std::function<void(const PipelineStats&)> on_batch;
  // Called for every failure, once each (an event's, or a group's): the
  // service counts them by errorName/errorType/severity/stage.
  std::function<void(const ErrorRecord&)> on_error;
  // Told every measurement an event gives, as it is normalized, with where
  // the event came from: `iomt test` compares them with a case's expected
  // measurements (pipeline/test_cases.h).
  std::function<void(const Measurement&, const InputLocation&)> on_measurement;
  // `iomt run`: how long a batch is held and tried again while the FHIR
  // service (or the store) cannot be reached, before the run gives up on it
  // and dead-letters the rest as not attempted. Zero: give up at once.
  std::chrono::milliseconds outage_patience{60'000};
  // Told each time a held batch waits before trying again (a progress line).
  std::function<void(const Status& why, std::chrono::milliseconds waited)> on_held;
};

}  // namespace iomt::pipeline
