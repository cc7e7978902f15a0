// The event log's append throughput: ~300-byte records in batches of 1,000,
// from 1 and 4 threads, with and without fdatasync, in one run so that the
// cases compare on the same disk at the same moment. A reader thread commits
// what it reads, as a connector's worker does, so the log stays within its
// limits and segments are rolled and deleted as in service.
//
//   event_log_bench [dir] [seconds per case]   (dir defaults to /tmp)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/event_log/event_log.h"

namespace {

using iomt::pipeline::EventLog;
using iomt::pipeline::EventLogOptions;

struct Outcome {
  double records_per_s = 0;
  double appends_per_write = 0;  // how many Appends shared one write + fdatasync
  std::uint64_t refused = 0;
};

Outcome RunCase(const std::string& dir, int threads, bool sync, double seconds) {
  std::filesystem::remove_all(dir);
  EventLogOptions options;
  options.sync = sync;
  auto opened = EventLog::Open(dir, options);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    std::exit(1);
  }
  EventLog& log = **opened;
  std::vector<std::string> records;
  for (int i = 0; i < 1000; ++i) {
    std::string r = R"({"deviceId":"device-)" + std::to_string(i % 50) +
                    R"(","measurementType":"heartRate","occurrenceTimeUtc":"2024-03-01T10:00:00Z","value":)" +
                    std::to_string(60 + i % 40) + "}";
    r.resize(300, ' ');
    records.push_back(std::move(r));
  }
  const std::vector<std::string_view> batch(records.begin(), records.end());

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> appended{0}, refused{0};
  std::thread reader([&] {
    while (true) {
      auto got = log.Read(10'000, 16 << 20, std::chrono::milliseconds(20));
      if (!got.ok() || got->empty()) {
        if (stop) return;
        continue;
      }
      if (!log.Commit(got->back().seq).ok()) std::exit(1);
    }
  });
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> appenders;
  appenders.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    appenders.emplace_back([&] {
      while (std::chrono::steady_clock::now() < end) {
        iomt::Status s = log.Append(batch);
        if (s.ok()) {
          appended += batch.size();
        } else if (s.code() == iomt::StatusCode::kOutOfRange) {
          ++refused;
          std::this_thread::yield();
        } else {
          std::fprintf(stderr, "%s\n", s.ToString().c_str());
          std::exit(1);
        }
      }
    });
  }
  for (std::thread& t : appenders)
    t.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stop = true;
  log.Close();
  reader.join();
  const double per_write =
      static_cast<double>(log.appends()) / static_cast<double>(std::max<std::uint64_t>(1, log.group_writes()));
  opened->reset();
  std::filesystem::remove_all(dir);
  return {static_cast<double>(appended) / elapsed, per_write, refused};
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = std::string(argc > 1 ? argv[1] : "/tmp") + "/iomt-event-log-bench";
  const double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
  std::printf("%-8s %-8s %14s %16s %10s\n", "threads", "sync", "records/s", "appends/write", "refused");
  double base = 0;
  for (bool sync : {false, true}) {
    for (int threads : {1, 4}) {
      Outcome o = RunCase(dir, threads, sync, seconds);
      if (base == 0) base = o.records_per_s;
      std::printf("%-8d %-8s %14.0f %16.2f %10llu   (%.2fx of 1 thread without sync)\n", threads, sync ? "yes" : "no",
                  o.records_per_s, o.appends_per_write, static_cast<unsigned long long>(o.refused),
                  o.records_per_s / base);
    }
  }
  return 0;
}
