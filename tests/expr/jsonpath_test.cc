// The Json.NET JSONPath dialect, case by case, with the behaviours device
// mappings depend on.
#include "expr/jsonpath/jsonpath.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/json/arena.h"
#include "common/json/writer.h"
#include "test_util.h"

namespace iomt::jsonpath {
namespace {

using json::Value;
using testing::ParseOrDie;

// All matches as a JSON array, or "error: <message>".
std::string Select(std::string_view path, std::string_view document) {
  auto p = Path::Parse(path);
  if (!p.ok()) return "syntax error: " + p.status().message();
  std::vector<Value> out;
  Status st = p->SelectTokens(ParseOrDie(document), &out);
  if (!st.ok()) return "error: " + st.message();
  return json::ToJson(Value::Array(out.data(), out.size()));
}

constexpr const char* kFlat =
    R"({"heartrate":78,"deviceid":"device123","patientid":"p1","measurementdatetime":"2019-02-01T22:46:01.875Z"})";
constexpr const char* kEnvelope =
    R"({"Body":{"heartRate":78,"systolic":120,"diastolic":80},"Properties":{"iothub-creation-time-utc":"2019-01-30T22:45:02.6073744Z"},)"
    R"("SystemProperties":{"iothub-connection-device-id":"ev-d795","iothub-enqueuedtime":"2019-02-01T22:46:01.875Z"}})";

TEST(JsonPath, RecursiveFilterMatchesTheStartingNodeItself) {
  EXPECT_EQ(Select("$..[?(@heartrate)]", kFlat), std::string("[") + kFlat + "]");
  std::string matched = Select("$..[?(@Body.heartRate)]", kEnvelope);
  EXPECT_EQ(matched, std::string("[") + kEnvelope + "]");
}

TEST(JsonPath, RecursiveFilterVisitsDescendantsInDocumentOrder) {
  EXPECT_EQ(Select("$..[?(@hr)]", R"({"a":[{"hr":1},{"x":{"hr":2}}],"hr":0})"),
            R"([{"a":[{"hr":1},{"x":{"hr":2}}],"hr":0},{"hr":1},{"hr":2}])");
}

TEST(JsonPath, AtNameWithoutDotMeansAtDotName) {
  EXPECT_EQ(Select("$[?(@a)]", R"([{"a":1},{"b":2}])"), R"([{"a":1}])");
  EXPECT_EQ(Select("$[?(@.a)]", R"([{"a":1},{"b":2}])"), R"([{"a":1}])");
}

TEST(JsonPath, ExistenceIsTrueForNullAndFalse) {
  // jsoncons and others test truthiness here; Json.NET tests existence, and
  // iomt-fhir's deviceWorn template depends on it.
  EXPECT_EQ(Select("$..[?(@deviceWorn)]", R"({"deviceWorn":false})"), R"([{"deviceWorn":false}])");
  EXPECT_EQ(Select("$[?(@a)]", R"([{"a":null},{"a":0},{"b":1}])"), R"([{"a":null},{"a":0}])");
}

TEST(JsonPath, DollarIsOptionalAndNamesMayContainDashes) {
  EXPECT_EQ(Select("heartrate", kFlat), "[78]");
  EXPECT_EQ(Select("$.SystemProperties.iothub-connection-device-id", kEnvelope), R"(["ev-d795"])");
  EXPECT_EQ(Select("SystemProperties.iothub-connection-device-id", kEnvelope), R"(["ev-d795"])");
  EXPECT_EQ(Select("$['SystemProperties']['iothub-enqueuedtime']", kEnvelope), R"(["2019-02-01T22:46:01.875Z"])");
  EXPECT_EQ(Select("$", "[1]"), "[[1]]");
  EXPECT_EQ(Select("", "[1]"), "[[1]]");
}

TEST(JsonPath, BracketNamesWithSpacesAndUnions) {
  EXPECT_EQ(Select("$.['My Property']", R"({"My Property":1})"), "[1]");
  EXPECT_EQ(Select("$['a','b']", R"({"b":2,"a":1})"), "[1,2]");
  EXPECT_EQ(Select("$..['a','b']", R"({"x":{"a":1,"b":2},"a":3})"), "[1,2,3]");  // document order
  EXPECT_EQ(Select("$['*']", R"({"*":1,"a":2})"), "[1]");
}

TEST(JsonPath, WildcardFormDecidesTheContainerKind) {
  EXPECT_EQ(Select("$.*", R"({"a":1,"b":[2]})"), "[1,[2]]");
  EXPECT_EQ(Select("$.*", "[1,2]"), "[]");
  EXPECT_EQ(Select("$[*]", "[1,2]"), "[1,2]");
  EXPECT_EQ(Select("$[*]", R"({"a":1})"), "[]");
  EXPECT_EQ(Select("$..*", "42"), "[42]");
}

TEST(JsonPath, IndexesSlicesAndUnions) {
  EXPECT_EQ(Select("$[1]", "[0,1,2]"), "[1]");
  EXPECT_EQ(Select("$[5]", "[0,1,2]"), "[]");
  EXPECT_EQ(Select("$[0,2]", "[0,1,2]"), "[0,2]");
  EXPECT_EQ(Select("$[1:]", "[0,1,2]"), "[1,2]");
  EXPECT_EQ(Select("$[-2:]", "[0,1,2]"), "[1,2]");
  EXPECT_EQ(Select("$[::-1]", "[0,1,2]"), "[2,1,0]");
  EXPECT_EQ(Select("$[0:3:2]", "[0,1,2]"), "[0,2]");
  EXPECT_EQ(Select("$[ 1 ]", "[0,1,2]"), "[1]");
  // `..` before an index is ignored, as in Json.NET.
  EXPECT_EQ(Select("$..[0]", R"([["a"],"b"])"), R"([["a"]])");
}

TEST(JsonPath, NegativeIndexIsAnErrorOnArraysOnly) {
  EXPECT_EQ(Select("$[-1]", "[1]"),
            "error: Index was out of range. Must be non-negative and less than the size of the collection.");
  EXPECT_EQ(Select("$[-1]", R"({"a":1})"), "[]");
}

TEST(JsonPath, FilterComparisons) {
  const char* doc = R"([{"v":1},{"v":2.5},{"v":"x"},{"v":true},{"v":null},{"w":3}])";
  EXPECT_EQ(Select("$[?(@.v == 1)]", doc), R"([{"v":1}])");
  EXPECT_EQ(Select("$[?(@.v == 1.0)]", doc), R"([{"v":1}])");
  EXPECT_EQ(Select("$[?(@.v != 1)]", doc), R"([{"v":2.5},{"v":"x"},{"v":true},{"v":null}])");
  EXPECT_EQ(Select("$[?(@.v == 'x')]", doc), R"([{"v":"x"}])");
  EXPECT_EQ(Select("$[?(@.v == true)]", doc), R"([{"v":true}])");
  EXPECT_EQ(Select("$[?(@.v == null)]", doc), R"([{"v":null}])");
  EXPECT_EQ(Select("$[?(@.v === 1)]", doc), R"([{"v":1}])");
  EXPECT_EQ(Select("$[?(@.v >= 2)]", R"([{"v":1},{"v":2},{"v":3.5}])"), R"([{"v":2},{"v":3.5}])");
  EXPECT_EQ(Select("$[?(@.v < 'b')]", R"([{"v":"a"},{"v":"c"}])"), R"([{"v":"a"}])");
  // A number against a non-numeric string fails the whole query (FormatException).
  EXPECT_EQ(Select("$[?(@.v > 1)]", R"([{"v":"x"}])"), "error: Input string was not in a correct format.");
  // ...but a numeric string is read as a number.
  EXPECT_EQ(Select("$[?(@.v > 1)]", R"([{"v":"5"}])"), R"([{"v":"5"}])");
}

TEST(JsonPath, AndOrGroupToTheRight) {
  // a && b || c is a && (b || c) in Json.NET.
  const char* doc = R"([{"a":1,"b":1},{"a":1,"c":1},{"c":1},{"b":1}])";
  EXPECT_EQ(Select("$[?(@.a && @.b || @.c)]", doc), R"([{"a":1,"b":1},{"a":1,"c":1}])");
  EXPECT_EQ(Select("$[?(@.c || @.a && @.b)]", doc), R"([{"a":1,"b":1},{"a":1,"c":1},{"c":1}])");
  EXPECT_EQ(Select("$..[?(@systolic && @diastolic)]", kEnvelope),
            R"([{"heartRate":78,"systolic":120,"diastolic":80}])");
}

TEST(JsonPath, RegexRunsOnRe2) {
  const char* doc = R"([{"n":"Heart"},{"n":"heart"},{"n":"lung"}])";
  EXPECT_EQ(Select("$[?(@.n =~ /^heart/)]", doc), R"([{"n":"heart"}])");
  EXPECT_EQ(Select("$[?(@.n =~ /^heart/i)]", doc), R"([{"n":"Heart"},{"n":"heart"}])");
  // Patterns that need backtracking are refused when the path is parsed.
  auto p = Path::Parse("$[?(@.n =~ /(a)\\1/)]");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("Invalid regex"), std::string::npos);
  // Catastrophic patterns for backtracking engines run in linear time.
  std::string long_a(5000, 'a');
  EXPECT_EQ(Select("$[?(@.n =~ /^(a+)+$/)]", R"([{"n":")" + long_a + "b\"}]"), "[]");
}

TEST(JsonPath, DateStringsCompareAsJsonNetDates) {
  // Json.NET reads the message string as a date and writes it back in ISO
  // form to compare it with a string literal.
  const char* doc =
      R"([{"t":"2019-02-01T22:46:01.875Z"},{"t":"2019-02-01T22:46:01.8750000Z"},{"t":"2020-01-01T00:00:00Z"}])";
  EXPECT_EQ(Select("$[?(@.t == '2019-02-01T22:46:01.875Z')]", doc),
            R"([{"t":"2019-02-01T22:46:01.875Z"},{"t":"2019-02-01T22:46:01.8750000Z"}])");
  EXPECT_EQ(Select("$[?(@.t > '2019-06-01T00:00:00Z')]", doc), R"([{"t":"2020-01-01T00:00:00Z"}])");
}

TEST(JsonPath, SelectTokenFailsWhenSeveralTokensMatch) {
  auto p = Path::Parse("$..hr");
  ASSERT_TRUE(p.ok());
  auto one = p->SelectToken(ParseOrDie(R"({"hr":1})"));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->int_value(), 1);
  auto none = p->SelectToken(ParseOrDie(R"({"x":1})"));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->is_null());
  auto many = p->SelectToken(ParseOrDie(R"({"hr":1,"a":{"hr":2}})"));
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.status().message(), "Path returned multiple tokens.");
  EXPECT_EQ(many.status().detail(), "JsonException");
}

TEST(JsonPath, MatchesStopsAtTheFirstMatch) {
  auto p = Path::Parse("$[?(@.v > 1)]");
  ASSERT_TRUE(p.ok());
  // The second element would raise FormatException, but the first already matches.
  auto m = p->Matches(ParseOrDie(R"([{"v":2},{"v":"x"}])"));
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(*m);
}

TEST(JsonPath, EvaluatesOverArenaBuiltValues) {
  // CalculatedContent evaluates on a copy of the message with `matchedToken` added.
  Value message = ParseOrDie(R"({"Body":{"deviceId":"d1","readings":[{"hr":60},{"hr":61}]}})");
  json::Arena arena;
  json::Member wrapper[] = {{"Body", message.ElementAt(0)}, {"matchedToken", ParseOrDie(R"({"hr":61})")}};
  Value body;
  ASSERT_TRUE(message.Find("Body", &body));
  wrapper[0].value = body;
  Value root = arena.MakeObject(wrapper);
  auto p = Path::Parse("$.matchedToken.hr");
  ASSERT_TRUE(p.ok());
  auto hr = p->SelectToken(root);
  ASSERT_TRUE(hr.ok());
  EXPECT_EQ(hr->int_value(), 61);
  auto id = Path::Parse("$.Body.deviceId")->SelectToken(root);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->string_value(), "d1");
}

TEST(JsonPath, SyntaxErrorsSayWhereAndWhat) {
  struct Case {
    const char* path;
    const char* message;
    long position;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"$.", "Unexpected end while parsing path.", 2},
           {"$[", "Path ended with open indexer.", 2},
           {"$['a'", "Path ended with open indexer.", 5},
           {"$[\"key\"]", "Unexpected character while parsing path indexer: \"", 2},
           {"$[?(@.a == \"x\")]", "Unexpected character while parsing path query: \"", 11},
           {"$.a]b", "Unexpected character while parsing path: ]", 3},
           {"$[?(@.a ~ 1)]", "Could not read query operator.", 8},
           {"$[0:3:0]", "Step cannot be zero.", 7},
       }) {
    auto p = Path::Parse(c.path);
    ASSERT_FALSE(p.ok()) << c.path;
    EXPECT_EQ(p.status().code(), StatusCode::kSyntaxError) << c.path;
    EXPECT_EQ(p.status().message(), c.message) << c.path;
    EXPECT_EQ(p.status().position(), c.position) << c.path;
  }
}

TEST(JsonPath, HugeOrDeeplyNestedPathsAreRefusedNotCrashing) {
  std::string nested = "$";
  for (int i = 0; i < 5000; ++i)
    nested += "[?(@";
  EXPECT_FALSE(Path::Parse(nested).ok());
  std::string long_path = "$";
  for (int i = 0; i < 20000; ++i)
    long_path += ".a";
  auto p = Path::Parse(long_path);
  ASSERT_FALSE(p.ok());
  std::string many_steps = "$";
  for (int i = 0; i < 2000; ++i)
    many_steps += ".a";
  EXPECT_FALSE(Path::Parse(many_steps).ok());
}

TEST(JsonPath, ScanOverDeepDocumentsStaysWithinTheParserDepthLimit) {
  std::string deep;
  for (int i = 0; i < 60; ++i)
    deep += R"({"a":)";
  deep += "1";
  for (int i = 0; i < 60; ++i)
    deep += "}";
  auto p = Path::Parse("$..a");
  ASSERT_TRUE(p.ok());
  std::vector<Value> out;
  ASSERT_TRUE(p->SelectTokens(ParseOrDie(deep), &out).ok());
  EXPECT_EQ(out.size(), 60u);
  EXPECT_EQ(out.back().int_value(), 1);
}

}  // namespace
}  // namespace iomt::jsonpath

namespace iomt::jsonpath {
namespace {

TEST(JsonPath, ChainedRecursiveStepsStopAtTheWorkLimit) {
  // Each `..*` multiplies the results; on a deep document this explodes.
  std::string deep;
  for (int i = 0; i < 40; ++i)
    deep += "[";
  for (int i = 0; i < 40; ++i)
    deep += "]";
  std::string path = "$";
  for (int i = 0; i < 30; ++i)
    path += "..*";
  auto p = Path::Parse(path);
  ASSERT_TRUE(p.ok());
  std::vector<json::Value> out;
  Status st = p->SelectTokens(testing::ParseOrDie(deep), &out);
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(st.detail(), "WorkLimitExceeded");
}

}  // namespace
}  // namespace iomt::jsonpath

namespace iomt::jsonpath {
namespace {

TEST(JsonPath, NamesTheMembersARecursiveFilterNeeds) {
  auto names = [](const char* path) {
    auto p = Path::Parse(path);
    EXPECT_TRUE(p.ok()) << path;
    std::string out;
    for (const std::string& n : p->RequiredMemberNames())
      out += n + ",";
    return out;
  };
  EXPECT_EQ(names("$..[?(@heartrate)]"), "heartrate,");
  EXPECT_EQ(names("$..[?(@Body.heartRate)]"), "heartRate,");
  EXPECT_EQ(names("$..[?(@systolic && @diastolic)]"), "systolic,");
  EXPECT_EQ(names("$..[?(@heartrate || @steps)]"), "heartrate,steps,");
  EXPECT_EQ(names("$..[?(@.unit == 'inches')]"), "unit,");
  EXPECT_EQ(names("$..[?(@['a','b'])]"), "a,b,");
  // Other shapes have no such names.
  EXPECT_EQ(names("$.Body"), "");
  EXPECT_EQ(names("$..[?(@)]"), "");
  EXPECT_EQ(names("$..[?(@.a || @)]"), "");
  EXPECT_EQ(names("$[?(@.a)]"), "");
}

}  // namespace
}  // namespace iomt::jsonpath
