// What creating Observations (observation.cc) and merging groups into
// existing ones (observation_merge.cc) share: the failures, the template's
// categories, the checks of a SampledData value, and writing a component.
// Private to those two files: not part of observation.h's interface.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "fhir/fhir_mapping.h"
#include "fhir/observation_group.h"

namespace iomt::fhir {

inline constexpr ErrorName kDataMapping = ErrorName::kFhirDataMapping;

inline Status Failure(ErrorName name, std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message)).WithError(name);
}

// `[{...},...]` of the template's categories; empty when none would be written.
std::string CategoryArray(const FhirTemplate& t);

// A SampledData stream of `v` over [start, end] with too many slots
// (kMaxSlots, observation.cc) is refused.
Status CheckSlots(const ValueTemplate& v, std::int64_t start, std::int64_t end);

// A SampledData value without a defaultPeriod cannot place its readings.
Status NeedsPeriod(const ValueTemplate& v);

// The values of `v` in `group`, or nullptr when the group has none (then
// the value, or the component, is not written; not an error).
const std::vector<TimeValue>* ValuesFor(const ValueTemplate& v, const ObservationGroup& group);

// Appends one component for `c`; nothing when the group has no data for it.
Status AppendComponent(std::string* out, bool* first, const ComponentTemplate& c, const ObservationGroup& group);

}  // namespace iomt::fhir
