// The FHIR destination mapping (fhirmapping.json, a CollectionFhir of
// CodeValueFhir templates) as Azure's IoT connector defines it: for each
// measurement type, the codes, categories, grouping period and value types of
// the Observations to write (docs/fhir-mappings.md).
//
// LoadFhirMapping validates the whole document and reports every problem with
// its line and column, using iomt-fhir's message texts. A FhirMapping is
// immutable once loaded and may be shared by threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/json/source.h"
#include "common/json/strict_reader.h"

namespace iomt::fhir {

// How measurements of a group are gathered into Observations.
enum class PeriodInterval : std::int16_t {
  kCorrelationId = -1,  // one Observation per correlation id
  kSingle = 0,          // one per distinct timestamp
  kHourly = 60,         // one per UTC hour
  kDaily = 1440,        // one per UTC day
};
std::string_view ToString(PeriodInterval p);  // "Hourly", ...

enum class ValueKind : std::uint8_t { kSampledData, kQuantity, kString, kCodeableConcept };
std::string_view ToString(ValueKind k);  // "SampledData", ...

// A FHIR Coding. Empty strings are absent members (empty strings are not
// valid FHIR).
struct Coding {
  std::string code;
  std::string system;
  std::string display;
  [[nodiscard]] bool empty() const { return code.empty() && system.empty() && display.empty(); }
};

struct CodeableConceptTemplate {
  std::string text;
  std::vector<Coding> codes;
};

// `value` of a template or of a component.
struct ValueTemplate {
  ValueKind kind = ValueKind::kQuantity;
  std::string value_name;  // the measurement property it reads (case-sensitive)
  // SampledData: `defaultPeriod` in milliseconds as decimal text (what is
  // written to `period`), and in ticks; empty when absent (every group then
  // fails with FhirDataMappingException, as in iomt-fhir).
  std::string default_period;
  std::int64_t period_ticks = 0;
  std::string unit;                  // SampledData, Quantity
  std::string system;                // Quantity
  std::string code;                  // Quantity
  CodeableConceptTemplate concept_;  // CodeableConcept: the value written
  json::SourcePos pos;
  // The JSON that depends on the template alone, written once when the
  // mapping is loaded (fhir/observation.h, PrepareFragments): Quantity: what
  // follows the number; SampledData: what precedes the stream;
  // CodeableConcept: the concept (empty when it would be empty).
  std::string fragment;
  bool prepared = false;
};

struct ComponentTemplate {
  std::vector<Coding> codes;
  std::optional<ValueTemplate> value;
  std::string code_fragment;  // the component's code, prepared (see ValueTemplate::fragment)
};

struct FhirTemplate {
  std::string type_name;
  PeriodInterval period = PeriodInterval::kSingle;
  std::vector<CodeableConceptTemplate> category;
  std::vector<Coding> codes;
  std::optional<ValueTemplate> value;
  std::vector<ComponentTemplate> components;
  json::SourcePos pos;  // the template object
  // Prepared JSON (see ValueTemplate::fragment): the category array (empty
  // when there is none) and the code for a measurement type spelled as
  // `type_name`.
  std::string category_fragment;
  std::string code_fragment;
  bool prepared = false;
};

struct FhirMapping {
  std::vector<FhirTemplate> templates;  // in document order

  // The template for a measurement type, ignoring case (iomt-fhir's
  // dictionary is InvariantCultureIgnoreCase); nullptr when there is none.
  [[nodiscard]] const FhirTemplate* Find(std::string_view type_name) const;
  // Builds the lookup index; LoadFhirMapping calls it.
  void Index();

 private:
  std::unordered_map<std::string, std::size_t> by_folded_name_;
};

struct FhirLoadResult {
  FhirMapping mapping;                 // the templates that loaded
  std::vector<MappingError> errors;    // every problem, in document order
  std::vector<MappingError> warnings;  // loads, but will fail or surprise at run time
  [[nodiscard]] bool ok() const { return errors.empty(); }
};

// Loads a FHIR destination mapping from its JSON text (a UTF-8 byte-order
// mark is accepted). Never fails outright: problems are in the result.
FhirLoadResult LoadFhirMapping(std::string_view text);

// Loads one entry, `{"templateType": "CodeValueFhir", "template": {...}}`,
// as iomt-fhir's CodeValueFhirTemplateFactory does (its unit tests load
// single templates this way).
FhirLoadResult LoadCodeValueFhirTemplate(std::string_view text);

// The template as iomt understood it, as JSON with the mapping's member names
// (typeName, periodInterval as a number, codes, category, value,
// components); absent and empty members left out. For tests and tools.
std::string DescribeJson(const FhirTemplate& t);

// The measurement property names a template reads: the component value names
// when it has components, else its value's name (the validator's rule for
// "value not represented" warnings).
std::vector<std::string_view> ValueNames(const FhirTemplate& t);

}  // namespace iomt::fhir
