// The comparison of `iomt test` (pipeline/test_cases.h): which output lines
// an expected line matches, what the diff of a mismatch says, and the
// multiset matching of expected lines to output lines. The runner itself is
// exercised end to end by tests/cli/iomt_test_test.sh and tests/cases/.
#include "pipeline/test_cases.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace iomt::pipeline {
namespace {

json::Node J(const std::string& text) {
  auto n = json::ParseNode(text);
  EXPECT_TRUE(n.ok()) << text;
  return n.ok() ? std::move(n).value() : json::Node();
}

bool Matches(const std::string& expected, const std::string& got) { return JsonMatches(J(expected), J(got)); }

TEST(JsonMatchesTest, AnExpectedObjectMatchesAnyObjectWithItsMembers) {
  EXPECT_TRUE(Matches(R"({"a":1})", R"({"a":1,"b":2})"));
  EXPECT_TRUE(Matches(R"({})", R"({"a":1})"));
  EXPECT_TRUE(Matches(R"({"o":{"x":"y"}})", R"({"o":{"x":"y","z":1},"p":[]})"));
  EXPECT_FALSE(Matches(R"({"a":1,"c":3})", R"({"a":1,"b":2})"));
  EXPECT_FALSE(Matches(R"({"o":{"x":"y"}})", R"({"o":{"x":"z"}})"));
  EXPECT_FALSE(Matches(R"({"a":1})", R"([{"a":1}])"));
}

TEST(JsonMatchesTest, ArraysMatchElementByElementWithEqualLength) {
  EXPECT_TRUE(Matches(R"([{"a":1},{}])", R"([{"a":1,"b":1},{"c":2}])"));
  EXPECT_FALSE(Matches(R"([{"a":1}])", R"([{"a":1},{"a":2}])"));
  EXPECT_FALSE(Matches(R"([1,2])", R"([2,1])"));
  EXPECT_TRUE(Matches(R"([])", R"([])"));
}

TEST(JsonMatchesTest, ScalarsMatchExactlyAndNumbersByValue) {
  EXPECT_TRUE(Matches("1.50", "1.5"));
  EXPECT_TRUE(Matches("70", "70.0"));
  EXPECT_FALSE(Matches("70", "71"));
  EXPECT_FALSE(Matches(R"("1")", "1"));
  EXPECT_FALSE(Matches(R"("a")", R"("A")"));
  EXPECT_TRUE(Matches("null", "null"));
  EXPECT_FALSE(Matches("null", R"("")"));
  // null is a value, not "anything": only a member left out is.
  EXPECT_FALSE(Matches(R"({"PatientId":null})", R"({"PatientId":"p-1"})"));
  EXPECT_FALSE(Matches("true", "false"));
}

TEST(JsonDiffTest, NamesEachDifferingFieldWithExpectedAndGot) {
  std::vector<FieldDiff> d;
  JsonDiff(J(R"({"Type":"hr","Properties":[{"Name":"hr","Value":"78"}],"x-y":1,"gone":true})"),
           J(R"({"Type":"hr","Properties":[{"Name":"hr","Value":"79"}],"x-y":2})"), "", &d);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].path, "Properties[0].Value");
  EXPECT_EQ(d[0].expected, R"("78")");
  EXPECT_EQ(d[0].got, R"("79")");
  EXPECT_EQ(d[1].path, "x-y");
  EXPECT_EQ(d[2].path, "gone");
  EXPECT_EQ(d[2].got, "nothing (no such member)");
}

TEST(JsonDiffTest, ArraysOfAnotherLengthAndOddMemberNames) {
  std::vector<FieldDiff> d;
  JsonDiff(J(R"({"a b":[1,2]})"), J(R"({"a b":[1,3,4]})"), "", &d);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].path, R"(["a b"])");
  EXPECT_EQ(d[0].expected, "2 items");
  EXPECT_EQ(d[0].got, "3 items");
  EXPECT_EQ(d[1].path, R"(["a b"][1])");
  EXPECT_EQ(d[2].path, R"(["a b"][2])");
  EXPECT_EQ(d[2].expected, "nothing");
  d.clear();
  JsonDiff(J(R"({"a":1})"), J(R"({"a":1,"b":2})"), "", &d);
  EXPECT_TRUE(d.empty());
}

struct Lines {
  std::vector<ExpectedLine> expected;
  std::vector<OutputLine> got;
  std::vector<Mismatch> Compare(bool ordered = false) {
    std::vector<const OutputLine*> pointers;
    for (const OutputLine& g : got)
      pointers.push_back(&g);
    return CompareLines(expected, pointers, ordered);
  }
};

Lines Make(const std::vector<std::string>& expected, const std::vector<std::string>& got) {
  Lines l;
  for (std::size_t i = 0; i < expected.size(); ++i)
    l.expected.push_back(ExpectedLine{J(expected[i]), static_cast<std::int64_t>(i + 1)});
  for (std::size_t i = 0; i < got.size(); ++i)
    l.got.push_back(OutputLine{J(got[i]), static_cast<std::int64_t>(i + 1), {}});
  return l;
}

TEST(CompareLinesTest, OrderDoesNotMatterByDefault) {
  Lines l = Make({R"({"a":1})", R"({"a":2})", R"({"a":3})"}, {R"({"a":3})", R"({"a":1})", R"({"a":2})"});
  EXPECT_TRUE(l.Compare().empty());
  // With ordered, the same lines in another order differ.
  EXPECT_EQ(l.Compare(true).size(), 3u);
}

TEST(CompareLinesTest, LinesAreAMultiset) {
  Lines twice = Make({R"({"a":1})", R"({"a":1})"}, {R"({"a":1})"});
  std::vector<Mismatch> m = twice.Compare();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].kind, Mismatch::Kind::kMissing);
  EXPECT_EQ(m[0].expected_line, 2);

  Lines once = Make({R"({"a":1})"}, {R"({"a":1})", R"({"a":1})"});
  m = once.Compare();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].kind, Mismatch::Kind::kUnexpected);
}

TEST(CompareLinesTest, APartialLineGivesWayToAMoreSpecificOne) {
  // {} takes {"a":1} first (same index); {"a":1} can only have that line, so
  // {} must move over to {"a":2}: a greedy pairing would fail here.
  Lines l = Make({R"({})", R"({"a":1})"}, {R"({"a":1})", R"({"a":2})"});
  EXPECT_TRUE(l.Compare().empty());
  Lines three = Make({R"({"t":"x"})", R"({"t":"x","v":2})", R"({"t":"x","v":1})"},
                     {R"({"t":"x","v":1})", R"({"t":"x","v":2})", R"({"t":"x","v":3})"});
  EXPECT_TRUE(three.Compare().empty());
}

TEST(CompareLinesTest, AMismatchIsPairedWithTheNearestLineLeftOver) {
  Lines l = Make({R"({"Type":"hr","At":"10:00","Value":"70"})", R"({"Type":"hr","At":"10:01","Value":"71"})"},
                 {R"({"Type":"hr","At":"10:01","Value":"72"})", R"({"Type":"hr","At":"10:00","Value":"70"})"});
  std::vector<Mismatch> m = l.Compare();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].kind, Mismatch::Kind::kDifferent);
  EXPECT_EQ(m[0].expected_line, 2);
  EXPECT_EQ(m[0].got, 0u);
  ASSERT_EQ(m[0].fields.size(), 1u);
  EXPECT_EQ(m[0].fields[0].path, "Value");
  EXPECT_EQ(m[0].fields[0].expected, R"("71")");
  EXPECT_EQ(m[0].fields[0].got, R"("72")");
}

TEST(CompareLinesTest, EmptyExpectedMeansNothing) {
  Lines l = Make({}, {R"({"a":1})"});
  std::vector<Mismatch> m = l.Compare();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].kind, Mismatch::Kind::kUnexpected);
  EXPECT_TRUE(Make({}, {}).Compare().empty());
}

TEST(CompareLinesTest, ManyLinesInReverseOrder) {
  std::vector<std::string> expected;
  std::vector<std::string> got;
  for (int i = 0; i < 2000; ++i) {
    expected.push_back(R"({"n":)" + std::to_string(i) + "}");
    got.push_back(R"({"n":)" + std::to_string(1999 - i) + R"(,"extra":true})");
  }
  Lines l = Make(expected, got);
  EXPECT_TRUE(l.Compare().empty());
}

}  // namespace
}  // namespace iomt::pipeline
