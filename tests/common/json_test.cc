#include <gtest/gtest.h>

#include <string>

#include "common/json/arena.h"
#include "common/json/compare.h"
#include "common/json/document.h"
#include "common/json/writer.h"
#include "test_util.h"

namespace iomt::json {
namespace {

using testing::ParseOrDie;

TEST(Document, KeepsIntegerAndFloatTokensApart) {
  Value v = ParseOrDie(R"([70, 70.0, 1e2, -0, 18446744073709551615, -9223372036854775808])");
  ASSERT_TRUE(v.is_array());
  EXPECT_EQ(v.size(), 6u);
  EXPECT_EQ(v.ElementAt(0).kind(), Kind::kInt);
  EXPECT_EQ(v.ElementAt(1).kind(), Kind::kDouble);
  EXPECT_EQ(v.ElementAt(2).kind(), Kind::kDouble);
  EXPECT_EQ(v.ElementAt(3).kind(), Kind::kInt);
  EXPECT_EQ(v.ElementAt(4).kind(), Kind::kUInt);
  EXPECT_EQ(v.ElementAt(4).uint_value(), 18446744073709551615u);
  EXPECT_EQ(v.ElementAt(5).int_value(), INT64_MIN);
  EXPECT_TRUE(v.ElementAt(6).is_null());
}

TEST(Document, IteratesObjectsInDocumentOrder) {
  Value v = ParseOrDie(R"({"b": 1, "a": {"x": [1, {"y": null}]}, "c": "s\"q\u00e9"})");
  std::string keys;
  for (const Member& m : v.members())
    keys += std::string(m.key) + ",";
  EXPECT_EQ(keys, "b,a,c,");
  Value c;
  ASSERT_TRUE(v.Find("c", &c));
  EXPECT_EQ(c.string_value(), "s\"q\xc3\xa9");
  EXPECT_TRUE(c.from_document());
  Value a;
  ASSERT_TRUE(v.Find("a", &a));
  EXPECT_EQ(ToJson(a), R"({"x":[1,{"y":null}]})");
  EXPECT_FALSE(v.Has("z"));
}

TEST(Document, DuplicateKeysResolveToTheFirstValue) {
  // Documented difference: Json.NET keeps the last; lookups stop at the first.
  Value v = ParseOrDie(R"({"a": 1, "a": 2})");
  Value a;
  ASSERT_TRUE(v.Find("a", &a));
  EXPECT_EQ(a.int_value(), 1);
  EXPECT_EQ(v.size(), 2u);
}

TEST(Value, ForEachChildVisitsMemberValuesAndElements) {
  Value v = ParseOrDie(R"({"a": [1, {"b": 2}], "c": "x"})");
  std::string seen;
  EXPECT_TRUE(v.ForEachChild([&](const Value& c) {
    seen += c.is_array() ? "A" : c.is_string() ? "S" : "?";
    return true;
  }));
  Value a;
  ASSERT_TRUE(v.Find("a", &a));
  a.ForEachChild([&](const Value& c) {
    seen += c.is_object() ? "O" : "N";
    return true;
  });
  EXPECT_EQ(seen, "ASNO");
  std::string containers;
  v.ForEachContainerChild([&](const Value& c) {
    containers += c.is_array() ? "A" : "O";
    return true;
  });
  a.ForEachContainerChild([&](const Value& c) {
    containers += c.is_array() ? "A" : "O";
    return true;
  });
  EXPECT_EQ(containers, "AO");
}

TEST(Document, RefusesNestingDeeperThanTheLimit) {
  Document doc;
  std::string ok = std::string(64, '[') + std::string(64, ']');
  EXPECT_TRUE(doc.Parse(ok).ok());
  std::string deep = std::string(65, '[') + std::string(65, ']');
  Status st = doc.Parse(deep);
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_NE(st.message().find("deeper than 64"), std::string::npos);
  std::string very_deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(doc.Parse(very_deep).code(), StatusCode::kOutOfRange);
}

TEST(Document, RefusesDocumentsOverTheSizeLimit) {
  Document doc(ParseOptions{64, 10});
  Status st = doc.Parse(R"({"a": "0123456789"})");
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
}

TEST(Document, ReportsBadJsonClearly) {
  Document doc;
  EXPECT_EQ(doc.Parse("{\"a\": }").code(), StatusCode::kSyntaxError);
  EXPECT_EQ(doc.Parse("").code(), StatusCode::kSyntaxError);
  EXPECT_EQ(doc.Parse("\"\xff\"").code(), StatusCode::kSyntaxError);
  EXPECT_EQ(doc.Parse("123456789012345678901234567890").code(), StatusCode::kOutOfRange);
  // The document stays usable after an error.
  ASSERT_TRUE(doc.Parse("[1]").ok());
  EXPECT_EQ(doc.root().size(), 1u);
}

TEST(Document, ScalarRoots) {
  EXPECT_EQ(ParseOrDie("42").int_value(), 42);
  EXPECT_EQ(ParseOrDie("\"x\"").string_value(), "x");
  EXPECT_TRUE(ParseOrDie("null").is_null());
  EXPECT_TRUE(ParseOrDie("true").bool_value());
}

TEST(Arena, BuildsContainersThatReferToDocumentValues) {
  Value doc = ParseOrDie(R"({"hr": 60, "nested": {"k": "v"}})");
  Arena arena;
  Value hr;
  ASSERT_TRUE(doc.Find("hr", &hr));
  Member members[] = {{"matchedToken", doc}, {"hr", hr}, {"s", arena.MakeString("text")}};
  Value obj = arena.MakeObject(members);
  EXPECT_EQ(ToJson(obj), R"({"matchedToken":{"hr":60,"nested":{"k":"v"}},"hr":60,"s":"text"})");
  Value items[] = {Value::Int(1), Value::Double(2.5), Value::Date(0), Value::Null()};
  EXPECT_EQ(ToJson(arena.MakeArray(items)), R"([1,2.5,"1970-01-01T00:00:00Z",null])");
  EXPECT_FALSE(arena.MakeString("x").from_document());
}

TEST(Writer, EscapesAndPrettyPrints) {
  Value v = ParseOrDie(R"({"a":"line\nbreak\u0001","b":[1,2.0],"c":{}})");
  EXPECT_EQ(ToJson(v), R"({"a":"line\nbreak\u0001","b":[1,2.0],"c":{}})");
  EXPECT_EQ(ToJson(v, {2}), "{\n  \"a\": \"line\\nbreak\\u0001\",\n  \"b\": [\n    1,\n    2.0\n  ],\n  \"c\": {}\n}");
}

TEST(Compare, NumbersByValueObjectsUnordered) {
  EXPECT_TRUE(DeepEquals(ParseOrDie("[1, {\"a\": 1, \"b\": 2}]"), ParseOrDie("[1.0, {\"b\": 2, \"a\": 1}]")));
  EXPECT_FALSE(DeepEquals(ParseOrDie("[1]"), ParseOrDie("[1, 2]")));
  EXPECT_FALSE(DeepEquals(ParseOrDie("{\"a\": 1}"), ParseOrDie("{\"b\": 1}")));
  EXPECT_FALSE(DeepEquals(ParseOrDie("\"1\""), ParseOrDie("1")));
  EXPECT_TRUE(DeepEquals(ParseOrDie("null"), Value()));
}

}  // namespace
}  // namespace iomt::json
