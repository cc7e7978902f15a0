// FHIR conversion speed: measurements to Observation JSON, in memory (issue
// targets: at least 500,000 Quantity Observations/s and 50,000 SampledData
// merges/s on one core).
//
// bench/run.sh runs this with repetitions, then bench/fhir_baseline.js (the
// same work done the straightforward way in Node.js) in the same run, and
// prints the ratios with bench/fhir_report.js. `fhir_bench --dump=DIR` writes
// the Observations the benchmarks produce for their first iteration, which
// fhir_baseline.js --check compares with its own (so the two do the same
// work).
//
// The workloads (mirrored exactly in fhir_baseline.js):
// - Quantity: template "heartrate" of bench/mappings/fhir/fhirmapping.json
//   (periodInterval 0, a category, LOINC 8867-4, count/min). Iteration i is
//   one measurement at 2023-01-01T00:00:00Z + i seconds, value
//   kValues[i % 60]: every Observation is new.
// - SampledData: template "hrstream" (periodInterval 60, defaultPeriod
//   1000 ms: 3600 slots an hour). The existing Observation of the hour
//   2023-01-01T00 has readings at the even seconds (1800 filled slots, "E"
//   at the odd ones); iteration i merges 10 readings at the odd seconds
//   2 * ((i % 180) * 10 + j) + 1, j < 10, value kValues[(i + j) % 60].
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/datetime.h"
#include "common/json/node.h"
#include "common/measurement.h"
#include "fhir/fhir_mapping.h"
#include "fhir/observation.h"
#include "fhir/observation_group.h"
#include "fhir/observation_writer.h"
#include "fhir/sampled_data.h"
#include "group/measurement_group.h"
#include "identity/resolver.h"
#include "pipeline/transform.h"
#include "store/memory/memory_client.h"

namespace {

using namespace iomt;  // NOLINT(google-build-using-namespace): a benchmark file

constexpr std::int64_t kSecond = datetime::kTicksPerSecond;
// Observations kept in one MemoryFhirClient before the benchmarks that
// create Observations start a fresh one (outside the timing): bounds memory
// at about 100 MB.
constexpr std::int64_t kStoreReset = 1 << 16;
// Merge readings per iteration, and iterations before the odd seconds of the
// hour repeat.
constexpr int kMergeReadings = 10;
constexpr int kMergeCycle = 1800 / kMergeReadings;

std::string Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The readings: "60" ... "119".
const std::vector<std::string>& Values() {
  static const std::vector<std::string> kValues = [] {
    std::vector<std::string> v;
    for (int i = 0; i < 60; ++i)
      v.push_back(std::to_string(60 + i));
    return v;
  }();
  return kValues;
}

std::string Pad6(int n) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%06d", n);
  return buf;
}

struct Fixture {
  fhir::FhirMapping mapping;
  const fhir::FhirTemplate* quantity = nullptr;
  const fhir::FhirTemplate* sampled = nullptr;
  std::int64_t base = 0;  // 2023-01-01T00:00:00Z
  std::string error;

  Fixture() {
    fhir::FhirLoadResult loaded = fhir::LoadFhirMapping(Load(std::string(IOMT_BENCH_MAPPINGS) + "/fhirmapping.json"));
    if (!loaded.ok()) {
      error = "bench/mappings/fhir/fhirmapping.json: " + loaded.errors.front().message;
      return;
    }
    mapping = std::move(loaded.mapping);
    quantity = mapping.Find("heartrate");
    sampled = mapping.Find("hrstream");
    if (quantity == nullptr || sampled == nullptr) error = "the mapping lacks heartrate or hrstream";
    datetime::ParseDateTime("2023-01-01T00:00:00Z", &base);
  }
};

const Fixture& F() {
  static const Fixture kFixture;
  return kFixture;
}

bool Ready(benchmark::State& state) {
  if (F().error.empty()) return true;
  state.SkipWithError(F().error.c_str());
  return false;
}

// Device d's names, and its Patient's and Device's logical ids as Create
// mode makes them (SHA-256 of "_" + identifier value).
std::string DeviceName(int d) { return "device-" + Pad6(d); }
std::string PatientName(int d) { return "patient-" + Pad6(d); }
fhir::ObservationRefs Refs(int d) {
  return fhir::ObservationRefs{fhir::ResourceIdForIdentifier("", PatientName(d)),
                               fhir::ResourceIdForIdentifier("", DeviceName(d)), std::nullopt};
}

OwnedMeasurement Reading(const std::string& type, int d, std::int64_t ticks, const std::string& value) {
  OwnedMeasurement m;
  m.type = type;
  m.occurrence_ticks = ticks;
  m.ingestion_ticks = ticks + kSecond;
  m.device_id = DeviceName(d);
  m.patient_id = PatientName(d);
  m.properties.push_back({"hr", value});
  return m;
}

group::MeasurementGroup Group(const std::string& type, int d) {
  group::MeasurementGroup g;
  g.type = type;
  g.device_id = DeviceName(d);
  g.patient_id = PatientName(d);
  return g;
}

// Iteration i's Quantity measurement, written into the group's only one.
void SetQuantity(group::MeasurementGroup* g, std::int64_t i) {
  OwnedMeasurement& m = g->data.front();
  m.occurrence_ticks = F().base + i * kSecond;
  m.ingestion_ticks = m.occurrence_ticks + kSecond;
  m.properties.front().value = Values()[i % 60];
}

group::MeasurementGroup QuantityGroup(int d) {
  group::MeasurementGroup g = Group("heartrate", d);
  g.data.push_back(Reading("heartrate", d, F().base, Values()[0]));
  return g;
}

// The existing Observation of the hour: readings at the even seconds.
std::string ExistingSampled() {
  group::MeasurementGroup g = Group("hrstream", 0);
  for (int s = 0; s < 3600; s += 2)
    g.data.push_back(Reading("hrstream", 0, F().base + s * kSecond, Values()[(s / 2) % 60]));
  auto groups = fhir::BuildObservationGroups(g, F().sampled->period);
  if (!groups.ok() || groups->size() != 1) return {};
  auto obs = fhir::CreateObservation(*F().sampled, groups->front(), "hrstream", Refs(0), F().base);
  return obs.ok() ? obs->json : std::string();
}

// The merge groups: group k holds the readings of iterations i with
// i % kMergeCycle == k.
const std::vector<group::MeasurementGroup>& MergeGroups() {
  static const std::vector<group::MeasurementGroup> kGroups = [] {
    std::vector<group::MeasurementGroup> groups;
    for (int k = 0; k < kMergeCycle; ++k) {
      group::MeasurementGroup g = Group("hrstream", 0);
      for (int j = 0; j < kMergeReadings; ++j) {
        int second = 2 * (k * kMergeReadings + j) + 1;
        g.data.push_back(Reading("hrstream", 0, F().base + second * kSecond, Values()[(k + j) % 60]));
      }
      groups.push_back(std::move(g));
    }
    return groups;
  }();
  return kGroups;
}

// ---- Quantity ------------------------------------------------------------------

// Measurement group -> observation groups -> Observation JSON (identifier,
// SHA-256 id, every member).
void BM_QuantityInstance(benchmark::State& state) {
  if (!Ready(state)) return;
  const fhir::FhirTemplate& t = *F().quantity;
  group::MeasurementGroup g = QuantityGroup(0);
  const fhir::ObservationRefs refs = Refs(0);
  std::int64_t i = 0;
  std::size_t bytes = 0;
  for (auto _ : state) {
    SetQuantity(&g, i++);
    auto groups = fhir::BuildObservationGroups(g, t.period);
    auto obs = fhir::CreateObservation(t, groups->front(), g.type, refs, F().base);
    bytes += obs->json.size();
    benchmark::DoNotOptimize(obs);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["json_bytes"] = static_cast<double>(bytes) / static_cast<double>(i);
}
BENCHMARK(BM_QuantityInstance);

// The same through ObservationWriter::Save into a MemoryFhirClient: the
// writer's cache misses, the identifier search finds nothing, the
// Observation is built and PUT into the map (which parses it for its
// identifiers), and the writer remembers it. A fresh client and writer every
// kStoreReset Observations, outside the timing.
void BM_QuantityInstanceSaved(benchmark::State& state) {
  if (!Ready(state)) return;
  const fhir::FhirTemplate& t = *F().quantity;
  group::MeasurementGroup g = QuantityGroup(0);
  const fhir::ObservationRefs refs = Refs(0);
  auto client = std::make_unique<store::MemoryFhirClient>();
  auto writer = std::make_unique<fhir::ObservationWriter>(client.get());
  std::int64_t i = 0;
  for (auto _ : state) {
    if (i % kStoreReset == kStoreReset - 1) {
      state.PauseTiming();
      writer.reset();
      client = std::make_unique<store::MemoryFhirClient>();
      writer = std::make_unique<fhir::ObservationWriter>(client.get());
      state.ResumeTiming();
    }
    SetQuantity(&g, i++);
    auto groups = fhir::BuildObservationGroups(g, t.period);
    auto saved = writer->Save(t, groups->front(), g.type, refs, F().base);
    if (!saved.ok() || saved->outcome != fhir::SaveOutcome::kCreated) {
      state.SkipWithError("Save did not create the Observation");
      break;
    }
    benchmark::DoNotOptimize(saved);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_QuantityInstanceSaved);

// Where the Quantity time goes: each step alone.
void BM_QuantityObservationGroupsOnly(benchmark::State& state) {
  if (!Ready(state)) return;
  group::MeasurementGroup g = QuantityGroup(0);
  std::int64_t i = 0;
  for (auto _ : state) {
    SetQuantity(&g, i++);
    auto groups = fhir::BuildObservationGroups(g, F().quantity->period);
    benchmark::DoNotOptimize(groups);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_QuantityObservationGroupsOnly);

void BM_QuantityCreateOnly(benchmark::State& state) {
  if (!Ready(state)) return;
  group::MeasurementGroup g = QuantityGroup(0);
  auto groups = fhir::BuildObservationGroups(g, F().quantity->period);
  const fhir::ObservationRefs refs = Refs(0);
  for (auto _ : state) {
    auto obs = fhir::CreateObservation(*F().quantity, groups->front(), g.type, refs, F().base);
    benchmark::DoNotOptimize(obs);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_QuantityCreateOnly);

void BM_QuantityIdOnly(benchmark::State& state) {  // identifier value + SHA-256 id
  if (!Ready(state)) return;
  const fhir::ObservationRefs refs = Refs(0);
  const std::string segment = fhir::TimeIdSegment(F().base, F().base);
  for (auto _ : state) {
    std::string value = fhir::ObservationIdentifierValue(refs, "heartrate", segment);
    std::string id = fhir::ResourceIdForIdentifier(fhir::kServiceSystem, value);
    benchmark::DoNotOptimize(id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_QuantityIdOnly);

// The whole convert stage (GroupConverter: template, observation groups,
// identity resolution in Create mode, Save) for Quantity groups of
// state.range(0) measurements, over 10 devices whose identities are cached
// after their first group. Items: Observations.
void BM_GroupConverterQuantity(benchmark::State& state) {
  if (!Ready(state)) return;
  const int per_group = static_cast<int>(state.range(0));
  constexpr int kDevices = 10;
  std::vector<group::MeasurementGroup> groups;
  for (int d = 0; d < kDevices; ++d) {
    group::MeasurementGroup g = Group("heartrate", d);
    for (int j = 0; j < per_group; ++j)
      g.data.push_back(Reading("heartrate", d, F().base, Values()[0]));
    groups.push_back(std::move(g));
  }
  struct Stage {
    store::MemoryFhirClient client;
    identity::IdentityResolver resolver{&client, identity::ResolverOptions{}};
    fhir::ObservationWriter writer{&client};
    pipeline::PipelineStats stats;
    pipeline::GroupConverter converter;
    explicit Stage(const fhir::FhirMapping& mapping) : converter(mapping, &resolver, &writer, &stats) {}
  };
  auto stage = std::make_unique<Stage>(F().mapping);
  std::int64_t i = 0;  // groups converted
  std::int64_t since_reset = 0;
  std::int64_t failed = 0;
  for (auto _ : state) {
    if (since_reset >= kStoreReset) {
      state.PauseTiming();
      failed += stage->stats.failed_groups;
      stage = std::make_unique<Stage>(F().mapping);
      since_reset = 0;
      state.ResumeTiming();
    }
    group::MeasurementGroup& g = groups[i % kDevices];
    for (int j = 0; j < per_group; ++j) {
      OwnedMeasurement& m = g.data[j];
      m.occurrence_ticks = F().base + (i * per_group + j) * kSecond;
      m.ingestion_ticks = m.occurrence_ticks + kSecond;
      m.properties.front().value = Values()[(i + j) % 60];
    }
    ++i;
    since_reset += per_group;
    auto failure = stage->converter.Convert(g, F().base);
    benchmark::DoNotOptimize(failure);
  }
  failed += stage->stats.failed_groups;
  if (failed > 0) state.SkipWithError("some groups failed");
  state.SetItemsProcessed(state.iterations() * per_group);
  state.SetLabel(std::to_string(per_group) + " measurement" + (per_group == 1 ? "" : "s") + "/group");
}
BENCHMARK(BM_GroupConverterQuantity)->Arg(1)->Arg(100);

// ---- SampledData ------------------------------------------------------------

// Observation groups of the new readings, parse of the existing Observation
// (as the writer does), merge, JSON text.
void BM_SampledDataHourlyMerge(benchmark::State& state) {
  if (!Ready(state)) return;
  const fhir::FhirTemplate& t = *F().sampled;
  const std::string existing = ExistingSampled();
  const auto& merges = MergeGroups();
  std::int64_t i = 0;
  for (auto _ : state) {
    const group::MeasurementGroup& g = merges[i++ % kMergeCycle];
    auto groups = fhir::BuildObservationGroups(g, t.period);
    auto node = json::ParseNode(existing);
    auto merged = fhir::MergeObservation(t, groups->front(), *node);
    if (!merged.ok() || !merged->changed) {
      state.SkipWithError("the merge changed nothing");
      break;
    }
    benchmark::DoNotOptimize(merged);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["json_bytes"] = static_cast<double>(existing.size());
}
BENCHMARK(BM_SampledDataHourlyMerge);

// The same through ObservationWriter::Save, the Observation in a
// MemoryFhirClient and in the writer's cache: each iteration is observation
// groups + parse + merge + PUT with If-Match (the memory client parses the
// PUT for its identifiers) + the writer remembering the new version. The
// stored Observation gains the readings, so every 18 iterations (180 new
// seconds: 1800 to 1980 filled slots) a fresh client and writer start from
// the existing Observation again, outside the timing.
void BM_SampledDataHourlySaved(benchmark::State& state) {
  if (!Ready(state)) return;
  const fhir::FhirTemplate& t = *F().sampled;
  const std::string existing = ExistingSampled();
  const auto& merges = MergeGroups();
  const fhir::ObservationRefs refs = Refs(0);
  std::unique_ptr<store::MemoryFhirClient> client;
  std::unique_ptr<fhir::ObservationWriter> writer;
  // The first reading of the existing Observation again: a Save that changes
  // nothing but puts the Observation in the writer's cache.
  group::MeasurementGroup warm = Group("hrstream", 0);
  warm.data.push_back(Reading("hrstream", 0, F().base, Values()[0]));
  auto warm_groups = fhir::BuildObservationGroups(warm, t.period);
  auto fresh = [&]() -> bool {
    writer.reset();
    client = std::make_unique<store::MemoryFhirClient>();
    writer = std::make_unique<fhir::ObservationWriter>(client.get());
    std::string id = fhir::ResourceIdForIdentifier(
        fhir::kServiceSystem, fhir::ObservationIdentifierValue(refs, "hrstream", warm_groups->front().id_segment));
    if (!client->Put("Observation", id, existing, std::nullopt).ok()) return false;
    auto saved = writer->Save(t, warm_groups->front(), "hrstream", refs, F().base);
    return saved.ok() && saved->outcome == fhir::SaveOutcome::kUnchanged;
  };
  if (!fresh()) {
    state.SkipWithError("cannot set up the store");
    return;
  }
  constexpr int kResetEvery = 18;
  std::int64_t i = 0;
  for (auto _ : state) {
    if (i % kResetEvery == 0 && i > 0) {
      state.PauseTiming();
      bool ok = fresh();
      state.ResumeTiming();
      if (!ok) {
        state.SkipWithError("cannot set up the store");
        break;
      }
    }
    const group::MeasurementGroup& g = merges[i++ % kMergeCycle];
    auto groups = fhir::BuildObservationGroups(g, t.period);
    auto saved = writer->Save(t, groups->front(), "hrstream", refs, F().base);
    if (!saved.ok() || saved->outcome != fhir::SaveOutcome::kUpdated) {
      state.SkipWithError("Save did not update the Observation");
      break;
    }
    benchmark::DoNotOptimize(saved);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SampledDataHourlySaved);

// Where the SampledData time goes: each step alone.
void BM_SampledDataParseOnly(benchmark::State& state) {  // json::ParseNode of the existing Observation
  if (!Ready(state)) return;
  const std::string existing = ExistingSampled();
  for (auto _ : state) {
    auto node = json::ParseNode(existing);
    benchmark::DoNotOptimize(node);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(existing.size()));
}
BENCHMARK(BM_SampledDataParseOnly);

void BM_SampledDataMergeOnly(benchmark::State& state) {  // MergeObservation on the parsed Observation
  if (!Ready(state)) return;
  const fhir::FhirTemplate& t = *F().sampled;
  auto node = json::ParseNode(ExistingSampled());
  const auto& merges = MergeGroups();
  std::vector<fhir::ObservationGroup> groups;
  for (const group::MeasurementGroup& g : merges)
    groups.push_back(std::move(fhir::BuildObservationGroups(g, t.period)->front()));
  std::int64_t i = 0;
  for (auto _ : state) {
    auto merged = fhir::MergeObservation(t, groups[i++ % kMergeCycle], *node);
    benchmark::DoNotOptimize(merged);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SampledDataMergeOnly);

void BM_SampledDataStreamOnly(benchmark::State& state) {  // decode + merge + rebuild the 3600-slot stream
  if (!Ready(state)) return;
  const fhir::FhirTemplate& t = *F().sampled;
  auto node = json::ParseNode(ExistingSampled());
  const std::string& stream = node->Find("valueSampledData")->Find("data")->text();
  const auto& merges = MergeGroups();
  std::vector<fhir::ObservationGroup> groups;
  for (const group::MeasurementGroup& g : merges)
    groups.push_back(std::move(fhir::BuildObservationGroups(g, t.period)->front()));
  std::int64_t i = 0;
  for (auto _ : state) {
    const fhir::ObservationGroup& og = groups[i++ % kMergeCycle];
    std::vector<fhir::TimeValue> decoded;
    fhir::SampledDataToTimeValues(stream, og.start, t.value->period_ticks, &decoded);
    std::vector<fhir::TimeValue> merged;
    fhir::MergeTimeValues(decoded, og.properties.front().values, &merged);
    std::string data;
    data.reserve(stream.size() + 64);
    fhir::BuildSampledData(merged, og.start, og.end, t.value->period_ticks, &data);
    benchmark::DoNotOptimize(data);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SampledDataStreamOnly);

void BM_SampledDataSerializeOnly(benchmark::State& state) {  // json::Node::ToJson of the Observation
  if (!Ready(state)) return;
  auto node = json::ParseNode(ExistingSampled());
  for (auto _ : state) {
    std::string text = node->ToJson();
    benchmark::DoNotOptimize(text);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SampledDataSerializeOnly);

// ---- --dump=DIR ----------------------------------------------------------------

bool Write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text << '\n';
  return static_cast<bool>(out);
}

// The first iteration's Observations of BM_QuantityInstance and
// BM_SampledDataHourlyMerge, and the existing Observation the merge starts
// from, for fhir_baseline.js --check.
int Dump(const std::string& dir) {
  if (!F().error.empty()) {
    std::fprintf(stderr, "error: %s\n", F().error.c_str());
    return 1;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  bool ok = true;
  for (std::int64_t i : {0, 1, 3661}) {
    group::MeasurementGroup g = QuantityGroup(0);
    SetQuantity(&g, i);
    auto groups = fhir::BuildObservationGroups(g, F().quantity->period);
    auto obs = fhir::CreateObservation(*F().quantity, groups->front(), g.type, Refs(0), F().base);
    ok = ok && obs.ok() && Write(dir + "/quantity-" + std::to_string(i) + ".json", obs->json);
  }
  const std::string existing = ExistingSampled();
  ok = ok && !existing.empty() && Write(dir + "/sampled-existing.json", existing);
  for (int i : {0, 7}) {
    auto groups = fhir::BuildObservationGroups(MergeGroups()[i], F().sampled->period);
    auto node = json::ParseNode(existing);
    auto merged = fhir::MergeObservation(*F().sampled, groups->front(), *node);
    ok = ok && merged.ok() && Write(dir + "/sampled-merged-" + std::to_string(i) + ".json", merged->json);
  }
  if (!ok) std::fprintf(stderr, "error: cannot write the samples to %s\n", dir.c_str());
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--dump=", 7) == 0) return Dump(argv[i] + 7);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
