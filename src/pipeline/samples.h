// What sample device messages become with a pair of mappings, or why they
// become nothing: the measurements, the Observation each would give (without
// identity, as iomt-fhir's validator builds it), and with a FHIR store at
// hand, the identity each resolves to and whether its Observation is there
// ("why is my data not showing up?"). Nothing is written. `iomt validate
// --sample` and the HTTP API's mapping tools both use this.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/errors.h"
#include "common/json/arena.h"
#include "common/json/document.h"
#include "common/measurement.h"
#include "fhir/fhir_mapping.h"
#include "identity/resolver.h"
#include "ingest/envelope.h"
#include "normalize/device_mapping.h"
#include "normalize/normalizer.h"
#include "pipeline/mappings.h"
#include "store/fhir_client.h"
#include "store/overlay_client.h"

namespace iomt::pipeline {

// One measurement of a sample and what the FHIR mapping makes of it.
struct MeasurementReport {
  std::string json;                        // the measurement, in the wire format
  std::string text;                        // a readable line (MeasurementText)
  std::optional<std::string> observation;  // the Observation JSON (without identity)
  std::string fhir_error_text;             // "Name: message" when it failed
  std::string id_segment;                  // of its observation group, when it has one
  // With a store: what identity resolution and the store say.
  std::vector<std::string> identity_text;
  std::string identity_json;  // one JSON object, or empty
  // When identity resolution fails: the error `iomt run` would record (its
  // Observation would not be written).
  std::optional<ErrorRecord> identity_error;
};

struct SampleReport {
  std::int64_t line = 0;
  std::vector<MeasurementReport> measurements;
  std::string errors_json;            // error records, comma-separated
  std::string error_text;             // why the event failed to normalize: "Name: message"
  std::vector<std::string> warnings;  // iomt-fhir's sample-level warnings (NORMALIZATION)
  std::vector<std::string> explanation;
};

// "Type at time, device d, patient p: name=value ..."
std::string MeasurementText(const Measurement& m);

// Each measurement's identity resolved against a real store as `iomt run`
// would resolve it, without writing anything (Create mode writes into an
// in-memory overlay), the Observation it becomes looked up, and for a
// failure the cause and fix of the error catalogue (common/errors.h).
class Troubleshooter {
 public:
  // `destination_name` names the store in messages ("embedded store DIR",
  // or the URL). The client must outlive it.
  Troubleshooter(store::FhirClient* client, std::string destination_name, identity::Mode mode,
                 std::string device_system);
  void Diagnose(const Measurement& m, bool has_fhir_template, MeasurementReport* report);

 private:
  static identity::ResolverOptions Options(identity::Mode mode, const std::string& device_system);

  store::FhirClient* client_;
  std::string destination_name_;
  store::OverlayFhirClient overlay_;
  identity::Mode mode_;
  std::string device_system_;
  identity::IdentityResolver resolver_;
};

// Runs samples through valid mappings. Not thread-safe; the mappings and
// the troubleshooter must outlive it.
class SampleChecker {
 public:
  // `fhir` and `troubleshooter` may be null.
  SampleChecker(const normalize::DeviceMapping& device, const fhir::FhirMapping* fhir, ingest::EnvelopeMode envelope,
                Troubleshooter* troubleshooter);
  // One sample message (`line`: its line number for the report, or 0).
  SampleReport Check(std::string_view text, std::int64_t line, bool too_long = false);

 private:
  normalize::Normalizer normalizer_;
  const fhir::FhirMapping* fhir_;
  ingest::EnvelopeMode envelope_;
  Troubleshooter* troubleshooter_;
  json::Document doc_;
  json::Arena arena_;
};

// Findings as the report lists them: [{"file","line","column","category",
// "message"}], the file named `device_name` or `fhir_name`.
void AppendFindingsJson(std::string* out, const std::vector<Finding>& findings, std::string_view device_name,
                        std::string_view fhir_name);

// The report of `iomt validate --json` (docs/cli.md): validity, the errors
// and warnings of the mappings (each with its file, line, column and
// category), and the samples.
std::string ValidationReportJson(const MappingCheck& check, std::string_view device_name, std::string_view fhir_name,
                                 const std::vector<SampleReport>& samples);

}  // namespace iomt::pipeline
