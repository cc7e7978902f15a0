// Loading rules of the FHIR destination mapping beyond iomt-fhir's fixtures
// (docs/fhir-mappings.md).
#include <gtest/gtest.h>

#include <string>

#include "fhir/fhir_mapping.h"

namespace iomt::fhir {
namespace {

// A collection with one CodeValueFhir template whose body is `body`.
FhirLoadResult LoadOne(const std::string& body) {
  return LoadFhirMapping(R"({"templateType":"CollectionFhir","template":[{"templateType":"CodeValueFhir","template":)" +
                         body + "}]}");
}

std::string Errors(const FhirLoadResult& r) {
  std::string out;
  for (const MappingError& e : r.errors)
    out += e.message + "\n";
  return out;
}

TEST(FhirMapping, PeriodIntervalAsNumberOrName) {
  struct Case {
    std::string json;
    PeriodInterval expect;
  };
  for (const Case& c : {Case{"60", PeriodInterval::kHourly}, Case{"\"Hourly\"", PeriodInterval::kHourly},
                        Case{"\"daily\"", PeriodInterval::kDaily}, Case{"-1", PeriodInterval::kCorrelationId},
                        Case{"\"CorrelationId\"", PeriodInterval::kCorrelationId},
                        Case{"\"1440\"", PeriodInterval::kDaily}, Case{"0", PeriodInterval::kSingle}}) {
    FhirLoadResult r = LoadOne(R"({"typeName":"t","codes":[],"periodInterval":)" + c.json + "}");
    ASSERT_TRUE(r.ok()) << c.json << ": " << Errors(r);
    EXPECT_EQ(r.mapping.templates[0].period, c.expect) << c.json;
  }
  FhirLoadResult absent = LoadOne(R"({"typeName":"t","codes":[]})");
  EXPECT_EQ(absent.mapping.templates[0].period, PeriodInterval::kSingle);
}

TEST(FhirMapping, UnsupportedPeriodLoadsWithAWarning) {
  // iomt-fhir accepts any integer and fails at transform time; the other
  // templates of the file keep working, so this is a warning.
  FhirLoadResult r = LoadOne(R"({"typeName":"t","codes":[],"periodInterval":30})");
  ASSERT_TRUE(r.ok()) << Errors(r);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].message.find("ObservationPeriodInterval 30 is not supported"), std::string::npos);
  EXPECT_EQ(static_cast<int>(r.mapping.templates[0].period), 30);

  FhirLoadResult bad = LoadOne(R"({"typeName":"t","codes":[],"periodInterval":"Weekly"})");
  EXPECT_EQ(
      Errors(bad),
      "Error converting value \"Weekly\" to type 'Microsoft.Health.Fhir.Ingest.Template.ObservationPeriodInterval'.\n");
}

TEST(FhirMapping, LookupIgnoresCase) {
  FhirLoadResult r = LoadFhirMapping(R"({"templateType":"CollectionFhir","template":[
    {"templateType":"CodeValueFhir","template":{"typeName":"HeartRate","codes":[]}},
    {"templateType":"codevaluefhirtemplate","template":{"typeName":"steps","codes":[]}}]})");
  ASSERT_TRUE(r.ok()) << Errors(r);
  ASSERT_NE(r.mapping.Find("heartrate"), nullptr);
  EXPECT_EQ(r.mapping.Find("HEARTRATE")->type_name, "HeartRate");
  EXPECT_EQ(r.mapping.Find("Steps")->type_name, "steps");
  EXPECT_EQ(r.mapping.Find("step"), nullptr);
}

TEST(FhirMapping, DuplicatesIgnoreCaseAndKeepTheFirst) {
  FhirLoadResult r = LoadFhirMapping(R"({"templateType":"CollectionFhir","template":[
    {"templateType":"CodeValueFhir","template":{"typeName":"hr","codes":[],"periodInterval":60}},
    {"templateType":"CodeValueFhir","template":{"typeName":"HR","codes":[]}}]})");
  EXPECT_EQ(Errors(r), "Duplicate template defined for type name: 'HR'\n");
  ASSERT_EQ(r.mapping.templates.size(), 1u);
  EXPECT_EQ(r.mapping.Find("hr")->period, PeriodInterval::kHourly);
}

TEST(FhirMapping, UnknownMembersAreErrorsExceptInsideValue) {
  FhirLoadResult r = LoadOne(R"({"typeName":"t","codes":[{"code":"c","sytem":"s"}],"colour":"red",
    "value":{"valueType":"Quantity","valueName":"v","comment":"ignored","UNIT":"kg"}})");
  // A template's own members are checked before the objects inside it.
  EXPECT_EQ(Errors(r),
            "Could not find member 'colour' on object of type 'CodeValueFhirTemplate'.\n"
            "Could not find member 'sytem' on object of type 'FhirCode'.\n");
  FhirLoadResult ok = LoadOne(R"({"typeName":"t","codes":[],
    "value":{"valueType":"quantity","VALUENAME":"v","comment":"ignored","UNIT":"kg"}})");
  ASSERT_TRUE(ok.ok()) << Errors(ok);
  EXPECT_EQ(ok.mapping.templates[0].value->unit, "kg");
  EXPECT_EQ(ok.mapping.templates[0].value->value_name, "v");
  EXPECT_EQ(ok.mapping.templates[0].value->kind, ValueKind::kQuantity);
}

TEST(FhirMapping, ValueTypeIsFoundUnderTwoSpellingsOnly) {
  EXPECT_EQ(Errors(LoadOne(R"({"typeName":"t","codes":[],"value":{"VALUETYPE":"String","valueName":"v"}})")),
            "Property ValueType is missing.\n");
  EXPECT_TRUE(LoadOne(R"({"typeName":"t","codes":[],"value":{"ValueType":"String","valueName":"v"}})").ok());
  EXPECT_EQ(Errors(LoadOne(R"({"typeName":"t","codes":[],"value":{"valueType":"Integer","valueName":"v"}})")),
            "Integer\n");
}

TEST(FhirMapping, RequiredMembers) {
  EXPECT_EQ(Errors(LoadOne(R"({"typeName":"t"})")), "Required property 'Codes' not found in JSON.\n");
  EXPECT_EQ(Errors(LoadOne(R"({"typeName":"t","codes":[],"components":[{"value":null}]})")),
            "Required property 'Codes' not found in JSON.\n");
  EXPECT_EQ(Errors(LoadOne(R"({"typeName":"t","codes":[],"category":[{"text":"x"}]})")),
            "Required property 'Codes' not found in JSON.\n");
  EXPECT_EQ(
      Errors(LoadOne(R"({"codes":null})")),
      "Required property 'Codes' expects a value but got null.\nRequired property 'TypeName' not found in JSON.\n");
  EXPECT_EQ(Errors(LoadOne(R"({"typeName":"","codes":[]})")), "Empty type name is not allowed: ''\n");
}

TEST(FhirMapping, DefaultPeriod) {
  FhirLoadResult r = LoadOne(R"({"typeName":"t","codes":[],"value":{"valueType":"SampledData","valueName":"v",
    "defaultPeriod":"1000.5"}})");
  ASSERT_TRUE(r.ok()) << Errors(r);
  EXPECT_EQ(r.mapping.templates[0].value->default_period, "1000.5");
  EXPECT_EQ(r.mapping.templates[0].value->period_ticks, 10'005'000);

  FhirLoadResult missing =
      LoadOne(R"({"typeName":"t","codes":[],"value":{"valueType":"SampledData","valueName":"v"}})");
  ASSERT_TRUE(missing.ok());
  ASSERT_EQ(missing.warnings.size(), 1u);
  EXPECT_NE(missing.warnings[0].message.find("has no defaultPeriod"), std::string::npos);

  EXPECT_NE(Errors(LoadOne(R"({"typeName":"t","codes":[],"value":{"valueType":"SampledData","valueName":"v",
    "defaultPeriod":0}})"))
                .find("must be a number of milliseconds greater than 0"),
            std::string::npos);
  EXPECT_EQ(Errors(LoadOne(R"({"typeName":"t","codes":[],"value":{"valueType":"SampledData","valueName":"v",
    "defaultPeriod":"fast"}})")),
            "Could not convert string to decimal: fast.\n");
}

TEST(FhirMapping, EveryErrorHasAPosition) {
  FhirLoadResult r = LoadFhirMapping(
      "{\"templateType\":\"CollectionFhir\",\"template\":[\n"
      "{\"templateType\":\"CodeValueFhir\",\"template\":{\"typeName\":\"a\",\n"
      "\"codes\":[], \"value\": {\"valueType\":\"Nope\"}}}]}");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].pos.line, 3);
  EXPECT_EQ(r.errors[0].ToIomtFhirString(), "Line Number: 3, Position: 40. Nope");
}

TEST(FhirMapping, SyntaxErrors) {
  FhirLoadResult r = LoadFhirMapping("{\"templateType\":\"CollectionFhir\",\n\"template\":[}");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].pos.line, 2);
}

}  // namespace
}  // namespace iomt::fhir
