// Reading the provisioning API's request bodies (ARM resources) and the
// properties it stores: shapes and types checked here, each problem a 400
// naming the member; what the values mean (a namespace's form, a mapping's
// validity, which FHIR service an id names) is checked by the API.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "control/registry.h"
#include "server/http/http_server.h"

namespace iomt::control {

// The largest request body the API reads (larger: 400).
inline constexpr std::size_t kMaxRequestBytes = std::size_t{1} << 20;

// An answer that refuses a request: {"error":{"code","message"}}.
struct ApiError {
  int status = 400;
  std::string code;
  std::string message;

  [[nodiscard]] server::HttpResponse Response() const { return server::JsonError(status, code, message); }
};

// A connector's properties (IotConnectorProperties).
struct ConnectorProps {
  std::optional<std::string> event_hub_namespace;  // nullopt: absent or null
  std::string event_hub;
  std::string consumer_group;                 // "$Default" when not given
  std::optional<std::string> device_mapping;  // the content's JSON text, as sent
};

// A FHIR destination's properties (IotFhirDestinationProperties).
struct DestinationProps {
  std::string resolution;  // Create, Lookup or LookupWithEncounter
  std::string fhir_service_id;
  std::optional<std::string> fhir_mapping;  // the content's JSON text, as sent
};

// A FHIR service's properties: the embedded store (no url), or a remote
// FHIR R4 server and how to authenticate to it (the secrets live in the
// record's write-only secrets: "bearerToken", "clientSecret").
struct FhirServiceProps {
  std::string url;
  std::string token_url;
  std::string client_id;
  std::string scope;
};

// Reads stored properties (valid JSON, written by the API).
ConnectorProps ReadConnectorProps(std::string_view properties);
DestinationProps ReadDestinationProps(std::string_view properties);
FhirServiceProps ReadFhirServiceProps(std::string_view properties);

// A PUT body read for a resource of `type`: the record's fields that come
// from the body (location, tags, identity, kind, properties without
// read-only members and secrets, the secrets) and the typed properties.
// `existing`: the resource being updated (a secret not sent again is kept).
struct Draft {
  ResourceRecord record;
  ConnectorProps connector;
  DestinationProps destination;
  FhirServiceProps fhir;
};
std::variant<Draft, ApiError> ReadBody(ResourceType type, std::string_view body, const ResourceRecord* existing);

// ARM compares locations without case and spaces ("East US" is eastus).
std::string NormalizedLocation(std::string_view location);

}  // namespace iomt::control
