// iomt-fhir's grouping, SampledData, FHIR value and end-to-end Observation
// vectors (conformance/iomt-fhir/derived/, MANIFEST.md section 7). Each case
// runs through the same code the pipeline uses.
#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <fstream>
#include <string>

#include "common/datetime.h"
#include "common/json/compare.h"
#include "common/json/node.h"
#include "common/json/writer.h"
#include "common/partition_key.h"
#include "fhir/observation.h"
#include "fhir/observation_group.h"
#include "fhir/sampled_data.h"
#include "group/measurement_group.h"
#include "normalize/device_mapping.h"
#include "normalize/normalizer.h"
#include "test_util.h"

namespace iomt::fhir {
namespace {

using json::Value;

const std::string kDerived = "conformance/iomt-fhir/derived/";

Value Load(const std::string& file) {
  return testing::ParseOrDie(testing::ReadFile(testing::SourcePath(kDerived + file)));
}

std::string Str(const Value& obj, std::string_view key) {
  Value v;
  return obj.Find(key, &v) && v.is_string() ? std::string(v.string_value()) : std::string();
}

std::optional<std::string> OptStr(const Value& obj, std::string_view key) {
  Value v;
  if (obj.Find(key, &v) && v.is_string()) return std::string(v.string_value());
  return std::nullopt;
}

std::int64_t Ticks(std::string_view s) {
  std::int64_t t = 0;
  EXPECT_TRUE(datetime::ParseDateTime(s, &t)) << s;
  return t;
}

std::int64_t Ticks(const Value& v) { return Ticks(v.string_value()); }

// Writes a produced resource where the HL7 schema check reads it
// (IOMT_FHIR_OUT, set by the fhir_outputs test).
void Record(const std::string& resource) {
  const char* dir = std::getenv("IOMT_FHIR_OUT");
  if (dir == nullptr) return;
  std::ofstream out(std::string(dir) + "/fhir_conformance.ndjson", std::ios::app);
  out << resource << "\n";
}

group::MeasurementGroup GroupFrom(const Value& g) {
  group::MeasurementGroup group;
  group.type = Str(g, "MeasureType");
  group.correlation_id = OptStr(g, "CorrelationId");
  Value data;
  if (g.Find("Data", &data)) {
    for (Value m : data.elements()) {
      OwnedMeasurement o;
      o.type = group.type;
      o.occurrence_ticks = Ticks(Str(m, "OccurrenceTimeUtc"));
      Value props;
      if (m.Find("Properties", &props)) {
        for (Value p : props.elements())
          o.properties.push_back({Str(p, "Name"), Str(p, "Value")});
      }
      group.data.push_back(std::move(o));
    }
  }
  return group;
}

PeriodInterval Period(const Value& c) {
  Value p;
  EXPECT_TRUE(c.Find("periodInterval", &p));
  return static_cast<PeriodInterval>(p.int_value());
}

TEST(FhirConformance, ObservationGroups) {
  Value cases;
  ASSERT_TRUE(Load("grouping_cases.json").Find("cases", &cases));
  int n = 0;
  for (Value c : cases.elements()) {
    ++n;
    SCOPED_TRACE(Str(c, "id"));
    Value g, expect;
    ASSERT_TRUE(c.Find("measurementGroup", &g));
    ASSERT_TRUE(c.Find("expectObservationGroups", &expect));
    group::MeasurementGroup group = GroupFrom(g);
    auto groups = BuildObservationGroups(group, Period(c));
    Value error;
    if (expect.Find("error", &error)) {
      ASSERT_FALSE(groups.ok());
      EXPECT_EQ(groups.status().error_name(), Str(error, "exception"));
      continue;
    }
    ASSERT_TRUE(groups.ok()) << groups.status().ToString();
    ASSERT_EQ(groups->size(), expect.size());
    std::size_t i = 0;
    for (Value e : expect.elements()) {
      const ObservationGroup& og = (*groups)[i++];
      EXPECT_EQ(datetime::FormatRoundTrip(og.start), Str(e, "boundaryStart"));
      EXPECT_EQ(datetime::FormatRoundTrip(og.end), Str(e, "boundaryEnd"));
      EXPECT_EQ(og.id_segment, Str(e, "idSegment"));
      Value values;
      ASSERT_TRUE(e.Find("values", &values));
      EXPECT_EQ(og.properties.size(), values.size());
      for (auto [name, series] : values.members()) {
        const std::vector<TimeValue>* got = og.Values(name);
        ASSERT_NE(got, nullptr) << name;
        ASSERT_EQ(got->size(), series.size()) << name;
        std::size_t k = 0;
        for (Value tv : series.elements()) {
          EXPECT_EQ((*got)[k].ticks, Ticks(tv.ElementAt(0))) << name << "[" << k << "]";
          EXPECT_EQ((*got)[k].value, tv.ElementAt(1).string_value()) << name << "[" << k << "]";
          ++k;
        }
      }
    }
  }
  EXPECT_EQ(n, 7);
}

TEST(FhirConformance, BatchGroupingDropsDuplicates) {
  Value cases;
  ASSERT_TRUE(Load("grouping_cases.json").Find("batchCases", &cases));
  for (Value c : cases.elements()) {
    SCOPED_TRACE(Str(c, "id"));
    Value events, expect;
    ASSERT_TRUE(c.Find("normalizedEvents", &events));
    ASSERT_TRUE(c.Find("expectMeasurementGroups", &expect));
    std::vector<OwnedMeasurement> batch;
    for (Value e : events.elements()) {
      OwnedMeasurement m;
      ASSERT_TRUE(ReadMeasurementJson(e, &m).ok());
      batch.push_back(std::move(m));
    }
    std::vector<group::MeasurementGroup> groups = group::GroupBatch(std::move(batch));
    ASSERT_EQ(groups.size(), expect.size());
    std::size_t i = 0;
    for (Value e : expect.elements()) {
      const group::MeasurementGroup& g = groups[i++];
      EXPECT_EQ(g.type, Str(e, "MeasureType"));
      EXPECT_EQ(g.device_id, OptStr(e, "DeviceId"));
      EXPECT_EQ(g.patient_id, OptStr(e, "PatientId"));
      EXPECT_EQ(g.encounter_id, OptStr(e, "EncounterId"));
      EXPECT_EQ(g.correlation_id, OptStr(e, "CorrelationId"));
      Value data;
      ASSERT_TRUE(e.Find("Data", &data));
      ASSERT_EQ(g.data.size(), data.size());
      std::size_t k = 0;
      for (Value d : data.elements()) {
        EXPECT_EQ(g.data[k].occurrence_ticks, Ticks(Str(d, "OccurrenceTimeUtc")));
        ASSERT_TRUE(g.data[k].ingestion_ticks.has_value());
        EXPECT_EQ(*g.data[k].ingestion_ticks, Ticks(Str(d, "IngestionTimeUtc")));
        ++k;
      }
    }
  }
}

// The values point into `keep`, whose strings never move.
std::vector<TimeValue> TimeValues(const Value& list, std::deque<std::string>* keep) {
  std::vector<TimeValue> out;
  for (Value tv : list.elements()) {
    keep->push_back(std::string(tv.ElementAt(1).string_value()));
    out.push_back({Ticks(tv.ElementAt(0)), keep->back()});
  }
  return out;
}

TEST(FhirConformance, SampledDataStreams) {
  Value cases;
  ASSERT_TRUE(Load("sampleddata_cases.json").Find("cases", &cases));
  int n = 0;
  for (Value c : cases.elements()) {
    ++n;
    SCOPED_TRACE(Str(c, "id"));
    std::string op = Str(c, "op");
    std::deque<std::string> keep;
    Value v;
    if (op == "build") {
      ASSERT_TRUE(c.Find("values", &v));
      std::vector<TimeValue> values = TimeValues(v, &keep);
      ASSERT_TRUE(c.Find("periodMs", &v));
      std::string out;
      BuildSampledData(values, Ticks(Str(c, "start")), Ticks(Str(c, "end")),
                       v.int_value() * datetime::kTicksPerMillisecond, &out);
      EXPECT_EQ(out, Str(c, "expect"));
    } else if (op == "toTimeValues") {
      ASSERT_TRUE(c.Find("periodMs", &v));
      std::string stream = Str(c, "stream");
      std::vector<TimeValue> out;
      SampledDataToTimeValues(stream, Ticks(Str(c, "start")), v.int_value() * datetime::kTicksPerMillisecond, &out);
      ASSERT_TRUE(c.Find("expect", &v));
      std::vector<TimeValue> expect = TimeValues(v, &keep);
      ASSERT_EQ(out.size(), expect.size());
      for (std::size_t i = 0; i < out.size(); ++i) {
        EXPECT_EQ(out[i].ticks, expect[i].ticks);
        EXPECT_EQ(out[i].value, expect[i].value);
      }
    } else if (op == "merge") {
      Value existing, newer, expect;
      ASSERT_TRUE(c.Find("existing", &existing));
      ASSERT_TRUE(c.Find("new", &newer));
      ASSERT_TRUE(c.Find("expect", &expect));
      std::vector<TimeValue> a = TimeValues(existing, &keep), b = TimeValues(newer, &keep),
                             e = TimeValues(expect, &keep);
      std::vector<TimeValue> out;
      MergeTimeValues(a, b, &out);
      ASSERT_EQ(out.size(), e.size());
      for (std::size_t i = 0; i < out.size(); ++i) {
        EXPECT_EQ(out[i].ticks, e[i].ticks);
        EXPECT_EQ(out[i].value, e[i].value);
      }
    } else {
      ADD_FAILURE() << "unknown op " << op;
    }
  }
  EXPECT_EQ(n, 16);
}

// A one-template mapping whose value is `value_template` (read by the
// mapping loader, as a user's file would be), reading property "v".
FhirTemplate TemplateWithValue(const Value& value_template, PeriodInterval period = PeriodInterval::kHourly) {
  std::string text = R"({"templateType":"CodeValueFhir","template":{"typeName":"t","codes":[],"periodInterval":)" +
                     std::to_string(static_cast<int>(period)) + R"(,"value":)";
  json::Node value = json::Node::From(value_template);
  value.Set("valueName", json::Node::String("v"));
  text += value.ToJson() + "}}";
  FhirLoadResult r = LoadCodeValueFhirTemplate(text);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].message);
  return r.mapping.templates.empty() ? FhirTemplate{} : r.mapping.templates[0];
}

const std::int64_t kHour = Ticks("2019-01-01T00:00:00Z");

// The observation group of hour kHour with property "v" = `data`, one value
// a second.
ObservationGroup GroupWithValues(const Value& data) {
  ObservationGroup g;
  g.start = kHour;
  g.end = kHour + datetime::kTicksPerHour - 1;
  g.id_segment = TimeIdSegment(g.start, g.end);
  g.properties.push_back({"v", {}});
  std::int64_t t = kHour;
  for (Value d : data.elements()) {
    g.properties[0].values.push_back({t, d.string_value()});
    t += datetime::kTicksPerSecond;
  }
  return g;
}

// The value[x] member of an Observation, as {"valueX": ...}.
std::string ValueOf(const json::Node& obs) {
  json::Node out = json::Node::Object();
  for (const json::Node::Member& m : obs.members()) {
    if (m.first.rfind("value", 0) == 0) out.Set(m.first, m.second);
  }
  return out.ToJson();
}

// iomt-fhir's NotSupportedException is a FhirDataMappingException in iomt's
// catalogue (errors.md: "a type clash with the existing Observation").
std::string CatalogueName(const std::string& exception) {
  return exception == "NotSupportedException" ? "FhirDataMappingException" : exception;
}

TEST(FhirConformance, ValueProcessors) {
  Value cases;
  ASSERT_TRUE(Load("fhir_cases.json").Find("valueProcessorCases", &cases));
  int n = 0;
  const ObservationRefs refs{"pat-1", "dev-1", std::nullopt};
  for (Value c : cases.elements()) {
    ++n;
    std::string id = Str(c, "id");
    SCOPED_TRACE(id);
    Value value_template, data, expect, existing;
    if (id == "sampleddata.merge_range_rule") {
      // The rebuild range and the widened period cover both periods.
      Value ranges;
      ASSERT_TRUE(c.Find("cases", &ranges));
      Value with_period = testing::ParseOrDie(R"({"valueType":"SampledData","defaultPeriod":3600000})");
      FhirTemplate daily = TemplateWithValue(with_period);
      for (Value r : ranges.elements()) {
        Value data_period, obs_period, rebuild;
        ASSERT_TRUE(r.Find("dataPeriod", &data_period) && r.Find("observationPeriod", &obs_period) &&
                    r.Find("rebuildRange", &rebuild));
        ObservationGroup g;
        g.start = Ticks(data_period.ElementAt(0));
        g.end = Ticks(data_period.ElementAt(1));
        g.properties.push_back({"v", {{g.start, "1"}}});
        json::Node obs = *json::ParseNode(
            R"({"resourceType":"Observation","status":"final","effectivePeriod":{"start":")" +
            std::string(obs_period.ElementAt(0).string_value()) + R"(","end":")" +
            std::string(obs_period.ElementAt(1).string_value()) +
            R"("},"valueSampledData":{"origin":{"value":0},"period":3600000,"dimensions":1,"data":"E"}})");
        auto merged = MergeObservation(daily, g, obs);
        ASSERT_TRUE(merged.ok()) << merged.status().ToString();
        json::Node out = *json::ParseNode(merged->json);
        EXPECT_EQ(Ticks(out.Find("effectivePeriod")->Find("start")->text()), Ticks(rebuild.ElementAt(0)));
        EXPECT_EQ(Ticks(out.Find("effectivePeriod")->Find("end")->text()), Ticks(rebuild.ElementAt(1)));
        // One slot an hour from the rebuild start, the new reading in the first.
        std::int64_t hours = (Ticks(rebuild.ElementAt(1)) - Ticks(rebuild.ElementAt(0))) / datetime::kTicksPerHour + 1;
        std::string stream = out.Find("valueSampledData")->Find("data")->text();
        EXPECT_EQ(static_cast<std::int64_t>(std::count(stream.begin(), stream.end(), ' ') + 1), hours) << stream;
      }
      continue;
    }
    ASSERT_TRUE(c.Find("valueTemplate", &value_template));
    FhirTemplate t = TemplateWithValue(value_template);
    ObservationGroup g = c.Find("data", &data) ? GroupWithValues(data) : ObservationGroup{};
    if (!c.Find("data", &data)) {
      // SampledData cases without data: one reading at the start of the hour.
      g = GroupWithValues(testing::ParseOrDie(R"(["1"])"));
    }
    ASSERT_TRUE(c.Find("expect", &expect));
    Result<std::string> produced = std::string();
    if (c.Find("existing", &existing)) {
      json::Node obs = *json::ParseNode(
          R"({"resourceType":"Observation","status":"final","effectivePeriod":{"start":"2019-01-01T00:00:00.0000000Z","end":"2019-01-01T00:59:59.9999999Z"}})");
      for (auto [key, value] : existing.members())
        obs.Set(key, json::Node::From(value));
      auto merged = MergeObservation(t, g, obs);
      produced = merged.ok() ? Result<std::string>(merged->json) : Result<std::string>(merged.status());
    } else {
      // The value processor on its own (a group with no reading for a value
      // does not reach it), then in a whole Observation.
      produced = ValueJson(*t.value, *g.Values("v"), g.start, g.end);
      if (produced.ok() && !g.Values("v")->empty()) {
        auto created = CreateObservation(t, g, "t", refs, kHour);
        ASSERT_TRUE(created.ok()) << created.status().ToString();
        Record(created->json);
        EXPECT_EQ(ValueOf(*json::ParseNode(created->json)), *produced);
      }
    }
    Value error;
    if (expect.Find("error", &error)) {
      ASSERT_FALSE(produced.ok()) << *produced;
      EXPECT_EQ(produced.status().error_name(), CatalogueName(Str(error, "exception")));
      if (auto message = OptStr(error, "message")) {
        EXPECT_EQ(produced.status().message(), *message);
      }
      continue;
    }
    ASSERT_TRUE(produced.ok()) << produced.status().ToString();
    json::Node obs = *json::ParseNode(*produced);
    std::string where;
    Value expected = expect;
    if (id == "sampleddata.create") {
      // The data is BuildSampledData's (tested above); check the rest.
      expected = testing::ParseOrDie(
          R"({"valueSampledData":{"origin":{"value":0,"unit":"myUnits"},"period":10,"dimensions":1}})");
      EXPECT_EQ(obs.Find("valueSampledData")->Find("data")->text().substr(0, 2), "1 ");
    }
    Value got = testing::ParseOrDie(ValueOf(obs));
    EXPECT_TRUE(testing::JsonContains(got, expected, &where)) << where << "\n" << ValueOf(obs);
    if (id != "sampleddata.create") {
      EXPECT_TRUE(json::DeepEquals(got, expected)) << ValueOf(obs);
    }
  }
  EXPECT_EQ(n, 12);
}

// Everything of `resource` except `issued` (the time it was built).
Value WithoutIssued(const std::string& resource) {
  json::Node node = *json::ParseNode(resource);
  node.Erase("issued");
  return testing::ParseOrDie(node.ToJson());
}

TEST(FhirConformance, DerivedObservations) {
  Value cases;
  ASSERT_TRUE(Load("fhir_cases.json").Find("derivedObservationCases", &cases));
  ASSERT_EQ(cases.size(), 3u);

  {
    // The validator's blood pressure case: device mapping, then FHIR mapping.
    Value c = cases.ElementAt(0);
    SCOPED_TRACE(Str(c, "id"));
    std::string root = "conformance/iomt-fhir/";
    auto device =
        normalize::LoadDeviceMapping(testing::ReadFile(testing::SourcePath(root + Str(c, "deviceMappingFile"))));
    ASSERT_TRUE(device.ok());
    FhirLoadResult fhir_mapping =
        LoadFhirMapping(testing::ReadFile(testing::SourcePath(root + Str(c, "fhirMappingFile"))));
    ASSERT_TRUE(fhir_mapping.ok());
    Value input;
    ASSERT_TRUE(c.Find("input", &input));
    Event event;
    event.value = testing::ParseOrDie(json::ToJson(input));
    normalize::Normalizer normalizer(device.mapping);
    const normalize::NormalizeResult& result = normalizer.Normalize(event, 0);
    ASSERT_FALSE(result.error.has_value()) << result.error->message;
    ASSERT_EQ(result.measurements.size(), 1u);
    std::vector<OwnedMeasurement> batch{OwnedMeasurement::From(result.measurements[0])};
    std::vector<group::MeasurementGroup> groups = group::GroupBatch(std::move(batch));
    ASSERT_EQ(groups.size(), 1u);
    const FhirTemplate* t = fhir_mapping.mapping.Find(groups[0].type);
    ASSERT_NE(t, nullptr);
    auto observation_groups = BuildObservationGroups(groups[0], t->period);
    ASSERT_TRUE(observation_groups.ok());
    ASSERT_EQ(observation_groups->size(), 1u);
    auto obs = CreateObservation(*t, (*observation_groups)[0], groups[0].type, {"pat-1", "dev-1", std::nullopt}, 0);
    ASSERT_TRUE(obs.ok()) << obs.status().ToString();
    Record(obs->json);
    Value expect;
    ASSERT_TRUE(c.Find("expectObservation_withIdentity", &expect));
    ASSERT_TRUE(expect.Find("observation", &expect));
    json::Node expected = json::Node::From(expect);
    expected.Erase("issued");
    EXPECT_TRUE(json::DeepEquals(WithoutIssued(obs->json), testing::ParseOrDie(expected.ToJson()))) << obs->json;
    EXPECT_EQ(obs->id, "dc8f419e8d492524e55eb1ecdd0081b4e23ce2994efb9fa2f9732353f4c56c4f");
    // What the mapping validator shows: the same without identity.
    auto preview = CreateObservationPreview(*t, (*observation_groups)[0], groups[0].type, 0);
    ASSERT_TRUE(preview.ok());
    Value template_only;
    ASSERT_TRUE(c.Find("expectObservation_templateOnly", &template_only));
    json::Node expected_preview = json::Node::From(template_only);
    expected_preview.Erase("issued");
    EXPECT_TRUE(json::DeepEquals(WithoutIssued(*preview), testing::ParseOrDie(expected_preview.ToJson()))) << *preview;
  }
  {
    // A SampledData reading merged into an hourly Observation.
    Value c = cases.ElementAt(1);
    SCOPED_TRACE(Str(c, "id"));
    Value fhir_template, existing, measurements, expect;
    ASSERT_TRUE(c.Find("fhirTemplate", &fhir_template) && c.Find("existingValue", &existing) &&
                c.Find("newMeasurements", &measurements) && c.Find("expect", &expect));
    FhirLoadResult loaded = LoadCodeValueFhirTemplate(json::ToJson(fhir_template));
    ASSERT_TRUE(loaded.ok());
    group::MeasurementGroup group;
    for (Value m : measurements.elements()) {
      OwnedMeasurement o;
      ASSERT_TRUE(ReadMeasurementJson(m, &o).ok());
      group.type = o.type;
      group.data.push_back(std::move(o));
    }
    auto observation_groups = BuildObservationGroups(group, loaded.mapping.templates[0].period);
    ASSERT_TRUE(observation_groups.ok());
    ASSERT_EQ(observation_groups->size(), 1u);
    json::Node obs = json::Node::From(existing);
    obs.Set("resourceType", json::Node::String("Observation"));
    auto merged = MergeObservation(loaded.mapping.templates[0], (*observation_groups)[0], obs);
    ASSERT_TRUE(merged.ok()) << merged.status().ToString();
    EXPECT_TRUE(merged->changed);
    std::string where;
    EXPECT_TRUE(testing::JsonContains(testing::ParseOrDie(merged->json), expect, &where)) << where << "\n"
                                                                                          << merged->json;
    // Merging the same reading again changes nothing: nothing to write.
    auto again =
        MergeObservation(loaded.mapping.templates[0], (*observation_groups)[0], *json::ParseNode(merged->json));
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(again->changed);
  }
  {
    // The Quantity example of Microsoft's documentation.
    Value c = cases.ElementAt(2);
    SCOPED_TRACE(Str(c, "id"));
    Value fhir_template, normalized, expect;
    ASSERT_TRUE(c.Find("fhirTemplate", &fhir_template) && c.Find("normalized", &normalized) &&
                c.Find("expect", &expect));
    FhirLoadResult loaded = LoadCodeValueFhirTemplate(json::ToJson(fhir_template));
    ASSERT_TRUE(loaded.ok());
    OwnedMeasurement m;
    ASSERT_TRUE(ReadMeasurementJson(normalized, &m).ok());
    group::MeasurementGroup group;
    group.type = m.type;
    group.data.push_back(std::move(m));
    auto observation_groups = BuildObservationGroups(group, loaded.mapping.templates[0].period);
    ASSERT_TRUE(observation_groups.ok());
    ASSERT_EQ(observation_groups->size(), 1u);
    auto obs = CreateObservation(loaded.mapping.templates[0], (*observation_groups)[0], group.type,
                                 {"pat-1", "dev-1", std::nullopt}, kHour);
    ASSERT_TRUE(obs.ok()) << obs.status().ToString();
    Record(obs->json);
    EXPECT_EQ((*observation_groups)[0].id_segment, Str(expect, "idSegment"));
    json::Node expected = json::Node::From(expect);
    expected.Erase("idSegment");
    std::string where;
    EXPECT_TRUE(testing::JsonContains(testing::ParseOrDie(obs->json), testing::ParseOrDie(expected.ToJson()), &where))
        << where << "\n"
        << obs->json;
  }
}

TEST(FhirConformance, PartitionKeyHash) {
  Value section, cases;
  ASSERT_TRUE(Load("misc_vectors.json").Find("partitionKeyHash", &section) && section.Find("cases", &cases));
  int n = 0;
  for (Value c : cases.elements()) {
    Value range;
    ASSERT_TRUE(c.Find("range", &range));
    EXPECT_EQ(HashKey(Str(c, "input"), static_cast<int>(range.int_value())), Str(c, "expect")) << Str(c, "input");
    ++n;
  }
  EXPECT_EQ(n, 5);
  EXPECT_EQ(DevicePartitionKey("ABBA"), "32");  // lowered first
}

TEST(FhirConformance, IdentifiersAndIds) {
  Value misc = Load("misc_vectors.json");
  Value section, cases;
  ASSERT_TRUE(misc.Find("resourceIdHash", &section) && section.Find("cases", &cases));
  for (Value c : cases.elements()) {
    EXPECT_EQ(ResourceIdForIdentifier(Str(c, "system"), Str(c, "value")), Str(c, "expect")) << Str(c, "value");
  }
  ASSERT_TRUE(misc.Find("observationIdentifier", &section) && section.Find("cases", &cases));
  for (Value c : cases.elements()) {
    EXPECT_EQ(ObservationIdentifierValue({Str(c, "patientId"), Str(c, "deviceId"), std::nullopt}, Str(c, "name"),
                                         Str(c, "idSegment")),
              Str(c, "expectValue"));
    EXPECT_EQ(kServiceSystem, Str(c, "expectSystem"));
  }
}

}  // namespace
}  // namespace iomt::fhir
