// Merging readings into an existing SampledData stream gives exactly what
// iomt-fhir's algorithm gives (decode, merge, rebuild; docs/fhir-mappings.md, "The Observation"),
// whichever way iomt computes it. Random streams, random readings.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "common/datetime.h"
#include "common/json/node.h"
#include "fhir/observation.h"
#include "fhir/sampled_data.h"

namespace iomt::fhir {
namespace {

// iomt-fhir's loop, a slot at a time, as BuildSampledData did before it
// appended runs of empty slots: the reference it must still agree with.
std::string SlotBySlot(const std::vector<TimeValue>& values, std::int64_t start, std::int64_t end,
                       std::int64_t period) {
  std::string out;
  std::size_t next = 0;
  bool first = true;
  for (std::int64_t slot = start; slot <= end; slot += period) {
    std::string_view value;
    bool found = false;
    while (next < values.size() && values[next].ticks >= slot && values[next].ticks < slot + period) {
      value = values[next].value;
      found = true;
      ++next;
    }
    if (!first) out.push_back(' ');
    first = false;
    out.append(found ? value : std::string_view("E"));
    if (end - slot < period) break;
  }
  return out;
}

// Random slots and readings: before the start (which holds the rest back),
// several in a slot, past the end, empty values; streams longer than the
// runs BuildSampledData appends at once.
TEST(SampledData, BuildMatchesTheSlotBySlotLoop) {
  std::mt19937 rng(7);
  const char* tokens[] = {"1", "22", "", "333.5"};
  for (int round = 0; round < 3000; ++round) {
    SCOPED_TRACE(round);
    const std::int64_t period = 1 + static_cast<std::int64_t>(rng() % 5);
    const std::int64_t start = 1000 + static_cast<std::int64_t>(rng() % 10);
    const std::int64_t slots =
        round % 10 == 0 ? 2000 + static_cast<std::int64_t>(rng() % 3000) : static_cast<std::int64_t>(rng() % 40);
    const std::int64_t end = start + slots * period - 1 - static_cast<std::int64_t>(rng() % period);
    std::vector<TimeValue> values;
    const int n = static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) {
      std::int64_t t = start - 3 + static_cast<std::int64_t>(rng() % static_cast<std::uint32_t>(slots * period + 8));
      values.push_back({t, tokens[rng() % 4]});
    }
    std::stable_sort(values.begin(), values.end(),
                     [](const TimeValue& a, const TimeValue& b) { return a.ticks < b.ticks; });
    std::string built = "x";  // appends to what is there
    BuildSampledData(values, start, end, period, &built);
    std::string want = "x";
    want.append(SlotBySlot(values, start, end, period));
    EXPECT_EQ(built, want);
  }
  std::string none;
  BuildSampledData({}, 10, 9, 1, &none);
  EXPECT_EQ(none, "");
}

TEST(SampledDataMerge, MatchesDecodeMergeRebuild) {
  FhirLoadResult loaded = LoadCodeValueFhirTemplate(R"({"templateType":"CodeValueFhir","template":{
    "typeName":"t","codes":[],"periodInterval":60,
    "value":{"valueType":"SampledData","valueName":"v","defaultPeriod":60000}}})");
  ASSERT_TRUE(loaded.ok());
  const FhirTemplate& t = loaded.mapping.templates[0];
  const std::int64_t hour = 1'546'300'800LL * datetime::kTicksPerSecond;  // 2019-01-01T00:00Z
  const std::int64_t minute = datetime::kTicksPerMinute;
  std::mt19937 rng(42);
  const char* tokens[] = {"E", "1", "22", "E", "333", "E", ""};
  for (int round = 0; round < 2000; ++round) {
    SCOPED_TRACE(round);
    // The existing stream: 0..70 tokens (shorter, equal or longer than the hour).
    std::string old;
    int n = static_cast<int>(rng() % 71);
    for (int k = 0; k < n; ++k) {
      if (k > 0) old.push_back(' ');
      old.append(tokens[rng() % (round % 5 == 0 ? 7 : 6)]);
    }
    // The existing period: the hour, or a part of it (it widens).
    std::int64_t obs_start = hour + (rng() % 4 == 0 ? static_cast<std::int64_t>(rng() % 30) * minute : 0);
    std::int64_t obs_end =
        rng() % 3 == 0 ? hour + 60 * minute - 1 : obs_start + static_cast<std::int64_t>(rng() % 20) * minute;
    // The new readings: sorted, some in one slot, some at a slot's start.
    ObservationGroup g;
    g.start = hour;
    g.end = hour + 60 * minute - 1;
    g.properties.push_back({"v", {}});
    std::vector<std::string> keep;
    keep.reserve(64);
    std::int64_t time = hour + static_cast<std::int64_t>(rng() % 10) * (minute / 4);
    int m = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < m && time <= g.end; ++i) {
      keep.push_back(std::to_string(100 + i));
      g.properties[0].values.push_back({time, keep.back()});
      time += static_cast<std::int64_t>(rng() % 4) * (minute / 3) + (rng() % 2);
    }
    json::Node existing = *json::ParseNode(
        R"({"resourceType":"Observation","status":"final","effectivePeriod":{"start":")" +
        datetime::FormatRoundTrip(obs_start) + R"(","end":")" + datetime::FormatRoundTrip(obs_end) +
        R"("},"valueSampledData":{"origin":{"value":0},"period":60000,"dimensions":1,"data":")" + old + R"("}})");
    auto merged = MergeObservation(t, g, existing);
    ASSERT_TRUE(merged.ok()) << merged.status().ToString();
    std::string got = json::ParseNode(merged->json)->Find("valueSampledData")->Find("data")->text();

    std::vector<TimeValue> decoded, all;
    SampledDataToTimeValues(old, obs_start, minute, &decoded);
    MergeTimeValues(decoded, g.properties[0].values, &all);
    std::string want;
    BuildSampledData(all, std::min(g.start, obs_start), std::max(g.end, obs_end), minute, &want);
    ASSERT_EQ(got, want) << "old: '" << old << "'";
    EXPECT_EQ(merged->changed, want != old || obs_start != g.start || obs_end != g.end);
  }
}

}  // namespace
}  // namespace iomt::fhir
