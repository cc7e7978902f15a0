// The convert stage, wired: groups of measurements become Observations in
// the FHIR server (FHIR template, observation groups, identity, build or
// merge, write). Used by `iomt transform` and by the pipeline.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/errors.h"
#include "common/measurement.h"
#include "fhir/fhir_mapping.h"
#include "fhir/observation_writer.h"
#include "group/measurement_group.h"
#include "identity/resolver.h"
#include "ingest/line_reader.h"

namespace iomt::pipeline {

struct ConvertStats {
  std::int64_t measurements = 0;
  std::int64_t groups = 0;
  std::int64_t failed_groups = 0;
  std::int64_t created = 0;
  std::int64_t updated = 0;
  std::int64_t unchanged = 0;
  std::map<std::string, std::int64_t> errors;  // by errorName
};

class GroupConverter {
 public:
  GroupConverter(const fhir::FhirMapping& mapping, identity::IdentityResolver* resolver,
                 fhir::ObservationWriter* writer);

  // Converts one group: the FHIR template for its type, its observation
  // groups, its identity, then each Observation created or merged. On the
  // first failure the group stops and its error record is returned
  // (Observations of the group already written stay: a replay of the group
  // gives the same ids and merges into them).
  std::optional<ErrorRecord> Convert(const group::MeasurementGroup& group, std::int64_t now_ticks);

  // The same for many groups at once, with few round trips to the FHIR
  // service (ObservationWriter::SaveMany): one error record or none per
  // group, in order. Here a group's Observations are written together, so
  // when one fails the others may be written (a replay of the group merges
  // into them without change).
  std::vector<std::optional<ErrorRecord>> ConvertMany(const std::vector<const group::MeasurementGroup*>& groups,
                                                      std::int64_t now_ticks);

  [[nodiscard]] const ConvertStats& stats() const { return stats_; }
  // True once a write failed because the FHIR service could not be reached
  // (after the client's retries): the run stops converting.
  [[nodiscard]] bool unavailable() const { return unavailable_; }

 private:
  ErrorRecord Failure(const group::MeasurementGroup& group, const Status& status, std::int64_t now_ticks);

  const fhir::FhirMapping& mapping_;
  identity::IdentityResolver* resolver_;
  fhir::ObservationWriter* writer_;
  ConvertStats stats_;
  bool unavailable_ = false;
};

struct TransformStreamOptions {
  // Measurements grouped together (iomt-fhir's batches are 300 events or
  // 5 minutes; a file is grouped in large batches, so an hour of readings
  // usually lands in one Observation write).
  std::size_t batch_size = 100'000;
  // When set, the time used for `issued` and error records.
  std::optional<std::int64_t> now_ticks;
};

// Reads measurements (NDJSON, formats.md) and converts them batch by batch.
// A line that is not a measurement gets an error record and is skipped; so
// does every failed group. Error records go to `errors` as NDJSON. Fails only
// when reading or writing fails.
Status TransformStream(ingest::LineReader* reader, GroupConverter* converter, std::FILE* errors,
                       const TransformStreamOptions& options, std::int64_t* bad_lines);

}  // namespace iomt::pipeline
