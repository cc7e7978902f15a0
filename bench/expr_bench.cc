// Expression engine speed: parsing device messages, and evaluating the
// expressions mappings use, once the message is parsed (issue 2 targets:
// each evaluation well under 200 ns, parsing at least 1 GB/s).
//
// bench/run.sh runs this and the same expressions through jq and Node's
// jmespath / jsonpath-plus packages, and prints the ratios.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/json/arena.h"
#include "common/json/document.h"
#include "expr/jmespath/jmespath.h"
#include "expr/jsonpath/jsonpath.h"

namespace {

using iomt::json::Document;
using iomt::json::Value;

std::string Load(const char* name) {
  std::ifstream in(std::string(IOMT_BENCH_DATA) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string& Message(int which) {
  static const std::string kFlat = Load("flat.json");
  static const std::string kIotHub = Load("iothub.json");
  return which == 0 ? kFlat : kIotHub;
}

void Label(benchmark::State& state, int which) { state.SetLabel(which == 0 ? "flat 130 B" : "iothub 689 B"); }

void BM_Parse(benchmark::State& state) {
  int which = static_cast<int>(state.range(0));
  const std::string& text = Message(which);
  std::string padded = text + std::string(Document::kPadding, '\0');
  Document doc;
  for (auto _ : state) {
    iomt::Status st = doc.ParsePadded(padded.data(), text.size());
    benchmark::DoNotOptimize(st);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  Label(state, which);
}
BENCHMARK(BM_Parse)->Arg(0)->Arg(1);

// A 1 MiB array of iothub messages: throughput on a large document.
void BM_ParseLarge(benchmark::State& state) {
  std::string text = "[";
  while (text.size() < (1u << 20))
    text += Message(1) + ",";
  text.back() = ']';
  std::string padded = text + std::string(Document::kPadding, '\0');
  Document doc;
  for (auto _ : state) {
    iomt::Status st = doc.ParsePadded(padded.data(), text.size());
    benchmark::DoNotOptimize(st);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_ParseLarge);

void JsonPathSelectTokens(benchmark::State& state, const char* expr) {
  int which = static_cast<int>(state.range(0));
  Document doc;
  if (!doc.Parse(Message(which)).ok()) state.SkipWithError("bad message");
  auto path = iomt::jsonpath::Path::Parse(expr);
  if (!path.ok()) state.SkipWithError(path.status().message().c_str());
  std::vector<Value> out;
  out.reserve(16);
  for (auto _ : state) {
    out.clear();
    iomt::Status st = path->SelectTokens(doc.root(), &out);
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["matches"] = static_cast<double>(out.size());
  Label(state, which);
}

void JsonPathSelectToken(benchmark::State& state, const char* expr) {
  int which = static_cast<int>(state.range(0));
  Document doc;
  if (!doc.Parse(Message(which)).ok()) state.SkipWithError("bad message");
  auto path = iomt::jsonpath::Path::Parse(expr);
  if (!path.ok()) state.SkipWithError(path.status().message().c_str());
  for (auto _ : state) {
    auto v = path->SelectToken(doc.root());
    benchmark::DoNotOptimize(v);
  }
  Label(state, which);
}

BENCHMARK_CAPTURE(JsonPathSelectTokens, recursive_filter, "$..[?(@heartrate)]")->Arg(0)->Arg(1);
BENCHMARK_CAPTURE(JsonPathSelectToken, body_heartrate, "$.Body.heartRate")->Arg(0)->Arg(1);
BENCHMARK_CAPTURE(JsonPathSelectToken, iothub_device_id, "$.SystemProperties.iothub-connection-device-id")
    ->Arg(0)
    ->Arg(1);

// CalculatedContent evaluates on the message with `matchedToken` added; the
// benchmark evaluates on such a wrapper, with `ts` in the matched token.
void JmesPathOnMatchedToken(benchmark::State& state, const char* expr) {
  int which = static_cast<int>(state.range(0));
  Document doc;
  if (!doc.Parse(Message(which)).ok()) state.SkipWithError("bad message");
  Document token;
  if (!token.Parse(R"({"ts":1626799080000,"heartRate":78})").ok()) state.SkipWithError("bad token");
  std::vector<iomt::json::Member> members;
  for (const iomt::json::Member& m : doc.root().members())
    members.push_back(m);
  members.push_back({"matchedToken", token.root()});
  Value root = Value::Object(members.data(), members.size());
  auto compiled = iomt::jmespath::Expression::Compile(expr);
  if (!compiled.ok()) {
    state.SkipWithError(compiled.status().message().c_str());
    return;
  }
  iomt::json::Arena arena;
  for (auto _ : state) {
    auto v = (*compiled)->Evaluate(root, &arena);
    benchmark::DoNotOptimize(v);
    arena.Reset();
  }
  Label(state, which);
}
BENCHMARK_CAPTURE(JmesPathOnMatchedToken, from_unix_timestamp_ms, "fromUnixTimestampMs(matchedToken.ts)")
    ->Arg(0)
    ->Arg(1);
BENCHMARK_CAPTURE(JmesPathOnMatchedToken, body_heartrate, "Body.heartRate")->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
