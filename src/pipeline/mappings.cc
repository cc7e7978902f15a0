#include "pipeline/mappings.h"

#include <utility>

namespace iomt::pipeline {
namespace {

// Names joined as iomt-fhir's validator joins them (string.Join(" ,", ...)).
template <typename Names>
std::string JoinNames(const Names& names) {
  std::string out;
  bool first = true;
  for (const auto& n : names) {
    if (!first) out += " ,";
    out += n;
    first = false;
  }
  return out;
}

void CrossCheck(const normalize::DeviceMapping& device, const fhir::FhirMapping& fhir, MappingCheck* m) {
  std::vector<std::string_view> fhir_types;
  fhir_types.reserve(fhir.templates.size());
  for (const fhir::FhirTemplate& t : fhir.templates)
    fhir_types.push_back(t.type_name);
  const std::string available_templates = JoinNames(fhir_types);
  for (const normalize::ContentTemplate& d : device.templates) {
    const fhir::FhirTemplate* t = fhir.Find(d.type_name);  // ignoring case, as iomt-fhir
    if (t == nullptr) {
      m->warnings.push_back({Category::kFhirTransformation, MappingFile::kDevice, FindingKind::kNoFhirTemplate, d.pos,
                             "No matching Fhir Template exists for Device Mapping [" + d.type_name +
                                 "]. Ensure case matches. Available Fhir Templates: [" + available_templates + "]."});
      continue;
    }
    // A set, in order of first appearance, as the .NET HashSet enumerates.
    std::vector<std::string_view> names;
    for (std::string_view n : fhir::ValueNames(*t)) {
      bool seen = false;
      for (std::string_view k : names)
        seen = seen || k == n;
      if (!seen) names.push_back(n);
    }
    const std::string available_values = JoinNames(names);
    for (const normalize::ValueTemplate& v : d.values) {
      bool found = false;
      for (std::string_view n : names)
        found = found || n == v.name;  // value names are case-sensitive
      if (found) continue;
      m->warnings.push_back({Category::kFhirTransformation, MappingFile::kDevice, FindingKind::kValueNotInFhirTemplate,
                             v.pos.line > 0 ? v.pos : d.pos,
                             "The value [" + v.name + "] in Device Mapping [" + d.type_name +
                                 "] is not represented within the Fhir Template of type [" + d.type_name +
                                 "]. Available values are: [" + available_values +
                                 "]. No value will appear inside of Observations."});
    }
  }
}

std::string ErrorsText(const std::vector<MappingError>& errors) {
  std::string out;
  for (const MappingError& e : errors) {
    if (!out.empty()) out.append("; ");
    out.append(e.ToIomtFhirString());
  }
  return out;
}

}  // namespace

std::string_view ToString(Category c) { return c == Category::kNormalization ? "NORMALIZATION" : "FHIRTRANSFORMATION"; }

MappingCheck CheckMappings(const std::optional<std::string>& device_text, const std::optional<std::string>& fhir_text) {
  MappingCheck m;
  if (device_text) {
    m.device = normalize::LoadDeviceMapping(*device_text);
    for (const MappingError& e : m.device->errors)
      m.errors.push_back({Category::kNormalization, MappingFile::kDevice, FindingKind::kInvalid, e.pos, e.message});
  }
  if (fhir_text) {
    m.fhir = fhir::LoadFhirMapping(*fhir_text);
    for (const MappingError& e : m.fhir->errors)
      m.errors.push_back({Category::kFhirTransformation, MappingFile::kFhir, FindingKind::kInvalid, e.pos, e.message});
    for (const MappingError& e : m.fhir->warnings)
      m.warnings.push_back(
          {Category::kFhirTransformation, MappingFile::kFhir, FindingKind::kFhirWarning, e.pos, e.message});
  }
  // As iomt-fhir: the cross-checks need both mappings loaded without errors.
  if (m.device && m.fhir && m.device->ok() && m.fhir->ok()) CrossCheck(m.device->mapping, m.fhir->mapping, &m);
  return m;
}

std::string MappingCheck::InvalidMessage(MappingFile which) const {
  if (which == MappingFile::kDevice) {
    if (!device || device->ok()) return {};
    return "Invalid deviceMapping mapping. Validation errors: " + ErrorsText(device->errors);
  }
  if (!fhir || fhir->ok()) return {};
  return "Invalid fhirMapping mapping. Validation errors: " + ErrorsText(fhir->errors);
}

std::shared_ptr<const MappingSet> MakeMappingSet(MappingCheck check, std::string device_text, std::string fhir_text,
                                                 std::uint64_t generation) {
  auto set = std::make_shared<MappingSet>();
  if (check.device) set->device = std::move(check.device->mapping);
  if (check.fhir) set->fhir = std::move(check.fhir->mapping);
  set->device_text = std::move(device_text);
  set->fhir_text = std::move(fhir_text);
  set->generation = generation;
  return set;
}

}  // namespace iomt::pipeline
