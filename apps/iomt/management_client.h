// Reading a provisioned IoT connector back from an `iomt serve`, for
// `iomt mappings export` and `iomt support-bundle` (docs/cli.md, "Mappings
// and support"): the resource URL split, GETs over the project's libcurl
// client with the server's {"error":{"code","message"}} in the failure, and
// the two mappings taken from the answers byte for byte as the server sent
// them (json::RawText), never re-serialized.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "commands.h"
#include "common/json/source.h"
#include "common/status.h"
#include "store/remote/http.h"

namespace iomt::cli {

// An IoT connector's resource URL:
//   {server}/subscriptions/S/resourceGroups/RG/providers/Microsoft.HealthcareApis
//     /workspaces/WS/iotconnectors/C[?api-version=...]
// `server` may carry a path prefix (a reverse proxy's); the fixed segments
// compare without case, as ARM's do.
struct ConnectorUrl {
  std::string server;  // scheme://host[:port][/prefix], no trailing '/'
  std::string path;    // /subscriptions/.../iotconnectors/C
  std::string query;   // without '?'; empty when none
  std::string name;    // C (percent-decoded)

  // server + path + suffix, with the query (api-version) kept.
  [[nodiscard]] std::string Arm(std::string_view suffix = "") const;
  // server + an ARM id (e.g. a fhirServiceResourceId), with the query.
  [[nodiscard]] std::string ArmId(std::string_view id) const;
};

// InvalidArgument naming the expected form when `url` is not one.
Result<ConnectorUrl> ParseConnectorUrl(std::string_view url);

// Whether `id` is a workspace's FHIR service,
// /subscriptions/S/resourceGroups/RG/providers/Microsoft.HealthcareApis/workspaces/WS/fhirservices/F
// (what this server provisions; a .../services/NAME id is an Azure API for
// FHIR elsewhere).
bool IsWorkspaceFhirServiceId(std::string_view id);

// A failed GET: the exit code it deserves (kExitExternal when the server
// could not be reached or failed with a 5xx, kExitInvalid when it answered
// 4xx: the resource is not there, or the credentials are refused) and a
// message that names the URL, the status and the server's error.
struct FetchError {
  int exit_code = kExitExternal;
  std::string message;
};

// A GET answer parsed, with the text it was parsed from (json::RawText
// offsets point into `text`).
struct JsonAnswer {
  std::string text;
  json::SourceDocument doc;
};

class ManagementClient {
 public:
  // `token` (empty: none) goes in an Authorization: Bearer header, and
  // nowhere else: no message prints it. `ca_file` (empty: the system's
  // CAs) verifies an https server whose certificate a private CA signed.
  explicit ManagementClient(const std::string& token, const std::string& ca_file = {});

  // The body of a 2xx answer to GET `url`.
  std::optional<std::string> Get(const std::string& url, FetchError* error);
  // The same, parsed as JSON.
  std::optional<JsonAnswer> GetJson(const std::string& url, FetchError* error);

 private:
  store::http::Pool pool_;
  std::string auth_header_;
};

// What the export and the bundle read of a connector.
struct ConnectorSnapshot {
  JsonAnswer connector;        // the ARM GET of the connector
  std::string device_mapping;  // properties.deviceMapping.content, raw
  // The first item of GET .../fhirdestinations (its text as sent);
  // nullopt: none.
  std::optional<JsonAnswer> destination;
  std::string fhir_mapping;  // its properties.fhirMapping.content, raw
  // The connector's name in the service (GET /connectors/{name}, the
  // metrics' connector label): from properties.httpIngestionUrl, else the
  // resource's name.
  std::string service_name;
};

// GETs the connector and its destinations. A connector without a
// destination gives `destination` empty and `*warning` saying so; a GET that
// fails, or an answer without the mapping it should carry, is an error.
std::optional<ConnectorSnapshot> FetchConnector(ManagementClient& client, const ConnectorUrl& url, std::string* warning,
                                                FetchError* error);
// FetchConnector for a command: on failure, prints the error and sets
// *exit_code.
std::optional<ConnectorSnapshot> FetchConnectorForCommand(ManagementClient& client, const ConnectorUrl& url,
                                                          std::string* warning, int* exit_code);

// The value at the member path (e.g. {"properties", "fhirMapping",
// "content"}) of an object, or nullptr.
const json::SourceNode* FindPath(const json::SourceNode& node, std::initializer_list<std::string_view> path);

}  // namespace iomt::cli
