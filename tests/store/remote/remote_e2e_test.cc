// The whole convert-and-write path (pipeline::RunStream: identity, the
// ObservationWriter's SaveMany) into a real FHIR server, directly and
// through a proxy that injects faults: the server must end with exactly the
// resources the same input leaves in the in-memory store (ids, identifiers,
// values), with few HTTP requests per Observation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

#include "common/json/node.h"
#include "fhir/fhir_mapping.h"
#include "fhir/observation.h"
#include "fhir/observation_writer.h"
#include "identity/resolver.h"
#include "ingest/line_reader.h"
#include "pipeline/event_processor.h"
#include "store/memory/memory_client.h"
#include "store/remote/remote_client.h"
#include "test_servers.h"
#include "test_util.h"

namespace iomt::store::testing {
namespace {

// Bigger pages than the paging tests' 5, and identifier searches from an
// index (server.js --index-identifiers): Medplum's in-memory repository
// scans every resource for each searched value, which would make thousands
// of Observations take minutes.
class E2EServers : public TestServers {
 public:
  E2EServers() : TestServers({"--max-page-size", "1000", "--index-identifiers"}) {}
};
const auto* const kServers = ::testing::AddGlobalTestEnvironment(new E2EServers);

const std::string kBasic = "conformance/iomt-fhir/sample/templates/basic/";
constexpr std::int64_t kNow = 638'400'000'000'000'000;  // a fixed "now" (issued)

// One Observation per heart rate reading.
const char* const kQuantityMapping = R"({
  "templateType": "CollectionFhir",
  "template": [{
    "templateType": "CodeValueFhir",
    "template": {
      "typeName": "heartrate",
      "periodInterval": 0,
      "codes": [{"code": "8867-4", "system": "http://loinc.org", "display": "Heart rate"}],
      "value": {"valueName": "hr", "valueType": "Quantity", "unit": "count/min",
                "system": "http://unitsofmeasure.org", "code": "/min"}
    }
  }]
})";

struct Collected : pipeline::DeadLetters {
  std::vector<std::string> records;
  Status Write(std::string_view record_json) override {
    records.emplace_back(record_json);
    return Status::Ok();
  }
};

// The stages of `iomt run`, with the resolver and the writer on clients of
// their own (so a test can send only the writer through the proxy): the
// parts a pipeline::Pipeline owns, wired here by hand for that.
struct Pipeline {
  normalize::LoadResult device =
      normalize::LoadDeviceMapping(iomt::testing::ReadFile(iomt::testing::SourcePath(kBasic + "devicecontent.json")));
  fhir::FhirLoadResult fhir;
  identity::IdentityResolver resolver;
  fhir::ObservationWriter writer;
  pipeline::PipelineStats stats;
  pipeline::GroupConverter converter;

  Pipeline(FhirClient* resolver_client, FhirClient* writer_client, const std::string& fhir_text)
      : fhir(fhir::LoadFhirMapping(fhir_text)),
        resolver(resolver_client, {}),
        writer(writer_client),
        converter(fhir.mapping, &resolver, &writer, &stats) {}
  Pipeline(FhirClient* client, const std::string& fhir_text) : Pipeline(client, client, fhir_text) {}

  pipeline::PipelineStats Run(const std::string& input, std::size_t batch) {
    EXPECT_TRUE(device.ok());
    EXPECT_TRUE(fhir.ok());
    char name[] = "/tmp/iomt-remote-e2e-XXXXXX";
    int fd = mkstemp(name);
    EXPECT_EQ(::write(fd, input.data(), input.size()), static_cast<ssize_t>(input.size()));
    ::lseek(fd, 0, SEEK_SET);
    ingest::LineReader reader(fd);
    pipeline::PipelineOptions options;
    options.ingestion_ticks = 0;
    options.now_ticks = kNow;
    Collected dead;
    const pipeline::PipelineStats before = stats;
    pipeline::EventProcessor events(device.mapping, &converter, resolver, &dead, options, &stats);
    ingest::LineReader::Line line;
    while (reader.Next(&line)) {
      if (line.text.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      pipeline::EventInput in;
      in.text = line.text;
      in.location.line = line.number;
      in.padded = true;
      EXPECT_TRUE(events.Accept(in).ok());
      if (events.pending() >= batch) {
        EXPECT_TRUE(events.Flush().ok());
      }
    }
    Status st = events.Flush();
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE(dead.records.empty()) << dead.records.front();
    ::close(fd);
    ::unlink(name);
    return stats.Since(before);
  }
};

std::string Suffix() {
  static std::mt19937_64 rng{std::random_device{}()};
  return std::to_string(rng() % 1'000'000'000ULL);
}

// Heart rate messages (iomt-fhir's basic sample format): `devices` devices,
// one patient each, readings one second apart starting at `first_second`.
std::string HeartRates(const std::string& suffix, int devices, int readings, int first_second = 0) {
  std::string out;
  for (int i = 0; i < readings; ++i) {
    int d = i % devices;
    int second = first_second + i / devices;
    char time[32];
    std::snprintf(time, sizeof time, "2023-10-09T%02d:%02d:%02dZ", 10 + second / 3600, (second / 60) % 60, second % 60);
    out.append(R"({"heartrate": )").append(std::to_string(60 + (i * 7) % 40));
    out.append(R"(, "deviceid": "dev-)").append(suffix).append("-").append(std::to_string(d));
    out.append(R"(", "patientid": "pat-)").append(suffix).append("-").append(std::to_string(d));
    out.append(R"(", "measurementdatetime": ")").append(time).append("\"}\n");
  }
  return out;
}

// A resource's JSON without meta (the server's versionId and lastUpdated).
json::Node WithoutMeta(const std::string& text) {
  auto node = json::ParseNode(text);
  EXPECT_TRUE(node.ok()) << text;
  if (!node.ok()) return {};
  node->Erase("meta");
  return std::move(*node);
}

// Every resource of `memory` is on the server with the same content, and
// (found by its identifier) exactly once.
void ExpectSameResources(const MemoryFhirClient& memory) {
  auto server = ConnectOrDie(TestOptions(TestServers::fhir_base()));
  ASSERT_NE(server, nullptr);
  std::map<std::string, std::vector<std::string>> values_by_type;  // identifier values
  std::map<std::string, json::Node> expected;                      // "Type/id" -> content
  std::map<std::string, std::string> systems;
  memory.ForEach([&](std::string_view type, const Resource& r) {
    json::Node node = WithoutMeta(r.json);
    const json::Node* ids = node.Find("identifier");
    ASSERT_TRUE(ids != nullptr && !ids->items().empty()) << r.json;
    const json::Node& first = ids->items().front();
    values_by_type[std::string(type)].push_back(first.Find("value")->text());
    systems[std::string(type)] = first.Find("system") ? first.Find("system")->text() : "";
    expected.emplace(std::string(type) + "/" + r.id, std::move(node));
  });
  std::size_t found_total = 0;
  for (const auto& [type, values] : values_by_type) {
    auto found = server->SearchByIdentifiers(type, systems[type], values);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    EXPECT_EQ(found->size(), values.size()) << type << ": one resource per identifier, none lost";
    for (const Resource& r : *found) {
      auto it = expected.find(type + "/" + r.id);
      if (it == expected.end()) {
        ADD_FAILURE() << "unexpected " << type << "/" << r.id;
        continue;
      }
      EXPECT_TRUE(json::Equals(WithoutMeta(r.json), it->second))
          << type << "/" << r.id << "\nserver: " << WithoutMeta(r.json).ToJson() << "\nmemory: " << it->second.ToJson();
      ++found_total;
    }
  }
  EXPECT_EQ(found_total, expected.size());
}

TEST(RemoteEndToEnd, ObservationsPerReadingAreTheMemoryStoresWithFewRequests) {
  const std::string suffix = Suffix();
  const std::string input = HeartRates(suffix, 10, 3'000);
  MemoryFhirClient memory;
  Pipeline(&memory, kQuantityMapping).Run(input, 1'000);
  ASSERT_EQ(memory.size(), 3'000u + 20u);

  auto remote = ConnectOrDie(TestOptions(TestServers::fhir_base()));
  ASSERT_NE(remote, nullptr);
  const std::int64_t before = remote->stats().requests;
  Pipeline p(remote.get(), kQuantityMapping);
  pipeline::PipelineStats s = p.Run(input, 1'000);
  EXPECT_EQ(s.created, 3'000);
  EXPECT_EQ(s.dead_lettered, 0);
  const double per_observation = static_cast<double>(remote->stats().requests - before) / 3'000.0;
  std::printf("requests per Observation: %.4f (%lld requests)\n", per_observation,
              static_cast<long long>(remote->stats().requests - before));
  EXPECT_LE(per_observation, 0.1);
  ExpectSameResources(memory);

  // Run again: nothing changes, and nothing is written.
  Pipeline again(remote.get(), kQuantityMapping);
  pipeline::PipelineStats s2 = again.Run(input, 1'000);
  EXPECT_EQ(s2.created, 0);
  EXPECT_EQ(s2.updated, 0);
  EXPECT_EQ(s2.unchanged, 3'000);
  ExpectSameResources(memory);
}

TEST(RemoteEndToEnd, MergesThroughFaultsLeaveTheMemoryStoresResources) {
  // Hourly SampledData (the basic sample mapping) in small batches: every
  // batch after the first merges into the same Observations with If-Match.
  const std::string fhir = iomt::testing::ReadFile(iomt::testing::SourcePath(kBasic + "fhirmapping.json"));
  const std::string suffix = Suffix();
  const std::string input = HeartRates(suffix, 4, 400);
  MemoryFhirClient memory;
  Pipeline(&memory, fhir).Run(input, 50);

  auto session = TestServers::NewSession(
      {"pass", "pass", "reset", "pass", "503", "forward-drop", "pass", "429:0", "pass", "drop", "pass", "pass"}, true);
  auto remote = ConnectOrDie(TestOptions(session.fhir_base));
  ASSERT_NE(remote, nullptr);
  Pipeline p(remote.get(), fhir);
  pipeline::PipelineStats s = p.Run(input, 50);
  EXPECT_EQ(s.dead_lettered, 0);
  EXPECT_GT(s.updated, 0);
  auto info = TestServers::Info(session.id);
  EXPECT_GE(info.faults["reset"], 3);
  EXPECT_GE(info.faults["forward-drop"], 3);
  ExpectSameResources(memory);
}

TEST(RemoteEndToEnd, AMergeWhoseBatchAnswerWasLostIsReadAndMergedAgain) {
  const std::string fhir = iomt::testing::ReadFile(iomt::testing::SourcePath(kBasic + "fhirmapping.json"));
  const std::string suffix = Suffix();
  const std::string first = HeartRates(suffix, 2, 20);
  const std::string second = HeartRates(suffix, 2, 20, 10);
  MemoryFhirClient memory;
  {
    Pipeline m(&memory, fhir);
    m.Run(first, 1'000);
    m.Run(second, 1'000);
  }
  auto direct = ConnectOrDie(TestOptions(TestServers::fhir_base()));
  Pipeline(direct.get(), fhir).Run(first, 1'000);

  // The second run's writer goes through the proxy: its search passes, its
  // batch of two If-Match merges lands but the answer is cut, the batch is
  // sent again and both entries get 412; the writer finds each again (a
  // search), merges the same readings (no change) and is done.
  auto session = TestServers::NewSession({"pass", "pass", "pass", "reset"});
  auto proxied = ConnectOrDie(TestOptions(session.fhir_base));
  Pipeline p(direct.get(), proxied.get(), fhir);
  pipeline::PipelineStats s = p.Run(second, 1'000);
  EXPECT_EQ(s.dead_lettered, 0);
  EXPECT_EQ(p.writer.conflicts(), 2);
  EXPECT_EQ(s.unchanged, 2);  // after the re-read: already merged
  auto info = TestServers::Info(session.id);
  EXPECT_EQ(info.faults["reset"], 1);
  std::string log;
  for (const std::string& line : info.log)
    log.append(line).append("\n");
  // search, batch (cut), batch again (412 each), then one search each.
  EXPECT_EQ(info.requests, 2 + 5) << log;
  ExpectSameResources(memory);
}

}  // namespace
}  // namespace iomt::store::testing
