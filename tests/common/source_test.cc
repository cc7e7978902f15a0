#include "common/json/source.h"

#include <gtest/gtest.h>

#include "common/json/writer.h"
#include "test_util.h"

namespace iomt::json {
namespace {

const char* kTemplates = "conformance/iomt-fhir/test/Microsoft.Health.Fhir.Ingest.Template.UnitTests/TestInput/";

TEST(SourceParser, ReportsPositionsAsJsonNetDoes) {
  // The positions iomt-fhir's tests assert for this file.
  auto doc = ParseSource(testing::ReadFile(
      testing::SourcePath(std::string(kTemplates) + "data_CollectionContentTemplateMixedValidity.json")));
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  const SourceNode& calc = doc->root.Find("template")->value.items[0].Find("template")->value;
  EXPECT_EQ(calc.pos.line, 6);
  EXPECT_EQ(calc.Find("typeName")->value.pos.line, 7);
  const SourceNode& device = calc.Find("deviceIdExpression")->value;
  EXPECT_EQ(device.pos.line, 13);
  EXPECT_EQ(device.pos.column, 40);
  const SourceNode& timestamp = calc.Find("timestampExpression")->value;
  EXPECT_EQ(timestamp.pos.line, 9);
  EXPECT_EQ(timestamp.pos.column, 32);
  EXPECT_EQ(timestamp.Find("value")->value.pos.line, 10);
  const SourceNode& value0 = calc.Find("values")->value.items[0];
  EXPECT_EQ(value0.pos.line, 15);
  EXPECT_EQ(value0.pos.column, 11);
  EXPECT_EQ(value0.path, "template[0].template.values[0]");
  EXPECT_EQ(calc.Find("deviceIdExpression")->key_pos.column, 29);  // the ':'
}

TEST(SourceParser, SyntaxErrorsUseJsonNetMessages) {
  auto doc = ParseSource(testing::ReadFile(testing::SourcePath(std::string(kTemplates) + "data_InvalidJson.txt")));
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().message(),
            "Unexpected character encountered while parsing value: }. Path 'templateType', line 3, position 1.");
  EXPECT_EQ(ParseSource("{\"a\": 1 \"b\": 2}").status().message(),
            "After parsing a value an unexpected character was encountered: \". Path 'a', line 1, position 9.");
  EXPECT_EQ(ParseSource("{\"a\": [1, 2}").status().message(),
            "After parsing a value an unexpected character was encountered: }. Path 'a[1]', line 1, position 12.");
  EXPECT_EQ(ParseSource("{a: 1}").status().message(),
            "Invalid property identifier character: a. Path '', line 1, position 2.");
  EXPECT_EQ(ParseSource("{\"a\": \"x").status().message(),
            "Unterminated string. Expected delimiter: \". Path 'a', line 1, position 9.");
  EXPECT_EQ(ParseSource("").status().message(), "Unexpected end when reading JSON. Path '', line 1, position 1.");
  EXPECT_EQ(ParseSource("{} x").status().message(),
            "Additional text encountered after finished reading JSON content: x. Path '', line 1, position 4.");
  std::string deep(100, '[');
  EXPECT_NE(ParseSource(deep).status().message().find("MaxDepth of 64"), std::string::npos);
}

TEST(SourceParser, AcceptsByteOrderMarkAndKeepsNumbersApart) {
  auto doc =
      ParseSource("\xEF\xBB\xBF{\"i\": 70, \"f\": 70.0, \"s\": \"\\u00e9\\ud83d\\ude00\", \"b\": true, \"n\": null}");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->root.Find("i")->value.kind, Kind::kInt);
  EXPECT_EQ(doc->root.Find("f")->value.kind, Kind::kDouble);
  EXPECT_EQ(doc->root.Find("s")->value.text, "\xC3\xA9\xF0\x9F\x98\x80");
  Arena arena;
  EXPECT_EQ(ToJson(ToValue(doc->root, &arena)),
            "{\"i\":70,\"f\":70.0,\"s\":\"\xC3\xA9\xF0\x9F\x98\x80\",\"b\":true,\"n\":null}");
}

}  // namespace
}  // namespace iomt::json
