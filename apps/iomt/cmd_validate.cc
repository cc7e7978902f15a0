// `iomt validate`: checks a device mapping and/or a FHIR destination mapping,
// cross-checks the two, and shows what sample events become with them (or why
// they become nothing). This is iomt-fhir's MappingValidator (reference study,
// section 1.9) on the command line.
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "common/datetime.h"
#include "common/errors.h"
#include "common/json/arena.h"
#include "common/json/document.h"
#include "common/json/node.h"
#include "common/json/writer.h"
#include "common/measurement.h"
#include "destination.h"
#include "fhir/fhir_mapping.h"
#include "fhir/observation.h"
#include "fhir/observation_group.h"
#include "group/measurement_group.h"
#include "identity/resolver.h"
#include "ingest/envelope.h"
#include "ingest/line_reader.h"
#include "io.h"
#include "normalize/device_mapping.h"
#include "normalize/normalizer.h"
#include "pipeline/normalize_stream.h"
#include "store/overlay_client.h"

namespace iomt::cli {
namespace {

struct ValidateFlags {
  std::string device_mapping;
  std::string fhir_mapping;
  std::string sample;
  std::string envelope = "auto";
  bool json = false;
  // Troubleshooting against a FHIR store ("why is my data not showing up?").
  DestinationFlags destination;
  std::string resolution = "Create";
  std::string device_system;
};

// iomt-fhir's ValidationCategory: which mapping a finding concerns.
enum class Category : std::uint8_t { kNormalization, kFhirTransformation };

std::string_view ToString(Category c) { return c == Category::kNormalization ? "NORMALIZATION" : "FHIRTRANSFORMATION"; }

// Which of the two files a finding points into.
enum class MappingFile : std::uint8_t { kDevice, kFhir };

// An error or a warning about the mappings, located in one of the files.
struct Finding {
  Category category = Category::kNormalization;
  MappingFile in = MappingFile::kDevice;
  std::string file;  // as displayed
  json::SourcePos pos;
  std::string message;
};

// One measurement of a sample and what the FHIR mapping makes of it.
struct MeasurementReport {
  std::string json;
  std::string text;
  std::optional<std::string> observation;  // the Observation JSON (without identity)
  std::string fhir_error_text;             // "Name: message" when it failed
  std::string id_segment;                  // of its observation group, when it has one
  // With --store/--fhir-url: what identity resolution and the store say.
  std::vector<std::string> identity_text;
  std::string identity_json;  // one JSON object, or empty
};

struct SampleReport {
  std::int64_t line = 0;
  std::vector<MeasurementReport> measurements;
  std::string errors_json;            // error records, comma-separated
  std::string error_text;             // why the event failed to normalize: "Name: message"
  std::vector<std::string> warnings;  // iomt-fhir's sample-level warnings (NORMALIZATION)
  std::vector<std::string> explanation;
};

// Both mappings as loaded; either may be absent.
struct Mappings {
  std::string device_name;
  std::string fhir_name;
  std::optional<normalize::LoadResult> device;
  std::optional<fhir::FhirLoadResult> fhir;
  std::vector<Finding> errors;
  std::vector<Finding> warnings;

  [[nodiscard]] bool valid() const { return errors.empty(); }
};

constexpr std::string_view kNoMeasurements = "No measurements were produced for the given device data.";

std::string MeasurementText(const Measurement& m) {
  std::string s(m.type);
  s += " at ";
  datetime::AppendIso(&s, m.occurrence_ticks);
  s += ", device ";
  s += m.device_id ? std::string(*m.device_id) : "(none)";
  if (m.patient_id) s += ", patient " + std::string(*m.patient_id);
  if (m.encounter_id) s += ", encounter " + std::string(*m.encounter_id);
  if (m.correlation_id) s += ", correlation " + std::string(*m.correlation_id);
  s += ":";
  if (m.properties.empty()) s += " (no values)";
  for (const MeasurementProperty& p : m.properties)
    s += " " + std::string(p.name) + "=" + std::string(p.value);
  return s;
}

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

// The codes of a CodeableConcept's codings, comma-separated.
std::string CodingsText(const json::Node* concept_node) {
  std::string out;
  if (concept_node == nullptr) return out;
  const json::Node* codings = concept_node->Find("coding");
  if (codings == nullptr || !codings->is_array()) return out;
  for (const json::Node& c : codings->items()) {
    const json::Node* code = c.Find("code");
    if (code == nullptr) continue;
    if (!out.empty()) out += ", ";
    out += code->text();
  }
  return out;
}

// A short reading of value[x] of an Observation or component; empty when it
// has none.
std::string ValueText(const json::Node& holder) {
  if (const json::Node* q = holder.Find("valueQuantity")) {
    std::string s = "Quantity";
    if (const json::Node* v = q->Find("value")) s += " " + v->text();
    if (const json::Node* u = q->Find("unit")) s += " " + u->text();
    return s;
  }
  if (const json::Node* v = holder.Find("valueString")) return "String \"" + v->text() + "\"";
  if (const json::Node* cc = holder.Find("valueCodeableConcept")) {
    std::string s = "CodeableConcept";
    if (const json::Node* t = cc->Find("text")) s += " \"" + t->text() + "\"";
    std::string codes = CodingsText(cc);
    if (!codes.empty()) s += " [" + codes + "]";
    return s;
  }
  if (const json::Node* sd = holder.Find("valueSampledData")) {
    std::string s = "SampledData";
    if (const json::Node* p = sd->Find("period")) s += " every " + p->text() + " ms";
    const json::Node* data = sd->Find("data");
    if (data == nullptr) return s;
    std::size_t slots = 0;
    std::vector<std::string_view> set;
    std::string_view rest = data->text();
    while (!rest.empty()) {
      std::size_t space = rest.find(' ');
      std::string_view token = rest.substr(0, space);
      rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
      if (token.empty()) continue;
      ++slots;
      if (token != "E") set.push_back(token);
    }
    s +=
        ", " + std::to_string(set.size()) + " of " + std::to_string(slots) + " slot" + (slots == 1 ? "" : "s") + " set";
    if (!set.empty()) {
      s += ":";
      for (std::size_t i = 0; i < set.size() && i < 8; ++i) {
        s += " ";
        s += set[i];
      }
      if (set.size() > 8) s += " ...";
    }
    return s;
  }
  return {};
}

// The Observation as a few readable lines (the JSON is in --json).
std::vector<std::string> ObservationText(const std::string& observation_json) {
  std::vector<std::string> lines;
  auto parsed = json::ParseNode(observation_json);
  if (!parsed.ok()) return {observation_json};
  const json::Node& obs = *parsed;
  std::string head = "Observation";
  const json::Node* code = obs.Find("code");
  if (code != nullptr) {
    if (const json::Node* t = code->Find("text")) head += " \"" + t->text() + "\"";
    std::string codes = CodingsText(code);
    if (!codes.empty()) head += " [" + codes + "]";
  }
  if (const json::Node* period = obs.Find("effectivePeriod")) {
    const json::Node* start = period->Find("start");
    const json::Node* end = period->Find("end");
    if (start != nullptr && end != nullptr) head += ", effective " + start->text() + " .. " + end->text();
  }
  std::string value = ValueText(obs);
  if (!value.empty()) head += ": " + value;
  lines.push_back(std::move(head));
  const json::Node* components = obs.Find("component");
  if (components != nullptr && components->is_array()) {
    for (const json::Node& c : components->items()) {
      std::string line = "component";
      const json::Node* c_code = c.Find("code");
      if (c_code != nullptr) {
        if (const json::Node* t = c_code->Find("text")) line += " " + t->text();
        std::string codes = CodingsText(c_code);
        if (!codes.empty()) line += " [" + codes + "]";
      }
      line += ": " + ValueText(c);
      lines.push_back(std::move(line));
    }
  }
  if (value.empty() && (components == nullptr || components->items().empty())) {
    lines.emplace_back("no value: the measurement has none of the values the FHIR template reads");
  }
  return lines;
}

// What the FHIR mapping makes of one measurement, as iomt-fhir's validator
// does it: a group of just this measurement, its first observation group,
// the Observation without identity.
void ConvertMeasurement(const fhir::FhirMapping& mapping, const Measurement& m, std::int64_t line, std::int64_t now,
                        MeasurementReport* report, SampleReport* sample) {
  ErrorRecord record;
  record.time_ticks = now;
  record.template_name = std::string(m.type);
  if (m.device_id) record.device_id = std::string(*m.device_id);
  record.input.line = line;

  const fhir::FhirTemplate* t = mapping.Find(m.type);
  if (t == nullptr) {
    record.name = ErrorName::kFhirTemplateNotFound;
    record.message = "No Fhir Template exists with the type name [" + std::string(m.type) +
                     "]. Ensure that all Fhir Template type names match Device Mapping type names (including casing)";
  } else {
    group::MeasurementGroup g;
    g.data.push_back(OwnedMeasurement::From(m));
    const OwnedMeasurement& owned = g.data.front();
    g.type = owned.type;
    g.device_id = owned.device_id;
    g.patient_id = owned.patient_id;
    g.encounter_id = owned.encounter_id;
    g.correlation_id = owned.correlation_id;
    auto groups = fhir::BuildObservationGroups(g, t->period);
    Status failure;
    if (!groups.ok()) {
      failure = groups.status();
    } else if (groups->empty()) {
      failure = InvalidArgument("The measurement gave no observation group.")
                    .WithDetail(std::string(Describe(ErrorName::kFhirDataMapping).name));
    } else {
      report->id_segment = groups->front().id_segment;
      auto observation = fhir::CreateObservationPreview(*t, groups->front(), g.type, now);
      if (observation.ok()) {
        report->observation = std::move(observation).value();
        return;
      }
      failure = observation.status();
    }
    record.name = FindErrorName(failure.detail()).value_or(ErrorName::kFhirDataMapping);
    record.message = failure.message();
  }
  if (!sample->errors_json.empty()) sample->errors_json.push_back(',');
  AppendErrorRecordJson(&sample->errors_json, record);
  report->fhir_error_text = std::string(Describe(record.name).name) + ": " + record.message;
}

// "Why is my data not showing up?" (the seed's troubleshooting table), asked
// of a real store: each measurement's identity is resolved as `iomt run`
// would resolve it, without writing anything (Create mode writes into an
// in-memory overlay), and the Observation it becomes is looked up.
class Troubleshooter {
 public:
  Troubleshooter(std::unique_ptr<Destination> destination, identity::Mode mode, std::string device_system)
      : destination_(std::move(destination)),
        overlay_(destination_->client.get()),
        mode_(mode),
        device_system_(std::move(device_system)),
        resolver_(&overlay_, Options(mode, device_system_)) {}

  void Diagnose(const Measurement& m, bool has_fhir_template, MeasurementReport* report) {
    if (!m.device_id) return;  // normalization reported it already
    auto opt = [](const std::optional<std::string_view>& v) {
      return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
    };
    const std::int64_t patients = resolver_.patients_created();
    const std::int64_t devices = resolver_.devices_created();
    Result<identity::Identity> id = resolver_.Resolve(*m.device_id, opt(m.patient_id), opt(m.encounter_id));
    std::string& j = report->identity_json;
    j = "{\"resolution\":";
    json::AppendQuoted(&j, identity::ToString(mode_));
    j.append(",\"deviceId\":");
    json::AppendQuoted(&j, *m.device_id);
    if (!id.ok()) {
      const Status& st = id.status();
      std::string name = st.detail().empty() ? "FHIRServiceError" : st.detail();
      Advice advice = AdviceFor(name, st.message(), std::string(*m.device_id));
      report->identity_text.push_back(name + ": " + st.message());
      report->identity_text.push_back("cause: " + advice.cause);
      report->identity_text.push_back("fix: " + advice.fix);
      j.append(",\"ok\":false,\"errorName\":");
      json::AppendQuoted(&j, name);
      j.append(",\"message\":");
      json::AppendQuoted(&j, st.message());
      j.append(",\"cause\":");
      json::AppendQuoted(&j, advice.cause);
      j.append(",\"fix\":");
      json::AppendQuoted(&j, advice.fix);
      j.push_back('}');
      return;
    }
    std::string line = "identity (" + std::string(identity::ToString(mode_)) + "): Patient/" + id->patient_id +
                       ", Device/" + id->device_id;
    if (id->encounter_id) line.append(", Encounter/").append(*id->encounter_id);
    report->identity_text.push_back(line);
    j.append(",\"ok\":true,\"patient\":");
    json::AppendQuoted(&j, "Patient/" + id->patient_id);
    j.append(",\"device\":");
    json::AppendQuoted(&j, "Device/" + id->device_id);
    std::vector<std::string> created;
    if (resolver_.patients_created() > patients) created.push_back("Patient/" + id->patient_id);
    if (resolver_.devices_created() > devices) created.push_back("Device/" + id->device_id);
    if (!created.empty()) {
      std::string what = created.size() == 2 ? created[0] + " and " + created[1] : created[0];
      report->identity_text.push_back("not in " + destination_->name + " yet: `iomt run` would create " + what);
    }
    j.append(",\"wouldCreate\":[");
    for (std::size_t i = 0; i < created.size(); ++i) {
      if (i > 0) j.push_back(',');
      json::AppendQuoted(&j, created[i]);
    }
    j.push_back(']');
    if (has_fhir_template && !report->id_segment.empty()) {
      fhir::ObservationRefs refs{id->patient_id, id->device_id, id->encounter_id};
      std::string value = fhir::ObservationIdentifierValue(refs, m.type, report->id_segment);
      std::string obs_id = fhir::ResourceIdForIdentifier(fhir::kServiceSystem, value);
      Result<std::optional<store::Resource>> found = destination_->client->Read("Observation", obs_id);
      j.append(",\"observation\":");
      json::AppendQuoted(&j, "Observation/" + obs_id);
      if (!found.ok()) {
        report->identity_text.push_back("Observation/" + obs_id + ": cannot tell (" + found.status().message() + ")");
      } else if (*found) {
        report->identity_text.push_back("Observation/" + obs_id + " is in " + destination_->name + " (version " +
                                        (*found)->version_id + ")");
        j.append(",\"inStore\":true");
      } else {
        report->identity_text.push_back("Observation/" + obs_id + " is not in " + destination_->name +
                                        " yet: the data is still being processed, or was never sent through "
                                        "`iomt run`/`iomt serve` with these mappings");
        j.append(",\"inStore\":false");
      }
    }
    j.push_back('}');
  }

 private:
  static identity::ResolverOptions Options(identity::Mode mode, const std::string& device_system) {
    identity::ResolverOptions options;
    options.mode = mode;
    options.device_system = device_system;
    return options;
  }

  struct Advice {
    std::string cause;
    std::string fix;
  };

  Advice AdviceFor(const std::string& name, const std::string& message, const std::string& device_id) const {
    const std::string identifier = (device_system_.empty() ? "" : device_system_ + "|") + device_id;
    if (name == "DeviceNotFoundException") {
      return {"A Device resource hasn't been created in the FHIR service (resolution type: Lookup).",
              "Create a Device resource in " + destination_->name + " with the identifier " + identifier +
                  " (the device id in the message), or run with --resolution Create."};
    }
    if (name == "PatientNotFoundException") {
      if (message.find("no patient reference") != std::string::npos) {
        return {"The Device.patient reference isn't set (resolution type: Lookup).",
                "Set Device.patient of the Device with identifier " + identifier +
                    " to a reference to its Patient (Patient/{id})."};
      }
      if (message.find("not a reference of the form") != std::string::npos) {
        return {"The Device.patient reference is invalid (resolution type: Lookup).",
                "Make Device.patient a relative reference to a Patient resource: Patient/{id}."};
      }
      return {"A Patient resource hasn't been created in the FHIR service (resolution type: Lookup).",
              "Create the Patient resource that Device.patient refers to."};
    }
    if (name == "PatientIdentityNotDefinedException") {
      return {"The message has no patient id, and Create resolution needs one to create the Patient.",
              "Add a patientIdExpression to the device template (one that matches a token of the message), or "
              "create the Device and its Patient and use --resolution Lookup."};
    }
    if (name == "PatientDeviceMismatchException") {
      return {"The Device is linked to another Patient than the one the message names.",
              "Correct Device.patient, or the patient id the message carries."};
    }
    if (name == "EncounterIdentityNotDefinedException") {
      return {"LookupWithEncounter resolution needs an encounter id, and the message has none.",
              "Add an encounterIdExpression to the device template, or use --resolution Lookup."};
    }
    if (name == "EncounterNotFoundException") {
      return {"No Encounter resource has the encounter id of the message.",
              "Create an Encounter whose identifier is the message's encounter id."};
    }
    if (name == "MultipleResourceFoundException") {
      return {"Several resources have the identifier, so the connector cannot tell which one is meant.",
              "Remove the duplicates so that one resource has the identifier."};
    }
    return {"The FHIR service failed: " + message, "Check the URL, the credentials and that the service is up."};
  }

  std::unique_ptr<Destination> destination_;
  store::OverlayFhirClient overlay_;
  identity::Mode mode_;
  std::string device_system_;
  identity::IdentityResolver resolver_;
};

// Runs every sample through the device mapping and, when there is one, the
// FHIR mapping.
bool RunSamples(const ValidateFlags& flags, const normalize::DeviceMapping& device, const fhir::FhirMapping* fhir,
                Troubleshooter* troubleshooter, std::vector<SampleReport>* out) {
  auto mode = ingest::ParseEnvelopeMode(flags.envelope);
  int fd = OpenForReading(flags.sample);
  if (fd < 0) {
    std::fprintf(stderr, "error: cannot read %s\n", flags.sample.c_str());
    return false;
  }
  ingest::LineReader reader(fd);
  normalize::Normalizer normalizer(device);
  json::Document doc;
  json::Arena arena;
  ingest::LineReader::Line line;
  while (reader.Next(&line)) {
    if (!line.too_long && line.text.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    SampleReport report;
    report.line = line.number;
    const std::int64_t now = pipeline::NowTicks();
    ErrorRecord record;
    record.time_ticks = now;
    record.name = ErrorName::kNotSupported;
    record.input.line = line.number;
    Event event;
    event.location.line = line.number;
    event.ingestion_ticks = now;
    Status st = line.too_long ? OutOfRange("The message is larger than 1048576 bytes.")
                              : doc.ParsePadded(line.text.data(), line.text.size());
    arena.Reset();
    if (st.ok()) st = ingest::MakeEventValue(doc.root(), *mode, now, &arena, &event.value);
    if (!st.ok()) {
      record.message = st.message();
      AppendErrorRecordJson(&report.errors_json, record);
      report.error_text = "NotSupportedException: " + record.message;
      out->push_back(std::move(report));
      continue;
    }
    const normalize::NormalizeResult& result = normalizer.Normalize(event, now);
    for (const Measurement& m : result.measurements) {
      MeasurementReport mr;
      AppendMeasurementJson(&mr.json, m);
      mr.text = MeasurementText(m);
      if (fhir != nullptr) ConvertMeasurement(*fhir, m, line.number, now, &mr, &report);
      if (troubleshooter != nullptr) troubleshooter->Diagnose(m, fhir != nullptr && fhir->Find(m.type), &mr);
      report.measurements.push_back(std::move(mr));
    }
    const bool unmatched = result.error && result.error->name == ErrorName::kUnmatchedDeviceMessage;
    if (result.error && !unmatched) {
      // The errors of the FHIR stage (if any) come after; the normalization
      // error goes first.
      std::string first;
      AppendErrorRecordJson(&first, *result.error);
      if (!report.errors_json.empty()) first.push_back(',');
      report.errors_json.insert(0, first);
      report.error_text = std::string(Describe(result.error->name).name) + ": " + result.error->message;
    }
    if (result.measurements.empty() && (!result.error || unmatched)) {
      // iomt-fhir's validator: no exception and no measurement is a warning.
      report.warnings.emplace_back(kNoMeasurements);
      if (unmatched) report.explanation = normalizer.ExplainNoMatch(event);
    }
    out->push_back(std::move(report));
  }
  return reader.status().ok();
}

// iomt-fhir's CheckForTemplateCompatibility: every device template needs a
// FHIR template of its type (found ignoring case), and every value it
// produces should be read by that template.
void CrossCheck(const normalize::DeviceMapping& device, const fhir::FhirMapping& fhir, Mappings* m) {
  std::vector<std::string_view> fhir_types;
  fhir_types.reserve(fhir.templates.size());
  for (const fhir::FhirTemplate& t : fhir.templates)
    fhir_types.push_back(t.type_name);
  const std::string available_templates = JoinNames(fhir_types);
  for (const normalize::ContentTemplate& d : device.templates) {
    const fhir::FhirTemplate* t = fhir.Find(d.type_name);
    if (t == nullptr) {
      m->warnings.push_back({Category::kFhirTransformation, MappingFile::kDevice, m->device_name, d.pos,
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
      m->warnings.push_back(
          {Category::kFhirTransformation, MappingFile::kDevice, m->device_name, v.pos.line > 0 ? v.pos : d.pos,
           "The value [" + v.name + "] in Device Mapping [" + d.type_name +
               "] is not represented within the Fhir Template of type [" + d.type_name + "]. Available values are: [" +
               available_values + "]. No value will appear inside of Observations."});
    }
  }
}

// Reads and loads the mappings that were given; false when a file cannot be
// read (already reported).
bool LoadMappings(const ValidateFlags& flags, Mappings* m) {
  std::optional<std::string> device_text;
  std::optional<std::string> fhir_text;
  if (!flags.device_mapping.empty()) {
    device_text = ReadWholeFile(flags.device_mapping);
    if (!device_text) {
      std::fprintf(stderr, "error: cannot read %s\n", flags.device_mapping.c_str());
      return false;
    }
  }
  if (!flags.fhir_mapping.empty()) {
    fhir_text = ReadWholeFile(flags.fhir_mapping);
    if (!fhir_text) {
      std::fprintf(stderr, "error: cannot read %s\n", flags.fhir_mapping.c_str());
      return false;
    }
  }
  if (device_text) {
    m->device_name = DisplayName(flags.device_mapping);
    m->device = normalize::LoadDeviceMapping(*device_text);
    for (const MappingError& e : m->device->errors)
      m->errors.push_back({Category::kNormalization, MappingFile::kDevice, m->device_name, e.pos, e.message});
  }
  if (fhir_text) {
    m->fhir_name = DisplayName(flags.fhir_mapping);
    m->fhir = fhir::LoadFhirMapping(*fhir_text);
    for (const MappingError& e : m->fhir->errors)
      m->errors.push_back({Category::kFhirTransformation, MappingFile::kFhir, m->fhir_name, e.pos, e.message});
    for (const MappingError& e : m->fhir->warnings)
      m->warnings.push_back({Category::kFhirTransformation, MappingFile::kFhir, m->fhir_name, e.pos, e.message});
  }
  // As iomt-fhir: the cross-checks need both mappings loaded without errors.
  if (m->device && m->fhir && m->device->ok() && m->fhir->ok()) CrossCheck(m->device->mapping, m->fhir->mapping, m);
  return true;
}

void AppendFindingsJson(std::string* out, const std::vector<Finding>& findings) {
  out->push_back('[');
  for (std::size_t i = 0; i < findings.size(); ++i) {
    const Finding& f = findings[i];
    if (i > 0) out->push_back(',');
    out->append("{\"file\":");
    json::AppendQuoted(out, f.file);
    out->append(",\"line\":").append(std::to_string(f.pos.line));
    out->append(",\"column\":").append(std::to_string(f.pos.column));
    out->append(",\"category\":");
    json::AppendQuoted(out, ToString(f.category));
    out->append(",\"message\":");
    json::AppendQuoted(out, f.message);
    out->push_back('}');
  }
  out->push_back(']');
}

void PrintJson(const Mappings& m, const std::vector<SampleReport>& samples) {
  std::string out = "{\"valid\":";
  out += m.valid() ? "true" : "false";
  out += ",\"errors\":";
  AppendFindingsJson(&out, m.errors);
  out += ",\"warnings\":";
  AppendFindingsJson(&out, m.warnings);
  out += ",\"samples\":[";
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const SampleReport& s = samples[i];
    if (i > 0) out.push_back(',');
    out += "{\"line\":" + std::to_string(s.line) + ",\"measurements\":[";
    for (std::size_t k = 0; k < s.measurements.size(); ++k) {
      if (k > 0) out.push_back(',');
      out += s.measurements[k].json;
    }
    out += "],\"observations\":[";
    bool first = true;
    for (const MeasurementReport& mr : s.measurements) {
      if (!mr.observation) continue;
      if (!first) out.push_back(',');
      out += *mr.observation;
      first = false;
    }
    out += "],\"identity\":[";
    first = true;
    for (const MeasurementReport& mr : s.measurements) {
      if (mr.identity_json.empty()) continue;
      if (!first) out.push_back(',');
      out += mr.identity_json;
      first = false;
    }
    out += "],\"errors\":[" + s.errors_json + "],\"warnings\":[";
    for (std::size_t k = 0; k < s.warnings.size(); ++k) {
      if (k > 0) out.push_back(',');
      out += "{\"category\":\"NORMALIZATION\",\"message\":";
      json::AppendQuoted(&out, s.warnings[k]);
      out.push_back('}');
    }
    out += "],\"explanation\":[";
    for (std::size_t k = 0; k < s.explanation.size(); ++k) {
      if (k > 0) out.push_back(',');
      json::AppendQuoted(&out, s.explanation[k]);
    }
    out += "]}";
  }
  out += "]}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

void PrintFinding(const Finding& f, const char* severity) {
  if (f.pos.line > 0) {
    std::printf("%s:%d:%d: %s: %s\n", f.file.c_str(), f.pos.line, f.pos.column, severity, f.message.c_str());
  } else {
    std::printf("%s: %s: %s\n", f.file.c_str(), severity, f.message.c_str());
  }
}

// The findings of one file, then its summary line.
void PrintMappingSummary(const Mappings& m, MappingFile in, const std::string& file, const char* what,
                         std::size_t templates) {
  std::size_t errors = 0;
  for (const Finding& f : m.errors) {
    if (f.in != in) continue;
    PrintFinding(f, "error");
    ++errors;
  }
  for (const Finding& f : m.warnings) {
    if (f.in == in && in == MappingFile::kFhir) PrintFinding(f, "warning");
  }
  if (errors > 0) {
    std::printf("%s: invalid %s (%zu error%s)\n", file.c_str(), what, errors, errors == 1 ? "" : "s");
  } else {
    std::printf("%s: valid %s (%zu template%s)\n", file.c_str(), what, templates, templates == 1 ? "" : "s");
  }
}

void PrintText(const Mappings& m, const std::vector<SampleReport>& samples) {
  // The device mapping's errors, the FHIR mapping's errors and warnings,
  // then the cross-checks (which point into the device mapping).
  if (m.device)
    PrintMappingSummary(m, MappingFile::kDevice, m.device_name, "device mapping", m.device->mapping.templates.size());
  if (m.fhir) PrintMappingSummary(m, MappingFile::kFhir, m.fhir_name, "FHIR mapping", m.fhir->mapping.templates.size());
  for (const Finding& f : m.warnings) {
    if (f.in == MappingFile::kDevice) PrintFinding(f, "warning");
  }
  for (const SampleReport& s : samples) {
    std::size_t n = s.measurements.size();
    if (n > 0) {
      std::printf("sample line %lld: %zu measurement%s\n", static_cast<long long>(s.line), n, n == 1 ? "" : "s");
    } else {
      std::printf("sample line %lld: no measurements\n", static_cast<long long>(s.line));
    }
    for (const MeasurementReport& mr : s.measurements) {
      std::printf("  %s\n", mr.text.c_str());
      if (mr.observation) {
        std::vector<std::string> lines = ObservationText(*mr.observation);
        for (std::size_t k = 0; k < lines.size(); ++k)
          std::printf("    %s %s\n", k == 0 ? "->" : "  ", lines[k].c_str());
      } else if (!mr.fhir_error_text.empty()) {
        std::printf("    -> %s\n", mr.fhir_error_text.c_str());
      }
      for (const std::string& t : mr.identity_text)
        std::printf("    %s\n", t.c_str());
    }
    if (!s.error_text.empty()) std::printf("  %s\n", s.error_text.c_str());
    for (const std::string& w : s.warnings)
      std::printf("  warning: %s\n", w.c_str());
    for (const std::string& e : s.explanation)
      std::printf("    %s\n", e.c_str());
  }
}

int Run(const ValidateFlags& flags) {
  if (flags.device_mapping.empty() && flags.fhir_mapping.empty()) {
    std::fprintf(stderr, "error: give --device-mapping, --fhir-mapping or both\n");
    return kExitUsage;
  }
  Mappings m;
  if (!LoadMappings(flags, &m)) return kExitUsage;
  std::unique_ptr<Troubleshooter> troubleshooter;
  if (!flags.destination.store_dir.empty() || !flags.destination.fhir_url.empty()) {
    auto mode = identity::ParseMode(flags.resolution);
    if (!mode.ok()) {
      std::fprintf(stderr, "error: --resolution: %s\n", mode.status().message().c_str());
      return kExitUsage;
    }
    // Looking must not create an empty store where there was none.
    struct stat st {};
    if (!flags.destination.store_dir.empty() && ::stat(flags.destination.store_dir.c_str(), &st) != 0) {
      std::fprintf(stderr, "error: --store %s: no such store\n", flags.destination.store_dir.c_str());
      return kExitUsage;
    }
    int exit_code = kExitOk;
    std::unique_ptr<Destination> destination = OpenDestination(flags.destination, "", &exit_code);
    if (destination == nullptr) return exit_code;
    troubleshooter = std::make_unique<Troubleshooter>(std::move(destination), *mode, flags.device_system);
    if (m.device && !m.fhir && !flags.json) {
      std::printf("note: no --fhir-mapping: without a FHIR destination mapping nothing reaches the FHIR service\n");
    }
  }
  std::vector<SampleReport> samples;
  // As iomt-fhir's validator: samples run only when no mapping has errors.
  if (m.valid() && m.device && !flags.sample.empty() &&
      !RunSamples(flags, m.device->mapping, m.fhir ? &m.fhir->mapping : nullptr, troubleshooter.get(), &samples)) {
    return kExitUsage;
  }
  if (flags.json) {
    PrintJson(m, samples);
  } else {
    PrintText(m, samples);
  }
  return m.valid() ? kExitOk : kExitInvalid;
}

}  // namespace

Runner RegisterValidate(CLI::App& app) {
  auto flags = std::make_shared<ValidateFlags>();
  CLI::Option* device =
      app.add_option("--device-mapping", flags->device_mapping, "Device mapping (devicecontent.json)");
  app.add_option("--fhir-mapping", flags->fhir_mapping, "FHIR destination mapping (fhirmapping.json)");
  app.add_option("--sample", flags->sample, "Sample events (NDJSON) to run through the mappings")->needs(device);
  app.add_option("--envelope", flags->envelope, "How a sample line becomes an event: auto, event, wrap or none")
      ->check(CLI::IsMember({"auto", "event", "wrap", "none"}));
  app.add_flag("--json", flags->json, "Print one JSON report");
  AddDestinationFlags(app, &flags->destination,
                      "With --sample: an embedded store to troubleshoot against (identities, Observations)");
  app.add_option("--resolution", flags->resolution,
                 "With --store/--fhir-url: the identity resolution to check: Create (default), Lookup, "
                 "LookupWithEncounter");
  app.add_option("--device-system", flags->device_system, "Identifier system of devices (default none)");
  app.footer(
      "Give --device-mapping, --fhir-mapping or both. Lists every problem of the mappings as file:line:column;\n"
      "with both, also warns about device types without a FHIR template and values no FHIR template reads.\n"
      "With --sample, shows the measurements each sample gives (and, with --fhir-mapping, the Observations\n"
      "they become), or why it gives none. With --store DIR or --fhir-url URL as well, each measurement's\n"
      "identity is resolved against that FHIR store as `iomt run --resolution R` would (nothing is written)\n"
      "and the Observation it becomes is looked up: why data is not showing up, and what to do.\n"
      "Exit 0 when the mappings are valid (warnings allowed), 1 when not.");
  return [flags]() { return Run(*flags); };
}

}  // namespace iomt::cli
