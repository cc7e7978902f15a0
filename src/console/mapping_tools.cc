#include "console/mapping_tools.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json/source.h"
#include "common/json/writer.h"
#include "common/strings.h"
#include "identity/resolver.h"
#include "ingest/envelope.h"
#include "pipeline/mappings.h"
#include "pipeline/samples.h"
#include "server/connector.h"

namespace iomt::console {

namespace {

using server::HttpRequest;
using server::HttpResponse;

// Findings name the request's members, which is what the editor shows.
constexpr std::string_view kDeviceName = "deviceMapping";
constexpr std::string_view kFhirName = "fhirMapping";
// As ingestion: a larger message is refused by the service too.
constexpr std::size_t kMaxMessageBytes = std::size_t{1} << 20;

HttpResponse BadRequest(const std::string& message) { return server::JsonError(400, "InvalidRequest", message); }

struct ToolsRequest {
  std::optional<std::string> device;
  std::optional<std::string> fhir;
  std::optional<std::string> message;
  std::string envelope = "auto";
  std::string resolution;
  std::string connector;
};

// A mapping or a message: the file's text as a string (positions then refer
// to that text, as the editor shows it), or the JSON value itself (kept as
// sent). JSON null and absent are the same.
Result<std::optional<std::string>> TextMember(std::string_view body, const json::SourceNode& root,
                                              std::string_view name) {
  const json::SourceMember* m = root.Find(name);
  if (m == nullptr || m->value.kind == json::Kind::kNull) return std::optional<std::string>();
  if (m->value.kind == json::Kind::kString) return std::optional<std::string>(m->value.text);
  if (m->value.kind == json::Kind::kObject || m->value.kind == json::Kind::kArray)
    return std::optional<std::string>(std::string(json::RawText(body, m->value)));
  return InvalidArgument(Cat({"'", name, "' must be a JSON object, or the file's text as a string."}));
}

Result<std::string> StringMember(const json::SourceNode& root, std::string_view name, std::string fallback) {
  const json::SourceMember* m = root.Find(name);
  if (m == nullptr || m->value.kind == json::Kind::kNull) return fallback;
  if (m->value.kind != json::Kind::kString) return InvalidArgument(Cat({"'", name, "' must be a string."}));
  return m->value.text;
}

Result<ToolsRequest> ReadRequest(std::string_view body, bool with_message) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return InvalidArgument(
        "The body is empty: send a JSON object such as {\"deviceMapping\": ..., \"fhirMapping\": ...}.");
  }
  auto doc = json::ParseSource(body);
  if (!doc.ok()) return InvalidArgument("The body is not JSON: " + doc.status().message());
  const json::SourceNode& root = doc->root;
  if (root.kind != json::Kind::kObject) return InvalidArgument("The body must be a JSON object.");
  ToolsRequest r;
  IOMT_ASSIGN_OR_RETURN(r.device, TextMember(body, root, kDeviceName));
  IOMT_ASSIGN_OR_RETURN(r.fhir, TextMember(body, root, kFhirName));
  if (with_message) {
    IOMT_ASSIGN_OR_RETURN(r.message, TextMember(body, root, "message"));
    IOMT_ASSIGN_OR_RETURN(r.envelope, StringMember(root, "envelope", "auto"));
    IOMT_ASSIGN_OR_RETURN(r.resolution, StringMember(root, "resolution", ""));
    IOMT_ASSIGN_OR_RETURN(r.connector, StringMember(root, "connector", ""));
  }
  return r;
}

void AppendStrings(std::string* out, const std::vector<std::string>& items) {
  out->push_back('[');
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out->push_back(',');
    json::AppendQuoted(out, items[i]);
  }
  out->push_back(']');
}

// {valid, mappingErrors, mappingWarnings, measurements, resources, steps,
// errors, warnings, explanation} (docs/console.md).
std::string TestAnswer(const pipeline::MappingCheck& check, const pipeline::SampleReport* report) {
  std::string out = "{\"valid\":";
  out += check.valid() ? "true" : "false";
  out += ",\"mappingErrors\":";
  pipeline::AppendFindingsJson(&out, check.errors, kDeviceName, kFhirName);
  out += ",\"mappingWarnings\":";
  pipeline::AppendFindingsJson(&out, check.warnings, kDeviceName, kFhirName);
  std::string measurements;
  std::string resources;
  std::string steps;
  std::size_t resource_count = 0;
  if (report != nullptr) {
    for (std::size_t i = 0; i < report->measurements.size(); ++i) {
      const pipeline::MeasurementReport& mr = report->measurements[i];
      if (i > 0) {
        measurements.push_back(',');
        steps.push_back(',');
      }
      measurements += mr.json;
      steps += "{\"measurement\":" + std::to_string(i) + ",\"text\":";
      json::AppendQuoted(&steps, mr.text);
      steps += ",\"resource\":";
      // An Observation whose Patient or Device cannot be resolved is not
      // written (the error says why), as in `iomt run`.
      if (mr.observation && !mr.identity_error) {
        if (resource_count > 0) resources.push_back(',');
        resources += *mr.observation;
        steps += std::to_string(resource_count++);
      } else {
        steps += "null";
      }
      steps += ",\"error\":";
      if (mr.fhir_error_text.empty()) {
        steps += "null";
      } else {
        json::AppendQuoted(&steps, mr.fhir_error_text);
      }
      steps += ",\"identity\":";
      steps += mr.identity_json.empty() ? "null" : mr.identity_json;
      steps += ",\"identityText\":";
      AppendStrings(&steps, mr.identity_text);
      steps.push_back('}');
    }
  }
  out += ",\"measurements\":[" + measurements + "],\"resources\":[" + resources + "],\"steps\":[" + steps + "]";
  out += ",\"errors\":[";
  if (report != nullptr) {
    out += report->errors_json;
    // One record per failure, as `iomt run` writes it: the measurements of
    // one message share their device, so they fail alike.
    bool first = report->errors_json.empty();
    std::vector<std::string> seen;
    for (const pipeline::MeasurementReport& mr : report->measurements) {
      if (!mr.identity_error) continue;
      const ErrorRecord& e = *mr.identity_error;
      std::string key = std::string(Describe(e.name).name) + '\n' + e.message;
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
      seen.push_back(std::move(key));
      if (!first) out.push_back(',');
      first = false;
      AppendErrorRecordJson(&out, e);
    }
  }
  out += "],\"warnings\":[";
  if (report != nullptr) {
    for (std::size_t k = 0; k < report->warnings.size(); ++k) {
      if (k > 0) out.push_back(',');
      out += "{\"category\":\"NORMALIZATION\",\"message\":";
      json::AppendQuoted(&out, report->warnings[k]);
      out.push_back('}');
    }
  }
  out += "],\"explanation\":";
  AppendStrings(&out, report != nullptr ? report->explanation : std::vector<std::string>());
  out.push_back('}');
  return out;
}

}  // namespace

HttpResponse MappingTools::Handle(const HttpRequest& request) const {
  const bool validate = request.path == "/api/mappings/validate";
  const bool test = request.path == "/api/mappings/test";
  if (!validate && !test) {
    return server::JsonError(404, "NotFound",
                             "No route for " + request.method + " " + request.path +
                                 " (the mapping tools are POST /api/mappings/validate and POST /api/mappings/test).");
  }
  if (request.method != "POST") {
    HttpResponse r = server::JsonError(405, "MethodNotAllowed", "Use POST.");
    r.headers.emplace_back("Allow", "POST");
    return r;
  }
  return validate ? Validate(request) : Test(request);
}

HttpResponse MappingTools::Validate(const HttpRequest& request) const {
  auto r = ReadRequest(request.body, false);
  if (!r.ok()) return BadRequest(r.status().message());
  if (!r->device && !r->fhir) return BadRequest("Give deviceMapping, fhirMapping or both.");
  const pipeline::MappingCheck check = pipeline::CheckMappings(r->device, r->fhir);
  return server::JsonBody(200, pipeline::ValidationReportJson(check, kDeviceName, kFhirName, {}));
}

HttpResponse MappingTools::Test(const HttpRequest& request) const {
  auto r = ReadRequest(request.body, true);
  if (!r.ok()) return BadRequest(r.status().message());
  if (!r->device) return BadRequest("Give deviceMapping: the device mapping to run the message through.");
  if (!r->message) return BadRequest("Give message: one device message (a JSON object, or its text as a string).");
  auto envelope = ingest::ParseEnvelopeMode(r->envelope);
  if (!envelope.ok()) return BadRequest("envelope: " + envelope.status().message());

  // With a connector, lookups go to its FHIR service with its settings; with
  // only a resolution, to the service's embedded store. Reads only: what
  // Create would make stays in the troubleshooter's overlay.
  std::shared_ptr<server::Connector> connector;
  store::FhirClient* client = nullptr;
  std::string destination;
  std::string resolution = r->resolution;
  std::string device_system;
  if (!r->connector.empty()) {
    connector = service_->FindConnector(r->connector);
    if (connector == nullptr) {
      return server::JsonError(404, "ConnectorNotFound", "There is no connector named '" + r->connector + "'.");
    }
    client = connector->fhir_client();
    destination = "the FHIR service of connector " + r->connector;
    if (resolution.empty()) resolution = connector->resolution();
    device_system = connector->device_system();
  } else if (!resolution.empty()) {
    client = service_->store();
    destination = "the embedded store";
  }
  std::optional<identity::Mode> mode;
  if (!resolution.empty()) {
    auto parsed = identity::ParseMode(resolution);
    if (!parsed.ok()) return BadRequest("resolution: " + parsed.status().message());
    mode = *parsed;
  }

  const pipeline::MappingCheck check = pipeline::CheckMappings(r->device, r->fhir);
  // As `iomt validate --sample`: messages run only through valid mappings.
  if (!check.valid() || !check.device) return server::JsonBody(200, TestAnswer(check, nullptr));
  std::unique_ptr<pipeline::Troubleshooter> troubleshooter;
  if (client != nullptr && mode) {
    troubleshooter = std::make_unique<pipeline::Troubleshooter>(client, destination, *mode, device_system);
  }
  pipeline::SampleChecker checker(check.device->mapping, check.fhir ? &check.fhir->mapping : nullptr, *envelope,
                                  troubleshooter.get());
  const bool too_long = r->message->size() > kMaxMessageBytes;
  const pipeline::SampleReport report = checker.Check(too_long ? std::string_view() : *r->message, 1, too_long);
  return server::JsonBody(200, TestAnswer(check, &report));
}

}  // namespace iomt::console
