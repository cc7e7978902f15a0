// The two mappings checked together, the same way wherever mappings enter:
// `iomt validate`, a connector's load and reload, and the mapping tools of
// the HTTP API. Each mapping's own validation (every error at its line and
// column, iomt-fhir's texts) and then, when both are valid, iomt-fhir's
// compatibility checks between them (MappingValidator.CheckForTemplateCompatibility):
// every device template should have a FHIR template of its type, and every
// value it produces should be read by that template.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json/source.h"
#include "fhir/fhir_mapping.h"
#include "normalize/device_mapping.h"

namespace iomt::pipeline {

// iomt-fhir's ValidationCategory: which mapping a finding concerns.
enum class Category : std::uint8_t { kNormalization, kFhirTransformation };
std::string_view ToString(Category category);  // "NORMALIZATION", "FHIRTRANSFORMATION"

// Which of the two files a finding points into.
enum class MappingFile : std::uint8_t { kDevice, kFhir };

// What a cross-check warning is about.
enum class FindingKind : std::uint8_t {
  kInvalid,                 // a validation error of one mapping
  kFhirWarning,             // the FHIR mapping loads, but will fail or surprise at run time
  kNoFhirTemplate,          // a device template type without a FHIR template
  kValueNotInFhirTemplate,  // a value no FHIR template reads
};

struct Finding {
  Category category = Category::kNormalization;
  MappingFile in = MappingFile::kDevice;
  FindingKind kind = FindingKind::kInvalid;
  json::SourcePos pos;  // line 0: no position
  std::string message;
};

struct MappingCheck {
  std::optional<normalize::LoadResult> device;  // set when a device mapping was given
  std::optional<fhir::FhirLoadResult> fhir;     // set when a FHIR mapping was given
  std::vector<Finding> errors;
  std::vector<Finding> warnings;

  [[nodiscard]] bool valid() const { return errors.empty(); }
  // The provisioning API's and the service's message for an invalid mapping:
  // "Invalid deviceMapping mapping. Validation errors: Line Number: 3,
  // Position: 7. ..." (each error as iomt-fhir renders it); empty when that
  // mapping is valid or absent.
  [[nodiscard]] std::string InvalidMessage(MappingFile which) const;
};

// Checks what was given (either text may be absent).
MappingCheck CheckMappings(const std::optional<std::string>& device_text, const std::optional<std::string>& fhir_text);

// Two valid mappings, ready to run, with the texts they were loaded from.
// Replaced whole when a connector reloads; shared by its workers.
struct MappingSet {
  normalize::DeviceMapping device;
  fhir::FhirMapping fhir;
  std::string device_text;
  std::string fhir_text;
  std::uint64_t generation = 0;  // a new number for each load
};

// The set of a valid check (which it takes its mappings from).
std::shared_ptr<const MappingSet> MakeMappingSet(MappingCheck check, std::string device_text, std::string fhir_text,
                                                 std::uint64_t generation);

}  // namespace iomt::pipeline
