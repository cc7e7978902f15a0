#include "expr/jmespath/jmespath.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "common/datetime.h"
#include "common/json/arena.h"
#include "common/json/compare.h"
#include "common/json/writer.h"
#include "test_util.h"

// Counts heap allocations made while `g_counting` is set, to show that the
// common evaluation paths allocate nothing.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

// ThreadSanitizer's runtime replaces operator new itself: there, allocations
// are not counted and the test that counts them is skipped.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IOMT_NO_ALLOCATION_COUNT 1
#endif
#endif
#ifndef IOMT_NO_ALLOCATION_COUNT
// GCC cannot see that these free() only what this malloc() returned.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
// The nothrow forms too, so that every non-aligned new pairs with this delete
// (AddressSanitizer checks the pairing).
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#endif  // IOMT_NO_ALLOCATION_COUNT

namespace iomt::jmespath {
namespace {

using json::Kind;
using json::Value;

std::unique_ptr<const Expression> CompileOrDie(std::string_view text) {
  auto compiled = Expression::Compile(text);
  EXPECT_TRUE(compiled.ok()) << text << ": " << compiled.status().ToString();
  if (!compiled.ok()) return nullptr;
  return std::move(compiled).value();
}

// Evaluates `expression` on the JSON `data`; returns the result as compact JSON
// or "error <detail>: <message>".
std::string Eval(std::string_view expression, std::string_view data = "null") {
  auto compiled = Expression::Compile(expression);
  if (!compiled.ok()) return "compile error " + compiled.status().detail() + ": " + compiled.status().message();
  json::Arena arena;
  auto result = (*compiled)->Evaluate(testing::ParseOrDie(data), &arena);
  if (!result.ok()) return "error " + result.status().detail() + ": " + result.status().message();
  return json::ToJson(*result);
}

Status CompileError(std::string_view expression) {
  auto compiled = Expression::Compile(expression);
  EXPECT_FALSE(compiled.ok()) << expression << " compiled";
  return compiled.status();
}

// --- the language ----------------------------------------------------------

TEST(JmesPath, FieldsAndSubExpressionsReadDocuments) {
  EXPECT_EQ(Eval("Body.heartRate", R"({"Body": {"heartRate": 72}})"), "72");
  EXPECT_EQ(Eval("Body.missing", R"({"Body": {"heartRate": 72}})"), "null");
  EXPECT_EQ(Eval("Body.heartRate.x", R"({"Body": {"heartRate": 72}})"), "null");
  EXPECT_EQ(Eval(R"("a b"."c\"d")", R"({"a b": {"c\"d": true}})"), "true");
}

TEST(JmesPath, ProjectionOfMissingFieldsDropsNulls) {
  EXPECT_EQ(Eval("people[*].age", R"({"people": [{"age": 1}, {"name": "x"}, {"age": 3}]})"), "[1,3]");
  EXPECT_EQ(Eval("*.age", R"({"a": {"age": 1}, "b": {}, "c": {"age": 3}})"), "[1,3]");
  EXPECT_EQ(Eval("[].age", R"([[{"age": 1}], {"age": 2}, null])"), "[1,2]");
}

TEST(JmesPath, MultiSelectsKeepNulls) {
  EXPECT_EQ(Eval("[a, b]", R"({"a": 1})"), "[1,null]");
  EXPECT_EQ(Eval("{x: a, y: b}", R"({"a": 1})"), R"({"x":1,"y":null})");
  EXPECT_EQ(Eval("[a, b]", "null"), "null");
}

TEST(JmesPath, ARepeatedMultiSelectKeyKeepsItsPlaceAndTheLastValue) {
  EXPECT_EQ(Eval("{a: `1`, b: `2`, a: `3`}", "{}"), R"({"a":3,"b":2})");
}

TEST(JmesPath, ProjectionsStopAtPipes) {
  EXPECT_EQ(Eval("a[*].b | [0]", R"({"a": [{"b": 1}, {"b": 2}]})"), "1");
  EXPECT_EQ(Eval("a[*].b[0]", R"({"a": [{"b": [1]}, {"b": [2]}]})"), "[1,2]");
}

TEST(JmesPath, SlicesFollowPythonRules) {
  EXPECT_EQ(Eval("[::-1]", "[0,1,2,3]"), "[3,2,1,0]");
  EXPECT_EQ(Eval("[1:3]", "[0,1,2,3]"), "[1,2]");
  EXPECT_EQ(Eval("[-2:]", "[0,1,2,3]"), "[2,3]");
  EXPECT_EQ(Eval("[::-9223372036854775808]", "[0,1,2,3]"), "[3]");
  EXPECT_EQ(Eval("[-9223372036854775808:9223372036854775807:9223372036854775807]", "[0,1,2,3]"), "[0]");
  EXPECT_EQ(Eval("[-9223372036854775808]", "[0,1,2,3]"), "null");
  EXPECT_EQ(Eval("[::2].a", R"([{"a":0},{"a":1},{"a":2}])"), "[0,2]");
}

TEST(JmesPath, SliceStepZeroIsAnInvalidValue) { EXPECT_EQ(Eval("[::0]", "[1]").substr(0, 19), "error invalid-value"); }

TEST(JmesPath, FiltersCompareNumbersAndDeepEquality) {
  const char* data = R"({"a": [{"n": 1}, {"n": 2.5}, {"n": "3"}, {"n": [1, {"x": 1}]}]})";
  EXPECT_EQ(Eval("a[?n > `1`].n", data), "[2.5]");
  EXPECT_EQ(Eval("a[?n == `[1.0, {\"x\": 1}]`].n", data), R"([[1,{"x":1}]])");
  EXPECT_EQ(Eval("a[?n < 'z']", data), "[]");  // ordering of non-numbers is null, so falsy
  EXPECT_EQ(Eval("`9223372036854775807` < `9223372036854775808`", "null"), "true");
  EXPECT_EQ(Eval("`9007199254740993` > `9007199254740992.0`", "null"), "true");
  EXPECT_EQ(Eval("`9007199254740992.0` < `9007199254740993`", "null"), "true");
  EXPECT_EQ(Eval("`18446744073709551615` > `1.5`", "null"), "true");
  EXPECT_EQ(Eval("`1e300` > `18446744073709551615`", "null"), "true");
}

TEST(JmesPath, OrAndNotFollowTruthiness) {
  EXPECT_EQ(Eval("a || b", R"({"a": [], "b": 0})"), "0");
  EXPECT_EQ(Eval("a && b", R"({"a": "", "b": 0})"), R"("")");
  EXPECT_EQ(Eval("!a", R"({"a": {}})"), "true");
  EXPECT_EQ(Eval("a || b || c", R"({"c": 3})"), "3");
}

TEST(JmesPath, LiteralsAndRawStrings) {
  EXPECT_EQ(Eval("`{\"a\": [1, 2.5, \"x\"]}`"), R"({"a":[1,2.5,"x"]})");
  EXPECT_EQ(Eval("`\"back\\`tick\"`"), R"("back`tick")");
  EXPECT_EQ(Eval(R"('it\'s \n')"), R"("it's \\n")");
  EXPECT_EQ(Eval("[`1`, `2`, `\"three\"`, 'four']", "{}"), R"([1,2,"three","four"])");
  EXPECT_EQ(Eval(R"('a\\')"), R"("a\\\\")");  // "\\" is kept, and does not escape the quote
}

TEST(JmesPath, QuotedIdentifiersDecodeJsonEscapesAndSurrogatePairs) {
  EXPECT_EQ(Eval(R"("\ud83d\ude00")", "{\"\xF0\x9F\x98\x80\": 1}"), "1");
  EXPECT_EQ(Eval(R"("\u00e9")", "{\"\xC3\xA9\": 2}"), "2");
  EXPECT_EQ(CompileError(R"("\ud83d")").detail(), "syntax");
  EXPECT_EQ(CompileError(R"("\ude00")").detail(), "syntax");
  EXPECT_EQ(CompileError(R"("\x")").detail(), "syntax");
}

TEST(JmesPath, ExpressionReferencesOnlyWorkAsFunctionArguments) {
  EXPECT_EQ(Eval("sort_by(@, &a)[*].a", R"([{"a": 2}, {"a": 1}])"), "[1,2]");
  EXPECT_EQ(CompileError("&a").detail(), "syntax");
  EXPECT_EQ(CompileError("[&a]").detail(), "syntax");
  EXPECT_EQ(Eval("length(&a)", "{}").substr(0, 18), "error invalid-type");
  EXPECT_EQ(Eval("sort_by(@, a)", "[]").substr(0, 18), "error invalid-type");
}

// --- errors at compile time ------------------------------------------------

TEST(JmesPath, SyntaxErrorsPointAtTheOffendingToken) {
  Status st = CompileError("foo[0, 1]");
  EXPECT_EQ(st.code(), StatusCode::kSyntaxError);
  EXPECT_EQ(st.detail(), "syntax");
  EXPECT_EQ(st.position(), 5);
  EXPECT_EQ(st.message(), "expected ']' but found ','");

  st = CompileError("foo.");
  EXPECT_EQ(st.position(), 4);
  EXPECT_EQ(st.message(), "expected an identifier, '*', '[' or '{' after '.' but found end of expression");

  st = CompileError("a.[b, c");
  EXPECT_EQ(st.position(), 7);
  EXPECT_EQ(st.message(), "expected ',' or ']' but found end of expression");

  st = CompileError("foo[*]bar");
  EXPECT_EQ(st.position(), 6);
  EXPECT_EQ(st.message(), "unexpected identifier 'bar'");

  st = CompileError("a = b");
  EXPECT_EQ(st.position(), 2);
  EXPECT_EQ(st.message(), "unexpected '=' (did you mean '=='?)");

  st = CompileError("x.\"unterminated");
  EXPECT_EQ(st.position(), 2);

  st = CompileError("a | `{bad json}`");
  EXPECT_EQ(st.position(), 4);
  EXPECT_EQ(st.message().rfind("invalid JSON literal", 0), 0u) << st.message();

  st = CompileError("a[1:2:3:4]");
  EXPECT_EQ(st.position(), 7);
  EXPECT_EQ(st.message(), "expected ']' in a slice but found ':'");

  st = CompileError("{a: b, c}");
  EXPECT_EQ(st.position(), 8);
  EXPECT_EQ(st.message(), "expected ':' but found '}'");

  st = CompileError("");
  EXPECT_EQ(st.position(), 0);
  EXPECT_EQ(st.message(), "unexpected end of expression");

  st = CompileError("a\xff");
  EXPECT_EQ(st.position(), 1);
}

TEST(JmesPath, UnknownFunctionsAndWrongArityFailAtCompileTime) {
  Status st = CompileError("a | nope(@)");
  EXPECT_EQ(st.code(), StatusCode::kSyntaxError);
  EXPECT_EQ(st.detail(), "unknown-function");
  EXPECT_EQ(st.position(), 4);
  EXPECT_EQ(st.message(), "unknown function nope()");

  st = CompileError("length(a, b)");
  EXPECT_EQ(st.detail(), "invalid-arity");
  EXPECT_EQ(st.position(), 0);
  EXPECT_EQ(st.message(), "function length() takes 1 argument but 2 were given");

  EXPECT_EQ(CompileError("merge()").message(), "function merge() takes at least 1 argument but 0 were given");
  EXPECT_EQ(CompileError("insertString(a, b)").detail(), "invalid-arity");
  EXPECT_EQ(CompileError("fromUnixTimestampMs(a, b)").detail(), "invalid-arity");
  EXPECT_EQ(CompileError("\"abs\"(a)").detail(), "syntax");
  EXPECT_EQ(CompileError("(abs)(a)").detail(), "syntax");
}

// --- limits ----------------------------------------------------------------

TEST(JmesPath, DeepNestingIsRefusedCleanly) {
  // Each stays under the 64 KiB length limit, so that nesting is what is refused.
  const std::size_t n = 30000;
  for (const std::string& text :
       {std::string(n, '(') + "a" + std::string(n, ')'), std::string(n, '[') + "a" + std::string(n, ']'),
        std::string(n, '!') + "a", std::string(n / 2, '[') + std::string(n / 2, ']'),
        [] {
          std::string s = "a";
          for (int i = 0; i < 20000; ++i)
            s += "[]";
          return s;
        }(),
        [] {
          std::string s = "a";
          for (int i = 0; i < 10000; ++i)
            s += " == a";
          return s;
        }(),
        [] {
          std::string s;
          for (int i = 0; i < 10000; ++i)
            s += "{a: ";
          return s + "b" + std::string(10000, '}');
        }()}) {
    auto compiled = Expression::Compile(text);
    ASSERT_FALSE(compiled.ok()) << text.substr(0, 20);
    EXPECT_EQ(compiled.status().code(), StatusCode::kSyntaxError);
    EXPECT_EQ(compiled.status().detail(), "syntax");
    EXPECT_NE(compiled.status().message().find("nests too deeply"), std::string::npos) << compiled.status().message();
  }
  // 200 levels are fine.
  EXPECT_EQ(Eval(std::string(200, '(') + "a" + std::string(200, ')'), R"({"a": 1})"), "1");
  EXPECT_EQ(Eval(std::string(200, '[') + "a" + std::string(200, ']'), R"({"a": 1})"),
            std::string(199, '[') + "[1" + std::string(200, ']'));
  // 100k-long inputs hit the length limit first, cleanly too.
  EXPECT_EQ(CompileError(std::string(100000, '(')).code(), StatusCode::kSyntaxError);
  EXPECT_EQ(CompileError(std::string(100000, '[')).code(), StatusCode::kSyntaxError);
}

TEST(JmesPath, ExpressionsAtTheNestingLimitCompileAndEvaluate) {
  auto nest = [](const std::string& open, const std::string& inner, const std::string& close, int n) {
    std::string s;
    for (int i = 0; i < n; ++i)
      s += open;
    s += inner;
    for (int i = 0; i < n; ++i)
      s += close;
    return s;
  };
  EXPECT_EQ(Eval(nest("abs(", "`-1`", ")", 250)), "1");
  EXPECT_EQ(Eval(nest("map(&", "@", ", [@])", 120), "{}").substr(0, 3), "[[[");
  EXPECT_EQ(Eval(nest("{a: ", "@", "}", 250), "1").substr(0, 6), R"({"a":{)");
  EXPECT_EQ(Eval(nest("a[?", "a", "]", 120), "{}"), "null");
  EXPECT_EQ(CompileError(nest("abs(", "`-1`", ")", 300)).detail(), "syntax");
}

TEST(JmesPath, LongChainsEvaluateWithoutDeepRecursion) {
  // An object whose member "a" is itself: a.a.a... never runs out.
  json::Member self{"a", Value()};
  Value loop = Value::Object(&self, 1);
  self.value = loop;
  for (const char* op : {".", " | ", " || ", " && "}) {
    std::string text = "a";
    for (int i = 0; i < 10000; ++i)
      text += std::string(op) + "a";
    ASSERT_LT(text.size(), 64u * 1024);
    auto expr = CompileOrDie(text);
    ASSERT_NE(expr, nullptr);
    json::Arena arena;
    auto result = expr->Evaluate(loop, &arena);
    ASSERT_TRUE(result.ok()) << op;
    EXPECT_TRUE(result->SameNode(loop)) << op;
  }
}

TEST(JmesPath, ExpressionsLongerThan64KiBAreRefused) {
  std::string text(64 * 1024, 'a');
  EXPECT_TRUE(Expression::Compile(text).ok());
  text.push_back('a');
  auto compiled = Expression::Compile(text);
  ASSERT_FALSE(compiled.ok());
  EXPECT_EQ(compiled.status().code(), StatusCode::kSyntaxError);
  EXPECT_NE(compiled.status().message().find("limit"), std::string::npos);
}

TEST(JmesPath, RunawayGrowthStopsAtTheEvaluationBudget) {
  // Each stage doubles the array (or string): 2^40 elements if nothing stopped it.
  std::string doubling = "[@]";
  for (int i = 0; i < 40; ++i)
    doubling += " | [@, @][]";
  EXPECT_EQ(Eval(doubling, "1").substr(0, 6), "error ");
  std::string text = "'0123456789abcdef'";
  for (int i = 0; i < 40; ++i)
    text += " | join('', [@, @])";
  auto expr = CompileOrDie(text);
  json::Arena arena;
  auto result = expr->Evaluate(Value(), &arena);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kOutOfRange);
  std::string nested = "'\"'";
  for (int i = 0; i < 40; ++i)
    nested += " | to_string([@])";
  EXPECT_EQ(Eval(nested).substr(0, 6), "error ");
}

// --- results and arenas ----------------------------------------------------

TEST(JmesPath, ResultsStayValidForTheLifeOfTheArena) {
  Value data = testing::ParseOrDie(R"({"people": [{"name": "a", "age": 3}, {"name": "b", "age": 1}]})");
  auto expr = CompileOrDie("{names: sort_by(people, &age)[*].name, label: join('-', people[*].name), n: `[1]`}");
  auto other = CompileOrDie("people[*].{x: to_string(age), y: reverse(name)}");
  json::Arena arena;
  auto first = expr->Evaluate(data, &arena);
  ASSERT_TRUE(first.ok());
  // Later evaluations into the same arena do not disturb earlier results.
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(other->Evaluate(data, &arena).ok());
  EXPECT_EQ(json::ToJson(*first), R"({"names":["b","a"],"label":"a-b","n":[1]})");
}

TEST(JmesPath, EvaluatesArenaBuiltObjects) {
  json::Arena arena;
  json::Member inner[] = {{"height", arena.MakeString("78")}, {"ts", Value::Int(1626799080000)}};
  json::Member outer[] = {{"matchedToken", arena.MakeObject(inner)}};
  Value token = arena.MakeObject(outer);
  auto expr = CompileOrDie("multiply(to_number(matchedToken.height), `0.0254`)");
  auto result = expr->Evaluate(token, &arena);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->kind(), Kind::kDouble);
  auto ts = CompileOrDie("fromUnixTimestampMs(matchedToken.ts)")->Evaluate(token, &arena);
  ASSERT_TRUE(ts.ok());
  EXPECT_EQ(datetime::FormatIso(ts->date_ticks()), "2021-07-20T16:38:00Z");
  EXPECT_EQ(Eval("keys(@)", R"({"b": 1, "a": 2})"), R"(["b","a"])");
}

TEST(JmesPath, OneExpressionEvaluatesOnManyThreadsAtOnce) {
  Value data = testing::ParseOrDie(R"({"a": [3, 1, 2], "s": "x"})");
  auto expr = CompileOrDie("{sorted: sort(a), joined: join(',', a[*].to_string(@)), lit: `[\"k\"]`, s: s}");
  const std::string expected = R"({"sorted":[1,2,3],"joined":"3,1,2","lit":["k"],"s":"x"})";
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        json::Arena arena;
        auto result = expr->Evaluate(data, &arena);
        if (!result.ok() || json::ToJson(*result) != expected) ++mismatches;
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// --- the documentation expressions of iomt-fhir ----------------------------

TEST(JmesPath, IomtFhirTransformDataExampleGivesTheDotNetDouble) {
  auto expr = CompileOrDie("multiply(to_number(matchedToken.height), `0.0254`)");
  json::Arena arena;
  auto result = expr->Evaluate(testing::ParseOrDie(R"({"matchedToken":{"height":"78"}})"), &arena);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->kind(), Kind::kDouble);
  EXPECT_EQ(result->double_value(), 1.9811999999999999);
  EXPECT_EQ(json::ToJson(*result), "1.9811999999999999");
  // to_number of an integer string is an integer, so integer math follows.
  EXPECT_EQ(Eval("multiply(to_number(h), `2`)", R"({"h": "78"})"), "156");
  EXPECT_EQ(Eval("multiply(to_number(h), `2`)", R"({"h": "78.5"})"), "157.0");
}

TEST(JmesPath, FromUnixTimestampMsMakesADate) {
  auto expr = CompileOrDie("fromUnixTimestampMs(matchedToken.ts)");
  json::Arena arena;
  auto result = expr->Evaluate(testing::ParseOrDie(R"({"matchedToken":{"ts":1549061161875}})"), &arena);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->kind(), Kind::kDate);
  EXPECT_EQ(datetime::FormatIso(result->date_ticks()), "2019-02-01T22:46:01.875Z");
  EXPECT_EQ(Eval("type(fromUnixTimestamp(`0`))"), R"("string")");
  EXPECT_EQ(Eval("to_string(fromUnixTimestamp(`0`))"), R"("1970-01-01T00:00:00Z")");
  EXPECT_EQ(Eval("fromUnixTimestamp(`0`) == fromUnixTimestampMs(`0`)"), "true");
}

// --- the custom functions, beyond iomt-fhir's own tests ---------------------

TEST(JmesPath, IntegerArithmeticWrapsLikeUncheckedCSharp) {
  EXPECT_EQ(Eval("subtract(`0`, `-9223372036854775808`)"), "-9223372036854775808");
  EXPECT_EQ(Eval("add(`9223372036854775807`, `1`)"), "-9223372036854775808");
  EXPECT_EQ(Eval("multiply(`4611686018427387904`, `2`)"), "-9223372036854775808");
  EXPECT_EQ(Eval("divide(`-7`, `2`)"), "-3");
  EXPECT_EQ(Eval("divide(`-9223372036854775808`, `-1`)").substr(0, 23), "error OverflowException");
  EXPECT_EQ(Eval("divide(`1`, `0`)").substr(0, 27), "error DivideByZeroException");
  EXPECT_EQ(Eval("divide(`1.0`, `0`)"), R"("Infinity")");
  EXPECT_EQ(Eval("add(`18446744073709551615`, `1`)").substr(0, 23), "error OverflowException");
  EXPECT_EQ(Eval("add(`18446744073709551615`, `1.0`)"), "18446744073709551616.0");
}

TEST(JmesPath, IntegerPowRoundsHalfToEvenAndChecksRange) {
  EXPECT_EQ(Eval("pow(`2`, `-1`)"), "0");
  EXPECT_EQ(Eval("pow(`-2`, `63`)"), "-9223372036854775808");
  EXPECT_EQ(Eval("pow(`2`, `63`)").substr(0, 23), "error OverflowException");
  EXPECT_EQ(Eval("pow(`10`, `18`)"), "1000000000000000000");
  EXPECT_EQ(Eval("pow(`2.0`, `0.5`)"), "1.4142135623730951");
}

TEST(JmesPath, InsertStringCountsUtf16UnitsAndNeverSplitsUtf8) {
  EXPECT_EQ(Eval("insertString('h\u00e9llo', 'X', `2`)"), "\"h\u00e9Xllo\"");
  // U+1F600 is two UTF-16 units: position 2 is inside it, as .NET would split it.
  EXPECT_EQ(Eval("insertString('a\U0001F600b', 'X', `3`)"), "\"a\U0001F600Xb\"");
  EXPECT_EQ(Eval("insertString('a\U0001F600b', 'X', `2`)"), "\"a\uFFFDX\uFFFDb\"");
  EXPECT_EQ(Eval("insertString('a\U0001F600b', 'X', `4`)"), "\"a\U0001F600bX\"");
  EXPECT_EQ(Eval("insertString('a\U0001F600b', 'X', `5`)").substr(0, 33), "error ArgumentOutOfRangeException");
  EXPECT_EQ(Eval("insertString('', '', `0`)"), R"("")");
  EXPECT_EQ(Eval("insertString('ab', 'X', `4294967296`)").substr(0, 23), "error OverflowException");
}

TEST(JmesPath, FromUnixTimestampAcceptsTheDotNetDateRangeOnly) {
  EXPECT_EQ(Eval("fromUnixTimestamp(`253402300799`)"), R"("9999-12-31T23:59:59Z")");
  EXPECT_EQ(Eval("fromUnixTimestamp(`-62135596800`)"), R"("0001-01-01T00:00:00Z")");
  EXPECT_EQ(Eval("fromUnixTimestamp(`253402300800`)").substr(0, 33), "error ArgumentOutOfRangeException");
  EXPECT_EQ(Eval("fromUnixTimestampMs(`253402300799999`)"), R"("9999-12-31T23:59:59.999Z")");
  EXPECT_EQ(Eval("fromUnixTimestampMs(`-9223372036854775808`)").substr(0, 33), "error ArgumentOutOfRangeException");
  EXPECT_EQ(Eval("fromUnixTimestamp(`18446744073709551615`)").substr(0, 33), "error ArgumentOutOfRangeException");
  EXPECT_EQ(Eval("fromUnixTimestamp(`1.0`)").substr(0, 18), "error invalid-type");
  EXPECT_EQ(Eval("fromUnixTimestamp('1')").substr(0, 18), "error invalid-type");
}

// --- built-in functions ----------------------------------------------------

TEST(JmesPath, StringFunctionsWorkOnCodePoints) {
  EXPECT_EQ(Eval("length('\U0001F600\u00e9a')"), "3");
  EXPECT_EQ(Eval("reverse('a\u00e9\U0001F600')"), "\"\U0001F600\u00e9a\"");
  EXPECT_EQ(Eval("sort(['\U0001F600', '\uFFFF', 'z', '\u00e9'])", "{}"),
            "[\"z\",\"\u00e9\",\"\uFFFF\",\"\U0001F600\"]");
  EXPECT_EQ(Eval("max(['\U0001F600', '\uFFFF'])", "{}"), "\"\U0001F600\"");
}

TEST(JmesPath, NumbersKeepTheirKind) {
  EXPECT_EQ(Eval("abs(`-3`)"), "3");
  EXPECT_EQ(Eval("abs(`-9223372036854775808`)"), "9223372036854775808");
  EXPECT_EQ(Eval("abs(`-3.5`)"), "3.5");
  EXPECT_EQ(Eval("ceil(`1.2`)"), "2");
  EXPECT_EQ(Eval("floor(`-1.2`)"), "-2");
  EXPECT_EQ(Eval("sum(`[1, 2]`)"), "3");
  EXPECT_EQ(Eval("sum(`[1, 2.5]`)"), "3.5");
  EXPECT_EQ(Eval("sum(`[9223372036854775807, 1]`)"), "9223372036854775808.0");
  EXPECT_EQ(Eval("avg(`[1, 2]`)"), "1.5");
  EXPECT_EQ(Eval("to_number('  42 ')"), "42");
  EXPECT_EQ(Eval("to_number('-1.5e3')"), "-1500.0");
  EXPECT_EQ(Eval("to_number('+-1')"), "null");
  EXPECT_EQ(Eval("to_number('1e999')"), "null");
  EXPECT_EQ(Eval("to_number('0x10')"), "null");
}

TEST(JmesPath, ToStringWritesCompactJson) {
  EXPECT_EQ(Eval("to_string(@)", R"({"a": [1, 2.0, "x\"y"], "b": null})"),
            R"("{\"a\":[1,2.0,\"x\\\"y\"],\"b\":null}")");
  EXPECT_EQ(Eval("to_string('s')"), R"("s")");
}

TEST(JmesPath, SortingIsStableAndTotalEvenWithNaN) {
  EXPECT_EQ(Eval("sort_by(@, &k)[*].i", R"([{"k": 2, "i": 0}, {"k": 1, "i": 1}, {"k": 2, "i": 2}, {"k": 1, "i": 3}])"),
            "[1,3,0,2]");
  // divide(0.0, 0.0) is NaN; sorting must neither crash nor loop.
  EXPECT_EQ(Eval("sort([divide(`0.0`, `0.0`), `1`, `-1`, divide(`0.0`, `0.0`)])", "{}"), R"([-1,1,"NaN","NaN"])");
  EXPECT_EQ(Eval("sort(`[1, \"a\"]`)").substr(0, 18), "error invalid-type");
}

TEST(JmesPath, MergeLetsLaterObjectsWin) {
  EXPECT_EQ(Eval("merge(`{\"a\": 1, \"b\": 2}`, `{\"a\": 3}`)"), R"({"a":3,"b":2})");
  std::string many = "merge(";
  for (int i = 0; i < 20; ++i)
    many += (i ? ", " : "") + std::string("`{\"k") + std::to_string(i % 7) + "\": " + std::to_string(i) + "}`";
  EXPECT_EQ(Eval(many + ")"), R"({"k0":14,"k1":15,"k2":16,"k3":17,"k4":18,"k5":19,"k6":13})");
}

TEST(JmesPath, TypeErrorsNameTheFunctionAndArgument) {
  std::string r = Eval("abs('x')");
  EXPECT_EQ(r, "error invalid-type: invalid-type: function abs() expects argument 1 to be a number, but got a string");
  r = Eval("join(', ', `[\"a\", 1]`)");
  EXPECT_NE(r.find("argument 2"), std::string::npos) << r;
}

// --- speed -----------------------------------------------------------------

TEST(JmesPath, CommonPathsEvaluateWithoutHeapAllocation) {
#ifdef IOMT_NO_ALLOCATION_COUNT
  GTEST_SKIP() << "allocations are not counted under ThreadSanitizer";
#endif
  Value data = testing::ParseOrDie(
      R"({"Body": {"heartRate": 72, "steps": 10}, "matchedToken": {"ts": 1626799080000, "height": "78"}})");
  auto heart = CompileOrDie("Body.heartRate");
  auto ts = CompileOrDie("fromUnixTimestampMs(matchedToken.ts)");
  auto mul = CompileOrDie("multiply(to_number(matchedToken.height), `0.0254`)");
  json::Arena arena;
  g_allocations = 0;
  g_counting = true;
  bool ok = true;
  for (int i = 0; i < 100; ++i) {
    ok =
        ok && heart->Evaluate(data, &arena).ok() && ts->Evaluate(data, &arena).ok() && mul->Evaluate(data, &arena).ok();
  }
  g_counting = false;
  EXPECT_TRUE(ok);
  EXPECT_EQ(g_allocations.load(), 0);

  // Not an assertion (timing is the benchmark's job); printed for the record.
  for (const auto* e : {heart.get(), ts.get()}) {
    constexpr int kRuns = 200000;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kRuns; ++i) {
      auto r = e->Evaluate(data, &arena);
      if (!r.ok()) std::abort();
    }
    auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / kRuns;
    std::printf("%s: %.1f ns per evaluation\n", e->text().c_str(), ns);
  }
}

}  // namespace
}  // namespace iomt::jmespath

namespace iomt::jmespath {
namespace {

TEST(JmesPath, KnowsWhichExpressionsProject) {
  for (const char* e : {"Body[?x]", "a[*].b", "a[]", "a[0:2]", "a.*", "to_array(@)[?x]", "x | a[*]", "x.a[*]"}) {
    auto c = Expression::Compile(e);
    ASSERT_TRUE(c.ok()) << e;
    EXPECT_TRUE((*c)->IsProjection()) << e;
  }
  for (const char* e : {"a", "a.b", "a[0]", "a[*] | [0]", "[a, b]", "length(a[*])", "a[?x] | length(@)", "@"}) {
    auto c = Expression::Compile(e);
    ASSERT_TRUE(c.ok()) << e;
    EXPECT_FALSE((*c)->IsProjection()) << e;
  }
}

}  // namespace
}  // namespace iomt::jmespath
