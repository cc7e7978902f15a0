// The custom functions of Microsoft.Health.Expressions, as iomt-fhir's unit
// tests exercise them (conformance/iomt-fhir/derived/jmespath_function_cases.json).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/datetime.h"
#include "common/json/arena.h"
#include "common/json/writer.h"
#include "expr/jmespath/jmespath.h"
#include "test_util.h"

namespace iomt::jmespath {
namespace {

json::Value CasesFile() {
  static const json::Value kCases = testing::ParseOrDie(
      testing::ReadFile(testing::SourcePath("conformance/iomt-fhir/derived/jmespath_function_cases.json")));
  return kCases;
}

json::Value Get(const json::Value& object, std::string_view key) {
  json::Value v;
  return object.Find(key, &v) ? v : json::Value();
}

// Empty when the case passes, else what went wrong.
std::string Check(const json::Value& c) {
  std::string_view expression = Get(c, "expression").string_value();
  json::Value expect = Get(c, "expect");
  auto compiled = Expression::Compile(expression);
  if (!compiled.ok()) return "compile failed: " + compiled.status().ToString();
  json::Arena arena;
  auto result = (*compiled)->Evaluate(Get(c, "data"), &arena);

  json::Value error = Get(expect, "error");
  if (error.is_string()) {
    std::string want(error.string_value());
    if (want == "Exception (invalid-type)") want = "invalid-type";
    if (result.ok()) return "evaluated to " + json::ToJson(*result) + " instead of failing with " + want;
    if (result.status().detail() != want) {
      return "failed with detail '" + result.status().detail() + "' (" + result.status().message() + "), want " + want;
    }
    return {};
  }
  if (!result.ok()) return "evaluation failed: " + result.status().ToString();
  const json::Value& got = *result;
  std::string_view type = Get(expect, "type").string_value();
  json::Value want = Get(expect, "value");
  const std::string got_text = json::ToJson(got) + " (" + std::string(json::KindName(got.kind())) + ")";
  if (type == "integer") {
    if (got.kind() != json::Kind::kInt || got.int_value() != want.int_value()) return "got " + got_text;
  } else if (type == "float") {
    if (got.kind() != json::Kind::kDouble) return "got " + got_text;
    json::Value precision = Get(expect, "precision");
    if (precision.is_integer()) {
      const double tolerance = 0.5 * std::pow(10.0, -static_cast<double>(precision.int_value()));
      if (!(std::fabs(got.double_value() - want.AsDouble()) <= tolerance)) return "got " + got_text;
    } else if (got.double_value() != want.AsDouble()) {
      return "got " + got_text;
    }
  } else if (type == "string") {
    if (!got.is_string() || got.string_value() != want.string_value()) return "got " + got_text;
  } else if (type == "date") {
    std::int64_t ticks = 0;
    if (!datetime::ParseJsonNetDate(want.string_value(), &ticks)) return "bad expected date in test data";
    if (!got.is_date() || got.date_ticks() != ticks) return "got " + got_text;
  } else {
    return "unknown expected type " + std::string(type);
  }
  return {};
}

TEST(JmesPathCustomFunctions, EveryIomtFhirCasePasses) {
  json::Value cases = Get(CasesFile(), "cases");
  ASSERT_TRUE(cases.is_array());
  int run = 0;
  for (json::Value c : cases.elements()) {
    ++run;
    std::string problem = Check(c);
    EXPECT_TRUE(problem.empty()) << json::ToJson(Get(c, "expression")) << " on " << json::ToJson(Get(c, "data"))
                                 << "\n  expected " << json::ToJson(Get(c, "expect")) << "\n  " << problem;
  }
  EXPECT_EQ(run, 62);
}

TEST(JmesPathCustomFunctions, EveryIomtFhirParseErrorFailsToCompile) {
  json::Value cases = Get(CasesFile(), "parseErrors");
  ASSERT_TRUE(cases.is_array());
  int run = 0;
  for (json::Value c : cases.elements()) {
    ++run;
    std::string_view expression = Get(c, "expression").string_value();
    auto compiled = Expression::Compile(expression);
    EXPECT_FALSE(compiled.ok()) << expression;
    if (!compiled.ok()) {
      EXPECT_EQ(compiled.status().code(), StatusCode::kSyntaxError) << expression;
      EXPECT_TRUE(compiled.status().detail() == "syntax" || compiled.status().detail() == "invalid-arity")
          << expression << ": " << compiled.status().detail();
    }
  }
  EXPECT_EQ(run, 7);
}

Status EvaluateError(std::string_view expression, std::string_view data) {
  auto compiled = Expression::Compile(expression);
  EXPECT_TRUE(compiled.ok()) << expression << ": " << compiled.status().ToString();
  if (!compiled.ok()) return compiled.status();
  json::Arena arena;
  auto result = (*compiled)->Evaluate(testing::ParseOrDie(data), &arena);
  EXPECT_FALSE(result.ok()) << expression << " gave " << (result.ok() ? json::ToJson(*result) : "");
  return result.status();
}

TEST(JmesPathCustomFunctions, TypeErrorsUseTheMessageOfMicrosoftHealthExpressions) {
  Status st = EvaluateError("add(left, right)", R"({"left": "bad", "right": 100})");
  EXPECT_EQ(st.code(), StatusCode::kTypeError);
  EXPECT_EQ(st.detail(), "invalid-type");
  EXPECT_EQ(st.message(),
            "Error: invalid-type, function add expects argument 0 to be one of the following: Integer|Float");

  st = EvaluateError("divide(left, right)", R"({"left": 1, "right": "bad"})");
  EXPECT_EQ(st.message(),
            "Error: invalid-type, function divide expects argument 1 to be one of the following: Integer|Float");

  st = EvaluateError("insertString(original, toInsert, pos)", R"({"original": "text", "toInsert": "x", "pos": 1.5})");
  EXPECT_EQ(st.message(),
            "Error: invalid-type, function insertString expects argument 2 to be one of the following: Integer");
  st = EvaluateError("insertString(original, toInsert, pos)", R"({"original": 6, "toInsert": "x", "pos": 1})");
  EXPECT_EQ(st.message(),
            "Error: invalid-type, function insertString expects argument 0 to be one of the following: String");

  st = EvaluateError("fromUnixTimestampMs(ts)", R"({"ts": 1.0})");
  EXPECT_EQ(st.detail(), "invalid-type");
  EXPECT_EQ(st.message(),
            "Error: invalid-type, function fromUnixTimestampMs expects argument 0 to be one of the following: Integer");
}

}  // namespace
}  // namespace iomt::jmespath

namespace iomt::jmespath {
namespace {

// appendString is the ninth function of newer iomt-fhir releases.
TEST(JmesPathCustomFunctions, AppendStringJoinsTwoStrings) {
  auto compiled = Expression::Compile("appendString(a, b)");
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  json::Arena arena;
  auto result = (*compiled)->Evaluate(testing::ParseOrDie(R"({"a": "heart", "b": "rate"})"), &arena);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->string_value(), "heartrate");
  Status st = (*compiled)->Evaluate(testing::ParseOrDie(R"({"a": "x", "b": 1})"), &arena).status();
  EXPECT_EQ(st.message(),
            "Error: invalid-type, function appendString expects argument 1 to be one of the following: String");
  EXPECT_FALSE(Expression::Compile("appendString(a)").ok());
}

}  // namespace
}  // namespace iomt::jmespath
