// The JMESPath compliance suite (conformance/jmespath, see its README): every
// case of every file except benchmarks.json and schema.json.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/json/arena.h"
#include "common/json/compare.h"
#include "common/json/writer.h"
#include "expr/jmespath/jmespath.h"
#include "test_util.h"

namespace iomt::jmespath {
namespace {

// Case counts per file, from the suite's README. A file that goes missing, or
// loses cases, fails its test; the sum is the 892 of the README.
const std::map<std::string, int>& ExpectedCounts() {
  static const std::map<std::string, int> kCounts = {
      {"basic.json", 18},   {"boolean.json", 60},     {"current.json", 3},       {"escape.json", 8},
      {"filters.json", 88}, {"functions.json", 175},  {"identifiers.json", 125}, {"indices.json", 59},
      {"literal.json", 41}, {"multiselect.json", 53}, {"pipe.json", 17},         {"slice.json", 41},
      {"syntax.json", 135}, {"unicode.json", 4},      {"wildcard.json", 65},
  };
  return kCounts;
}

std::string Field(const json::Value& object, std::string_view key) {
  json::Value v;
  return object.Find(key, &v) ? json::ToJson(v) : "<absent>";
}

// Runs one case; returns an empty string when it passes, else what went wrong.
std::string RunCase(const json::Value& given, const json::Value& c) {
  json::Value expression_value;
  if (!c.Find("expression", &expression_value) || !expression_value.is_string()) return "case has no expression";
  std::string_view expression = expression_value.string_value();
  json::Value expected_error;
  json::Value expected_result;
  const bool wants_error = c.Find("error", &expected_error);
  const bool wants_result = c.Find("result", &expected_result);
  if (wants_error == wants_result) return "case needs exactly one of result and error";

  auto compiled = Expression::Compile(expression);
  if (!compiled.ok()) {
    if (wants_error && compiled.status().detail() == expected_error.string_value()) return {};
    return "compile failed: " + compiled.status().ToString() + " [detail " + compiled.status().detail() + "]";
  }
  json::Arena arena;
  auto result = (*compiled)->Evaluate(given, &arena);
  if (!result.ok()) {
    if (wants_error && result.status().detail() == expected_error.string_value()) return {};
    return "evaluation failed: " + result.status().ToString() + " [detail " + result.status().detail() + "]";
  }
  if (wants_error) return "evaluated to " + json::ToJson(*result) + " instead of failing";
  if (!json::DeepEquals(*result, expected_result)) return "evaluated to " + json::ToJson(*result);
  return {};
}

class JmesPathCompliance : public ::testing::TestWithParam<std::string> {};

TEST_P(JmesPathCompliance, EveryCasePasses) {
  const std::string& file = GetParam();
  json::ParseOptions options;
  options.max_depth = 256;
  json::Value suites =
      testing::ParseOrDie(testing::ReadFile(testing::SourcePath("conformance/jmespath/" + file)), options);
  ASSERT_TRUE(suites.is_array()) << file;
  int run = 0;
  int failed = 0;
  int suite_index = 0;
  for (json::Value suite : suites.elements()) {
    json::Value given;
    json::Value cases;
    if (!suite.Find("given", &given)) given = json::Value();
    ASSERT_TRUE(suite.Find("cases", &cases) && cases.is_array()) << file << " suite " << suite_index;
    for (json::Value c : cases.elements()) {
      ++run;
      std::string problem = RunCase(given, c);
      if (!problem.empty()) {
        ++failed;
        ADD_FAILURE() << file << " suite " << suite_index << ": expression " << Field(c, "expression")
                      << "\n  expected: " << (c.Has("error") ? "error " + Field(c, "error") : Field(c, "result"))
                      << "\n  actual:   " << problem;
      }
    }
    ++suite_index;
  }
  EXPECT_EQ(run, ExpectedCounts().at(file)) << file;
  std::printf("%s: %d cases, %d failed\n", file.c_str(), run, failed);
}

std::vector<std::string> Files() {
  std::vector<std::string> files;
  for (const auto& [name, count] : ExpectedCounts())
    files.push_back(name);
  return files;
}

INSTANTIATE_TEST_SUITE_P(Files, JmesPathCompliance, ::testing::ValuesIn(Files()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param.substr(0, param.param.find('.'));
                         });

TEST(JmesPathComplianceSuite, RunsAll892CasesOfEveryFileInTheFolder) {
  std::vector<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(testing::SourcePath("conformance/jmespath"))) {
    std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".json" && name != "benchmarks.json" && name != "schema.json") {
      on_disk.push_back(name);
    }
  }
  std::sort(on_disk.begin(), on_disk.end());
  EXPECT_EQ(on_disk, Files()) << "a compliance file was added or removed; update ExpectedCounts()";
  int total = 0;
  for (const auto& [name, count] : ExpectedCounts())
    total += count;
  EXPECT_EQ(total, 892);
}

}  // namespace
}  // namespace iomt::jmespath
