// `iomt validate`: checks a device mapping and/or a FHIR destination mapping,
// cross-checks the two, and shows what sample events become with them (or why
// they become nothing). This is iomt-fhir's MappingValidator on the command
// line; the checks themselves are pipeline/mappings.h and pipeline/samples.h,
// which the service and its HTTP API use too.
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "commands.h"
#include "common/json/node.h"
#include "destination.h"
#include "identity/resolver.h"
#include "ingest/envelope.h"
#include "ingest/line_reader.h"
#include "io.h"
#include "pipeline/mappings.h"
#include "pipeline/samples.h"
#include "pipeline/test_cases.h"

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
  // A test case of the samples (iomt test, docs/mapping-tests.md).
  std::string emit_case;
};

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

// The two mappings as given on the command line.
struct Mappings {
  pipeline::MappingCheck check;
  std::string device_name;  // as displayed
  std::string fhir_name;
  std::optional<std::string> device_text;
  std::optional<std::string> fhir_text;
};

// Reads and checks the mappings that were given; false when a file cannot
// be read (already reported).
bool LoadMappings(const ValidateFlags& flags, Mappings* m) {
  for (auto [path, text, name] : {std::tuple{&flags.device_mapping, &m->device_text, &m->device_name},
                                  std::tuple{&flags.fhir_mapping, &m->fhir_text, &m->fhir_name}}) {
    if (path->empty()) continue;
    *text = ReadWholeFile(*path);
    if (!*text) {
      std::fprintf(stderr, "error: cannot read %s\n", path->c_str());
      return false;
    }
    *name = DisplayName(*path);
  }
  m->check = pipeline::CheckMappings(m->device_text, m->fhir_text);
  return true;
}

void PrintFinding(const Mappings& m, const pipeline::Finding& f, const char* severity) {
  const std::string& file = f.in == pipeline::MappingFile::kDevice ? m.device_name : m.fhir_name;
  if (f.pos.line > 0) {
    std::printf("%s:%d:%d: %s: %s\n", file.c_str(), f.pos.line, f.pos.column, severity, f.message.c_str());
  } else {
    std::printf("%s: %s: %s\n", file.c_str(), severity, f.message.c_str());
  }
}

// The findings of one file, then its summary line.
void PrintMappingSummary(const Mappings& m, pipeline::MappingFile in, const char* what, std::size_t templates) {
  const std::string& file = in == pipeline::MappingFile::kDevice ? m.device_name : m.fhir_name;
  std::size_t errors = 0;
  for (const pipeline::Finding& f : m.check.errors) {
    if (f.in != in) continue;
    PrintFinding(m, f, "error");
    ++errors;
  }
  for (const pipeline::Finding& f : m.check.warnings) {
    if (f.in == in && in == pipeline::MappingFile::kFhir) PrintFinding(m, f, "warning");
  }
  if (errors > 0) {
    std::printf("%s: invalid %s (%zu error%s)\n", file.c_str(), what, errors, errors == 1 ? "" : "s");
  } else {
    std::printf("%s: valid %s (%zu template%s)\n", file.c_str(), what, templates, templates == 1 ? "" : "s");
  }
}

void PrintText(const Mappings& m, const std::vector<pipeline::SampleReport>& samples) {
  // The device mapping's errors, the FHIR mapping's errors and warnings,
  // then the cross-checks (which point into the device mapping).
  const pipeline::MappingCheck& c = m.check;
  if (c.device) {
    PrintMappingSummary(m, pipeline::MappingFile::kDevice, "device mapping", c.device->mapping.templates.size());
  }
  if (c.fhir) PrintMappingSummary(m, pipeline::MappingFile::kFhir, "FHIR mapping", c.fhir->mapping.templates.size());
  for (const pipeline::Finding& f : c.warnings) {
    if (f.in == pipeline::MappingFile::kDevice) PrintFinding(m, f, "warning");
  }
  for (const pipeline::SampleReport& s : samples) {
    std::size_t n = s.measurements.size();
    if (n > 0) {
      std::printf("sample line %lld: %zu measurement%s\n", static_cast<long long>(s.line), n, n == 1 ? "" : "s");
    } else {
      std::printf("sample line %lld: no measurements\n", static_cast<long long>(s.line));
    }
    for (const pipeline::MeasurementReport& mr : s.measurements) {
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

// Every sample line through the mappings; false when the file cannot be
// read (already reported).
bool RunSamples(const ValidateFlags& flags, const pipeline::MappingCheck& check,
                pipeline::Troubleshooter* troubleshooter, std::vector<pipeline::SampleReport>* out) {
  auto envelope = ingest::ParseEnvelopeMode(flags.envelope);
  int fd = OpenForReading(flags.sample);
  if (fd < 0) {
    std::fprintf(stderr, "error: cannot read %s\n", flags.sample.c_str());
    return false;
  }
  pipeline::SampleChecker checker(check.device->mapping, check.fhir ? &check.fhir->mapping : nullptr,
                                  envelope.ok() ? *envelope : ingest::EnvelopeMode::kAuto, troubleshooter);
  ingest::LineReader reader(fd);
  ingest::LineReader::Line line;
  while (reader.Next(&line)) {
    if (!line.too_long && line.text.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    out->push_back(checker.Check(line.text, line.number, line.too_long));
  }
  return reader.status().ok();
}

// --emit-case: the mappings and samples as a test case folder, with the
// expected files written from what the case gives now (through `iomt run`'s
// pipeline, as `iomt test` will run it). Messages go to `out` (stderr when
// stdout holds the JSON report).
int EmitCase(const ValidateFlags& flags, const Mappings& m, std::FILE* out) {
  if (!m.check.valid()) {
    std::fprintf(stderr, "no test case written: the mappings are not valid\n");
    return kExitInvalid;
  }
  std::optional<std::string> input = ReadWholeFile(flags.sample);
  if (!input) {
    std::fprintf(stderr, "error: cannot read %s\n", flags.sample.c_str());
    return kExitUsage;
  }
  pipeline::CaseSkeleton skeleton;
  skeleton.device_mapping = *m.device_text;
  skeleton.fhir_mapping = m.fhir_text;
  skeleton.input = std::move(*input);
  skeleton.description = "The samples of " + DisplayName(flags.sample) + " (iomt validate --emit-case)";
  auto mode = identity::ParseMode(flags.resolution);
  if (!mode.ok()) {
    std::fprintf(stderr, "error: --resolution: %s\n", mode.status().message().c_str());
    return kExitUsage;
  }
  skeleton.resolution = identity::ToString(*mode);
  skeleton.envelope = flags.envelope;
  skeleton.device_system = flags.device_system;
  std::vector<std::string> written;
  Status st = pipeline::WriteCaseSkeleton(flags.emit_case, skeleton, &written);
  if (st.ok()) {
    pipeline::CaseRunner runner;
    const pipeline::CaseResult result = runner.Run(flags.emit_case);
    if (!result.broken.empty()) {
      st = InvalidArgument("the case cannot run: " + result.broken);
    } else {
      st = pipeline::UpdateExpected(result, &written);
    }
  }
  if (!st.ok()) {
    std::fprintf(stderr, "error: --emit-case: %s\n", st.message().c_str());
    return kExitUsage;
  }
  std::fprintf(out, "test case written to %s:", flags.emit_case.c_str());
  for (const std::string& file : written)
    std::fprintf(out, " %s", file.c_str());
  std::fprintf(out, "\nreview expected/, then: iomt test %s\n", flags.emit_case.c_str());
  return kExitOk;
}

int Run(const ValidateFlags& flags) {
  if (flags.device_mapping.empty() && flags.fhir_mapping.empty()) {
    std::fprintf(stderr, "error: give --device-mapping, --fhir-mapping or both\n");
    return kExitUsage;
  }
  Mappings m;
  if (!LoadMappings(flags, &m)) return kExitUsage;
  std::unique_ptr<Destination> destination;
  std::unique_ptr<pipeline::Troubleshooter> troubleshooter;
  if (!flags.destination.store_dir.empty() || !flags.destination.remote.base_url.empty()) {
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
    destination = OpenDestination(flags.destination, "", &exit_code);
    if (destination == nullptr) return exit_code;
    troubleshooter = std::make_unique<pipeline::Troubleshooter>(destination->client.get(), destination->name, *mode,
                                                                flags.device_system);
    if (m.check.device && !m.check.fhir && !flags.json) {
      std::printf("note: no --fhir-mapping: without a FHIR destination mapping nothing reaches the FHIR service\n");
    }
  }
  std::vector<pipeline::SampleReport> samples;
  // As iomt-fhir's validator: samples run only when no mapping has errors.
  if (m.check.valid() && m.check.device && !flags.sample.empty() &&
      !RunSamples(flags, m.check, troubleshooter.get(), &samples)) {
    return kExitUsage;
  }
  if (flags.json) {
    std::printf("%s\n", pipeline::ValidationReportJson(m.check, m.device_name, m.fhir_name, samples).c_str());
  } else {
    PrintText(m, samples);
  }
  if (!flags.emit_case.empty()) {
    std::fflush(stdout);
    const int code = EmitCase(flags, m, flags.json ? stderr : stdout);
    if (code != kExitOk) return code;
  }
  return m.check.valid() ? kExitOk : kExitInvalid;
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
  app.add_option("--emit-case", flags->emit_case,
                 "With --sample: write a test case for `iomt test` into this new folder (the mappings, the samples "
                 "as input.ndjson, case.json, and expected/ from what they give now)")
      ->needs(app.get_option("--sample"));
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
