// Embedded store speed: Observations written durably through PutMany in
// batches, each batch preceded by the identifier search that
// ObservationWriter::SaveMany makes (chunks of 200), as `iomt run` does.
// Issue 5 targets on this 2-core machine: at least 100,000 Observations/s,
// p99 batch commit under 50 ms.
//
// Baselines in the same run: the in-memory store (the same work without
// SQLite or disk), and the same embedded store used naively, one transaction
// (one fsync) per Put. Prints a table and the ratios.
//
//   store_bench [--batches N] [--batch-size N] [--dir DIR] [--naive N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "store/embedded/embedded_store.h"
#include "store/memory/memory_client.h"

namespace {

using namespace iomt;  // NOLINT(google-build-using-namespace): a benchmark file
using Clock = std::chrono::steady_clock;

constexpr const char* kSystem = "https://azure.microsoft.com/en-us/services/iomt-fhir-connector/";

std::string Hex(const std::string& s) { return Sha256Hex(s); }

// An Observation as iomt's builder writes one for a Quantity reading
// (template "heartrate", periodInterval 0): ~750 bytes.
struct Obs {
  std::string id;
  std::string identifier;
  std::string json;
};

Obs MakeObservation(std::int64_t n, int devices) {
  const std::int64_t device = n % devices;
  const std::string patient_id = Hex("_patient-" + std::to_string(device));
  const std::string device_id = Hex("_device-" + std::to_string(device));
  // One reading a second per device, from 2023-10-09T00:00:00Z.
  const long long second = n / devices;
  char when[40];
  std::snprintf(when, sizeof(when), "2023-10-%02lldT%02lld:%02lld:%02lldZ", 9 + second / 86400, second / 3600 % 24,
                second / 60 % 60, second % 60);
  char segment[40];
  std::snprintf(segment, sizeof(segment), "202310%02lld%02lld%02lld%02lldZ", 9 + second / 86400, second / 3600 % 24,
                second / 60 % 60, second % 60);
  Obs o;
  o.identifier = patient_id;
  o.identifier.append(".").append(device_id).append(".heartrate.").append(segment);
  o.id = Hex(std::string(kSystem) + o.identifier);
  std::string& j = o.json;
  j.append(R"({"resourceType":"Observation","id":")").append(o.id);
  j.append(R"(","identifier":[{"system":")").append(kSystem).append(R"(","value":")").append(o.identifier);
  j.append(R"("}],"status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/)");
  j.append(R"(observation-category","code":"vital-signs","display":"Vital Signs"}]}],"code":{"coding":[{)");
  j.append(R"("system":"http://loinc.org","code":"8867-4","display":"Heart rate"},{"system":")").append(kSystem);
  j.append(R"(","code":"heartrate","display":"heartrate"}],"text":"heartrate"},"subject":{"reference":"Patient/)");
  j.append(patient_id).append(R"("},"device":{"reference":"Device/)").append(device_id);
  j.append(R"("},"effectiveDateTime":")").append(when);
  j.append(R"(","issued":"2023-10-09T19:30:00.0000000Z","valueQuantity":{"value":)");
  j.append(std::to_string(60 + n % 60))
      .append(R"(,"unit":"count/min","system":"http://unitsofmeasure.org","code":"/min"}})");
  return o;
}

struct Report {
  std::string name;
  std::int64_t observations = 0;
  double seconds = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double search_s = 0;  // of `seconds`, the identifier searches
  [[nodiscard]] double rate() const { return seconds > 0 ? static_cast<double>(observations) / seconds : 0; }
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

// What SaveMany does for a batch of new Observations: search, then PutMany.
Report RunBatches(const std::string& name, store::FhirClient* client, int batches, int batch_size, int devices) {
  Report r;
  r.name = name;
  std::vector<double> batch_ms;
  std::int64_t n = 0;
  for (int b = 0; b < batches; ++b) {
    std::vector<Obs> obs;
    obs.reserve(static_cast<std::size_t>(batch_size));
    for (int i = 0; i < batch_size; ++i)
      obs.push_back(MakeObservation(n++, devices));
    const auto start = Clock::now();
    for (std::size_t at = 0; at < obs.size(); at += 200) {
      std::vector<std::string> values;
      for (std::size_t i = at; i < std::min(obs.size(), at + 200); ++i)
        values.push_back(obs[i].identifier);
      auto found = client->SearchByIdentifiers("Observation", kSystem, values);
      if (!found.ok() || !found->empty()) std::fprintf(stderr, "%s: unexpected search result\n", name.c_str());
    }
    r.search_s += std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<store::PutRequest> puts;
    puts.reserve(obs.size());
    for (Obs& o : obs)
      puts.push_back({"Observation", o.id, std::move(o.json), std::nullopt});
    auto written = client->PutMany(std::move(puts));
    if (!written.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), written.status().ToString().c_str());
      break;
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    batch_ms.push_back(ms);
    r.seconds += ms / 1000;
    r.observations += batch_size;
  }
  r.p50_ms = Percentile(batch_ms, 0.50);
  r.p99_ms = Percentile(batch_ms, 0.99);
  r.max_ms = batch_ms.empty() ? 0 : *std::max_element(batch_ms.begin(), batch_ms.end());
  return r;
}

// The naive way: every Put its own transaction, committed (fsync) at once.
Report RunNaive(store::EmbeddedStore* store, int count, int devices) {
  Report r;
  r.name = "embedded, one transaction per Put";
  std::vector<double> put_ms;
  for (int i = 0; i < count; ++i) {
    Obs o = MakeObservation(i, devices);
    const auto start = Clock::now();
    auto found = store->SearchByIdentifier("Observation", kSystem, o.identifier, 2);
    auto put = store->Put("Observation", o.id, std::move(o.json), std::nullopt);
    Status flushed = store->Flush();
    if (!found.ok() || !put.ok() || !flushed.ok()) {
      std::fprintf(stderr, "naive: failed\n");
      break;
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    put_ms.push_back(ms);
    r.seconds += ms / 1000;
    ++r.observations;
  }
  r.p50_ms = Percentile(put_ms, 0.50);
  r.p99_ms = Percentile(put_ms, 0.99);
  r.max_ms = put_ms.empty() ? 0 : *std::max_element(put_ms.begin(), put_ms.end());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int batches = 30, batch_size = 10'000, naive = 2'000, devices = 10'000;
  bool check = false, memory_baseline = true;
  long long delta_rows = store::EmbeddedStoreOptions{}.token_delta_rows;
  std::string dir = (std::filesystem::temp_directory_path() / "iomt-store-bench").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--batches") batches = std::atoi(argv[i + 1]);
    if (flag == "--batch-size") batch_size = std::atoi(argv[i + 1]);
    if (flag == "--naive") naive = std::atoi(argv[i + 1]);
    if (flag == "--devices") devices = std::atoi(argv[i + 1]);
    if (flag == "--dir") dir = argv[i + 1];
    if (flag == "--delta") delta_rows = std::atoll(argv[i + 1]);
    if (flag == "--check") check = std::string(argv[i + 1]) == "1";
    if (flag == "--memory") memory_baseline = std::string(argv[i + 1]) == "1";
  }
  std::printf("store_bench: %d batches of %d Observations (%zu bytes each), %d devices\n", batches, batch_size,
              MakeObservation(0, devices).json.size(), devices);

  std::vector<Report> reports;
  {
    store::MemoryFhirClient memory;
    reports.push_back(
        RunBatches("memory store (no disk)", &memory, memory_baseline ? batches : 0, batch_size, devices));
  }
  std::filesystem::remove_all(dir);
  {
    store::EmbeddedStoreOptions options;
    options.token_delta_rows = delta_rows;
    auto store = store::EmbeddedStore::Open(dir + "/grouped", options);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
    reports.push_back(RunBatches("embedded, PutMany (synchronous=FULL)", store->get(), batches, batch_size, devices));
    if (check) {
      Status consistent = (*store)->CheckConsistency();
      std::printf("consistency check: %s\n", consistent.ToString().c_str());
    }
  }
  {
    auto store = store::EmbeddedStore::Open(dir + "/naive");
    if (!store.ok()) return 1;
    reports.push_back(RunNaive(store->get(), naive, devices));
  }
  std::filesystem::remove_all(dir);

  std::printf("%-40s %12s %14s %10s %10s %10s\n", "", "Observations", "Obs/s", "p50 ms", "p99 ms", "max ms");
  for (const Report& r : reports)
    std::printf("%-40s %12lld %14.0f %10.2f %10.2f %10.2f\n", r.name.c_str(), static_cast<long long>(r.observations),
                r.rate(), r.p50_ms, r.p99_ms, r.max_ms);
  for (const Report& r : reports)
    if (r.search_s > 0)
      std::printf("%s: %.0f%% of the time in identifier searches\n", r.name.c_str(), 100 * r.search_s / r.seconds);
  std::printf("(p50/p99/max: per batch of %d for PutMany rows, per Put for the naive row)\n", batch_size);
  const double grouped = reports[1].rate();
  std::printf("embedded PutMany / memory store:  x%.2f\n", grouped / reports[0].rate());
  std::printf("embedded PutMany / one txn per Put: x%.1f\n", grouped / reports[2].rate());
  std::printf("target >= 100000 Obs/s: %s; p99 batch < 50 ms: %s\n", grouped >= 100'000 ? "met" : "NOT met",
              reports[1].p99_ms < 50 ? "met" : "NOT met");
  return 0;
}
