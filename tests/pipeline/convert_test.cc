// The convert stage on bad input: each failing group gets its error record
// from the catalogue, and the other groups go on.
#include <gtest/gtest.h>

#include "common/datetime.h"
#include "pipeline/transform.h"
#include "store/memory/memory_client.h"

namespace iomt::pipeline {
namespace {

const char* kMapping = R"({"templateType":"CollectionFhir","template":[
  {"templateType":"CodeValueFhir","template":{"typeName":"hr","codes":[{"code":"8867-4","system":"http://loinc.org"}],
    "value":{"valueType":"Quantity","valueName":"hr","unit":"count/min"}}},
  {"templateType":"CodeValueFhir","template":{"typeName":"hourlyhr","codes":[],"periodInterval":60,
    "value":{"valueType":"Quantity","valueName":"hr"}}},
  {"templateType":"CodeValueFhir","template":{"typeName":"note","codes":[],"periodInterval":60,
    "value":{"valueType":"String","valueName":"text"}}},
  {"templateType":"CodeValueFhir","template":{"typeName":"stream","codes":[],"periodInterval":60,
    "value":{"valueType":"SampledData","valueName":"v"}}},
  {"templateType":"CodeValueFhir","template":{"typeName":"session","codes":[],"periodInterval":-1,
    "value":{"valueType":"String","valueName":"text"}}},
  {"templateType":"CodeValueFhir","template":{"typeName":"weekly","codes":[],"periodInterval":10080,
    "value":{"valueType":"String","valueName":"text"}}}]})";

OwnedMeasurement M(const std::string& type, const std::string& time, const std::string& name, const std::string& value,
                   const std::string& device = "dev-1", std::optional<std::string> patient = std::string("pat-1")) {
  OwnedMeasurement m;
  m.type = type;
  EXPECT_TRUE(datetime::ParseDateTime(time, &m.occurrence_ticks));
  m.device_id = device;
  m.patient_id = std::move(patient);
  m.properties.push_back({name, value});
  return m;
}

struct Fixture {
  fhir::FhirLoadResult mapping = fhir::LoadFhirMapping(kMapping);
  store::MemoryFhirClient client;
  identity::IdentityResolver resolver{&client, {}};
  fhir::ObservationWriter writer{&client};
  PipelineStats stats;
  GroupConverter converter{mapping.mapping, &resolver, &writer, &stats};

  // The errorName of each failing group, in order; "" for a success.
  std::vector<std::string> Run(std::vector<OwnedMeasurement> batch) {
    std::vector<std::string> out;
    for (const group::MeasurementGroup& g : group::GroupBatch(std::move(batch))) {
      std::optional<ErrorRecord> e = converter.Convert(g, 0);
      out.push_back(e ? std::string(Describe(e->name).name) + ": " + e->message : "");
    }
    return out;
  }
};

TEST(GroupConverter, BadGroupsFailAloneAndTheRestIsWritten) {
  Fixture f;
  ASSERT_TRUE(f.mapping.ok());
  std::vector<std::string> results = f.Run({
      M("hr", "2019-01-01T00:00:00Z", "hr", "78"),                         // fine
      M("hr", "2019-01-01T00:00:01Z", "hr", "seventy", "dev-2"),           // not a number
      M("hourlyhr", "2019-01-01T00:00:00Z", "hr", "70", "dev-3"),          // two readings
      M("hourlyhr", "2019-01-01T00:10:00Z", "hr", "71", "dev-3"),          //   in one hour
      M("note", "2019-01-01T00:00:00Z", "text", "a", "dev-4"),             // two strings
      M("note", "2019-01-01T00:01:00Z", "text", "b", "dev-4"),             //   in one hour
      M("stream", "2019-01-01T00:00:00Z", "v", "1", "dev-5"),              // no defaultPeriod
      M("session", "2019-01-01T00:00:00Z", "text", "x", "dev-6"),          // no correlation id
      M("weekly", "2019-01-01T00:00:00Z", "text", "x", "dev-7"),           // unsupported period
      M("bloodpressure", "2019-01-01T00:00:00Z", "sys", "120", "dev-8"),   // no template
      M("hr", "2019-01-01T00:00:00Z", "hr", "80", "dev-9", std::nullopt),  // no patient in Create
      M("hr", "2019-01-01T00:00:02Z", "hr", "1,234.50", "dev-1"),          // fine: decimal.Parse
  });
  // Groups in order of first appearance; the two hr readings of dev-1 are
  // one group (two Observations: periodInterval 0).
  ASSERT_EQ(results.size(), 9u);
  EXPECT_EQ(results[0], "");
  EXPECT_EQ(results[1], "InvalidQuantityFhirValueException: Error encountered processing value: seventy.");
  EXPECT_EQ(results[2], "InvalidQuantityFhirValueException: Expected 1 value. Received 2.");
  EXPECT_EQ(results[3], "FhirDataMappingException: Expected 1 value for the String value [text]. Received 2.");
  EXPECT_EQ(results[4].substr(0, results[4].find(':')), "FhirDataMappingException");
  EXPECT_NE(results[4].find("defaultPeriod"), std::string::npos);
  EXPECT_EQ(results[5].substr(0, results[5].find(':')), "CorrelationIdNotDefinedException");
  EXPECT_EQ(results[6], "FhirDataMappingException: ObservationPeriodInterval 10080 is not supported.");
  EXPECT_EQ(results[7].substr(0, results[7].find(':')), "TemplateNotFoundException");
  EXPECT_EQ(results[8].substr(0, results[8].find(':')), "PatientIdentityNotDefinedException");

  const PipelineStats& stats = f.stats;
  EXPECT_EQ(stats.groups, 9);
  EXPECT_EQ(stats.failed_groups, 8);
  EXPECT_EQ(stats.created, 2);
  EXPECT_TRUE(stats.errors.empty());  // counted by the caller, with the events the groups fail
  // A group whose FHIR template or grouping fails resolves no identity, so
  // creates no Patient or Device; value errors show when the Observation is
  // built, after identity (as in iomt-fhir).
  EXPECT_TRUE(f.client.SearchByIdentifier("Device", "", "dev-6", 2)->empty());
  EXPECT_TRUE(f.client.SearchByIdentifier("Device", "", "dev-7", 2)->empty());
  EXPECT_TRUE(f.client.SearchByIdentifier("Device", "", "dev-8", 2)->empty());
  EXPECT_EQ(f.resolver.devices_created(), 5);
  // The value with group separators was read as decimal.Parse reads it.
  bool found = false;
  f.client.ForEach([&](std::string_view, const store::Resource& r) {
    if (r.json.find(R"("valueQuantity":{"value":1234.50,"unit":"count/min"})") != std::string::npos) found = true;
  });
  EXPECT_TRUE(found);
}

TEST(GroupConverter, RefusesAGiantSampledDataStream) {
  // A correlation id over two years at 1 s would be 63 million slots.
  fhir::FhirLoadResult mapping = fhir::LoadFhirMapping(R"({"templateType":"CollectionFhir","template":[
    {"templateType":"CodeValueFhir","template":{"typeName":"run","codes":[],"periodInterval":-1,
      "value":{"valueType":"SampledData","valueName":"v","defaultPeriod":1000}}}]})");
  ASSERT_TRUE(mapping.ok());
  store::MemoryFhirClient client;
  identity::IdentityResolver resolver(&client, {});
  fhir::ObservationWriter writer(&client);
  PipelineStats stats;
  GroupConverter converter(mapping.mapping, &resolver, &writer, &stats);
  std::vector<OwnedMeasurement> batch{M("run", "2020-01-01T00:00:00Z", "v", "1"),
                                      M("run", "2021-12-31T00:00:00Z", "v", "2")};
  for (OwnedMeasurement& m : batch)
    m.correlation_id.emplace(1, 'c');
  std::vector<group::MeasurementGroup> groups = group::GroupBatch(std::move(batch));
  ASSERT_EQ(groups.size(), 1u);
  std::optional<ErrorRecord> e = converter.Convert(groups[0], 0);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->name, ErrorName::kFhirDataMapping);
  EXPECT_NE(e->message.find("more than 4000000 slots"), std::string::npos) << e->message;
}

}  // namespace
}  // namespace iomt::pipeline
