// Grouping a batch of measurements, as iomt-fhir's FHIR transformation does
// before it builds Observations (docs/fhir-mappings.md, "Grouping"): one group per
// device, type, patient, encounter and correlation id, duplicates dropped.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/measurement.h"

namespace iomt::group {

struct MeasurementGroup {
  // Taken from the group's first measurement.
  std::string type;
  std::optional<std::string> device_id;
  std::optional<std::string> patient_id;
  std::optional<std::string> encounter_id;
  std::optional<std::string> correlation_id;
  std::vector<OwnedMeasurement> data;
};

// Groups `batch` in order of first appearance. Measurements belong together
// when DeviceId, Type, PatientId, EncounterId and CorrelationId are equal
// (ordinal; null and "" are the same). Within a group, measurements with the
// same OccurrenceTimeUtc collapse to the one with the latest IngestionTimeUtc
// (the first of those on a tie; no ingestion time counts as the earliest),
// kept at the place of the first of them.
//
// iomt-fhir joins the five fields with '-' into one string key, so device
// "a-b" of type "c" and device "a" of type "b-c" share a group there, and the
// second measurement is written under the first one's device and type. iomt
// compares the fields themselves; wherever that key does not collide the
// groups are the same.
std::vector<MeasurementGroup> GroupBatch(std::vector<OwnedMeasurement> batch);

}  // namespace iomt::group
