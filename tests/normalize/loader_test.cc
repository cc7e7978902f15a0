// Loading and validating device mappings: every problem, with its position
// and iomt-fhir's message text.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "normalize/device_mapping.h"

namespace iomt::normalize {
namespace {

std::string Collection(const std::string& entries) {
  return R"({"templateType": "CollectionContent", "template": [)" + entries + "]}";
}

// "line:column message" for each error.
std::vector<std::string> Errors(const std::string& text) {
  std::vector<std::string> out;
  for (const MappingError& e : LoadDeviceMapping(text).errors) {
    out.push_back(std::to_string(e.pos.line) + ":" + std::to_string(e.pos.column) + " " + e.message);
  }
  return out;
}

std::string JoinErrors(const std::string& text) {
  std::string s;
  for (const std::string& e : Errors(text))
    s += e + "\n";
  return s;
}

TEST(DeviceMappingLoader, AcceptsEveryTemplateTypeAndItsNameVariants) {
  std::string jsonpath = R"({"typeName": "hr", "typeMatchExpression": "$..[?(@hr)]", "deviceIdExpression": "$.d",
                             "timestampExpression": "$.t", "values": [{"valueName": "hr", "valueExpression": "$.hr"}]})";
  std::string iot = R"({"typeName": "hr", "typeMatchExpression": "$..[?(@Body.hr)]",
                        "values": [{"valueName": "hr", "valueExpression": "$.Body.hr", "required": true}]})";
  std::string calc =
      R"j({"typeName": "hr", "typeMatchExpression": "$..[?(@hr)]", "deviceIdExpression": "$.matchedToken.d",
                         "timestampExpression": {"value": "fromUnixTimestamp(matchedToken.t)", "language": "JmesPath"}})j";
  for (const char* type : {"JsonPathContent", "jsonpathcontent", "JsonPathContentTemplate"}) {
    EXPECT_TRUE(LoadDeviceMapping(
                    Collection(std::string(R"({"templateType": ")") + type + R"(", "template": )" + jsonpath + "}"))
                    .ok())
        << type;
  }
  for (const char* type : {"IotJsonPathContent", "IotJsonPathContentTemplate", "IotCentralJsonPathContent"}) {
    EXPECT_TRUE(
        LoadDeviceMapping(Collection(std::string(R"({"templateType": ")") + type + R"(", "template": )" + iot + "}"))
            .ok())
        << type;
  }
  LoadResult r = LoadDeviceMapping(Collection(R"({"templateType": "CalculatedContent", "template": )" + calc + "}"));
  ASSERT_TRUE(r.ok()) << r.errors.front().message;
  // A CalculatedContent without values describes an event with no value.
  EXPECT_TRUE(r.mapping.templates[0].values.empty());
  EXPECT_EQ(r.mapping.templates[0].timestamp->language(), Language::kJmesPath);
  // These two do not take the "Template" suffix.
  EXPECT_EQ(Errors(Collection(R"({"templateType": "CalculatedContentTemplate", "template": )" + calc + "}")),
            std::vector<std::string>{"1:95 No match found for template type CalculatedContentTemplate."});
  EXPECT_FALSE(
      LoadDeviceMapping(Collection(R"({"templateType": "IotCentralJsonPathContentTemplate", "template": )" + iot + "}"))
          .ok());
}

TEST(DeviceMappingLoader, IotTemplatesFixTheirDeviceIdAndTimestamp) {
  LoadResult r = LoadDeviceMapping(Collection(R"({"templateType": "IotJsonPathContent", "template": {
      "typeName": "hr", "typeMatchExpression": "$..[?(@Body.hr)]",
      "deviceIdExpression": "$.ignored", "timestampExpression": "$.ignored"}})"));
  ASSERT_TRUE(r.ok());
  const ContentTemplate& t = r.mapping.templates[0];
  EXPECT_EQ(t.device_id->text(), "$.SystemProperties.iothub-connection-device-id");
  EXPECT_EQ(t.timestamp->text(), "$.Properties.iothub-creation-time-utc");
  EXPECT_EQ(t.alternate_timestamp->text(), "$.SystemProperties.iothub-enqueuedtime");
  r = LoadDeviceMapping(Collection(R"({"templateType": "IotCentralJsonPathContent", "template": {
      "typeName": "t", "typeMatchExpression": "$..[?(@telemetry)]"}})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.mapping.templates[0].device_id->text(), "$.deviceId");
  EXPECT_EQ(r.mapping.templates[0].timestamp->text(), "$.enqueuedTime");
}

TEST(DeviceMappingLoader, ReportsEveryErrorWithItsPosition) {
  std::string text = R"({
  "templateType": "CollectionContent",
  "template": [
    {
      "templateType": "JsonPathContent",
      "template": {
        "typeName": "hr",
        "typeMatchExpresion": "$..[?(@hr)]",
        "values": [ { "valueName": "hr", "required": "maybe" } ]
      }
    },
    { "templateType": "Nope", "template": {} },
    { "templateType": "CalculatedContent", "template": [] },
    {
      "templateType": "CalculatedContent",
      "template": {
        "typeName": "x",
        "typeMatchExpression": { "value": "Body[?", "language": "JmesPath" },
        "deviceIdExpression": "$.[",
        "timestampExpression": null
      }
    }
  ]
})";
  EXPECT_EQ(JoinErrors(text),
            "8:29 Could not find member 'typeMatchExpresion' on object of type 'JsonPathContentTemplate'.\n"
            "6:19 Required property 'TypeMatchExpression' not found in JSON.\n"
            "6:19 Required property 'DeviceIdExpression' not found in JSON.\n"
            "6:19 Required property 'TimestampExpression' not found in JSON.\n"
            "9:21 Required property 'ValueExpression' not found in JSON.\n"
            "9:60 Could not convert string to boolean: maybe.\n"
            "12:28 No match found for template type Nope.\n"
            "13:56 Expected an object for the template property value for template type CalculatedContent.\n"
            "20:35 Required property 'TimestampExpression' expects a value but got null.\n"
            "18:50 The following JmesPath expression could not be parsed: Body[?. Cause: unexpected end of expression\n"
            "19:35 The following JsonPath expression could not be parsed: $.[. Cause: Path ended with open indexer.\n");
}

TEST(DeviceMappingLoader, RootProblems) {
  EXPECT_EQ(Errors("[]"), std::vector<std::string>{"1:1 Cannot deserialize the current JSON array into type "
                                                   "'TemplateContainer' because the type requires a JSON object "
                                                   "(e.g. {\"name\":\"value\"}) to deserialize correctly."});
  EXPECT_EQ(
      Errors(R"({"templateType": "CollectionFhir", "template": []})"),
      std::vector<std::string>{"1:33 Expected TemplateType value CollectionContentTemplate, actual CollectionFhir."});
  EXPECT_EQ(Errors(R"({"template": []})"),
            std::vector<std::string>{"1:1 Expected TemplateType value CollectionContentTemplate, actual Not Found."});
  EXPECT_EQ(Errors(R"({"templateType": "collectionContent", "template": {}})"),
            std::vector<std::string>{"1:51 Expected an array for the template property value for template type "
                                     "CollectionContentTemplate."});
  EXPECT_EQ(Errors("{\"templateType\": \"CollectionContent\",\n \"template\": [}"),
            std::vector<std::string>{"2:15 Unexpected character encountered while parsing value: }. Path "
                                     "'template', line 2, position 15."});
  // A byte-order mark is accepted; an empty collection is valid.
  EXPECT_TRUE(LoadDeviceMapping("\xEF\xBB\xBF{\"templateType\": \"CollectionContent\", \"template\": []}").ok());
}

TEST(DeviceMappingLoader, ExpressionsInObjectFormAndDefaultLanguage) {
  LoadResult r = LoadDeviceMapping(Collection(R"({"templateType": "CalculatedContent", "template": {
      "typeName": "hr", "defaultExpressionLanguage": "JmesPath",
      "typeMatchExpression": "Body[?hr]", "deviceIdExpression": {"value": "$.matchedToken.d", "language": "JsonPath"},
      "timestampExpression": {"value": "matchedToken.t"},
      "values": [{"valueName": "hr", "valueExpression": "matchedToken.hr", "required": "true"}]}})"));
  ASSERT_TRUE(r.ok()) << r.errors.front().message;
  const ContentTemplate& t = r.mapping.templates[0];
  EXPECT_EQ(t.type_match->language(), Language::kJmesPath);
  EXPECT_EQ(t.device_id->language(), Language::kJsonPath);
  EXPECT_EQ(t.timestamp->language(), Language::kJmesPath);
  EXPECT_TRUE(t.values[0].required);
  EXPECT_EQ(
      Errors(Collection(R"({"templateType": "CalculatedContent", "template": {
      "typeName": "hr", "typeMatchExpression": {"value": "a", "langage": "JsonPath"},
      "deviceIdExpression": {"language": "Cobol", "value": "x"}, "timestampExpression": {}}})")),
      (std::vector<std::string>{
          "2:72 Could not find member 'langage' on object of type 'TemplateExpression'.",
          "3:48 Error converting value \"Cobol\" to type 'TemplateExpressionLanguage'. Expected JsonPath or JmesPath.",
          "3:89 Required property 'Value' not found in JSON."}));
  // The JsonPath family takes plain strings only.
  EXPECT_EQ(Errors(Collection(R"({"templateType": "JsonPathContent", "template": {
      "typeName": "hr", "typeMatchExpression": {"value": "$..[?(@hr)]"}, "deviceIdExpression": "$.d",
      "timestampExpression": "$.t"}})")),
            std::vector<std::string>{"2:48 Error reading string. Unexpected token: StartObject."});
}

TEST(DeviceMappingLoader, BlankRequiredExpressionsAreReported) {
  EXPECT_EQ(Errors(Collection(R"({"templateType": "JsonPathContent", "template": {
      "typeName": "hr", "typeMatchExpression": " ", "deviceIdExpression": "$.d", "timestampExpression": "$.t"}})")),
            std::vector<std::string>{"2:50 An expression must be set for [TypeMatchExpression]"});
  // Kept on request (iomt-fhir's tests build such templates in code).
  LoadOptions keep;
  keep.keep_incomplete_templates = true;
  LoadResult r = LoadDeviceMapping(Collection(R"({"templateType": "JsonPathContent", "template": {
      "typeName": "hr", "typeMatchExpression": " ", "deviceIdExpression": "$.d", "timestampExpression": "$.t"}})"),
                                   keep);
  EXPECT_EQ(r.mapping.templates.size(), 1u);
}

TEST(DeviceMappingLoader, RendersErrorsTheWayIomtFhirDoes) {
  MappingError e{"Required property 'TypeName' not found in JSON.", {6, 19}};
  EXPECT_EQ(e.ToIomtFhirString(), "Line Number: 6, Position: 19. Required property 'TypeName' not found in JSON.");
}

}  // namespace
}  // namespace iomt::normalize
