#include "pipeline/samples.h"

#include <utility>

#include "common/clock.h"
#include "common/datetime.h"
#include "common/json/writer.h"
#include "fhir/observation.h"
#include "fhir/observation_group.h"
#include "group/measurement_group.h"

namespace iomt::pipeline {
namespace {

constexpr std::string_view kNoMeasurements = "No measurements were produced for the given device data.";

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
      failure = InvalidArgument("The measurement gave no observation group.").WithError(ErrorName::kFhirDataMapping);
    } else {
      report->id_segment = groups->front().id_segment;
      auto observation = fhir::CreateObservationPreview(*t, groups->front(), g.type, now);
      if (observation.ok()) {
        report->observation = std::move(observation).value();
        return;
      }
      failure = observation.status();
    }
    record.name = failure.error().value_or(ErrorName::kFhirDataMapping);
    record.message = failure.message();
  }
  if (!sample->errors_json.empty()) sample->errors_json.push_back(',');
  AppendErrorRecordJson(&sample->errors_json, record);
  report->fhir_error_text = std::string(Describe(record.name).name) + ": " + record.message;
}

}  // namespace

std::string MeasurementText(const Measurement& m) {
  // Appends only: GCC 12 warns wrongly (-Wrestrict) about "literal" + string.
  std::string s(m.type);
  s.append(" at ");
  datetime::AppendIso(&s, m.occurrence_ticks);
  s.append(", device ").append(m.device_id ? *m.device_id : std::string_view("(none)"));
  if (m.patient_id) s.append(", patient ").append(*m.patient_id);
  if (m.encounter_id) s.append(", encounter ").append(*m.encounter_id);
  if (m.correlation_id) s.append(", correlation ").append(*m.correlation_id);
  s.append(":");
  if (m.properties.empty()) s.append(" (no values)");
  for (const MeasurementProperty& p : m.properties)
    s.append(" ").append(p.name).append("=").append(p.value);
  return s;
}

Troubleshooter::Troubleshooter(store::FhirClient* client, std::string destination_name, identity::Mode mode,
                               std::string device_system)
    : client_(client),
      destination_name_(std::move(destination_name)),
      overlay_(client),
      mode_(mode),
      device_system_(std::move(device_system)),
      resolver_(&overlay_, Options(mode, device_system_)) {}

identity::ResolverOptions Troubleshooter::Options(identity::Mode mode, const std::string& device_system) {
  identity::ResolverOptions options;
  options.mode = mode;
  options.device_system = device_system;
  return options;
}

void Troubleshooter::Diagnose(const Measurement& m, bool has_fhir_template, MeasurementReport* report) {
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
    const ErrorName error = st.error().value_or(ErrorName::kFhirService);
    const std::string name(Describe(error).name);
    const std::string identifier = (device_system_.empty() ? "" : device_system_ + "|") + std::string(*m.device_id);
    ErrorRecord record;
    record.time_ticks = NowTicks();
    record.name = error;
    record.message = st.message();
    record.device_id = std::string(*m.device_id);
    report->identity_error = std::move(record);
    const ErrorAdvice catalogue = AdviceFor(error, st.detail());
    const std::string cause = FillAdvice(catalogue.cause, identifier, destination_name_);
    const std::string fix = FillAdvice(catalogue.fix, identifier, destination_name_);
    report->identity_text.push_back(name + ": " + st.message());
    report->identity_text.push_back("cause: " + cause);
    report->identity_text.push_back("fix: " + fix);
    j.append(",\"ok\":false,\"errorName\":");
    json::AppendQuoted(&j, name);
    j.append(",\"message\":");
    json::AppendQuoted(&j, st.message());
    j.append(",\"cause\":");
    json::AppendQuoted(&j, cause);
    j.append(",\"fix\":");
    json::AppendQuoted(&j, fix);
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
    report->identity_text.push_back("not in " + destination_name_ + " yet: `iomt run` would create " + what);
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
    Result<std::optional<store::Resource>> found = client_->Read("Observation", obs_id);
    j.append(",\"observation\":");
    json::AppendQuoted(&j, "Observation/" + obs_id);
    if (!found.ok()) {
      report->identity_text.push_back("Observation/" + obs_id + ": cannot tell (" + found.status().message() + ")");
    } else if (*found) {
      report->identity_text.push_back("Observation/" + obs_id + " is in " + destination_name_ + " (version " +
                                      (*found)->version_id + ")");
      j.append(",\"inStore\":true");
    } else {
      report->identity_text.push_back("Observation/" + obs_id + " is not in " + destination_name_ +
                                      " yet: the data is still being processed, or was never sent through "
                                      "`iomt run`/`iomt serve` with these mappings");
      j.append(",\"inStore\":false");
    }
  }
  j.push_back('}');
}

SampleChecker::SampleChecker(const normalize::DeviceMapping& device, const fhir::FhirMapping* fhir,
                             ingest::EnvelopeMode envelope, Troubleshooter* troubleshooter)
    : normalizer_(device), fhir_(fhir), envelope_(envelope), troubleshooter_(troubleshooter) {}

SampleReport SampleChecker::Check(std::string_view text, std::int64_t line, bool too_long) {
  SampleReport report;
  report.line = line;
  const std::int64_t now = NowTicks();
  ErrorRecord record;
  record.time_ticks = now;
  record.name = ErrorName::kNotSupported;
  record.input.line = line;
  Event event;
  event.location.line = line;
  event.ingestion_ticks = now;
  Status st = too_long ? OutOfRange("The message is larger than 1048576 bytes.") : doc_.Parse(text);
  arena_.Reset();
  if (st.ok()) st = ingest::MakeEventValue(doc_.root(), envelope_, now, &arena_, &event.value);
  if (!st.ok()) {
    record.message = st.message();
    AppendErrorRecordJson(&report.errors_json, record);
    report.error_text = "NotSupportedException: " + record.message;
    return report;
  }
  const normalize::NormalizeResult& result = normalizer_.Normalize(event, now);
  for (const Measurement& m : result.measurements) {
    MeasurementReport mr;
    AppendMeasurementJson(&mr.json, m);
    mr.text = MeasurementText(m);
    if (fhir_ != nullptr) ConvertMeasurement(*fhir_, m, line, now, &mr, &report);
    if (troubleshooter_ != nullptr) troubleshooter_->Diagnose(m, fhir_ != nullptr && fhir_->Find(m.type), &mr);
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
    if (unmatched) report.explanation = normalizer_.ExplainNoMatch(event);
  }
  return report;
}

void AppendFindingsJson(std::string* out, const std::vector<Finding>& findings, std::string_view device_name,
                        std::string_view fhir_name) {
  out->push_back('[');
  for (std::size_t i = 0; i < findings.size(); ++i) {
    const Finding& f = findings[i];
    if (i > 0) out->push_back(',');
    out->append("{\"file\":");
    json::AppendQuoted(out, f.in == MappingFile::kDevice ? device_name : fhir_name);
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

std::string ValidationReportJson(const MappingCheck& m, std::string_view device_name, std::string_view fhir_name,
                                 const std::vector<SampleReport>& samples) {
  std::string out = "{\"valid\":";
  out += m.valid() ? "true" : "false";
  out += ",\"errors\":";
  AppendFindingsJson(&out, m.errors, device_name, fhir_name);
  out += ",\"warnings\":";
  AppendFindingsJson(&out, m.warnings, device_name, fhir_name);
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
  out += "]}";
  return out;
}

}  // namespace iomt::pipeline
