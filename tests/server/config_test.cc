// The configuration file of `iomt serve` (server/config.h): every problem
// with its position, paths from the file's directory, `${NAME}` from the
// environment, and the checks across settings.
#include "server/config.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace iomt::server {
namespace {

TEST(ServeConfig, ReadsEverySetting) {
  ::setenv("IOMT_CONFIG_TEST_SECRET", "s3cret", 1);
  const char* text = R"({
  "listen": "0.0.0.0:9090",
  "store": "data",
  "maxBodyBytes": 2097152,
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
  c.connectors[3].fhir.token = "t";
  c.connectors[3].fhir.oauth_token_url = "u";
  std::vector<std::string> problems = CheckServeConfig(c);
  ASSERT_EQ(problems.size(), 4u) << ::testing::PrintToString(problems);
  EXPECT_NE(problems[0].find("used twice"), std::string::npos);
  EXPECT_NE(problems[1].find("'bad/name'"), std::string::npos);
  EXPECT_NE(problems[2].find("Guess"), std::string::npos);
  EXPECT_NE(problems[3].find("not both"), std::string::npos);
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

}  // namespace
}  // namespace iomt::server
