// Wires the file source to the normalizer: NDJSON events in, NDJSON
// measurements and error records out (`iomt normalize`). Streams: memory does
// not grow with the input.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>

#include "common/measurement.h"
#include "common/status.h"
#include "ingest/envelope.h"
#include "ingest/line_reader.h"
#include "normalize/device_mapping.h"

namespace iomt::pipeline {

struct NormalizeStreamOptions {
  ingest::EnvelopeMode envelope = ingest::EnvelopeMode::kAuto;
  // When set, every event's ingestion time (for reproducible output);
  // otherwise the envelope's enqueued time, or the time the line was read.
  std::optional<std::int64_t> ingestion_ticks;
  // When set, "now": the time of error records, and the ingestion time of
  // events without one (reproducible output; `iomt test`).
  std::optional<std::int64_t> now_ticks;
  // When set, told each measurement with the line of its event (`iomt test`
  // compares them with a case's expectations).
  std::function<void(const Measurement&, std::int64_t line)> on_measurement;
};

struct NormalizeStreamStats {
  std::int64_t events = 0;  // non-blank lines
  std::int64_t measurements = 0;
  std::int64_t failed_events = 0;  // events with an Error or Critical record
  std::int64_t warnings = 0;       // events with a Warning record (no template matched)
};

// Reads every line of `reader`; writes measurements to `out` (unless it is
// null) and error records to `errors`, one JSON object a line, in input
// order. Fails only when reading or writing fails.
Status NormalizeStream(const normalize::DeviceMapping& mapping, ingest::LineReader* reader, std::FILE* out,
                       std::FILE* errors, const NormalizeStreamOptions& options, NormalizeStreamStats* stats);

}  // namespace iomt::pipeline
