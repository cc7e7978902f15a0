#include "server/settings.h"

#include <cctype>
#include <charconv>
#include <concepts>
#include <initializer_list>
#include <optional>

#include "common/json/writer.h"
#include "common/strings.h"

namespace iomt::server {

namespace {

using enum SettingType;
using enum Requirement;

// ---- How the table reaches the fields of config.h ----

// An optional group of a connector (kafka, mqtt) is made by setting one of
// its settings, and reads as its defaults while it is absent.
template <typename T>
T& Group(std::optional<T>& group) {
  return group ? *group : group.emplace();
}
template <typename T>
const T& Group(const std::optional<T>& group) {
  static const T kAbsent{};
  return group ? *group : kAbsent;
}

SettingValue ToValue(const std::string& s) { return s; }
template <std::integral T>
SettingValue ToValue(T i) {
  return static_cast<std::int64_t>(i);
}
SettingValue ToValue(const std::vector<std::string>& list) { return list; }
SettingValue ToValue(const StringPairs& map) { return map; }

// A value of another type than the field's is a bug of the table: reported,
// not thrown.
Status Mismatch() { return Internal("a setting's value does not fit its field (a bug in server/settings.cc)"); }

template <typename T, typename Field>
Status Take(SettingValue&& value, Field* out) {
  T* v = std::get_if<T>(&value);
  if (v == nullptr) return Mismatch();
  if constexpr (std::integral<Field>) {
    *out = static_cast<Field>(*v);  // the bounds of the setting fit the field
  } else {
    *out = std::move(*v);
  }
  return Status::Ok();
}
Status FromValue(SettingValue&& value, std::string* out) { return Take<std::string>(std::move(value), out); }
template <std::integral T>
Status FromValue(SettingValue&& value, T* out) {
  return Take<std::int64_t>(std::move(value), out);
}
Status FromValue(SettingValue&& value, std::vector<std::string>* out) {
  return Take<std::vector<std::string>>(std::move(value), out);
}
Status FromValue(SettingValue&& value, StringPairs* out) { return Take<StringPairs>(std::move(value), out); }

// The access to the field that `Field` (a captureless lambda `(auto& config)
// -> auto&`) names; captureless lambdas are default-constructible, so the
// accessors need no state.
template <typename Config, typename Field>
constexpr SettingAccess<Config> Bind(Field /*field*/) {
  return {
      .get = [](const Config& config) -> SettingValue { return ToValue(Field{}(config)); },
      .set = [](Config& config, SettingValue value) { return FromValue(std::move(value), &Field{}(config)); },
  };
}
template <typename Field>
constexpr SettingAccess<ServeConfig> ServeField(Field field) {
  return Bind<ServeConfig>(field);
}
template <typename Field>
constexpr SettingAccess<ConnectorConfig> ConnectorField(Field field) {
  return Bind<ConnectorConfig>(field);
}

// "listen" is two fields, host and port.
constexpr SettingAccess<ServeConfig> kListenAccess = {
    .get = [](const ServeConfig& config) -> SettingValue {
      const bool v6 = config.host.find(':') != std::string::npos;
      return Cat({v6 ? "[" : "", config.host, v6 ? "]" : "", ":", std::to_string(config.port)});
    },
    .set = [](ServeConfig& config, SettingValue value) -> Status {
      const std::string* text = std::get_if<std::string>(&value);
      if (text == nullptr) return Mismatch();
      return ParseListen(*text, &config.host, &config.port);
    },
};

// ---- The tables ----

constexpr std::string_view kUnauthenticatedChoices[] = {"loopback-only", "allow-any-address"};
constexpr std::string_view kLogLevels[] = {"debug", "info", "warn", "error"};
constexpr std::string_view kLogFormats[] = {"text", "json"};

constexpr SettingSpec<ServeConfig> kServeSettings[] = {
    {.key = "listen",
     .flag = "--listen",
     .doc = "the address to listen on, HOST:PORT ([::1]:PORT for IPv6; port 0: any free port, printed at start)",
     .access = kListenAccess},
    {.key = "store",
     .flag = "--store",
     .type = kPath,
     .doc = "the directory of the embedded FHIR store and of the connectors' queues",
     .access = ServeField([](auto& c) -> auto& { return c.store; })},
    {.key = "maxBodyBytes",
     .type = kInteger,
     .min = 1024,
     .max = std::int64_t{1} << 30,
     .doc = "the largest HTTP request body accepted, in bytes",
     .access = ServeField([](auto& c) -> auto& { return c.max_body_bytes; })},
    {.key = "drainSeconds",
     .flag = "--drain-seconds",
     .type = kInteger,
     .min = 0,
     .max = 86'400,
     .doc = "on SIGTERM or SIGINT, how long to go on writing what is queued before exiting (the rest stays queued)",
     .access = ServeField([](auto& c) -> auto& { return c.drain_seconds; })},
    {.key = "log.level",
     .flag = "--log-level",
     .type = kEnum,
     .choices = kLogLevels,
     .doc = "the least severe log lines written to stderr; message bodies (patient data) are never logged",
     .access = ServeField([](auto& c) -> auto& { return c.log_level; })},
    {.key = "log.format",
     .flag = "--log-format",
     .type = kEnum,
     .choices = kLogFormats,
     .doc = "text (one line per event, key=value fields; under systemd with the journal's priority prefix) or json "
            "(one object per line: time, level, message, connector, stage, error, request_id)",
     .access = ServeField([](auto& c) -> auto& { return c.log_format; })},
    {.key = "iotConnectorQuota",
     .flag = "--iot-connector-quota",
     .type = kInteger,
     .min = 0,
     .max = 100'000,
     .doc = "how many IoT connectors the provisioning API lets one subscription have (Azure's default: 25)",
     .access = ServeField([](auto& c) -> auto& { return c.iot_connector_quota; })},
    {.key = "consoleDir",
     .flag = "--console-dir",
     .type = kPath,
     .doc = "serve the web console's files (index.html, app.js, app.css) from this directory instead of the copy "
            "built into iomt: for developing the page (web/build.mjs writes them)",
     .access = ServeField([](auto& c) -> auto& { return c.console_dir; })},
    {.key = "auditLog",
     .flag = "--audit-log",
     .type = kPath,
     .doc = "the audit log: who changed or read what (provisioning, mappings, replays, deletes, dead letters, refused "
            "credentials), one JSON line each (empty: STORE/audit.log)",
     .access = ServeField([](auto& c) -> auto& { return c.audit_log; })},
    {.key = "maxConnections",
     .flag = "--max-connections",
     .type = kInteger,
     .min = 1,
     .max = 100'000,
     .doc = "the most HTTP connections open at once (beyond: 503 and close)",
     .access = ServeField([](auto& c) -> auto& { return c.max_connections; })},
    {.key = "storeHistory.maxVersions",
     .flag = "--history-max-versions",
     .type = kInteger,
     .min = 0,
     .max = 1'000'000,
     .doc = "the embedded store keeps this many superseded versions of each resource, the newest (0: no limit); the "
            "rest goes in the background, and `iomt store compact` gives the space back",
     .access = ServeField([](auto& c) -> auto& { return c.history_max_versions; })},
    {.key = "storeHistory.maxAgeHours",
     .flag = "--history-max-age-hours",
     .type = kInteger,
     .min = 0,
     .max = 1'000'000,
     .doc = "the embedded store removes superseded versions written longer ago than this (0: no limit)",
     .access = ServeField([](auto& c) -> auto& { return c.history_max_age_hours; })},
    {.key = "subscriptions.restHookEndpoints",
     .type = kStringList,
     .doc = "URL prefixes that a rest-hook Subscription's endpoint must start with, e.g. https://apps.example.org/ "
            "(empty: any http or https URL; set it when API clients are not all trusted: the server sends requests "
            "there)",
     .access = ServeField([](auto& c) -> auto& { return c.subscription_endpoints; })},
    {.key = "tls.certFile",
     .flag = "--tls-cert",
     .type = kPath,
     .requirement = kRequiredInGroup,
     .doc = "the server's certificate (PEM, with its chain): HTTPS only, TLS 1.2 or later; read again on SIGHUP",
     .access = ServeField([](auto& c) -> auto& { return c.tls.cert_file; })},
    {.key = "tls.keyFile",
     .flag = "--tls-key",
     .type = kPath,
     .requirement = kRequiredInGroup,
     .doc = "the certificate's private key (PEM)",
     .access = ServeField([](auto& c) -> auto& { return c.tls.key_file; })},
    {.key = "auth.apiKeys",
     .flag = "--api-key",
     .type = kStringMap,
     .doc = "API keys: NAME to \"ROLE[,ROLE...] HASH\", HASH from iomt auth new-key (roles: admin, ingest, "
            "ingest:CONNECTOR, fhir-read, fhir-write, metrics); sent as X-Api-Key or Authorization: Bearer",
     .access = ServeField([](auto& c) -> auto& { return c.auth.api_keys; })},
    {.key = "auth.jwt.issuer",
     .flag = "--jwt-issuer",
     .requirement = kRequiredInGroup,
     .doc = "accept OAuth2/OIDC bearer JWTs (RS256, ES256) of this issuer (Entra ID: "
            "https://login.microsoftonline.com/TENANT/v2.0)",
     .access = ServeField([](auto& c) -> auto& { return c.auth.jwt_issuer; })},
    {.key = "auth.jwt.audience",
     .flag = "--jwt-audience",
     .requirement = kRequiredInGroup,
     .doc = "the audience the tokens must name (aud)",
     .access = ServeField([](auto& c) -> auto& { return c.auth.jwt_audience; })},
    {.key = "auth.jwt.jwksFile",
     .flag = "--jwt-jwks-file",
     .type = kPath,
     .doc = "the issuer's signing keys, a JWKS file (read again when it changes); or auth.jwt.jwksUrl",
     .access = ServeField([](auto& c) -> auto& { return c.auth.jwt_jwks_file; })},
    {.key = "auth.jwt.jwksUrl",
     .flag = "--jwt-jwks-url",
     .doc = "the issuer's JWKS URL (Entra ID: https://login.microsoftonline.com/TENANT/discovery/v2.0/keys), cached "
            "and fetched again for an unknown key id",
     .access = ServeField([](auto& c) -> auto& { return c.auth.jwt_jwks_url; })},
    {.key = "auth.jwt.caFile",
     .type = kPath,
     .doc = "a CA bundle (PEM) for auth.jwt.jwksUrl instead of the system's",
     .access = ServeField([](auto& c) -> auto& { return c.auth.jwt_ca_file; })},
    {.key = "auth.jwt.rolesClaim",
     .flag = "--jwt-roles-claim",
     .doc = "the claim that holds the roles (an array, or a space-separated string such as scp)",
     .access = ServeField([](auto& c) -> auto& { return c.auth.jwt_roles_claim; })},
    {.key = "auth.jwt.roleMap",
     .flag = "--jwt-role",
     .type = kStringMap,
     .doc = "claim values to iomt roles (\"IoMT.Admin\": \"admin\"); values not mapped count when they are role names",
     .access = ServeField([](auto& c) -> auto& { return c.auth.jwt_role_map; })},
    {.key = "auth.jwt.clockSkewSeconds",
     .type = kInteger,
     .min = 0,
     .max = 600,
     .doc = "how far exp and nbf may be off the server's clock",
     .access = ServeField([](auto& c) -> auto& { return c.auth.jwt_clock_skew_seconds; })},
    {.key = "auth.unauthenticated",
     .flag = "--unauthenticated",
     .type = kEnum,
     .choices = kUnauthenticatedChoices,
     .doc = "without credentials (auth.apiKeys, auth.jwt) every route is open: loopback-only refuses to listen on "
            "another address; allow-any-address is for a trusted network (e.g. behind a proxy that authenticates)",
     .access = ServeField([](auto& c) -> auto& { return c.auth.unauthenticated; })},
};

constexpr SettingSpec<EventHubNamespaceConfig> kEventHubSettings[] = {
    {.key = "namespace",
     .requirement = kRequired,
     .doc = "the fully qualified namespace that provisioned connectors name, NAME.servicebus.windows.net",
     .access = Bind<EventHubNamespaceConfig>([](auto& c) -> auto& { return c.name; })},
    {.key = "brokers",
     .doc = "the Kafka bootstrap servers that serve it (empty: NAMESPACE:9093, Event Hubs' Kafka endpoint)",
     .access = Bind<EventHubNamespaceConfig>([](auto& c) -> auto& { return c.brokers; })},
    {.key = "connectionString",
     .type = kSecret,
     .doc = "an Event Hubs connection string: SASL PLAIN over TLS with it (use ${NAME} to keep it out of the file)",
     .access = Bind<EventHubNamespaceConfig>([](auto& c) -> auto& { return c.connection_string; })},
    {.key = "properties",
     .type = kStringMap,
     .doc = "settings of librdkafka for this cluster (any Kafka cluster: its security settings), applied last",
     .access = Bind<EventHubNamespaceConfig>([](auto& c) -> auto& { return c.properties; })},
};

constexpr std::string_view kResolutions[] = {"Create", "Lookup", "LookupWithEncounter"};

constexpr SettingSpec<ConnectorConfig> kConnectorSettings[] = {
    {.key = "name",
     .flag = "--connector",
     .requirement = kRequired,
     .doc = "the connector's name, used in its URLs, metric labels and directories: 1 to 64 letters, digits, -, _ "
            "or . (--connector NAME defines one connector from the flags)",
     .access = ConnectorField([](auto& c) -> auto& { return c.name; })},
    {.key = "deviceMapping",
     .flag = "--device-mapping",
     .type = kPath,
     .requirement = kRequired,
     .doc = "the device mapping (read again on SIGHUP and POST /connectors/NAME/mappings/reload)",
     .access = ConnectorField([](auto& c) -> auto& { return c.device_mapping; })},
    {.key = "fhirMapping",
     .flag = "--fhir-mapping",
     .type = kPath,
     .requirement = kRequired,
     .doc = "the FHIR destination mapping (read again with the device mapping)",
     .access = ConnectorField([](auto& c) -> auto& { return c.fhir_mapping; })},
    {.key = "resolution",
     .flag = "--resolution",
     .type = kEnum,
     .choices = kResolutions,
     .doc = "how a measurement's Device and Patient are found: Create makes the missing ones, Lookup needs them, "
            "LookupWithEncounter also an Encounter (docs/fhir-mappings.md)",
     .access = ConnectorField([](auto& c) -> auto& { return c.resolution; })},
    {.key = "deviceIdentifierSystem",
     .flag = "--device-system",
     .doc = "the identifier system of Devices (iomt-fhir's DefaultDeviceIdentifierSystem; empty: none)",
     .access = ConnectorField([](auto& c) -> auto& { return c.device_system; })},
    {.key = "fhir.url",
     .flag = "--fhir-url",
     .doc = "the base URL of a FHIR R4 server to write to (e.g. https://NAME.fhir.azurehealthcareapis.com); empty: "
            "the embedded store",
     .access = ConnectorField([](auto& c) -> auto& { return c.fhir.url; })},
    {.key = "fhir.token",
     .flag = "--fhir-token",
     .type = kSecret,
     .doc = "a bearer token for fhir.url (or fhir.oauth, not both)",
     .access = ConnectorField([](auto& c) -> auto& { return c.fhir.token; })},
    {.key = "fhir.oauth.tokenUrl",
     .flag = "--oauth-token-url",
     .requirement = kRequiredInGroup,
     .doc = "the OAuth2 token endpoint (client credentials grant)",
     .access = ConnectorField([](auto& c) -> auto& { return c.fhir.oauth_token_url; })},
    {.key = "fhir.oauth.clientId",
     .flag = "--oauth-client-id",
     .requirement = kRequiredInGroup,
     .doc = "the OAuth2 client id",
     .access = ConnectorField([](auto& c) -> auto& { return c.fhir.oauth_client_id; })},
    {.key = "fhir.oauth.clientSecret",
     .flag = "--oauth-client-secret",
     .type = kSecret,
     .requirement = kRequiredInGroup,
     .doc = "the OAuth2 client secret",
     .access = ConnectorField([](auto& c) -> auto& { return c.fhir.oauth_client_secret; })},
    {.key = "fhir.oauth.scope",
     .flag = "--oauth-scope",
     .doc = "the OAuth2 scope (Azure: https://NAME.fhir.azurehealthcareapis.com/.default)",
     .access = ConnectorField([](auto& c) -> auto& { return c.fhir.oauth_scope; })},
    {.key = "fhir.caFile",
     .flag = "--fhir-ca",
     .type = kPath,
     .doc = "a PEM bundle of the CAs to trust for fhir.url and the token endpoint instead of the system's (a "
            "private CA)",
     .access = ConnectorField([](auto& c) -> auto& { return c.fhir.ca_file; })},
    {.key = "fhir.clientCert",
     .flag = "--fhir-client-cert",
     .type = kPath,
     .doc = "a PEM client certificate for a FHIR server that asks for one (mutual TLS)",
     .access = ConnectorField([](auto& c) -> auto& { return c.fhir.client_cert_file; })},
    {.key = "fhir.clientKey",
     .flag = "--fhir-client-key",
     .type = kPath,
     .doc = "the unencrypted PEM key of fhir.clientCert (empty: read from that file)",
     .access = ConnectorField([](auto& c) -> auto& { return c.fhir.client_key_file; })},
    {.key = "flush.windowMs",
     .flag = "--flush-window-ms",
     .type = kInteger,
     .min = 0,
     .max = 60'000,
     .doc = "how long a batch waits for more events after its first, in ms (0: it is written as soon as the worker "
            "is free; more: fewer, larger writes)",
     .access = ConnectorField([](auto& c) -> auto& { return c.flush.window_ms; })},
    {.key = "flush.maxEvents",
     .flag = "--flush-max-events",
     .type = kInteger,
     .min = 1,
     .max = 1'000'000,
     .doc = "the most events in one batch",
     .access = ConnectorField([](auto& c) -> auto& { return c.flush.max_events; })},
    {.key = "queue.maxEvents",
     .flag = "--queue-max-events",
     .type = kInteger,
     .min = 1,
     .max = 1'000'000'000,
     .doc = "the most events queued and not yet written; beyond, HTTP ingestion answers 429",
     .access = ConnectorField([](auto& c) -> auto& { return c.queue.max_events; })},
    {.key = "queue.maxBytes",
     .type = kInteger,
     .min = 1 << 20,
     .max = std::int64_t{1} << 40,
     .doc = "the most bytes queued and not yet written; beyond, HTTP ingestion answers 429",
     .access = ConnectorField([](auto& c) -> auto& { return c.queue.max_bytes; })},
    {.key = "ingestKeys",
     .type = kStringList,
     .doc = "keys of which HTTP ingestion needs one, in x-iomt-ingest-key or Authorization: Bearer (empty: none)",
     .access = ConnectorField([](auto& c) -> auto& { return c.ingest_keys; })},
    {.key = "kafka.brokers",
     .flag = "--kafka-brokers",
     .requirement = kRequiredInGroup,
     .doc = "the bootstrap servers, HOST:PORT,... (Event Hubs: NAMESPACE.servicebus.windows.net:9093)",
     .access = ConnectorField([](auto& c) -> auto& { return Group(c.kafka).brokers; })},
    {.key = "kafka.topic",
     .flag = "--kafka-topic",
     .requirement = kRequiredInGroup,
     .doc = "the topic (Event Hubs: the event hub)",
     .access = ConnectorField([](auto& c) -> auto& { return Group(c.kafka).topic; })},
    {.key = "kafka.group",
     .flag = "--kafka-group",
     .requirement = kRequiredInGroup,
     .flag_default = "iomt",
     .doc = "the consumer group (Event Hubs: e.g. $Default); the processes of one group share the partitions",
     .access = ConnectorField([](auto& c) -> auto& { return Group(c.kafka).group; })},
    {.key = "kafka.properties",
     .flag = "--kafka-property",
     .type = kStringMap,
     .doc = "settings of librdkafka, the Kafka client (Event Hubs: security.protocol, sasl.mechanism, sasl.username, "
            "sasl.password; "
            "docs/adr/0012-kafka-source.md)",
     .access = ConnectorField([](auto& c) -> auto& { return Group(c.kafka).properties; })},
    {.key = "mqtt.url",
     .flag = "--mqtt-url",
     .requirement = kRequiredInGroup,
     .doc = "the MQTT v5 broker, mqtt://HOST:PORT, or mqtts://HOST:PORT for TLS (port 8883 by default)",
     .access = ConnectorField([](auto& c) -> auto& { return Group(c.mqtt).url; })},
    {.key = "mqtt.topic",
     .flag = "--mqtt-topic",
     .requirement = kRequiredInGroup,
     .doc = "the topic filter to subscribe to (e.g. devices/+/telemetry)",
     .access = ConnectorField([](auto& c) -> auto& { return Group(c.mqtt).topic; })},
    {.key = "mqtt.qos",
     .type = kInteger,
     .min = 0,
     .max = 1,  // QoS 2: see docs/adr/0013-mqtt-source.md
     .doc = "the subscription's QoS: 0 at most once, 1 at least once",
     .access = ConnectorField([](auto& c) -> auto& { return Group(c.mqtt).qos; })},
    {.key = "mqtt.clientId",
     .doc = "the client id of the persistent session (empty: iomt-NAME)",
     .access = ConnectorField([](auto& c) -> auto& { return Group(c.mqtt).client_id; })},
    {.key = "mqtt.username", .doc = "the user name to connect with", .access = ConnectorField([](auto& c) -> auto& {
                                                                       return Group(c.mqtt).username;
                                                                     })},
    {.key = "mqtt.password",
     .type = kSecret,
     .doc = "the password to connect with",
     .access = ConnectorField([](auto& c) -> auto& { return Group(c.mqtt).password; })},
    {.key = "mqtt.caFile",
     .flag = "--mqtt-ca",
     .type = kPath,
     .doc = "for mqtts://, a PEM bundle of the CAs to trust instead of the system's (a private CA)",
     .access = ConnectorField([](auto& c) -> auto& { return Group(c.mqtt).ca_file; })},
    {.key = "mqtt.clientCert",
     .flag = "--mqtt-client-cert",
     .type = kPath,
     .doc = "for mqtts://, a PEM client certificate for a broker that asks for one (mutual TLS)",
     .access = ConnectorField([](auto& c) -> auto& { return Group(c.mqtt).client_cert_file; })},
    {.key = "mqtt.clientKey",
     .flag = "--mqtt-client-key",
     .type = kPath,
     .doc = "the unencrypted PEM key of mqtt.clientCert (empty: read from that file)",
     .access = ConnectorField([](auto& c) -> auto& { return Group(c.mqtt).client_key_file; })},
};

constexpr SettingGroup<ConnectorConfig> kConnectorGroups[] = {
    {.key = "fhir", .doc = "the FHIR R4 server to write to; absent: the embedded store (--store)"},
    {.key = "fhir.oauth", .doc = "OAuth2 client credentials for fhir.url (e.g. a Microsoft Entra app registration)"},
    {.key = "flush",
     .doc = "when a batch is written: once the worker is free, with what is queued (batches grow with the load)"},
    {.key = "queue", .doc = "the bounds of the connector's durable queue (accepted events, not yet written)"},
    {.key = "kafka",
     .doc = "read events from a Kafka topic (Azure Event Hubs: its Kafka endpoint)",
     .present = [](const ConnectorConfig& c) { return c.kafka.has_value(); }},
    {.key = "mqtt",
     .doc = "read events from an MQTT v5 broker (QoS 0 or 1, persistent session)",
     .present = [](const ConnectorConfig& c) { return c.mqtt.has_value(); }},
};

template <typename Config>
const SettingSpec<Config>* FindFlag(std::span<const SettingSpec<Config>> specs, std::string_view flag) {
  for (const SettingSpec<Config>& spec : specs) {
    if (!spec.flag.empty() && spec.flag == flag) return &spec;
  }
  return nullptr;
}

// The values given to a setting's flag, in order.
std::vector<std::string> ValuesOf(std::span<const FlagValue> flags, std::string_view flag) {
  std::vector<std::string> values;
  for (const FlagValue& f : flags) {
    if (f.flag == flag) values.push_back(f.value);
  }
  return values;
}

// Sets a setting from its flag's values (one, or all of a repeatable one).
// Strings are taken as they are: enums are checked with the rest of the
// configuration (CheckServeConfig), as a file's values set in code are.
template <typename Config>
Status SetFromFlag(const SettingSpec<Config>& spec, std::vector<std::string> values, Config* config) {
  SettingValue value;
  switch (spec.type) {
    case kSecret:
      // A secret on the command line would show in `ps`: "@FILE" reads it
      // from a file instead.
      if (!values.back().empty() && values.back().front() == '@') {
        auto secret = ReadSecret(values.back().substr(1));
        if (!secret.ok()) return InvalidArgument(Cat({spec.flag, ": ", secret.status().message()}));
        value = std::move(*secret);
        break;
      }
      value = std::move(values.back());
      break;
    case kString:
    case kPath:
    case kEnum: value = std::move(values.back()); break;
    case kInteger: {
      const std::string& text = values.back();
      std::int64_t number = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
      if (error != std::errc() || end != text.data() + text.size() || number < spec.min || number > spec.max) {
        return InvalidArgument(Cat({spec.flag, " ", text, " is not a whole number from ", std::to_string(spec.min),
                                    " to ", std::to_string(spec.max)}));
      }
      value = number;
      break;
    }
    case kStringList: value = std::move(values); break;
    case kStringMap: {
      StringPairs pairs;
      for (const std::string& v : values) {
        const std::size_t eq = v.find('=');
        if (eq == std::string::npos) return InvalidArgument(Cat({spec.flag, " ", v, " is not NAME=VALUE"}));
        pairs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
      }
      value = std::move(pairs);
      break;
    }
  }
  if (Status st = spec.access.set(*config, std::move(value)); !st.ok()) {
    return InvalidArgument(Cat({spec.flag, ": ", st.message()}));
  }
  return Status::Ok();
}

Status ApplyConnectorFlags(std::span<const FlagValue> flags, ServeConfig* config) {
  const SettingSpec<ConnectorConfig>* name = nullptr;
  bool other_given = false;
  for (const SettingSpec<ConnectorConfig>& spec : ConnectorSettings()) {
    if (spec.key == "name") {
      name = &spec;
    } else if (!spec.flag.empty() && !ValuesOf(flags, spec.flag).empty()) {
      other_given = true;
    }
  }
  std::vector<std::string> names = ValuesOf(flags, name->flag);
  if (names.empty()) {
    if (other_given) return InvalidArgument(Cat({"the connector flags need ", name->flag, " NAME"}));
    return Status::Ok();
  }
  // "--connector needs --device-mapping and --fhir-mapping": every required
  // flag is named, whichever is missing.
  std::vector<std::string_view> required;
  bool missing = false;
  for (const SettingSpec<ConnectorConfig>& spec : ConnectorSettings()) {
    if (spec.requirement != kRequired || &spec == name || spec.flag.empty()) continue;
    required.push_back(spec.flag);
    missing = missing || ValuesOf(flags, spec.flag).empty();
  }
  if (missing) return InvalidArgument(Cat({name->flag, " needs ", JoinList(required)}));

  ConnectorConfig connector;
  for (const SettingSpec<ConnectorConfig>& spec : ConnectorSettings()) {
    if (spec.flag.empty()) continue;
    std::vector<std::string> values = ValuesOf(flags, spec.flag);
    if (!values.empty()) IOMT_RETURN_IF_ERROR(SetFromFlag(spec, std::move(values), &connector));
  }
  // The defaults only flags have, in the groups the flags made.
  for (const SettingSpec<ConnectorConfig>& spec : ConnectorSettings()) {
    if (spec.flag_default.empty() || !ValuesOf(flags, spec.flag).empty()) continue;
    if (!GroupPresent(connector, spec.group())) continue;
    IOMT_RETURN_IF_ERROR(SetFromFlag(spec, {std::string(spec.flag_default)}, &connector));
  }
  config->connectors.push_back(std::move(connector));
  return Status::Ok();
}

}  // namespace

std::span<const SettingSpec<ServeConfig>> ServeSettings() { return kServeSettings; }
std::span<const SettingSpec<ConnectorConfig>> ConnectorSettings() { return kConnectorSettings; }
std::span<const SettingGroup<ConnectorConfig>> ConnectorGroups() { return kConnectorGroups; }
std::span<const SettingSpec<EventHubNamespaceConfig>> EventHubSettings() { return kEventHubSettings; }

template <typename Config>
SettingValue DefaultValue(const SettingSpec<Config>& spec) {
  return spec.access.get(Config{});
}
template SettingValue DefaultValue(const SettingSpec<ServeConfig>& spec);
template SettingValue DefaultValue(const SettingSpec<ConnectorConfig>& spec);
template SettingValue DefaultValue(const SettingSpec<EventHubNamespaceConfig>& spec);

std::string SettingText(const SettingValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  if (const auto* i = std::get_if<std::int64_t>(&value)) return std::to_string(*i);
  std::string out;
  if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
    for (const std::string& item : *list)
      out.append(out.empty() ? "" : ", ").append(item);
  } else if (const auto* map = std::get_if<StringPairs>(&value)) {
    for (const auto& [k, v] : *map)
      out.append(out.empty() ? "" : ", ").append(k).append("=").append(v);
  }
  return out;
}

bool GroupPresent(const ConnectorConfig& config, std::string_view group) {
  for (const SettingGroup<ConnectorConfig>& g : ConnectorGroups()) {
    if (g.key == group && g.present != nullptr) return g.present(config);
  }
  for (const SettingSpec<ConnectorConfig>& spec : ConnectorSettings()) {
    const bool inside =
        spec.key.size() > group.size() && spec.key.substr(0, group.size()) == group && spec.key[group.size()] == '.';
    if (inside && spec.access.get(config) != DefaultValue(spec)) return true;
  }
  return false;
}

template <typename Config>
std::string DefaultText(const SettingSpec<Config>& spec) {
  if (spec.requirement != kOptional || spec.type == kSecret) return "";
  return SettingText(DefaultValue(spec));
}
template std::string DefaultText(const SettingSpec<ServeConfig>& spec);
template std::string DefaultText(const SettingSpec<ConnectorConfig>& spec);
template std::string DefaultText(const SettingSpec<EventHubNamespaceConfig>& spec);

template <typename Config>
std::string FlagHelp(const SettingSpec<Config>& spec) {
  std::string help(spec.doc);
  if (!help.empty()) help[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(help[0])));
  std::vector<std::string> notes;
  if (spec.type == kInteger) notes.push_back(Cat({std::to_string(spec.min), " to ", std::to_string(spec.max)}));
  if (spec.type == kEnum) notes.push_back(JoinList(spec.choices, " or "));
  if (spec.type == kStringMap) notes.emplace_back("repeatable");
  if (!spec.flag_default.empty()) {
    notes.push_back(Cat({"default ", spec.flag_default}));
  } else if (std::string text = DefaultText(spec); !text.empty()) {
    notes.push_back(Cat({"default ", text}));
  }
  for (std::size_t i = 0; i < notes.size(); ++i)
    help.append(i == 0 ? " (" : "; ").append(notes[i]);
  if (!notes.empty()) help.push_back(')');
  return help;
}
template std::string FlagHelp(const SettingSpec<ServeConfig>& spec);
template std::string FlagHelp(const SettingSpec<ConnectorConfig>& spec);

template <typename Config>
std::string FlagTypeName(const SettingSpec<Config>& spec) {
  switch (spec.type) {
    case kString: return "TEXT";
    case kSecret: return "SECRET";
    case kPath: return "PATH";
    case kInteger: return "INT";
    case kEnum: return "TEXT";
    case kStringList: return "TEXT";
    case kStringMap: return "NAME=VALUE";
  }
  return "TEXT";
}
template std::string FlagTypeName(const SettingSpec<ServeConfig>& spec);
template std::string FlagTypeName(const SettingSpec<ConnectorConfig>& spec);

Status ApplyServeFlags(std::span<const FlagValue> flags, ServeConfig* config) {
  for (const FlagValue& f : flags) {
    if (FindFlag(ServeSettings(), f.flag) == nullptr && FindFlag(ConnectorSettings(), f.flag) == nullptr) {
      return InvalidArgument(Cat({f.flag, " is not a flag of a setting"}));
    }
  }
  for (const SettingSpec<ServeConfig>& spec : ServeSettings()) {
    if (spec.flag.empty()) continue;
    std::vector<std::string> values = ValuesOf(flags, spec.flag);
    if (!values.empty()) IOMT_RETURN_IF_ERROR(SetFromFlag(spec, std::move(values), config));
  }
  return ApplyConnectorFlags(flags, config);
}

}  // namespace iomt::server
