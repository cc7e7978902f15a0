// The SampledData stream of iomt-fhir's SampledDataProcessor
// (docs/fhir-mappings.md, "The Observation"): readings placed in fixed slots of `period`, "E" for a slot
// without a reading, tokens joined by single spaces.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/observation_group.h"

namespace iomt::fhir {

// Appends the stream for slots start, start + period, ... while <= end. A
// slot takes the LAST value with slot <= time < slot + period; values past
// `end` are dropped. `values` must be sorted by time. As in iomt-fhir, a
// value earlier than the current slot is never consumed and holds back the
// ones after it (this cannot happen when start <= every time, which the
// callers ensure). Values are copied verbatim.
void BuildSampledData(std::span<const TimeValue> values, std::int64_t start, std::int64_t end, std::int64_t period,
                      std::string* out);

// The readings of a stream: token k at start + k * period, "E" dropped. The
// values point into `stream`.
void SampledDataToTimeValues(std::string_view stream, std::int64_t start, std::int64_t period,
                             std::vector<TimeValue>* out);

// Merges two time-sorted series; on equal times the value from `newer` wins.
void MergeTimeValues(std::span<const TimeValue> existing, std::span<const TimeValue> newer,
                     std::vector<TimeValue>* out);

}  // namespace iomt::fhir
