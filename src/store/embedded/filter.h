// Search parameters the embedded store keeps no index for, evaluated on
// each candidate resource's JSON after the indexed parameters (identifier,
// code, references, date, _id, _lastUpdated) have narrowed the candidates
// in SQL. An index row costs every ingested Observation a sorted insert
// (docs/adr/0024); these parameters are asked for far more rarely than
// readings arrive, and always together with a patient or a code in the
// queries people run ("heart rate above 120 for this patient today").
//
// What they are, per type (FHIR R4's definitions):
// - Observation: status, category, encounter, value-quantity,
//   component-code, component-value-quantity, code-value-quantity,
//   component-code-value-quantity;
// - Patient: name, family, given, gender; Device: device-name,
//   manufacturer, model, status; Encounter: status.
// And `:missing` for these and for the indexed reference, token and date
// parameters; `:not` for tokens; `:exact` and `:contains` for strings.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json/value.h"
#include "common/status.h"

namespace iomt::store::embedded {

class Filter {
 public:
  virtual ~Filter() = default;
  // Whether the resource (its parsed JSON) matches.
  [[nodiscard]] virtual bool Matches(const json::Value& resource) const = 0;
};

// The filter for `name:modifier=value` (name and value percent-decoded, the
// value's ',' still there) on `type`. nullopt: `name` is not a parameter
// this evaluates (with this modifier, for an indexed parameter): the caller
// handles it. kInvalidArgument for a value or modifier that does not fit.
Result<std::optional<std::unique_ptr<Filter>>> MakeFilter(std::string_view type, std::string_view name,
                                                          std::string_view modifier, std::string_view value);

// A whole search (`query`: "code=8867-4&patient=Patient/p1", as sent, not
// decoded) evaluated on one resource's JSON, the indexed parameters
// included: what a Subscription's criteria ask of each write, where the
// resource is in hand and a query to the store would cost its lock.
// kInvalidArgument for a parameter `type` does not have, one about the
// answer (_count, _sort, _include, ...) and a value that does not fit.
Result<std::unique_ptr<Filter>> MakeCriteria(std::string_view type, std::string_view query);

// Whether `name` is one of the unindexed parameters of `type`.
bool IsFilterParam(std::string_view type, std::string_view name);

// The unindexed parameters of `type` as (name, FHIR search parameter type),
// for the CapabilityStatement and error messages.
std::vector<std::pair<std::string_view, std::string_view>> FilterParams(std::string_view type);

}  // namespace iomt::store::embedded
