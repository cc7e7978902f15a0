// The convert stage, wired: groups of measurements become Observations in
// the FHIR server (FHIR template, observation groups, identity, build or
// merge, write). Part of a Pipeline (pipeline.h), which owns one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/errors.h"
#include "common/measurement.h"
#include "fhir/fhir_mapping.h"
#include "fhir/observation_writer.h"
#include "group/measurement_group.h"
#include "identity/resolver.h"
#include "pipeline/options.h"

namespace iomt::pipeline {

class GroupConverter {
 public:
  // Counts groups, failures and Observations into `*stats`.
  GroupConverter(const fhir::FhirMapping& mapping, identity::IdentityResolver* resolver,
                 fhir::ObservationWriter* writer, PipelineStats* stats);

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

  // True once a write failed because the FHIR service could not be reached
  // (after the client's retries) or the store could not write (a full
  // disk): the failure is not the group's own, so the batch is held.
  [[nodiscard]] bool unavailable() const { return unavailable_; }
  // Before another attempt.
  void ResetUnavailable() { unavailable_ = false; }

 private:
  ErrorRecord Failure(const group::MeasurementGroup& group, const Status& status, std::int64_t now_ticks);

  const fhir::FhirMapping& mapping_;
  identity::IdentityResolver* resolver_;
  fhir::ObservationWriter* writer_;
  PipelineStats* stats_;
  bool unavailable_ = false;
};

}  // namespace iomt::pipeline
