#include "control/arm_body.h"

#include <initializer_list>
#include <utility>

#include "common/json/source.h"
#include "common/json/strict_reader.h"
#include "common/json/writer.h"
#include "common/strings.h"

namespace iomt::control {

namespace {

using json::Kind;
using json::SourceMember;
using json::SourceNode;

// Members that the server sets: dropped from what is stored.
constexpr std::string_view kReadOnly[] = {"provisioningState", "httpIngestionUrl", "provisioningError"};
// The write-only members of a FHIR service's credentials.
constexpr std::string_view kSecrets[] = {"bearerToken", "clientSecret"};

ApiError BadContent(std::string message) { return {400, "InvalidRequestContent", std::move(message)}; }

// The member `name` of `object` as ARM (Json.NET) finds it: exactly, then
// without case; null when absent or JSON null.
const SourceNode* Member(const SourceNode* object, std::string_view name) {
  if (object == nullptr || object->kind != Kind::kObject) return nullptr;
  const SourceMember* m = json::FindMember(*object, name);
  return m == nullptr || m->value.kind == Kind::kNull ? nullptr : &m->value;
}

bool OneOf(std::string_view key, std::span<const std::string_view> names) {
  for (std::string_view n : names) {
    if (json::EqualsIgnoreCase(key, n)) return true;
  }
  return false;
}

// Checks the type of an optional member; returns its node (null when absent).
class Reader {
 public:
  explicit Reader(std::optional<ApiError>* error) : error_(error) {}

  const SourceNode* Object(const SourceNode* parent, std::string_view name, std::string_view where) {
    const SourceNode* n = Member(parent, name);
    if (n != nullptr && n->kind != Kind::kObject) Fail(Cat({"The property '", where, "' must be a JSON object."}));
    return n != nullptr && n->kind == Kind::kObject ? n : nullptr;
  }
  std::optional<std::string> String(const SourceNode* parent, std::string_view name, std::string_view where) {
    const SourceNode* n = Member(parent, name);
    if (n == nullptr) return std::nullopt;
    if (n->kind != Kind::kString) {
      Fail(Cat({"The property '", where, "' must be a string."}));
      return std::nullopt;
    }
    return n->text;
  }
  void Fail(std::string message) {
    if (!*error_) *error_ = BadContent(std::move(message));
  }

 private:
  std::optional<ApiError>* error_;
};

// `object` as JSON text without the members `drop` names (any case); the
// other members' values as they were sent.
std::string Without(std::string_view text, const SourceNode& object, std::span<const std::string_view> drop) {
  std::string out = "{";
  for (const SourceMember& m : object.members) {
    if (OneOf(m.key, drop)) continue;
    if (out.size() > 1) out.push_back(',');
    json::AppendQuoted(&out, m.key);
    out.push_back(':');
    out.append(json::RawText(text, m.value));
  }
  out.push_back('}');
  return out;
}

void ReadConnector(std::string_view text, const SourceNode* props, Reader* reader, ConnectorProps* out) {
  const SourceNode* ingestion =
      reader->Object(props, "ingestionEndpointConfiguration", "properties.ingestionEndpointConfiguration");
  out->event_hub_namespace =
      reader->String(ingestion, "fullyQualifiedEventHubNamespace",
                     "properties.ingestionEndpointConfiguration.fullyQualifiedEventHubNamespace");
  out->event_hub =
      reader->String(ingestion, "eventHubName", "properties.ingestionEndpointConfiguration.eventHubName").value_or("");
  out->consumer_group =
      reader->String(ingestion, "consumerGroup", "properties.ingestionEndpointConfiguration.consumerGroup")
          .value_or("");
  if (out->consumer_group.empty()) out->consumer_group = "$Default";
  const SourceNode* mapping = reader->Object(props, "deviceMapping", "properties.deviceMapping");
  if (const SourceNode* content = Member(mapping, "content"))
    out->device_mapping = std::string(json::RawText(text, *content));
}

void ReadDestination(std::string_view text, const SourceNode* props, Reader* reader, DestinationProps* out) {
  out->resolution =
      reader->String(props, "resourceIdentityResolutionType", "properties.resourceIdentityResolutionType").value_or("");
  out->fhir_service_id =
      reader->String(props, "fhirServiceResourceId", "properties.fhirServiceResourceId").value_or("");
  const SourceNode* mapping = reader->Object(props, "fhirMapping", "properties.fhirMapping");
  if (const SourceNode* content = Member(mapping, "content"))
    out->fhir_mapping = std::string(json::RawText(text, *content));
}

void ReadFhirService(const SourceNode* props, Reader* reader, FhirServiceProps* out,
                     std::vector<std::pair<std::string, std::string>>* secrets) {
  out->url = reader->String(props, "url", "properties.url").value_or("");
  const SourceNode* credentials = reader->Object(props, "credentials", "properties.credentials");
  out->token_url = reader->String(credentials, "tokenUrl", "properties.credentials.tokenUrl").value_or("");
  out->client_id = reader->String(credentials, "clientId", "properties.credentials.clientId").value_or("");
  out->scope = reader->String(credentials, "scope", "properties.credentials.scope").value_or("");
  for (std::string_view secret : kSecrets) {
    const std::string where = Cat({"properties.credentials.", secret});
    if (auto value = reader->String(credentials, secret, where); value && !value->empty()) {
      secrets->emplace_back(std::string(secret), std::move(*value));
    }
  }
}

}  // namespace

namespace {

// Stored properties were checked when they were saved: read them again
// without reporting.
template <typename Props, typename Fill>
Props FromStored(std::string_view properties, Fill fill) {
  Props out;
  auto doc = json::ParseSource(properties);
  if (!doc.ok()) return out;
  std::optional<ApiError> ignored;
  Reader reader(&ignored);
  fill(doc->root, &reader, &out);
  return out;
}

}  // namespace

ConnectorProps ReadConnectorProps(std::string_view properties) {
  return FromStored<ConnectorProps>(properties, [&](const SourceNode& root, Reader* reader, ConnectorProps* out) {
    ReadConnector(properties, &root, reader, out);
  });
}

DestinationProps ReadDestinationProps(std::string_view properties) {
  return FromStored<DestinationProps>(properties, [&](const SourceNode& root, Reader* reader, DestinationProps* out) {
    ReadDestination(properties, &root, reader, out);
  });
}

FhirServiceProps ReadFhirServiceProps(std::string_view properties) {
  return FromStored<FhirServiceProps>(properties, [](const SourceNode& root, Reader* reader, FhirServiceProps* out) {
    std::vector<std::pair<std::string, std::string>> secrets;  // none are stored in properties
    ReadFhirService(&root, reader, out, &secrets);
  });
}

std::variant<Draft, ApiError> ReadBody(ResourceType type, std::string_view body, const ResourceRecord* existing) {
  if (body.size() > kMaxRequestBytes) {
    return BadContent(
        Cat({"The request content is ", std::to_string(body.size()), " bytes; the provisioning API takes at most ",
             std::to_string(kMaxRequestBytes), " (1 MiB)."}));
  }
  auto doc = json::ParseSource(body);
  if (!doc.ok()) {
    return BadContent(
        Cat({"The request content was invalid and could not be deserialized: '", doc.status().message(), "'."}));
  }
  const SourceNode& root = doc->root;
  if (root.kind != Kind::kObject) return BadContent("The request content must be a JSON object (an ARM resource).");
  std::optional<ApiError> error;
  Reader reader(&error);
  Draft draft;
  ResourceRecord& record = draft.record;
  record.type = type;
  record.location = reader.String(&root, "location", "location").value_or("");
  if (const SourceNode* tags = reader.Object(&root, "tags", "tags")) {
    for (const SourceMember& m : tags->members) {
      if (m.value.kind != Kind::kString) reader.Fail(Cat({"The tag '", m.key, "' must have a string value."}));
    }
    record.tags = std::string(json::RawText(body, *tags));
  }
  if (const SourceNode* identity = reader.Object(&root, "identity", "identity")) {
    reader.String(identity, "type", "identity.type");
    record.identity = std::string(json::RawText(body, *identity));
  }
  const std::optional<std::string> kind = reader.String(&root, "kind", "kind");
  if (type == ResourceType::kFhirService) record.kind = kind.value_or("fhir-R4");
  const SourceNode* props = reader.Object(&root, "properties", "properties");
  record.properties = props != nullptr ? Without(body, *props, kReadOnly) : "{}";
  switch (type) {
    case ResourceType::kWorkspace: break;
    case ResourceType::kIotConnector: ReadConnector(body, props, &reader, &draft.connector); break;
    case ResourceType::kFhirDestination:
      if (props == nullptr && !error) reader.Fail("The property 'properties' is required.");
      ReadDestination(body, props, &reader, &draft.destination);
      break;
    case ResourceType::kFhirService: {
      ReadFhirService(props, &reader, &draft.fhir, &record.secrets);
      if (const SourceNode* credentials = Member(props, "credentials");
          credentials != nullptr && credentials->kind == Kind::kObject) {
        // The stored properties: the credentials without their secrets.
        std::string stored = "{";
        for (const SourceMember& m : props->members) {
          if (OneOf(m.key, kReadOnly)) continue;
          if (stored.size() > 1) stored.push_back(',');
          json::AppendQuoted(&stored, m.key);
          stored.push_back(':');
          stored.append(json::EqualsIgnoreCase(m.key, "credentials") ? Without(body, m.value, kSecrets)
                                                                     : std::string(json::RawText(body, m.value)));
        }
        stored.push_back('}');
        record.properties = std::move(stored);
      }
      // A secret not sent again in an update is kept while the credentials
      // are of the same kind (write-only values cannot be read back to be
      // sent again).
      if (existing != nullptr) {
        const bool oauth = !draft.fhir.client_id.empty();
        for (std::string_view secret : kSecrets) {
          bool sent = false;
          for (const auto& [k, v] : record.secrets)
            sent = sent || k == secret;
          const bool applies = secret == "clientSecret" ? oauth : !oauth;
          if (!sent && applies && !existing->Secret(secret).empty()) {
            record.secrets.emplace_back(std::string(secret), std::string(existing->Secret(secret)));
          }
        }
      }
      break;
    }
  }
  if (error) return *error;
  return draft;
}

std::string NormalizedLocation(std::string_view location) {
  std::string out;
  for (char c : AsciiLower(location)) {
    if (c != ' ') out.push_back(c);
  }
  return out;
}

}  // namespace iomt::control
