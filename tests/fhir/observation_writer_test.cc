// Saving Observations (docs/fhir-mappings.md, "The Observation"): create, merge, no
// write when nothing changed, If-Match retries.
#include "fhir/observation_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "common/datetime.h"
#include "store/memory/memory_client.h"

namespace iomt::fhir {
namespace {

FhirTemplate Load(const std::string& template_json) {
  FhirLoadResult r = LoadCodeValueFhirTemplate(R"({"templateType":"CodeValueFhir","template":)" + template_json + "}");
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].message);
  return r.mapping.templates.at(0);
}

std::int64_t T(std::string_view iso) {
  std::int64_t t = 0;
  EXPECT_TRUE(datetime::ParseDateTime(iso, &t));
  return t;
}

group::MeasurementGroup Group(const std::string& type, std::vector<std::pair<std::string, std::string>> readings,
                              const std::string& name = "hr") {
  group::MeasurementGroup g;
  g.type = type;
  g.device_id = "dev";
  for (auto& [time, value] : readings) {
    OwnedMeasurement m;
    m.type = type;
    m.occurrence_ticks = T(time);
    m.properties.push_back({name, value});
    g.data.push_back(std::move(m));
  }
  return g;
}

const ObservationRefs kRefs{"pat", "dev", std::nullopt};

// A FhirClient that makes the first N writes lose a race.
class RacyClient : public store::FhirClient {
 public:
  explicit RacyClient(int conflicts) : conflicts_(conflicts) {}
  Result<std::vector<store::Resource>> SearchByIdentifier(std::string_view type, std::string_view system,
                                                          std::string_view value, std::size_t limit) override {
    return inner.SearchByIdentifier(type, system, value, limit);
  }
  Result<std::optional<store::Resource>> Read(std::string_view type, std::string_view id) override {
    ++reads;
    return inner.Read(type, id);
  }
  Result<store::Resource> Put(std::string_view type, std::string_view id, std::string json,
                              std::optional<std::string_view> if_match) override {
    if (if_match && conflicts_ > 0) {
      --conflicts_;
      return Conflict("412 Precondition Failed");
    }
    return inner.Put(type, id, std::move(json), if_match);
  }
  store::MemoryFhirClient inner;
  int reads = 0;

 private:
  int conflicts_;
};

const char* kHourly = R"({"typeName":"hr","codes":[],"periodInterval":60,
  "value":{"valueType":"SampledData","valueName":"hr","defaultPeriod":60000,"unit":"count/min"}})";

TEST(ObservationWriter, CreateThenMergeThenNothing) {
  store::MemoryFhirClient client;
  ObservationWriter writer(&client);
  FhirTemplate t = Load(kHourly);
  auto g1 = Group("hr", {{"2019-01-01T00:00:00Z", "60"}});
  auto og1 = BuildObservationGroups(g1, t.period);
  auto created = writer.Save(t, og1->at(0), "hr", kRefs, 0);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->outcome, SaveOutcome::kCreated);

  auto g2 = Group("hr", {{"2019-01-01T00:02:00Z", "62"}});
  auto og2 = BuildObservationGroups(g2, t.period);
  auto updated = writer.Save(t, og2->at(0), "hr", kRefs, 1);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->outcome, SaveOutcome::kUpdated);
  EXPECT_EQ(updated->id, created->id);
  auto stored = client.Read("Observation", created->id);
  EXPECT_EQ((*stored)->version_id, "2");
  EXPECT_NE((*stored)->json.find(R"("status":"amended")"), std::string::npos);
  EXPECT_NE((*stored)->json.find(R"("data":"60 E 62 E)"), std::string::npos);
  // issued is the creation's: a merge keeps it.
  EXPECT_NE((*stored)->json.find(R"("issued":"1970-01-01T00:00:00.0000000Z")"), std::string::npos);

  // The same reading again: nothing changes, nothing is written.
  auto again = writer.Save(t, og2->at(0), "hr", kRefs, 2);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, SaveOutcome::kUnchanged);
  EXPECT_EQ((*client.Read("Observation", created->id))->version_id, "2");

  // A writer that starts cold finds the Observation by its identifier.
  ObservationWriter cold(&client);
  auto replay = cold.Save(t, og1->at(0), "hr", kRefs, 3);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->outcome, SaveOutcome::kUnchanged);
}

// Counts the identifier searches a writer makes (its cache misses).
class CountingClient : public store::MemoryFhirClient {
 public:
  Result<std::vector<store::Resource>> SearchByIdentifier(std::string_view type, std::string_view system,
                                                          std::string_view value, std::size_t limit) override {
    ++searches;
    return MemoryFhirClient::SearchByIdentifier(type, system, value, limit);
  }
  int searches = 0;
};

TEST(ObservationWriter, TheCacheIsBoundedBySizeToo) {
  FhirTemplate t = Load(kHourly);
  auto g1 = Group("hr", {{"2019-01-01T00:00:00Z", "60"}});
  auto og1 = BuildObservationGroups(g1, t.period);
  auto g2 = Group("hr", {{"2019-01-01T00:02:00Z", "62"}});
  auto og2 = BuildObservationGroups(g2, t.period);

  // Room for it: the merge finds the Observation in the cache.
  CountingClient roomy;
  ObservationWriter cached(&roomy);
  ASSERT_TRUE(cached.Save(t, og1->at(0), "hr", kRefs, 0).ok());
  const int after_create = roomy.searches;
  ASSERT_EQ(cached.Save(t, og2->at(0), "hr", kRefs, 1)->outcome, SaveOutcome::kUpdated);
  EXPECT_EQ(roomy.searches, after_create);

  // Smaller than one Observation: only the newest entry stays, so a second
  // Observation pushes the first out and its merge searches the store again
  // (and still merges correctly).
  CountingClient tight;
  ObservationWriter small(&tight, 10'000, 1);
  ASSERT_TRUE(small.Save(t, og1->at(0), "hr", kRefs, 0).ok());
  ObservationRefs other{"pat2", "dev2", std::nullopt};
  ASSERT_TRUE(small.Save(t, og1->at(0), "hr", other, 0).ok());
  const int before = tight.searches;
  auto merged = small.Save(t, og2->at(0), "hr", kRefs, 1);
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(merged->outcome, SaveOutcome::kUpdated);
  EXPECT_EQ(tight.searches, before + 1);
}

TEST(ObservationWriter, RetriesALostRaceTwice) {
  FhirTemplate t = Load(kHourly);
  // Observation groups point into their measurement group, which must live.
  auto g1 = Group("hr", {{"2019-01-01T00:00:00Z", "60"}});
  auto g2 = Group("hr", {{"2019-01-01T00:01:00Z", "61"}});
  auto og1 = *BuildObservationGroups(g1, t.period);
  auto og2 = *BuildObservationGroups(g2, t.period);
  {
    RacyClient client(2);
    ObservationWriter writer(&client);
    ASSERT_TRUE(writer.Save(t, og1[0], "hr", kRefs, 0).ok());
    auto saved = writer.Save(t, og2[0], "hr", kRefs, 0);
    ASSERT_TRUE(saved.ok()) << saved.status().ToString();
    EXPECT_EQ(saved->outcome, SaveOutcome::kUpdated);
    EXPECT_EQ(writer.conflicts(), 2);
    EXPECT_EQ(client.reads, 2);  // re-read before each retry
  }
  {
    RacyClient client(3);
    ObservationWriter writer(&client);
    ASSERT_TRUE(writer.Save(t, og1[0], "hr", kRefs, 0).ok());
    auto saved = writer.Save(t, og2[0], "hr", kRefs, 0);
    ASSERT_FALSE(saved.ok());
    EXPECT_EQ(saved.status().code(), StatusCode::kConflict);
  }
}

TEST(ObservationWriter, TwoObservationsWithTheIdentifier) {
  store::MemoryFhirClient client;
  FhirTemplate t = Load(kHourly);
  auto g = Group("hr", {{"2019-01-01T00:00:00Z", "60"}});
  auto og = *BuildObservationGroups(g, t.period);
  std::string value = ObservationIdentifierValue(kRefs, "hr", og[0].id_segment);
  for (const char* id : {"x1", "x2"}) {
    ASSERT_TRUE(
        client
            .Put(
                "Observation", id,
                std::string(R"({"resourceType":"Observation","id":")") + id +
                    R"(","identifier":[{"system":"https://azure.microsoft.com/en-us/services/iomt-fhir-connector/","value":")" +
                    value + R"("}]})",
                std::nullopt)
            .ok());
  }
  ObservationWriter writer(&client);
  EXPECT_EQ(writer.Save(t, og[0], "hr", kRefs, 0).status().error_name(), "MultipleResourceFoundException");
}

TEST(ObservationWriter, AnExistingObservationOfAnotherValueType) {
  store::MemoryFhirClient client;
  FhirTemplate quantity = Load(R"({"typeName":"hr","codes":[],"periodInterval":60,
    "value":{"valueType":"Quantity","valueName":"hr","unit":"count/min"}})");
  auto g = Group("hr", {{"2019-01-01T00:00:00Z", "60"}});
  auto og = *BuildObservationGroups(g, quantity.period);
  ObservationWriter writer(&client);
  ASSERT_TRUE(writer.Save(quantity, og[0], "hr", kRefs, 0).ok());
  // The mapping changed to SampledData: the Observation written as Quantity
  // is not turned into another type.
  FhirTemplate sampled = Load(kHourly);
  auto failed = writer.Save(sampled, og[0], "hr", kRefs, 0);
  EXPECT_EQ(failed.status().error_name(), "FhirDataMappingException");
  EXPECT_NE(failed.status().message().find("valueQuantity"), std::string::npos);
}

TEST(ObservationWriter, SaveManyCreatesMergesAndKeepsOrder) {
  store::MemoryFhirClient client;
  ObservationWriter writer(&client);
  FhirTemplate hourly = Load(kHourly);
  FhirTemplate instant = Load(R"({"typeName":"hr","codes":[],"value":{"valueType":"Quantity","valueName":"hr"}})");
  // Hour 00 exists already; hour 01 is new; two readings of the same second
  // (instant template) share one Observation: the second merges into the first.
  auto existing = Group("hr", {{"2019-01-01T00:00:00Z", "60"}});
  ASSERT_TRUE(writer.Save(hourly, BuildObservationGroups(existing, hourly.period)->at(0), "hr", kRefs, 0).ok());
  auto g00 = Group("hr", {{"2019-01-01T00:01:00Z", "61"}});
  auto g01 = Group("hr", {{"2019-01-01T01:00:00Z", "62"}});
  auto same_second = Group("hr", {{"2019-01-01T02:00:00.100Z", "1"}, {"2019-01-01T02:00:00.900Z", "2"}});
  auto og00 = *BuildObservationGroups(g00, hourly.period);
  auto og01 = *BuildObservationGroups(g01, hourly.period);
  auto og_same = *BuildObservationGroups(same_second, instant.period);
  ASSERT_EQ(og_same.size(), 2u);
  std::vector<ObservationWriter::SaveRequest> requests{
      {&hourly, &og00[0], "hr", &kRefs},     {&hourly, &og01[0], "hr", &kRefs}, {&instant, &og_same[0], "hr", &kRefs},
      {&instant, &og_same[1], "hr", &kRefs}, {&hourly, &og00[0], "hr", &kRefs},  // the same again: nothing to change
  };
  auto results = writer.SaveMany(requests, 1);
  ASSERT_EQ(results.size(), 5u);
  for (const auto& r : results)
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(results[0]->outcome, SaveOutcome::kUpdated);
  EXPECT_EQ(results[1]->outcome, SaveOutcome::kCreated);
  EXPECT_EQ(results[2]->outcome, SaveOutcome::kCreated);
  EXPECT_EQ(results[3]->outcome, SaveOutcome::kUpdated);
  EXPECT_EQ(results[4]->outcome, SaveOutcome::kUnchanged);
  EXPECT_EQ(results[2]->id, results[3]->id);
  auto merged = client.Read("Observation", results[3]->id);
  EXPECT_NE((*merged)->json.find(R"("valueQuantity":{"value":2})"), std::string::npos) << (*merged)->json;
  EXPECT_NE((*client.Read("Observation", results[0]->id))->json.find(R"("data":"60 61 E)"), std::string::npos);
}

TEST(ObservationWriter, SaveManyRetriesALostRaceAlone) {
  FhirTemplate t = Load(kHourly);
  RacyClient client(1);
  ObservationWriter writer(&client);
  auto g1 = Group("hr", {{"2019-01-01T00:00:00Z", "60"}});
  auto g2 = Group("hr", {{"2019-01-01T00:01:00Z", "61"}});
  auto og1 = *BuildObservationGroups(g1, t.period);
  auto og2 = *BuildObservationGroups(g2, t.period);
  ASSERT_TRUE(writer.Save(t, og1[0], "hr", kRefs, 0).ok());
  auto results = writer.SaveMany({{&t, &og2[0], "hr", &kRefs}}, 0);
  ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
  EXPECT_EQ(results[0]->outcome, SaveOutcome::kUpdated);
  EXPECT_EQ(writer.conflicts(), 1);
}

TEST(ObservationWriter, SaveManyFailsOnlyTheAmbiguousOne) {
  store::MemoryFhirClient client;
  FhirTemplate t = Load(kHourly);
  auto g = Group("hr", {{"2019-01-01T00:00:00Z", "60"}});
  auto other = Group("hr", {{"2019-01-01T05:00:00Z", "60"}});
  auto og = *BuildObservationGroups(g, t.period);
  auto og_other = *BuildObservationGroups(other, t.period);
  std::string value = ObservationIdentifierValue(kRefs, "hr", og[0].id_segment);
  for (const char* id : {"x1", "x2"}) {
    ASSERT_TRUE(
        client
            .Put(
                "Observation", id,
                std::string(R"({"resourceType":"Observation","id":")") + id +
                    R"(","identifier":[{"system":"https://azure.microsoft.com/en-us/services/iomt-fhir-connector/","value":")" +
                    value + R"("}]})",
                std::nullopt)
            .ok());
  }
  ObservationWriter writer(&client);
  auto results = writer.SaveMany({{&t, &og[0], "hr", &kRefs}, {&t, &og_other[0], "hr", &kRefs}}, 0);
  EXPECT_EQ(results[0].status().error_name(), "MultipleResourceFoundException");
  ASSERT_TRUE(results[1].ok());
  EXPECT_EQ(results[1]->outcome, SaveOutcome::kCreated);
}

// Counts the writes SaveMany makes, and the text each carries.
class WriteSizes : public store::MemoryFhirClient {
 public:
  Result<std::vector<Result<store::Resource>>> PutMany(std::vector<store::PutRequest> requests) override {
    std::size_t bytes = 0;
    for (const store::PutRequest& r : requests)
      bytes += r.json.size();
    writes.push_back(bytes);
    largest = std::max(largest, requests.empty() ? 0 : requests.front().json.size());
    return MemoryFhirClient::PutMany(std::move(requests));
  }
  std::vector<std::size_t> writes;  // bytes of each PutMany
  std::size_t largest = 0;
};

TEST(ObservationWriter, SaveManyWritesABigBatchInPartsOfBoundedSize) {
  FhirTemplate t = Load(kHourly);
  // 500 hourly Observations (one an hour), then readings for the same hours
  // again: created in parts, then merged in parts.
  std::vector<group::MeasurementGroup> first, second;
  for (int h = 0; h < 500; ++h) {
    char hour[32];
    std::snprintf(hour, sizeof(hour), "2019-01-%02dT%02d:", 1 + h / 24, h % 24);
    first.push_back(Group("hr", {{std::string(hour) + "00:00Z", "60"}}));
    second.push_back(Group("hr", {{std::string(hour) + "30:00Z", "61"}}));
  }
  constexpr std::size_t kWriteBytes = 20'000;
  WriteSizes client;
  ObservationWriter writer(&client, 10'000, std::size_t{32} << 20, kWriteBytes);
  for (const auto* groups : {&first, &second}) {
    std::vector<std::vector<ObservationGroup>> built;
    built.reserve(groups->size());
    for (const auto& g : *groups)
      built.push_back(*BuildObservationGroups(g, t.period));
    std::vector<ObservationWriter::SaveRequest> requests;
    for (const auto& og : built)
      requests.push_back({&t, &og.at(0), "hr", &kRefs});
    client.writes.clear();
    auto results = writer.SaveMany(requests, 0);
    ASSERT_EQ(results.size(), 500u);
    for (const auto& r : results) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->outcome, groups == &first ? SaveOutcome::kCreated : SaveOutcome::kUpdated);
    }
    // Several writes, each stopping once it holds kWriteBytes (so at most
    // one Observation beyond them), together everything.
    EXPECT_GT(client.writes.size(), 3u);
    for (std::size_t bytes : client.writes)
      EXPECT_LT(bytes, kWriteBytes + 2 * client.largest);
  }
  EXPECT_EQ(client.size(), 500u);
  // Each hour's Observation holds both readings.
  auto one = BuildObservationGroups(second[7], t.period);
  auto stored =
      client.SearchByIdentifier("Observation", "https://azure.microsoft.com/en-us/services/iomt-fhir-connector/",
                                ObservationIdentifierValue(kRefs, "hr", one->at(0).id_segment), 2);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  const std::string& json = stored->front().json;
  EXPECT_NE(json.find(R"("data":"60 E)"), std::string::npos) << json;
  EXPECT_NE(json.find(" 61 "), std::string::npos) << json;
}

}  // namespace
}  // namespace iomt::fhir
