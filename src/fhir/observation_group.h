// Observation groups: how the measurements of one MeasurementGroup are split
// into Observations according to the FHIR template's periodInterval
// (docs/fhir-mappings.md, "Grouping"). Each group becomes one Observation, whose
// identifier ends with the group's id segment.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "fhir/fhir_mapping.h"
#include "group/measurement_group.h"

namespace iomt::fhir {

struct TimeValue {
  std::int64_t ticks;
  std::string_view value;  // points into the MeasurementGroup
};

struct ObservationGroup {
  std::int64_t start = 0;  // the boundary, written as effectivePeriod
  std::int64_t end = 0;
  std::string id_segment;  // "yyyyMMddHHmmssZ.yyyyMMddHHmmssZ", or the correlation id
  struct Series {
    std::string_view name;
    std::vector<TimeValue> values;  // by time; of equal times the first added is kept
  };
  std::vector<Series> properties;  // in order of first appearance

  // The values of property `name` (case-sensitive), or nullptr.
  [[nodiscard]] const std::vector<TimeValue>* Values(std::string_view name) const;
};

// Splits `group` for `period`. Fails with the detail "CorrelationIdNotDefinedException"
// when `period` is CorrelationId and the group has no correlation id, and
// with "FhirDataMappingException" for a period iomt-fhir does not support.
// The groups point into `group`, which must outlive them.
Result<std::vector<ObservationGroup>> BuildObservationGroups(const group::MeasurementGroup& group,
                                                             PeriodInterval period);

// "yyyyMMddHHmmssZ.yyyyMMddHHmmssZ" for a boundary (seconds precision).
std::string TimeIdSegment(std::int64_t start, std::int64_t end);

}  // namespace iomt::fhir
