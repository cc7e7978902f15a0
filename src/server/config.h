// The configuration of `iomt serve`: where it listens, where it keeps its
// data, and its connectors (each: mappings, FHIR destination, flush policy,
// queue bounds, event sources). It comes from a JSON file
// (docs/configuration.md) or from flags; both produce a ServeConfig.
//
// These structs are the typed result. The settings themselves (file key,
// flag, type, bounds, doc) are declared in server/settings.h, whose table
// points at these fields; a field's initializer is the setting's default,
// so a new setting is a field here and a row there.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "auth/auth.h"
#include "common/json/strict_reader.h"
#include "common/status.h"
#include "store/embedded/embedded_store.h"
#include "store/remote/remote_options.h"

namespace iomt::server {

struct FhirDestinationConfig {
  std::string url;  // empty: the embedded store of the service
  std::string token;
  std::string oauth_token_url;
  std::string oauth_client_id;
  std::string oauth_client_secret;
  std::string oauth_scope;
  // PEM files for TLS (store::RemoteOptions): a private CA, a client
  // certificate and its key (mutual TLS).
  std::string ca_file;
  std::string client_cert_file;
  std::string client_key_file;
};

// When a batch is written. The worker takes what is queued as soon as it is
// free (up to `max_events`), so batches grow with the load by themselves
// (group commit): an event waits for at most the batch before it and its
// own. `window_ms` > 0 also waits that long after a batch's first event for
// more (fewer, larger writes: more readings per SampledData merge).
struct FlushConfig {
  int window_ms = 0;
  std::size_t max_events = 10'000;
};

struct QueueConfig {
  std::uint64_t max_events = 1'000'000;  // queued, not yet written; beyond: 429
  std::uint64_t max_bytes = 256ull << 20;
};

struct KafkaConfig {
  std::string brokers;
  std::string topic;
  std::string group;
  std::vector<std::pair<std::string, std::string>> properties;  // librdkafka settings (SASL for Event Hubs)
};

struct MqttConfig {
  std::string url;
  std::string topic;
  int qos = 1;
  std::string client_id;  // empty: "iomt-{connector}"
  std::string username;
  std::string password;
  // PEM files for mqtts:// (ingest::MqttOptions).
  std::string ca_file;
  std::string client_cert_file;
  std::string client_key_file;
};

struct ConnectorConfig {
  std::string name;
  // The mappings' texts, for a connector made through the provisioning API
  // (they live with its resource, not in files); when set, they are used
  // instead of the files, and Reload does not read files.
  std::optional<std::string> device_mapping_text;
  std::optional<std::string> fhir_mapping_text;
  std::string device_mapping;  // file paths (absolute after loading)
  std::string fhir_mapping;
  std::string resolution = "Create";
  std::string device_system;  // the identifier system of Devices (empty: none)
  FhirDestinationConfig fhir;
  FlushConfig flush;
  QueueConfig queue;
  std::vector<std::string> ingest_keys;  // empty: ingestion needs no key
  std::optional<KafkaConfig> kafka;
  std::optional<MqttConfig> mqtt;
  // Not a setting: what the status and /readyz say about a source that was
  // asked for and is not there (a provisioned connector's event hub whose
  // namespace the server has no Kafka entry for). HTTP ingestion goes on.
  std::string source_warning;
};

// An Event Hubs namespace that provisioned IoT connectors may name
// (properties.ingestionEndpointConfiguration.fullyQualifiedEventHubNamespace),
// and the Kafka cluster that serves it: Event Hubs' own Kafka endpoint, or
// any Kafka cluster. A namespace without an entry gets no Kafka source: the
// server connects to no host it was not configured with.
struct EventHubNamespaceConfig {
  std::string name;                                             // "myhub.servicebus.windows.net"
  std::string brokers;                                          // empty: NAME:9093, Event Hubs' Kafka endpoint
  std::string connection_string;                                // an Event Hubs connection string: SASL PLAIN over TLS
  std::vector<std::pair<std::string, std::string>> properties;  // librdkafka settings, after those
};

// Who may do what (docs/security.md). The settings as written; the
// credentials they make are checked by auth::Authenticator
// (AuthOptionsFor).
struct AuthConfig {
  std::vector<std::pair<std::string, std::string>> api_keys;  // NAME -> "ROLE[,ROLE...] sha256$SALT$DIGEST"
  std::string jwt_issuer;
  std::string jwt_audience;
  std::string jwt_jwks_file;
  std::string jwt_jwks_url;
  std::string jwt_ca_file;
  std::string jwt_roles_claim = "roles";
  std::vector<std::pair<std::string, std::string>> jwt_role_map;  // claim value -> roles
  int jwt_clock_skew_seconds = 60;
  // Without credentials every route is open, so the server listens on
  // loopback only unless told that the network is trusted.
  std::string unauthenticated = "loopback-only";
  [[nodiscard]] bool configured() const { return !api_keys.empty() || !jwt_issuer.empty(); }
};

struct TlsConfig {
  std::string cert_file;  // both set: the server speaks HTTPS only
  std::string key_file;
};

struct ServeConfig {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string store = "./iomt-data";
  std::size_t max_body_bytes = 1 << 20;
  int drain_seconds = 30;          // on SIGTERM, how long to write what is queued
  int iot_connector_quota = 25;    // provisioned IoT connectors per subscription
  std::string log_level = "info";  // common/log.h
  std::string log_format = "text";
  std::string console_dir;  // empty: the web console built into the binary
  std::string audit_log;    // empty: STORE/audit.log
  std::size_t max_connections = 512;
  // The embedded store's history policy (store::EmbeddedStoreOptions).
  std::int64_t history_max_versions = store::EmbeddedStoreOptions{}.history_max_versions;
  std::int64_t history_max_age_hours = store::EmbeddedStoreOptions{}.history_max_age_ms / 3'600'000;
  // URL prefixes a rest-hook Subscription's endpoint must start with (the
  // server sends requests there: without a list, any http(s) URL, internal
  // ones included).
  std::vector<std::string> subscription_endpoints;
  AuthConfig auth;
  TlsConfig tls;
  std::vector<ConnectorConfig> connectors;
  std::vector<EventHubNamespaceConfig> event_hub_namespaces;
};

// The Kafka settings of a provisioned connector reading `topic` (its event
// hub) as consumer `group` from `ns`.
KafkaConfig KafkaConfigFor(const EventHubNamespaceConfig& ns, std::string topic, std::string group);

// The remote client's options for a connector's FHIR destination.
store::RemoteOptions RemoteOptionsFor(const FhirDestinationConfig& fhir);

// The credentials of the configuration, checked (hash shapes, role names,
// the JWT settings that need each other).
Result<auth::AuthOptions> AuthOptionsFor(const AuthConfig& config);

// The contents of a secret's file ("@FILE"), without its final line break.
Result<std::string> ReadSecret(const std::string& path);

// Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost).
bool IsLoopbackHost(std::string_view host);

// "HOST:PORT" (port 0: any free port).
Status ParseListen(std::string_view listen, std::string* host, int* port);

// A connector name is used in URLs, metric labels and directory names:
// letters, digits, '-', '_' and '.', 1 to 64 of them.
bool ValidConnectorName(std::string_view name);

// NAME.servicebus.windows.net, NAME as Event Hubs allows (6 to 50 letters,
// digits and hyphens, a letter first, a letter or digit last); the suffix in
// any case.
bool ValidEventHubNamespace(std::string_view fqdn);

// Reads a configuration file. Every problem is collected (each with its line
// and column); relative paths are taken from the file's directory; `${NAME}`
// in a string is replaced by the environment variable NAME (secrets such as
// an Event Hubs connection string stay out of the file).
struct ConfigLoadResult {
  ServeConfig config;
  std::vector<MappingError> errors;
  [[nodiscard]] bool ok() const { return errors.empty(); }
};
ConfigLoadResult LoadServeConfig(std::string_view text, const std::string& base_dir);

// Checks what a file cannot check by its shape: unique names, and settings
// that need each other; and, for configurations made by flags or in code,
// the bounds, choices and groups of the settings table. Returns the
// problems, one line each.
std::vector<std::string> CheckServeConfig(const ServeConfig& config);

}  // namespace iomt::server
