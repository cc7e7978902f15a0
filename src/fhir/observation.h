// Building Observations from observation groups and merging groups into
// Observations that already exist, as iomt-fhir's
// CodeValueFhirTemplateProcessor does for FHIR R4 (the rules:
// docs/fhir-mappings.md).
//
// Observations are written as JSON text directly, in the element order of
// the R4 JSON serialization, with no empty strings or empty elements (they
// are not valid FHIR). Failures carry the catalogue name of the error in
// Status::detail(): InvalidQuantityFhirValueException or
// FhirDataMappingException.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json/node.h"
#include "common/status.h"
#include "fhir/fhir_mapping.h"
#include "fhir/observation_group.h"

namespace iomt::fhir {

// The system of iomt-fhir's identifiers and of the coding it adds to codes.
inline constexpr std::string_view kServiceSystem = "https://azure.microsoft.com/en-us/services/iomt-fhir-connector/";

// The FHIR logical ids an Observation refers to (after identity resolution).
struct ObservationRefs {
  std::string patient_id;
  std::string device_id;
  std::optional<std::string> encounter_id;
};

// "{patientId}.{deviceId}.{type}.{idSegment}".
std::string ObservationIdentifierValue(const ObservationRefs& refs, std::string_view type, std::string_view id_segment);

// The logical id iomt-fhir gives a resource with this identifier: lowercase
// hex SHA-256 of "{system}_{value}" (an absent system is "").
std::string ResourceIdForIdentifier(std::string_view system, std::string_view value);

struct NewObservation {
  std::string id;
  std::string identifier_value;
  std::string json;
};

// A new Observation for `group`. `type` is the measurement type as received
// (it names the Observation's code and identifier; the template was found
// for it ignoring case). `issued_ticks`: when it was built.
Result<NewObservation> CreateObservation(const FhirTemplate& t, const ObservationGroup& group, std::string_view type,
                                         const ObservationRefs& refs, std::int64_t issued_ticks);
// The same, with the identifier value and id already computed.
Result<NewObservation> CreateObservation(const FhirTemplate& t, const ObservationGroup& group, std::string_view type,
                                         const ObservationRefs& refs, std::int64_t issued_ticks,
                                         std::string identifier_value, std::string id);

// The Observation as the mapping alone makes it, before identity resolution:
// no id, identifier, subject, encounter or device (iomt-fhir's mapping
// validator shows this; `iomt validate --sample` does too).
Result<std::string> CreateObservationPreview(const FhirTemplate& t, const ObservationGroup& group,
                                             std::string_view type, std::int64_t issued_ticks);

struct MergedObservation {
  bool changed = false;  // false: the merge changed nothing and nothing is to be written
  std::string json;      // with status "amended" when changed
};

// Merges `group` into `existing` (the Observation in the FHIR server): the
// category is replaced or removed, values replaced (SampledData merged slot
// by slot), components merged by their iomt coding, the effective period
// widened. Members iomt does not manage are kept.
Result<MergedObservation> MergeObservation(const FhirTemplate& t, const ObservationGroup& group, json::Node existing);

// iomt-fhir's value processors on their own: `{"value[x]": ...}` for
// `values` (sorted by time) within [start, end]; `{}` when the value would be
// empty. CreateObservation does this for each value the group has data for.
Result<std::string> ValueJson(const ValueTemplate& v, const std::vector<TimeValue>& values, std::int64_t start,
                              std::int64_t end);

// Writes the template's fixed JSON once (FhirTemplate::code_fragment and the
// others), so that building an Observation only splices it in. The loader
// calls it; an unprepared template is written the slow way, with the same
// result.
void PrepareFragments(FhirTemplate* t);

// Orders the members of a resource as the R4 JSON serialization does
// (resourceType, id, meta, ..., identifier, status, category, code, ...);
// members it does not know go last, in their order.
void SortObservationMembers(json::Node* observation);

}  // namespace iomt::fhir
