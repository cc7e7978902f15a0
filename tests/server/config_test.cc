// The configuration of `iomt serve` (server/config.h, server/settings.h):
// the file (every problem with its position, paths from the file's
// directory, `${NAME}` from the environment), the flags, the checks across
// settings, and what the settings table describes (JSON schema, Markdown).
#include "server/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "common/json/source.h"
#include "server/settings.h"

namespace iomt::server {
namespace {

TEST(ServeConfig, ReadsEverySetting) {
  ::setenv("IOMT_CONFIG_TEST_SECRET", "s3cret", 1);
  const char* text = R"({
  "listen": "0.0.0.0:9090",
  "store": "data",
  "maxBodyBytes": 2097152,
  "auth": {"unauthenticated": "allow-any-address"},
  "connectors": [{
    "name": "ward-1",
    "deviceMapping": "maps/device.json",
    "fhirMapping": "/abs/fhir.json",
    "resolution": "Lookup",
    "deviceIdentifierSystem": "urn:dev",
    "fhir": {"url": "https://fhir.example", "oauth": {"tokenUrl": "https://login", "clientId": "id",
             "clientSecret": "${IOMT_CONFIG_TEST_SECRET}", "scope": "s"}},
    "flush": {"windowMs": 5, "maxEvents": 200},
    "queue": {"maxEvents": 50, "maxBytes": 2097152},
    "ingestKeys": ["k1", "${IOMT_CONFIG_TEST_SECRET}"],
    "kafka": {"brokers": "ns.servicebus.windows.net:9093", "topic": "hub", "group": "$Default",
              "properties": {"security.protocol": "SASL_SSL", "sasl.password": "${IOMT_CONFIG_TEST_SECRET}",
                             "session.timeout.ms": 30000, "enable.partition.eof": false}},
    "mqtt": {"url": "mqtt://broker:1883", "topic": "devices/+/telemetry", "qos": 0, "clientId": "c"}
  }]
})";
  ConfigLoadResult r = LoadServeConfig(text, "/etc/iomt");
  ASSERT_TRUE(r.ok()) << r.errors.front().message;
  const ServeConfig& c = r.config;
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 9090);
  EXPECT_EQ(c.store, "/etc/iomt/data");
  EXPECT_EQ(c.max_body_bytes, 2097152u);
  ASSERT_EQ(c.connectors.size(), 1u);
  const ConnectorConfig& k = c.connectors[0];
  EXPECT_EQ(k.name, "ward-1");
  EXPECT_EQ(k.device_mapping, "/etc/iomt/maps/device.json");
  EXPECT_EQ(k.fhir_mapping, "/abs/fhir.json");
  EXPECT_EQ(k.resolution, "Lookup");
  EXPECT_EQ(k.device_system, "urn:dev");
  EXPECT_EQ(k.fhir.oauth_client_secret, "s3cret");
  EXPECT_EQ(k.flush.window_ms, 5);
  EXPECT_EQ(k.flush.max_events, 200u);
  EXPECT_EQ(k.queue.max_events, 50u);
  EXPECT_EQ(k.ingest_keys, (std::vector<std::string>{"k1", "s3cret"}));
  ASSERT_TRUE(k.kafka.has_value());
  EXPECT_EQ(k.kafka->group, "$Default");  // a `$` without braces is kept
  EXPECT_EQ(k.kafka->properties, (std::vector<std::pair<std::string, std::string>>{{"security.protocol", "SASL_SSL"},
                                                                                   {"sasl.password", "s3cret"},
                                                                                   {"session.timeout.ms", "30000"},
                                                                                   {"enable.partition.eof", "false"}}));
  ASSERT_TRUE(k.mqtt.has_value());
  EXPECT_EQ(k.mqtt->qos, 0);
  EXPECT_TRUE(CheckServeConfig(c).empty());
}

TEST(ServeConfig, ReportsEveryProblemWithItsPosition) {
  const char* text = R"({
  "listen": "nowhere",
  "connectorz": [],
  "connectors": [
    {"name": "a", "deviceMapping": "d.json", "fhirMapping": 3, "flush": {"windowMs": -1}},
    {"deviceMapping": "d.json", "fhirMapping": "f.json", "kafka": {"brokers": "b"}, "qos": 1},
    {"name": "c", "deviceMapping": "d.json", "fhirMapping": "f.json", "ingestKeys": "k",
     "mqtt": {"url": "mqtt://x", "topic": "t", "qos": 2}, "fhir": {"token": "${IOMT_CONFIG_TEST_UNSET_VAR}"}}
  ]
})";
  ::unsetenv("IOMT_CONFIG_TEST_UNSET_VAR");
  ConfigLoadResult r = LoadServeConfig(text, ".");
  std::vector<std::string> messages;
  for (const MappingError& e : r.errors) {
    messages.push_back(std::to_string(e.pos.line) + ": " + e.message);
  }
  auto has = [&](int line, const std::string& part) {
    for (const std::string& m : messages) {
      if (m.rfind(std::to_string(line) + ": ", 0) == 0 && m.find(part) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has(2, "is not HOST:PORT")) << ::testing::PrintToString(messages);
  EXPECT_TRUE(has(3, "unknown member 'connectorz'")) << ::testing::PrintToString(messages);
  EXPECT_TRUE(has(5, "'fhirMapping' must be a string")) << ::testing::PrintToString(messages);
  EXPECT_TRUE(has(5, "'windowMs' must be a whole number")) << ::testing::PrintToString(messages);
  EXPECT_TRUE(has(6, "a connector needs 'name'")) << ::testing::PrintToString(messages);
  EXPECT_TRUE(has(6, "kafka needs 'topic'")) << ::testing::PrintToString(messages);
  EXPECT_TRUE(has(6, "unknown member 'qos' in a connector")) << ::testing::PrintToString(messages);
  EXPECT_TRUE(has(7, "ingestKeys must be an array")) << ::testing::PrintToString(messages);
  EXPECT_TRUE(has(8, "'qos' must be a whole number from 0 to 1")) << ::testing::PrintToString(messages);
  EXPECT_TRUE(has(8, "IOMT_CONFIG_TEST_UNSET_VAR is not set")) << ::testing::PrintToString(messages);
}

TEST(ServeConfig, ASyntaxErrorHasItsPosition) {
  ConfigLoadResult r = LoadServeConfig("{\n  \"store\": \"x\",\n}", ".");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].pos.line, 3);
}

TEST(ServeConfig, ChecksNamesAndSettingsAcrossConnectors) {
  ServeConfig c;
  c.connectors.resize(4);
  c.connectors[0].name = "ward";
  c.connectors[1].name = "ward";
  c.connectors[2].name = "bad/name";
  c.connectors[3].name = "x";
  c.connectors[3].resolution = "Guess";
  c.connectors[3].fhir.url = "https://fhir.example";
  c.connectors[3].fhir.token = "t";
  c.connectors[3].fhir.oauth_token_url = "u";
  c.connectors[3].fhir.oauth_client_id = "id";
  c.connectors[3].fhir.oauth_client_secret = "secret";
  std::vector<std::string> problems = CheckServeConfig(c);
  ASSERT_EQ(problems.size(), 4u) << ::testing::PrintToString(problems);
  EXPECT_NE(problems[0].find("used twice"), std::string::npos);
  EXPECT_NE(problems[1].find("'bad/name'"), std::string::npos);
  EXPECT_NE(problems[2].find("Guess"), std::string::npos);
  EXPECT_NE(problems[3].find("not both"), std::string::npos);
}

TEST(ServeConfig, ReadsEventHubNamespacesAndMakesTheirKafkaSettings) {
  ConfigLoadResult r = LoadServeConfig(
      R"({"iotConnectorQuota": 4, "eventHubNamespaces": [
           {"namespace": "myhub01.servicebus.windows.net", "connectionString": "Endpoint=sb://x/;Key=k"},
           {"namespace": "kafka01.servicebus.windows.net", "brokers": "k1:9092", "properties": {"acks": "all"}}]})",
      ".");
  ASSERT_TRUE(r.ok()) << r.errors[0].message;
  EXPECT_EQ(r.config.iot_connector_quota, 4);
  ASSERT_EQ(r.config.event_hub_namespaces.size(), 2u);
  KafkaConfig hub = KafkaConfigFor(r.config.event_hub_namespaces[0], "devicedata", "$Default");
  EXPECT_EQ(hub.brokers, "myhub01.servicebus.windows.net:9093") << "Event Hubs' Kafka endpoint by default";
  EXPECT_EQ(hub.topic, "devicedata");
  EXPECT_EQ(hub.group, "$Default");
  const std::vector<std::pair<std::string, std::string>> sasl = {{"security.protocol", "SASL_SSL"},
                                                                 {"sasl.mechanism", "PLAIN"},
                                                                 {"sasl.username", "$ConnectionString"},
                                                                 {"sasl.password", "Endpoint=sb://x/;Key=k"}};
  EXPECT_EQ(hub.properties, sasl);
  KafkaConfig other = KafkaConfigFor(r.config.event_hub_namespaces[1], "t", "g");
  EXPECT_EQ(other.brokers, "k1:9092");
  EXPECT_EQ(other.properties, (std::vector<std::pair<std::string, std::string>>{{"acks", "all"}}));
  EXPECT_TRUE(CheckServeConfig(r.config).empty());

  ServeConfig c;
  c.event_hub_namespaces = {{.name = "hub.example.com"},
                            {.name = "myhub01.servicebus.windows.net"},
                            {.name = "MyHub01.ServiceBus.Windows.Net"}};
  std::vector<std::string> problems = CheckServeConfig(c);
  ASSERT_EQ(problems.size(), 2u) << ::testing::PrintToString(problems);
  EXPECT_NE(problems[0].find("NAME.servicebus.windows.net"), std::string::npos);
  EXPECT_NE(problems[1].find("listed twice"), std::string::npos);
}

TEST(ServeConfig, EventHubNamespacesAreEventHubsNames) {
  EXPECT_TRUE(ValidEventHubNamespace("myhub01.servicebus.windows.net"));
  EXPECT_TRUE(ValidEventHubNamespace("a-b-c-d.SERVICEBUS.windows.net"));
  EXPECT_FALSE(ValidEventHubNamespace("hub01.servicebus.windows.net")) << "6 characters at least";
  EXPECT_FALSE(ValidEventHubNamespace("1myhub.servicebus.windows.net")) << "a letter first";
  EXPECT_FALSE(ValidEventHubNamespace("myhub-.servicebus.windows.net"));
  EXPECT_FALSE(ValidEventHubNamespace("my_hub01.servicebus.windows.net"));
  EXPECT_FALSE(ValidEventHubNamespace(".servicebus.windows.net"));
  EXPECT_FALSE(ValidEventHubNamespace("myhub01.servicesbus.windows.net"));
  EXPECT_FALSE(ValidEventHubNamespace(""));
}

TEST(ServeConfig, ParsesListenAddresses) {
  std::string host;
  int port = 0;
  ASSERT_TRUE(ParseListen("127.0.0.1:0", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 0);
  ASSERT_TRUE(ParseListen("[::1]:8080", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 8080);
  EXPECT_FALSE(ParseListen("localhost", &host, &port).ok());
  EXPECT_FALSE(ParseListen("h:99999", &host, &port).ok());
  EXPECT_FALSE(ParseListen(":80", &host, &port).ok());
}

// ---- The settings table: every setting from a file, from flags ----

std::vector<std::string> Messages(const ConfigLoadResult& r) {
  std::vector<std::string> messages;
  for (const MappingError& e : r.errors)
    messages.push_back(std::to_string(e.pos.line) + ":" + std::to_string(e.pos.column) + ": " + e.message);
  return messages;
}

// A value for a setting that is not its default: as JSON in a file, and as
// the setting reads once loaded from /etc/iomt/serve.json.
struct Sample {
  std::string json;
  SettingValue value;
};

template <typename Config>
Sample SampleFor(const SettingSpec<Config>& spec) {
  const std::string key(spec.key);
  if (key == "listen") return {R"("0.0.0.0:9090")", std::string("0.0.0.0:9090")};
  switch (spec.type) {
    case SettingType::kString:
    case SettingType::kSecret: return {"\"v-" + key + "\"", "v-" + key};
    case SettingType::kPath: return {"\"dir/" + key + "\"", "/etc/iomt/dir/" + key};
    case SettingType::kEnum: {
      const std::string choice(spec.choices.back());
      return {"\"" + choice + "\"", choice};
    }
    case SettingType::kInteger: {
      const std::int64_t n = DefaultValue(spec) == SettingValue(spec.max) ? spec.min : spec.max;
      return {std::to_string(n), n};
    }
    case SettingType::kStringList: return {R"(["k1", "k2"])", std::vector<std::string>{"k1", "k2"}};
    case SettingType::kStringMap:
      return {R"({"a": "x", "n": 5, "b": true})", StringPairs{{"a", "x"}, {"n", "5"}, {"b", "true"}}};
  }
  return {};
}

// The object of `specs` at `group` with every setting set to its sample.
template <typename Config>
std::string SampleObject(std::span<const SettingSpec<Config>> specs, std::string_view group) {
  std::string out = "{";
  for (const SettingMember<Config>& m : MembersOf(specs, group)) {
    if (out.size() > 1) out += ",\n";
    out.append("\"").append(m.name).append("\": ");  // (GCC 12 warns wrongly about "x" + string)
    out += m.setting != nullptr ? SampleFor(*m.setting).json : SampleObject(specs, m.group);
  }
  return out + "}";
}

TEST(ServeConfig, ReadsEverySettingOfTheTable) {
  std::string text = SampleObject(ServeSettings(), "");
  text.pop_back();
  text += ", \"connectors\": [" + SampleObject(ConnectorSettings(), "") + "]}";
  ConfigLoadResult r = LoadServeConfig(text, "/etc/iomt");
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(Messages(r)) << "\n" << text;
  ASSERT_EQ(r.config.connectors.size(), 1u);
  for (const SettingSpec<ServeConfig>& spec : ServeSettings()) {
    const Sample sample = SampleFor(spec);
    EXPECT_NE(sample.value, DefaultValue(spec)) << spec.key << ": the sample would not show it is read";
    EXPECT_EQ(spec.access.get(r.config), sample.value) << spec.key;
  }
  const ConnectorConfig& c = r.config.connectors[0];
  for (const SettingSpec<ConnectorConfig>& spec : ConnectorSettings()) {
    const Sample sample = SampleFor(spec);
    EXPECT_NE(sample.value, DefaultValue(spec)) << spec.key << ": the sample would not show it is read";
    EXPECT_EQ(spec.access.get(c), sample.value) << spec.key;
  }
  // The table reaches the fields the connector code reads.
  EXPECT_EQ(r.config.host, "0.0.0.0");
  EXPECT_EQ(r.config.port, 9090);
  EXPECT_EQ(r.config.drain_seconds, 86'400);
  EXPECT_EQ(c.device_system, "v-deviceIdentifierSystem");
  EXPECT_EQ(c.fhir.oauth_scope, "v-fhir.oauth.scope");
  EXPECT_EQ(c.flush.max_events, 1'000'000u);
  EXPECT_EQ(c.queue.max_bytes, std::uint64_t{1} << 40);
  ASSERT_TRUE(c.kafka.has_value());
  EXPECT_EQ(c.kafka->group, "v-kafka.group");
  ASSERT_TRUE(c.mqtt.has_value());
  EXPECT_EQ(c.mqtt->qos, 0);
  EXPECT_EQ(c.mqtt->password, "v-mqtt.password");
}

TEST(ServeConfig, ReadsTheStoreHistoryPolicy) {
  ConfigLoadResult r =
      LoadServeConfig(R"({"store": "s", "storeHistory": {"maxVersions": 0, "maxAgeHours": 720}})", ".");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.history_max_versions, 0);
  EXPECT_EQ(r.config.history_max_age_hours, 720);
  // Absent: the store's defaults.
  ConfigLoadResult d = LoadServeConfig(R"({"store": "s"})", ".");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.config.history_max_versions, store::EmbeddedStoreOptions{}.history_max_versions);
  EXPECT_EQ(d.config.history_max_age_hours, 0);
  EXPECT_FALSE(LoadServeConfig(R"({"storeHistory": {"maxVersions": -1}})", ".").ok());
}

TEST(ServeConfig, ReadsTheSubscriptionEndpoints) {
  ConfigLoadResult r = LoadServeConfig(
      R"({"subscriptions": {"restHookEndpoints": ["https://alerts.example.org/", "http://10.0.0.5:9000/hook"]}})", ".");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.subscription_endpoints,
            (std::vector<std::string>{"https://alerts.example.org/", "http://10.0.0.5:9000/hook"}));
  EXPECT_TRUE(LoadServeConfig("{}", ".").config.subscription_endpoints.empty());
  EXPECT_FALSE(LoadServeConfig(R"({"subscriptions": {"restHookEndpoints": "https://a/"}})", ".").ok());
}

TEST(ServeConfig, TheLogGroupTakesItsChoicesOnly) {
  ConfigLoadResult loaded = LoadServeConfig(R"({"log": {"level": "debug", "format": "json"}})", ".");
  ASSERT_TRUE(loaded.ok()) << Messages(loaded).front();
  EXPECT_EQ(loaded.config.log_level, "debug");
  EXPECT_EQ(loaded.config.log_format, "json");
  EXPECT_EQ(ServeConfig{}.log_level, "info");
  EXPECT_EQ(ServeConfig{}.log_format, "text");
  EXPECT_FALSE(LoadServeConfig(R"({"log": {"level": "verbose"}})", ".").ok());
  EXPECT_FALSE(LoadServeConfig(R"({"log": {"format": "xml"}})", ".").ok());
}

TEST(ServeConfig, AnUnknownMemberIsReportedWithTheKnownOnes) {
  const char* text = R"({
  "listen": "127.0.0.1:0", "drain": 5,
  "connectors": [{"name": "a", "deviceMapping": "d.json", "fhirMapping": "f.json", "qos": 1,
                  "mqtt": {"url": "mqtt://x", "topic": "t", "clientID": "c"},
                  "fhir": {"oauth": {"tokenUrl": "u", "clientId": "i", "clientSecret": "s", "audience": "a"}}}]
})";
  std::vector<std::string> messages = Messages(LoadServeConfig(text, "."));
  EXPECT_EQ(
      messages,
      (std::vector<std::string>{
          "2:35: unknown member 'drain' in the configuration (known: listen, store, maxBodyBytes, "
          "drainSeconds, log, iotConnectorQuota, consoleDir, auditLog, maxConnections, storeHistory, subscriptions, "
          "tls, auth, connectors, eventHubNamespaces)",
          "3:89: unknown member 'qos' in a connector (known: name, deviceMapping, fhirMapping, resolution, "
          "deviceIdentifierSystem, fhir, flush, queue, ingestKeys, kafka, mqtt)",
          "5:103: unknown member 'audience' in fhir.oauth (known: tokenUrl, clientId, clientSecret, scope)",
          "4:71: unknown member 'clientID' in mqtt (known: url, topic, qos, clientId, username, password, caFile, "
          "clientCert, clientKey)",
      }));
}

TEST(ServeConfig, AnIntegerOutOfRangeIsReportedWithItsBounds) {
  const char* text = R"({
  "maxBodyBytes": 10,
  "connectors": [{"name": "a", "deviceMapping": "d.json", "fhirMapping": "f.json",
                  "flush": {"windowMs": 60001, "maxEvents": 0}, "queue": {"maxBytes": 1.5},
                  "mqtt": {"url": "mqtt://x", "topic": "t", "qos": 2}}]
})";
  std::vector<std::string> messages = Messages(LoadServeConfig(text, "."));
  EXPECT_EQ(messages, (std::vector<std::string>{
                          "2:20: 'maxBodyBytes' must be a whole number from 1024 to 1073741824",
                          "4:45: 'windowMs' must be a whole number from 0 to 60000",
                          "4:61: 'maxEvents' must be a whole number from 1 to 1000000",
                          "4:89: 'maxBytes' must be a whole number from 1048576 to 1099511627776",
                          "5:68: 'qos' must be a whole number from 0 to 1",
                      }));
  // Set in code (the provisioning API, flags), the same bounds hold.
  ServeConfig c;
  c.drain_seconds = -1;
  ConnectorConfig& k = c.connectors.emplace_back();
  k.name = "a";
  k.flush.max_events = 0;
  EXPECT_EQ(CheckServeConfig(c),
            (std::vector<std::string>{"drainSeconds -1 is not from 0 to 86400",
                                      "connector 'a': flush.maxEvents 0 is not from 1 to 1000000"}));
}

TEST(ServeConfig, AGroupNeedsItsRequiredSettingsOnlyWhenPresent) {
  const char* text = R"({"connectors": [
  {"name": "a", "deviceMapping": "d.json", "fhirMapping": "f.json"},
  {"name": "b", "deviceMapping": "d.json", "fhirMapping": "f.json", "kafka": {"topic": "t"}},
  {"name": "c", "deviceMapping": "d.json", "fhirMapping": "f.json", "mqtt": {"url": null},
   "fhir": {"url": "https://fhir.example", "oauth": {"scope": "s"}}},
  {"resolution": "Lookup"}
]})";
  std::vector<std::string> messages = Messages(LoadServeConfig(text, "."));
  EXPECT_EQ(messages, (std::vector<std::string>{
                          "3:78: kafka needs 'brokers'",
                          "3:78: kafka needs 'group'",
                          "5:53: fhir.oauth needs 'tokenUrl'",
                          "5:53: fhir.oauth needs 'clientId'",
                          "5:53: fhir.oauth needs 'clientSecret'",
                          "4:77: mqtt needs 'url'",
                          "4:77: mqtt needs 'topic'",
                          "6:3: a connector needs 'name'",
                          "6:3: a connector needs 'deviceMapping' (a file)",
                          "6:3: a connector needs 'fhirMapping' (a file)",
                      }));
  // A configuration made in code is checked by the same table.
  ServeConfig c;
  ConnectorConfig& k = c.connectors.emplace_back();
  k.name = "a";
  k.mqtt.emplace().url = "mqtt://x";
  k.fhir.oauth_client_id = "id";
  EXPECT_EQ(CheckServeConfig(c),
            (std::vector<std::string>{"connector 'a': fhir.oauth needs tokenUrl, clientId and clientSecret",
                                      "connector 'a': mqtt needs url and topic",
                                      "connector 'a': fhir.token and fhir.oauth go with fhir.url"}));
}

TEST(ServeConfig, AnEnumIsOneOfItsChoices) {
  const char* text = R"({"connectors": [
  {"name": "a", "deviceMapping": "d.json", "fhirMapping": "f.json", "resolution": "lookup"}]})";
  EXPECT_EQ(
      Messages(LoadServeConfig(text, ".")),
      (std::vector<std::string>{"2:90: 'resolution' must be Create, Lookup or LookupWithEncounter, not 'lookup'"}));
}

// The flag's value for a setting's sample (maps: one NAME=VALUE per flag).
template <typename Config>
std::vector<FlagValue> SampleFlags(const SettingSpec<Config>& spec) {
  const SettingValue value = SampleFor(spec).value;
  if (const auto* map = std::get_if<StringPairs>(&value)) {
    std::vector<FlagValue> flags;
    for (const auto& [k, v] : *map)
      flags.push_back({spec.flag, k + "=" + v});
    return flags;
  }
  return {{spec.flag, SettingText(value)}};
}

TEST(ServeConfig, FlagsMakeTheSameConfigurationAsTheFile) {
  // Every flag, with the value of the equivalent file; paths are absolute,
  // as a file's are once loaded.
  std::vector<FlagValue> flags;
  std::string file = "{";
  // Top-level settings in groups ("tls.certFile") nest as the file nests
  // them: each group's object holds its settings, in the table's order.
  std::vector<std::pair<std::string, std::string>> groups;  // group -> members written so far
  for (const SettingSpec<ServeConfig>& spec : ServeSettings()) {
    if (spec.flag.empty()) continue;
    for (FlagValue& f : SampleFlags(spec))
      flags.push_back(std::move(f));
    const std::string member = "\"" + std::string(spec.name()) + "\": " + SampleFor(spec).json;
    if (spec.group().empty()) {
      file += member + ", ";
      continue;
    }
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == spec.group(); });
    if (it == groups.end()) {
      groups.emplace_back(std::string(spec.group()), member);
    } else {
      it->second += ", " + member;
    }
  }
  // "auth.jwt" inside "auth": a group's groups are members of it.
  std::function<std::string(const std::string&)> object = [&](const std::string& prefix) {
    std::string out = "{";
    for (const auto& [group, members] : groups) {
      if (group == prefix) out += members;
    }
    for (const auto& [group, members] : groups) {
      if (group.size() > prefix.size() && group.starts_with(prefix + ".") &&
          group.find('.', prefix.size() + 1) == std::string::npos) {
        out += (out.size() > 1 ? ", \"" : "\"") + group.substr(prefix.size() + 1) + "\": " + object(group);
      }
    }
    return out + "}";
  };
  std::vector<std::string> tops;
  for (const auto& [group, members] : groups) {
    const std::string top = group.substr(0, group.find('.'));
    if (std::find(tops.begin(), tops.end(), top) == tops.end()) tops.push_back(top);
  }
  for (const std::string& top : tops)
    file += "\"" + top + "\": " + object(top) + ", ";
  ServeConfig from_flags;
  ConnectorConfig expected;
  for (const SettingSpec<ConnectorConfig>& spec : ConnectorSettings()) {
    if (spec.flag.empty()) continue;
    for (FlagValue& f : SampleFlags(spec))
      flags.push_back(std::move(f));
    ASSERT_TRUE(spec.access.set(expected, SampleFor(spec).value).ok()) << spec.key;
  }
  ASSERT_TRUE(ApplyServeFlags(flags, &from_flags).ok());
  ASSERT_EQ(from_flags.connectors.size(), 1u);

  // The file: the same values at their keys, nested as the file nests them.
  file += R"("connectors": [{"name": "v-name", "deviceMapping": "dir/deviceMapping", "fhirMapping": "dir/fhirMapping",
    "resolution": "LookupWithEncounter", "deviceIdentifierSystem": "v-deviceIdentifierSystem",
    "fhir": {"url": "v-fhir.url", "token": "v-fhir.token", "oauth": {"tokenUrl": "v-fhir.oauth.tokenUrl",
             "clientId": "v-fhir.oauth.clientId", "clientSecret": "v-fhir.oauth.clientSecret",
             "scope": "v-fhir.oauth.scope"}, "caFile": "dir/fhir.caFile", "clientCert": "dir/fhir.clientCert",
             "clientKey": "dir/fhir.clientKey"},
    "flush": {"windowMs": 60000, "maxEvents": 1000000}, "queue": {"maxEvents": 1000000000},
    "kafka": {"brokers": "v-kafka.brokers", "topic": "v-kafka.topic", "group": "v-kafka.group",
              "properties": {"a": "x", "n": 5, "b": true}},
    "mqtt": {"url": "v-mqtt.url", "topic": "v-mqtt.topic", "caFile": "dir/mqtt.caFile",
             "clientCert": "dir/mqtt.clientCert", "clientKey": "dir/mqtt.clientKey"}}]})";
  ConfigLoadResult from_file = LoadServeConfig(file, "/etc/iomt");
  ASSERT_TRUE(from_file.ok()) << ::testing::PrintToString(Messages(from_file));
  ASSERT_EQ(from_file.config.connectors.size(), 1u);
  // Paths from flags are taken as given (relative to the working
  // directory): the file's, made absolute, are what the flags gave.
  EXPECT_EQ(from_file.config.store, "/etc/iomt/dir/store");
  for (const SettingSpec<ServeConfig>& spec : ServeSettings()) {
    EXPECT_EQ(spec.access.get(from_flags), spec.access.get(from_file.config)) << spec.key;
  }
  for (const SettingSpec<ConnectorConfig>& spec : ConnectorSettings()) {
    const SettingValue flag_value = spec.access.get(from_flags.connectors[0]);
    EXPECT_EQ(flag_value, spec.access.get(from_file.config.connectors[0])) << spec.key;
    EXPECT_EQ(flag_value, spec.access.get(expected)) << spec.key;
  }
}

TEST(ServeConfig, OAuthFlagsAndTheDeviceSystem) {
  ServeConfig config;
  const FlagValue flags[] = {{"--connector", "ward"},
                             {"--device-mapping", "d.json"},
                             {"--fhir-mapping", "f.json"},
                             {"--fhir-url", "https://ws-fhir.fhir.azurehealthcareapis.com"},
                             {"--oauth-token-url", "https://login.microsoftonline.com/t/oauth2/v2.0/token"},
                             {"--oauth-client-id", "app"},
                             {"--oauth-client-secret", "s3cret"},
                             {"--oauth-scope", "https://ws-fhir.fhir.azurehealthcareapis.com/.default"},
                             {"--device-system", "urn:ietf:rfc:3986"}};
  ASSERT_TRUE(ApplyServeFlags(flags, &config).ok());
  ASSERT_EQ(config.connectors.size(), 1u);
  const ConnectorConfig& c = config.connectors[0];
  EXPECT_EQ(c.device_system, "urn:ietf:rfc:3986");
  const store::RemoteOptions options = RemoteOptionsFor(c.fhir);
  EXPECT_EQ(options.base_url, "https://ws-fhir.fhir.azurehealthcareapis.com");
  EXPECT_EQ(options.oauth.token_url, "https://login.microsoftonline.com/t/oauth2/v2.0/token");
  EXPECT_EQ(options.oauth.client_id, "app");
  EXPECT_EQ(options.oauth.client_secret, "s3cret");
  EXPECT_EQ(options.oauth.scope, "https://ws-fhir.fhir.azurehealthcareapis.com/.default");
  EXPECT_TRUE(options.bearer_token.empty());
  EXPECT_TRUE(CheckServeConfig(config).empty()) << ::testing::PrintToString(CheckServeConfig(config));

  // As with `iomt run`: credentials need all three, and a URL to go to.
  ServeConfig partial;
  const FlagValue partial_flags[] = {{"--connector", "ward"},
                                     {"--device-mapping", "d.json"},
                                     {"--fhir-mapping", "f.json"},
                                     {"--oauth-client-id", "app"}};
  ASSERT_TRUE(ApplyServeFlags(partial_flags, &partial).ok());
  EXPECT_EQ(CheckServeConfig(partial),
            (std::vector<std::string>{"connector 'ward': fhir.oauth needs tokenUrl, clientId and clientSecret",
                                      "connector 'ward': fhir.token and fhir.oauth go with fhir.url"}));
}

TEST(ServeConfig, FlagProblemsAreUsageErrors) {
  auto apply = [](std::vector<FlagValue> flags) {
    ServeConfig config;
    return ApplyServeFlags(flags, &config).message();
  };
  EXPECT_EQ(apply({{"--device-mapping", "d.json"}}), "the connector flags need --connector NAME");
  EXPECT_EQ(apply({{"--oauth-scope", "s"}}), "the connector flags need --connector NAME");
  EXPECT_EQ(apply({{"--connector", "w"}, {"--fhir-mapping", "f.json"}}),
            "--connector needs --device-mapping and --fhir-mapping");
  EXPECT_EQ(apply({{"--connector", "w"},
                   {"--device-mapping", "d"},
                   {"--fhir-mapping", "f"},
                   {"--kafka-brokers", "b"},
                   {"--kafka-property", "x"}}),
            "--kafka-property x is not NAME=VALUE");
  EXPECT_EQ(apply({{"--listen", "nowhere"}}),
            "--listen: listen address 'nowhere' is not HOST:PORT (e.g. 127.0.0.1:8080)");
  EXPECT_EQ(apply({{"--drain-seconds", "soon"}}), "--drain-seconds soon is not a whole number from 0 to 86400");
  EXPECT_EQ(
      apply({{"--connector", "w"}, {"--device-mapping", "d"}, {"--fhir-mapping", "f"}, {"--flush-max-events", "0"}}),
      "--flush-max-events 0 is not a whole number from 1 to 1000000");

  // The flags replace the file's top-level settings; a Kafka group without
  // --kafka-group is "iomt" (a file names its own).
  ServeConfig config;
  config.store = "/from/file";
  const FlagValue flags[] = {{"--store", "data"},          {"--drain-seconds", "5"},    {"--connector", "w"},
                             {"--device-mapping", "d"},    {"--fhir-mapping", "f"},     {"--kafka-brokers", "b:9092"},
                             {"--kafka-topic", "devices"}, {"--kafka-property", "a=1"}, {"--kafka-property", "b=x=y"}};
  ASSERT_TRUE(ApplyServeFlags(flags, &config).ok());
  EXPECT_EQ(config.store, "data");
  EXPECT_EQ(config.drain_seconds, 5);
  ASSERT_EQ(config.connectors.size(), 1u);
  ASSERT_TRUE(config.connectors[0].kafka.has_value());
  EXPECT_EQ(config.connectors[0].kafka->group, "iomt");
  EXPECT_EQ(config.connectors[0].kafka->properties, (StringPairs{{"a", "1"}, {"b", "x=y"}}));
  EXPECT_FALSE(config.connectors[0].mqtt.has_value());
  EXPECT_EQ(config.connectors[0].resolution, "Create");
}

// ---- What the table describes ----

TEST(ServeConfig, TheJsonSchemaParsesAndListsEveryConnectorSetting) {
  const std::string schema = SettingsJsonSchema();
  auto doc = json::ParseSource(schema);
  ASSERT_TRUE(doc.ok()) << doc.status().message() << "\n" << schema;
  const json::SourceNode& root = doc->root;
  ASSERT_EQ(root.kind, json::Kind::kObject);
  ASSERT_NE(root.Find("$schema"), nullptr);
  auto text = [](const json::SourceNode& object, std::string_view key) -> std::string {
    const json::SourceMember* m = object.Find(key);
    return m == nullptr ? "<absent>" : m->value.text;
  };
  // The names in the `required` of an object.
  auto required = [](const json::SourceNode& object) {
    std::vector<std::string> names;
    if (const json::SourceMember* m = object.Find("required")) {
      for (const json::SourceNode& item : m->value.items)
        names.push_back(item.text);
    }
    return names;
  };
  EXPECT_EQ(required(root), (std::vector<std::string>{"name", "deviceMapping", "fhirMapping"}));
  for (const SettingSpec<ConnectorConfig>& spec : ConnectorSettings()) {
    SCOPED_TRACE(std::string(spec.key));
    // Down the groups: "fhir.oauth.clientId" is properties.fhir.properties.oauth.properties.clientId.
    const json::SourceNode* object = &root;
    std::string_view rest = spec.key;
    for (std::size_t dot = rest.find('.'); dot != std::string_view::npos; dot = rest.find('.')) {
      const json::SourceMember* group = object->Find("properties")->value.Find(rest.substr(0, dot));
      ASSERT_NE(group, nullptr);
      object = &group->value;
      EXPECT_EQ(text(*object, "type"), "object");
      EXPECT_NE(text(*object, "description"), "<absent>");
      rest = rest.substr(dot + 1);
    }
    const json::SourceMember* m = object->Find("properties")->value.Find(rest);
    ASSERT_NE(m, nullptr);
    const json::SourceNode& setting = m->value;
    EXPECT_EQ(text(setting, "x-iomt-key"), spec.key);
    EXPECT_EQ(text(setting, "description"), spec.doc);
    EXPECT_EQ(text(setting, "x-iomt-flag"), spec.flag.empty() ? "<absent>" : spec.flag);
    const bool listed_required = [&] {
      for (const std::string& r : required(*object))
        if (r == rest) return true;
      return false;
    }();
    EXPECT_EQ(listed_required, spec.requirement != Requirement::kOptional);
    switch (spec.type) {
      case SettingType::kInteger:
        EXPECT_EQ(text(setting, "type"), "integer");
        EXPECT_EQ(setting.Find("minimum")->value.integer, spec.min);
        EXPECT_EQ(setting.Find("maximum")->value.integer, spec.max);
        EXPECT_EQ(SettingValue(setting.Find("default")->value.integer), DefaultValue(spec));
        break;
      case SettingType::kEnum: {
        std::vector<std::string> choices;
        for (const json::SourceNode& c : setting.Find("enum")->value.items)
          choices.push_back(c.text);
        EXPECT_EQ(choices, std::vector<std::string>(spec.choices.begin(), spec.choices.end()));
        EXPECT_EQ(text(setting, "default"), SettingText(DefaultValue(spec)));
        break;
      }
      case SettingType::kSecret:
        EXPECT_EQ(text(setting, "type"), "string");
        ASSERT_NE(setting.Find("writeOnly"), nullptr);
        EXPECT_TRUE(setting.Find("writeOnly")->value.boolean);
        break;
      case SettingType::kStringList: EXPECT_EQ(text(setting, "type"), "array"); break;
      case SettingType::kStringMap: EXPECT_EQ(text(setting, "type"), "object"); break;
      case SettingType::kString:
      case SettingType::kPath: EXPECT_EQ(text(setting, "type"), "string"); break;
    }
  }
  // A group's required settings are in the group's `required`.
  const json::SourceNode& kafka = root.Find("properties")->value.Find("kafka")->value;
  EXPECT_EQ(required(kafka), (std::vector<std::string>{"brokers", "topic", "group"}));
  EXPECT_EQ(text(kafka.Find("properties")->value.Find("group")->value, "x-iomt-flag-default"), "iomt");
}

TEST(ServeConfig, TheMarkdownTableAndTheHelpShowEverySetting) {
  const std::string table = SettingsMarkdownTable();
  for (const SettingSpec<ServeConfig>& spec : ServeSettings())
    EXPECT_NE(table.find("| `" + std::string(spec.key) + "` |"), std::string::npos) << spec.key;
  for (const SettingSpec<ConnectorConfig>& spec : ConnectorSettings())
    EXPECT_NE(table.find("| `" + std::string(spec.key) + "` |"), std::string::npos) << spec.key;
  EXPECT_NE(table.find("| `flush.maxEvents` | `--flush-max-events` | integer, 1 to 1000000 | `10000` |"),
            std::string::npos);
  EXPECT_NE(table.find("| `kafka.group` | `--kafka-group` | string | required in `kafka` (flag: `iomt`) |"),
            std::string::npos);
  for (const SettingSpec<ConnectorConfig>& spec : ConnectorSettings()) {
    if (spec.key == "flush.maxEvents") {
      EXPECT_NE(FlagHelp(spec).find("(1 to 1000000; default 10000)"), std::string::npos) << FlagHelp(spec);
    }
    if (spec.key == "resolution") {
      EXPECT_NE(FlagHelp(spec).find("(Create, Lookup or LookupWithEncounter; default Create)"), std::string::npos)
          << FlagHelp(spec);
    }
  }
}

}  // namespace
}  // namespace iomt::server
