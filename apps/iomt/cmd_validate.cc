// `iomt validate`: checks a device mapping, and shows what sample events
// become with it (or why they become nothing).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "common/datetime.h"
#include "common/json/arena.h"
#include "common/json/document.h"
#include "common/json/writer.h"
#include "common/measurement.h"
#include "ingest/envelope.h"
#include "ingest/line_reader.h"
#include "io.h"
#include "mapping_report.h"
#include "normalize/normalizer.h"
#include "pipeline/normalize_stream.h"

namespace iomt::cli {
namespace {

struct ValidateFlags {
  std::string device_mapping;
  std::string sample;
  std::string envelope = "auto";
  bool json = false;
};

struct SampleReport {
  std::int64_t line = 0;
  std::vector<std::string> measurements_json;
  std::vector<std::string> measurements_text;
  std::string error_json;
  std::string error_text;
  std::vector<std::string> explanation;
};

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

// Runs every sample through the mapping.
bool RunSamples(const ValidateFlags& flags, const normalize::DeviceMapping& mapping, std::vector<SampleReport>* out) {
  auto mode = ingest::ParseEnvelopeMode(flags.envelope);
  int fd = OpenForReading(flags.sample);
  if (fd < 0) {
    std::fprintf(stderr, "error: cannot read %s\n", flags.sample.c_str());
    return false;
  }
  ingest::LineReader reader(fd);
  normalize::Normalizer normalizer(mapping);
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
      AppendErrorRecordJson(&report.error_json, record);
      report.error_text = "NotSupportedException: " + record.message;
    } else {
      const normalize::NormalizeResult& result = normalizer.Normalize(event, now);
      for (const Measurement& m : result.measurements) {
        std::string j;
        AppendMeasurementJson(&j, m);
        report.measurements_json.push_back(std::move(j));
        report.measurements_text.push_back(MeasurementText(m));
      }
      if (result.error) {
        AppendErrorRecordJson(&report.error_json, *result.error);
        report.error_text = std::string(Describe(result.error->name).name) + ": " + result.error->message;
        if (result.error->name == ErrorName::kUnmatchedDeviceMessage) {
          report.explanation = normalizer.ExplainNoMatch(event);
        }
      }
    }
    out->push_back(std::move(report));
  }
  return reader.status().ok();
}

void AppendErrorsJson(std::string* out, const std::string& file, const std::vector<normalize::MappingError>& errors) {
  out->push_back('[');
  for (std::size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append("{\"file\":");
    json::AppendQuoted(out, file);
    out->append(",\"line\":").append(std::to_string(errors[i].pos.line));
    out->append(",\"column\":").append(std::to_string(errors[i].pos.column));
    out->append(",\"message\":");
    json::AppendQuoted(out, errors[i].message);
    out->push_back('}');
  }
  out->push_back(']');
}

int Run(const ValidateFlags& flags) {
  auto text = ReadWholeFile(flags.device_mapping);
  if (!text) {
    std::fprintf(stderr, "error: cannot read %s\n", flags.device_mapping.c_str());
    return kExitUsage;
  }
  const std::string name = DisplayName(flags.device_mapping);
  normalize::LoadResult loaded = normalize::LoadDeviceMapping(*text);
  std::vector<SampleReport> samples;
  // As iomt-fhir's validator: samples run only on a valid mapping.
  if (loaded.ok() && !flags.sample.empty() && !RunSamples(flags, loaded.mapping, &samples)) return kExitUsage;

  if (flags.json) {
    std::string out = "{\"valid\":";
    out += loaded.ok() ? "true" : "false";
    out += ",\"errors\":";
    AppendErrorsJson(&out, name, loaded.errors);
    out += ",\"warnings\":[],\"samples\":[";
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const SampleReport& s = samples[i];
      if (i > 0) out.push_back(',');
      out += "{\"line\":" + std::to_string(s.line) + ",\"measurements\":[";
      for (std::size_t k = 0; k < s.measurements_json.size(); ++k) {
        if (k > 0) out.push_back(',');
        out += s.measurements_json[k];
      }
      out += "],\"errors\":[" + s.error_json + "],\"explanation\":[";
      for (std::size_t k = 0; k < s.explanation.size(); ++k) {
        if (k > 0) out.push_back(',');
        json::AppendQuoted(&out, s.explanation[k]);
      }
      out += "]}";
    }
    out += "]}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return loaded.ok() ? kExitOk : kExitInvalid;
  }

  for (const normalize::MappingError& e : loaded.errors) {
    std::printf("%s:%d:%d: error: %s\n", name.c_str(), e.pos.line, e.pos.column, e.message.c_str());
  }
  if (!loaded.ok()) {
    std::printf("%s: invalid device mapping (%zu error%s)\n", name.c_str(), loaded.errors.size(),
                loaded.errors.size() == 1 ? "" : "s");
    return kExitInvalid;
  }
  std::printf("%s: valid device mapping (%zu template%s)\n", name.c_str(), loaded.mapping.templates.size(),
              loaded.mapping.templates.size() == 1 ? "" : "s");
  for (const SampleReport& s : samples) {
    std::size_t n = s.measurements_text.size();
    if (n > 0) {
      std::printf("sample line %lld: %zu measurement%s\n", static_cast<long long>(s.line), n, n == 1 ? "" : "s");
      for (const std::string& m : s.measurements_text)
        std::printf("  %s\n", m.c_str());
    } else {
      std::printf("sample line %lld: no measurements\n", static_cast<long long>(s.line));
    }
    if (!s.error_text.empty()) std::printf("  %s\n", s.error_text.c_str());
    for (const std::string& e : s.explanation)
      std::printf("    %s\n", e.c_str());
  }
  return kExitOk;
}

}  // namespace

Runner RegisterValidate(CLI::App& app) {
  auto flags = std::make_shared<ValidateFlags>();
  app.add_option("--device-mapping", flags->device_mapping, "Device mapping (devicecontent.json)")->required();
  app.add_option("--sample", flags->sample, "Sample events (NDJSON) to run through the mapping");
  app.add_option("--envelope", flags->envelope, "How a sample line becomes an event: auto, event, wrap or none")
      ->check(CLI::IsMember({"auto", "event", "wrap", "none"}));
  app.add_flag("--json", flags->json, "Print one JSON report");
  app.footer(
      "Lists every problem of the mapping as file:line:column. With --sample, shows the measurements each sample\n"
      "gives, or why it gives none. Exit 0 when the mapping is valid, 1 when not.");
  return [flags]() { return Run(*flags); };
}

}  // namespace iomt::cli
