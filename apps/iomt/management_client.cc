#include "management_client.h"

#include <cstdio>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "common/url.h"

namespace iomt::cli {
namespace {

constexpr std::string_view kUrlForm =
    "http://HOST:PORT/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.HealthcareApis/workspaces/WS/"
    "iotconnectors/NAME";

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// The server's {"error":{"code","message"}}, as "Code: message"; else the
// start of the body on one line; "" for an empty body.
std::string ServerError(std::string_view body) {
  auto doc = json::ParseSource(body);
  if (doc.ok()) {
    const json::SourceNode* code = FindPath(doc->root, {"error", "code"});
    const json::SourceNode* message = FindPath(doc->root, {"error", "message"});
    std::string out;
    if (code != nullptr && code->kind == json::Kind::kString) out = code->text;
    if (message != nullptr && message->kind == json::Kind::kString) {
      out.append(out.empty() ? "" : ": ").append(message->text);
    }
    if (!out.empty()) return out;
  }
  std::string out(body.substr(0, 300));
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return out;
}

}  // namespace

std::string ConnectorUrl::Arm(std::string_view suffix) const {
  return Cat({server, path, suffix, query.empty() ? "" : "?", query});
}

std::string ConnectorUrl::ArmId(std::string_view id) const {
  return Cat({server, id, query.empty() ? "" : "?", query});
}

Result<ConnectorUrl> ParseConnectorUrl(std::string_view text) {
  auto invalid = [&](std::string_view why) {
    return InvalidArgument(Cat({"not the URL of an IoT connector (", why, "): ", text, "\n  expected ", kUrlForm}));
  };
  std::size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) return invalid("no http:// or https://");
  const std::string scheme = AsciiLower(text.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") return invalid("no http:// or https://");
  std::string_view rest = text.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('#'));
  ConnectorUrl url;
  if (std::size_t q = rest.find('?'); q != std::string_view::npos) {
    url.query = std::string(rest.substr(q + 1));
    rest = rest.substr(0, q);
  }
  std::size_t path_begin = rest.find('/');
  if (path_begin == std::string_view::npos || path_begin == 0) return invalid("no resource path");
  const std::string_view authority = rest.substr(0, path_begin);
  // (Credentials in the URL would be printed with it, and written into
  // support bundles.)
  if (authority.find('@') != std::string_view::npos) return invalid("credentials go in --token, not the URL");
  std::string_view path = rest.substr(path_begin);
  while (path.size() > 1 && path.back() == '/')
    path.remove_suffix(1);
  const std::size_t arm_begin = AsciiLower(path).find("/subscriptions/");
  if (arm_begin == std::string::npos) return invalid("no /subscriptions/ in the path");
  url.server = Cat({scheme, "://", authority, path.substr(0, arm_begin)});
  url.path = std::string(path.substr(arm_begin));

  // subscriptions S resourceGroups RG providers Microsoft.HealthcareApis
  // workspaces WS iotconnectors C
  const std::vector<std::string_view> segments = SplitPath(std::string_view{url.path}.substr(1));
  static constexpr std::string_view kFixed[] = {
      "subscriptions", "resourcegroups", "providers", "microsoft.healthcareapis", "workspaces", "iotconnectors"};
  static constexpr std::size_t kFixedAt[] = {0, 2, 4, 5, 6, 8};
  if (segments.size() != 10) return invalid("the path does not end at iotconnectors/NAME");
  for (std::size_t i = 0; i < std::size(kFixed); ++i) {
    if (AsciiLower(segments[kFixedAt[i]]) != kFixed[i]) {
      return invalid(Cat({"expected '", kFixed[i], "' where the path has '", segments[kFixedAt[i]], "'"}));
    }
  }
  for (std::size_t i : {1, 3, 7, 9}) {
    if (segments[i].empty()) return invalid("an empty name in the path");
  }
  url.name = url::PercentDecode(segments[9]);
  return url;
}

bool IsWorkspaceFhirServiceId(std::string_view id) {
  const std::string lower = AsciiLower(id);
  if (lower.rfind("/subscriptions/", 0) != 0) return false;
  const std::vector<std::string_view> segments = SplitPath(std::string_view{lower}.substr(1));
  if (segments.size() != 10) return false;
  for (std::string_view segment : segments) {
    if (segment.empty()) return false;
  }
  return segments[2] == "resourcegroups" && segments[4] == "providers" && segments[5] == "microsoft.healthcareapis" &&
         segments[6] == "workspaces" && segments[8] == "fhirservices";
}

const json::SourceNode* FindPath(const json::SourceNode& node, std::initializer_list<std::string_view> path) {
  const json::SourceNode* at = &node;
  for (std::string_view key : path) {
    if (at->kind != json::Kind::kObject) return nullptr;
    const json::SourceMember* member = at->Find(key);
    if (member == nullptr) return nullptr;
    at = &member->value;
  }
  return at;
}

ManagementClient::ManagementClient(const std::string& token, const std::string& ca_file)
    : pool_([&ca_file] {
        store::http::PoolOptions options;
        options.max_connections = 1;
        options.ca_file = ca_file;
        options.user_agent = std::string("iomt/") + IOMT_VERSION;
        return options;
      }()) {
  if (!token.empty()) auth_header_ = "Authorization: Bearer " + token;
}

std::optional<std::string> ManagementClient::Get(const std::string& url, FetchError* error) {
  store::http::Request request;
  request.method = "GET";
  request.url = url;
  request.headers.emplace_back("Accept: application/json");
  if (!auth_header_.empty()) request.headers.push_back(auth_header_);
  store::http::Outcome outcome = pool_.Perform(request);
  if (outcome.error != store::http::TransportError::kNone) {
    *error = {kExitExternal, Cat({"GET ", url, ": no answer from the server: ", outcome.error_text})};
    return std::nullopt;
  }
  const long status = outcome.response.status;
  if (status >= 200 && status < 300) return std::move(outcome.response.body);
  std::string message = Cat({"GET ", url, ": HTTP ", std::to_string(status)});
  if (std::string server = ServerError(outcome.response.body); !server.empty()) message.append(": ").append(server);
  if (status == 401 || status == 403) {
    message.append(auth_header_.empty() ? " (the server wants credentials: --token)" : " (is --token right?)");
  }
  // A 4xx is about what was asked (no such resource, credentials refused);
  // a 5xx is the server failing.
  *error = {status >= 500 ? kExitExternal : kExitInvalid, std::move(message)};
  return std::nullopt;
}

std::optional<JsonAnswer> ManagementClient::GetJson(const std::string& url, FetchError* error) {
  std::optional<std::string> body = Get(url, error);
  if (!body) return std::nullopt;
  JsonAnswer answer;
  answer.text = std::move(*body);
  auto doc = json::ParseSource(answer.text);
  if (!doc.ok()) {
    *error = {kExitExternal, Cat({"GET ", url, ": the answer is not JSON: ", doc.status().message()})};
    return std::nullopt;
  }
  answer.doc = std::move(*doc);
  return answer;
}

std::optional<ConnectorSnapshot> FetchConnector(ManagementClient& client, const ConnectorUrl& url, std::string* warning,
                                                FetchError* error) {
  ConnectorSnapshot snapshot;
  const std::string connector_url = url.Arm();
  std::optional<JsonAnswer> connector = client.GetJson(connector_url, error);
  if (!connector) return std::nullopt;
  snapshot.connector = std::move(*connector);
  const json::SourceNode& root = snapshot.connector.doc.root;
  const json::SourceNode* device = FindPath(root, {"properties", "deviceMapping", "content"});
  if (device == nullptr) {
    *error = {kExitInvalid, Cat({"GET ", connector_url, ": the connector has no properties.deviceMapping.content"})};
    return std::nullopt;
  }
  snapshot.device_mapping = std::string(json::RawText(snapshot.connector.text, *device));

  snapshot.service_name = url.name;
  const json::SourceNode* ingestion = FindPath(root, {"properties", "httpIngestionUrl"});
  if (ingestion != nullptr && ingestion->kind == json::Kind::kString) {
    // ".../connectors/{name}/messages", a path or a whole URL.
    const std::string_view text = ingestion->text;
    if (std::size_t at = text.find("/connectors/"); at != std::string_view::npos) {
      std::string_view name = text.substr(at + 12);
      name = name.substr(0, name.find_first_of("/?"));
      if (!name.empty()) snapshot.service_name = url::PercentDecode(name);
    }
  }

  const std::string destinations_url = url.Arm("/fhirdestinations");
  std::optional<JsonAnswer> destinations = client.GetJson(destinations_url, error);
  if (!destinations) return std::nullopt;
  const json::SourceNode* value = FindPath(destinations->doc.root, {"value"});
  if (value == nullptr || value->kind != json::Kind::kArray) {
    *error = {kExitExternal, Cat({"GET ", destinations_url, ": the answer has no \"value\" list"})};
    return std::nullopt;
  }
  if (value->items.empty()) {
    *warning = Cat({"the connector has no FHIR destination (GET ", destinations_url, " lists none)"});
    return snapshot;
  }
  JsonAnswer destination;
  destination.text = std::string(json::RawText(destinations->text, value->items.front()));
  auto doc = json::ParseSource(destination.text);
  if (!doc.ok()) {  // it parsed as part of the list
    *error = {kExitExternal, Cat({"GET ", destinations_url, ": ", doc.status().message()})};
    return std::nullopt;
  }
  destination.doc = std::move(*doc);
  const json::SourceNode* fhir = FindPath(destination.doc.root, {"properties", "fhirMapping", "content"});
  if (fhir == nullptr) {
    *error = {kExitInvalid, Cat({"GET ", destinations_url, ": the destination has no properties.fhirMapping.content"})};
    return std::nullopt;
  }
  snapshot.fhir_mapping = std::string(json::RawText(destination.text, *fhir));
  snapshot.destination = std::move(destination);
  return snapshot;
}

std::optional<ConnectorSnapshot> FetchConnectorForCommand(ManagementClient& client, const ConnectorUrl& url,
                                                          std::string* warning, int* exit_code) {
  FetchError error;
  std::optional<ConnectorSnapshot> snapshot = FetchConnector(client, url, warning, &error);
  if (!snapshot) {
    std::fprintf(stderr, "error: %s\n", error.message.c_str());
    *exit_code = error.exit_code;
  }
  return snapshot;
}

}  // namespace iomt::cli
