// The store split in files against one store, in one process: the data path
// of `iomt run` (a real Pipeline over RunStream, every batch committed and
// flushed before the next) over the same input, into a fresh embedded store
// (one file, one writer: the baseline) and into a fresh SplitStore of N
// parts (a writer each, on threads of their own), alternated round by round.
// ADR 0024 measured the ceiling with two processes; this measures the split
// as iomt writes through it (docs/adr/0029-store-split.md).
//
//   split_store_bench DEVICE_MAPPING FHIR_MAPPING INPUT DIR [PARTS=2] [BATCH=10000] [ROUNDS=1]
//
// Each round: one store and one pipeline (the baseline); the split store with
// one pipeline, whose Observation writer writes a lane a part at once; and,
// as the ceiling, a pipeline a part, each over the devices of one lane (the
// input dealt by device) into a store of one file of its own, on threads of
// their own (what two processes gave in ADR 0024).
// One JSON line per run, then the round's ratios over the baseline.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ingest/line_reader.h"
#include "pipeline/dead_letters.h"
#include "pipeline/mappings.h"
#include "pipeline/pipeline.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/split_store.h"
#include "store/forwarding_client.h"

namespace {

using namespace iomt;  // NOLINT(google-build-using-namespace): a benchmark file

std::string Slurp(const char* path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Counted : pipeline::DeadLetters {
  long long count = 0;
  Status Write(std::string_view) override {
    ++count;
    return Status::Ok();
  }
};

// Where the writing thread waits on the store: PutMany, Flush, and the rest
// (identity's and the writer's searches, single Puts), in seconds.
// Over a client of several lanes, the lanes too (each timed on its own,
// summed in Total: the lanes' waits overlap, so the sum can exceed the run).
class Timed : public store::ForwardingFhirClient {
 public:
  explicit Timed(store::FhirClient* below, bool with_lanes = true) : ForwardingFhirClient(below) {
    if (with_lanes && below->lanes() > 1) {
      for (std::size_t k = 0; k < below->lanes(); ++k)
        lanes_.push_back(std::make_unique<Timed>(below->Lane(k), false));
    }
  }
  [[nodiscard]] std::size_t lanes() const override { return lanes_.empty() ? 1 : lanes_.size(); }
  [[nodiscard]] std::size_t LaneOf(std::string_view type, std::string_view id) const override {
    return lanes_.empty() ? 0 : below()->LaneOf(type, id);
  }
  store::FhirClient* Lane(std::size_t k) override { return lanes_.empty() ? this : lanes_[k].get(); }
  // This client's waits and its lanes'.
  [[nodiscard]] std::array<double, 3> Total() const {
    std::array<double, 3> t{put_many, flush, searches};
    for (const auto& lane : lanes_) {
      t[0] += lane->put_many;
      t[1] += lane->flush;
      t[2] += lane->searches;
    }
    return t;
  }
  Result<std::vector<Result<store::Resource>>> PutMany(std::vector<store::PutRequest> requests) override {
    const auto start = std::chrono::steady_clock::now();
    auto r = below()->PutMany(std::move(requests));
    put_many += Since(start);
    return r;
  }
  Status Flush() override {
    const auto start = std::chrono::steady_clock::now();
    Status st = below()->Flush();
    flush += Since(start);
    return st;
  }
  Result<std::vector<store::Resource>> SearchByIdentifiers(std::string_view type, std::string_view system,
                                                           const std::vector<std::string>& values) override {
    const auto start = std::chrono::steady_clock::now();
    auto r = below()->SearchByIdentifiers(type, system, values);
    searches += Since(start);
    return r;
  }
  double put_many = 0, flush = 0, searches = 0;

 private:
  std::vector<std::unique_ptr<Timed>> lanes_;
  static double Since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

// What one pipeline did.
struct Ran {
  std::int64_t events = 0;
  double written = 0;
  long long dead = 0;
  double put_many = 0, flush = 0, searches = 0;
};

// The lines of `input` through a Pipeline (RunStream, as `iomt run`) into `store`.
Ran RunPipeline(const pipeline::MappingSet& set, const std::string& input, std::size_t batch,
                store::FhirClient* store) {
  Timed timed(store);
  store::FhirClient* client = &timed;
  const int fd = ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "cannot read %s\n", input.c_str());
    std::exit(2);
  }
  Counted dead;
  pipeline::PipelineOptions options;
  options.batch_events = batch;
  options.now_ticks = 17'000'000'000'000'000;
  options.commit = [client] { return client->Flush(); };
  ingest::LineReader reader(fd);
  pipeline::Pipeline run(&set.device, set.fhir, client, &dead, std::move(options));
  const Status st = pipeline::RunStream(&reader, &run);
  ::close(fd);
  if (!st.ok()) {
    std::fprintf(stderr, "%s: %s\n", input.c_str(), st.ToString().c_str());
    std::exit(1);
  }
  const pipeline::PipelineStats& s = run.stats();
  const std::array<double, 3> waits = timed.Total();
  return {s.events, static_cast<double>(s.created + s.updated), dead.count, waits[0], waits[1], waits[2]};
}

// One pipeline a lane (input), each on a thread of its own, into `store`:
// prints the run and returns Observations written a second.
double Run(const pipeline::MappingSet& set, const std::vector<std::string>& lanes, std::size_t batch,
           const std::vector<store::FhirClient*>& stores, const std::string& label);
double Run(const pipeline::MappingSet& set, const std::vector<std::string>& lanes, std::size_t batch,
           store::FhirClient* store, const std::string& label) {
  return Run(set, lanes, batch, std::vector<store::FhirClient*>(lanes.size(), store), label);
}

// The same, lane i into stores[i].
double Run(const pipeline::MappingSet& set, const std::vector<std::string>& lanes, std::size_t batch,
           const std::vector<store::FhirClient*>& stores, const std::string& label) {
  std::vector<Ran> ran(lanes.size());
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  {
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < lanes.size(); ++i)
      threads.emplace_back([&, i] { ran[i] = RunPipeline(set, lanes[i], batch, stores[i]); });
    ran[0] = RunPipeline(set, lanes[0], batch, stores[0]);
    for (std::thread& t : threads)
      t.join();
  }
  const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Ran all;
  for (const Ran& r : ran) {
    all.events += r.events;
    all.written += r.written;
    all.dead += r.dead;
    all.put_many += r.put_many;
    all.flush += r.flush;
    all.searches += r.searches;
  }
  std::printf(
      "{\"store\":\"%s\",\"lanes\":%zu,\"events\":%lld,\"observations\":%.0f,\"deadLettered\":%lld,"
      "\"seconds\":%.3f,\"observationsPerSecond\":%.0f,\"putManySeconds\":%.3f,\"flushSeconds\":%.3f,"
      "\"identifierSearchSeconds\":%.3f,\"cpuSeconds\":%.3f}\n",
      label.c_str(), lanes.size(), static_cast<long long>(all.events), all.written, all.dead, seconds,
      all.written / seconds, all.put_many, all.flush, all.searches, cpu);
  std::fflush(stdout);
  return all.written / seconds;
}

// The input's lines dealt into `n` files by their device (the text after
// "deviceid":"), so that a device's readings, and with bench/gen.js's W1 its
// patient's, stay in one lane, in order.
std::vector<std::string> DealByDevice(const std::string& input, std::size_t n, const std::string& dir) {
  std::vector<std::string> paths;
  std::vector<std::ofstream> outs;
  for (std::size_t i = 0; i < n; ++i) {
    paths.push_back(dir + "/lane-" + std::to_string(i) + ".ndjson");
    outs.emplace_back(paths.back());
  }
  std::ifstream in(input);
  std::string line;
  const std::string key = "\"deviceid\":\"";
  while (std::getline(in, line)) {
    const std::size_t at = line.find(key);
    const std::size_t from = at == std::string::npos ? 0 : at + key.size();
    const std::size_t end = line.find('"', from);
    const std::string device = line.substr(from, end == std::string::npos ? 0 : end - from);
    outs[std::hash<std::string>{}(device) % n] << line << '\n';
  }
  return paths;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s DEVICE_MAPPING FHIR_MAPPING INPUT DIR [PARTS=2] [BATCH=10000] [ROUNDS=1]\n",
                 argv[0]);
    return 2;
  }
  const std::string device = Slurp(argv[1]), fhir = Slurp(argv[2]);
  const std::string input = argv[3];
  const std::string dir = argv[4];
  const std::size_t parts = argc > 5 ? std::stoul(argv[5]) : 2;
  const std::size_t batch = argc > 6 ? std::stoul(argv[6]) : 10'000;
  const int rounds = argc > 7 ? std::stoi(argv[7]) : 1;
  auto set = pipeline::MakeMappingSet(pipeline::CheckMappings(device, fhir), device, fhir, 1);
  if (!set) {
    std::fprintf(stderr, "the mappings are not valid\n");
    return 2;
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::vector<std::string> lanes = DealByDevice(input, parts, dir);
  const std::string split = "split-" + std::to_string(parts);
  for (int round = 1; round <= rounds; ++round) {
    double rate[3] = {0, 0, 0};
    // The baseline: one store, one pipeline. Then the split store with one
    // pipeline (its Observations written by a lane a part), and the ceiling:
    // a pipeline a part, each over the devices of one lane (the input dealt
    // by device) into a store of its own.
    for (int kind = 0; kind < 3; ++kind) {
      const std::string at = dir + "/store-" + std::to_string(kind);
      std::filesystem::remove_all(at);
      if (kind == 0) {
        auto store = store::EmbeddedStore::Open(at);
        if (!store.ok()) return std::fprintf(stderr, "%s\n", store.status().ToString().c_str()), 1;
        rate[kind] = Run(*set, {input}, batch, store->get(), "one");
      } else if (kind == 1) {
        auto store = store::SplitStore::Open(at, parts);
        if (!store.ok()) return std::fprintf(stderr, "%s\n", store.status().ToString().c_str()), 1;
        rate[kind] = Run(*set, {input}, batch, store->get(), split);
      } else {
        // Stores of one file each: a part of a split store holds only what
        // routes to it, and a pipeline a part writes its devices' Patients
        // and Observations whatever their ids.
        std::vector<std::unique_ptr<store::EmbeddedStore>> stores;
        std::vector<store::FhirClient*> own;
        for (std::size_t k = 0; k < parts; ++k) {
          auto store = store::EmbeddedStore::Open(at + "/own-" + std::to_string(k));
          if (!store.ok()) return std::fprintf(stderr, "%s\n", store.status().ToString().c_str()), 1;
          own.push_back(store->get());
          stores.push_back(std::move(*store));
        }
        rate[kind] = Run(*set, lanes, batch, own, split + "-pipeline-a-part");
      }
      std::filesystem::remove_all(at);
    }
    std::printf("{\"round\":%d,\"splitOverOne\":%.2f,\"pipelineAPartOverOne\":%.2f}\n", round, rate[1] / rate[0],
                rate[2] / rate[0]);
    std::fflush(stdout);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
