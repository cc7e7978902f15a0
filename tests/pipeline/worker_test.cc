// A connector's worker over a real event log: it writes batch N on a thread
// of its own while it reads and takes in N+1, so these check what that
// overlap must not change — every event written once, in batch order, with
// the same resources and counts as one batch after another; the log
// committed only past what is written; an outage holds the batch (and the
// one taken in behind it is taken in again); a stop during an outage leaves
// the unwritten batches in the log.
#include "pipeline/worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "pipeline/event_log/event_log.h"
#include "pipeline/event_log/event_log_source.h"
#include "store/memory/memory_client.h"
#include "test_util.h"

namespace iomt::pipeline {
namespace {

const std::string kBasic = "conformance/iomt-fhir/sample/templates/basic/";
constexpr std::int64_t kNow =
    17'000'000'000'000'000;  // 2023-11-14 (100 ns ticks): fixed, so runs compare byte for byte

struct Collected : DeadLetters {
  std::vector<std::string> records;
  Status Write(std::string_view record_json) override {
    records.emplace_back(record_json);
    return Status::Ok();
  }
};

// The FHIR service goes away for `failures` writes of a batch's
// Observations, after `healthy` good ones (a fault put in front of a real
// memory store).
class Flaky : public store::MemoryFhirClient {
 public:
  Flaky(int healthy, int failures) : healthy_(healthy), failures_(failures) {}
  Result<std::vector<Result<store::Resource>>> PutMany(std::vector<store::PutRequest> requests) override {
    if (!requests.empty() && requests[0].type == "Observation") {
      if (healthy_ > 0) {
        --healthy_;
      } else if (failures_ > 0) {
        --failures_;
        return Status(StatusCode::kUnavailable, "503 Service Unavailable after 5 attempts")
            .WithError(ErrorName::kFhirService);
      }
    }
    return MemoryFhirClient::PutMany(std::move(requests));
  }
  std::atomic<int> healthy_;
  std::atomic<int> failures_;
};

// `n` basic-sample messages: heart rates of 40 devices over time, and every
// 97th a message no template matches (dead-lettered).
std::vector<ingest::ReceivedEvent> Events(int n) {
  std::vector<ingest::ReceivedEvent> events;
  for (int i = 0; i < n; ++i) {
    ingest::ReceivedEvent& e = events.emplace_back();
    const int minute = i / 40;
    const std::string time = "2023-10-09T" + std::to_string(10 + minute / 60) + ":" + (minute % 60 < 10 ? "0" : "") +
                             std::to_string(minute % 60) + ":00Z";
    const std::string device = "watch-" + std::to_string(i % 40);
    e.text = i % 97 == 96 ? R"({"temperature": 36.6, "deviceid": ")" + device + R"("})"
                          : R"({"heartrate": )" + std::to_string(60 + i % 30) + R"(, "deviceid": ")" + device +
                                R"(", "patientid": "p-)" + std::to_string(i % 40) + R"(", "measurementdatetime": ")" +
                                time + R"("})";
    e.ingestion_ticks = kNow;
  }
  return events;
}

struct Mappings {
  std::shared_ptr<const MappingSet> set;
  Mappings() {
    std::string device = testing::ReadFile(testing::SourcePath(kBasic + "devicecontent.json"));
    std::string fhir = testing::ReadFile(testing::SourcePath(kBasic + "fhirmapping.json"));
    set = MakeMappingSet(CheckMappings(device, fhir), device, fhir, 1);
  }
};

PipelineOptions Options() {
  PipelineOptions options;
  options.now_ticks = kNow;
  return options;
}

// What a client holds, resource by resource.
std::map<std::string, std::string> Contents(const store::MemoryFhirClient& client) {
  std::map<std::string, std::string> out;
  client.ForEach([&](std::string_view type, const store::Resource& r) {
    out[std::string(type) + "/" + r.id] = r.version_id + " " + r.json;
  });
  return out;
}

// The same events, `batch` at a time, one batch after another on this
// thread: what the worker must match.
PipelineStats Reference(const std::vector<ingest::ReceivedEvent>& events, std::size_t batch,
                        store::MemoryFhirClient* client, Collected* dead) {
  Mappings m;
  Pipeline pipeline(&m.set->device, m.set->fhir, client, dead, Options());
  for (std::size_t i = 0; i < events.size(); ++i) {
    EventInput input;
    input.text = events[i].text;
    input.ingestion_ticks = events[i].ingestion_ticks;
    EXPECT_TRUE(pipeline.Accept(input).ok());
    if ((i + 1) % batch == 0 || i + 1 == events.size()) {
      EXPECT_TRUE(pipeline.Flush().ok());
    }
  }
  return pipeline.stats();
}

// A worker over an event log holding the events.
struct Rig {
  testing::TempDir dir;
  std::unique_ptr<EventLog> log;
  Mappings mappings;
  Collected dead;
  std::vector<BatchReport> reports;
  int held = 0, resumed = 0, retries = 0;
  std::vector<std::string> problems;
  std::atomic<bool> stopping{false};
  std::atomic<std::chrono::steady_clock::time_point> deadline{std::chrono::steady_clock::time_point::max()};

  explicit Rig(const std::vector<ingest::ReceivedEvent>& events) {
    EventLogOptions options;
    options.sync = false;
    auto opened = EventLog::Open(dir.path(), options);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    log = std::move(*opened);
    EXPECT_TRUE(AppendEvents(log.get(), events).ok());
  }

  WorkerHooks Hooks(store::FhirClient* client) {
    WorkerHooks hooks;
    hooks.mappings = [this] { return mappings.set; };
    hooks.make_pipeline = [this, client](const MappingSet& m) {
      return std::make_unique<Pipeline>(&m.device, m.fhir, client, &dead, Options());
    };
    hooks.on_batch = [this](const BatchReport& r) { reports.push_back(r); };
    hooks.on_problem = [this](ErrorName, const std::string& message) { problems.push_back(message); };
    hooks.on_held = [this](const Status&) { ++held; };
    hooks.on_resumed = [this] { ++resumed; };
    hooks.on_retry = [this] { ++retries; };
    return hooks;
  }

  // Runs the worker until `done` (checked every 5 ms), then stops it.
  void RunUntil(std::size_t max_events, WorkerHooks hooks, const std::function<bool()>& done) {
    EventLogSource source(log.get());
    BatchWorker worker(&source, WorkerOptions{max_events, std::chrono::milliseconds(0)}, std::move(hooks));
    std::thread run([&] { worker.Run(stopping, deadline); });
    while (!done())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    stopping = true;
    run.join();
  }
  // Until everything in the log is committed.
  void RunToEnd(store::FhirClient* client, std::size_t max_events) {
    const std::uint64_t end = log->next_seq() - 1;
    RunUntil(max_events, Hooks(client), [&] { return log->committed_seq() == end; });
  }

  PipelineStats Counted() const {
    PipelineStats sum;
    for (const BatchReport& r : reports) {
      sum.events += r.counted.events;
      sum.measurements += r.counted.measurements;
      sum.dead_lettered += r.counted.dead_lettered;
      sum.created += r.counted.created;
      sum.updated += r.counted.updated;
      sum.unchanged += r.counted.unchanged;
    }
    return sum;
  }
};

TEST(Worker, OverlappedBatchesWriteWhatOneAfterAnotherWrites) {
  const std::vector<ingest::ReceivedEvent> events = Events(2'500);
  store::MemoryFhirClient expected_store;
  Collected expected_dead;
  const PipelineStats expected = Reference(events, 100, &expected_store, &expected_dead);

  store::MemoryFhirClient client;
  Rig rig(events);
  rig.RunToEnd(&client, 100);

  // 25 batches, each reported once, in order, each with its 100 events.
  ASSERT_EQ(rig.reports.size(), 25u);
  for (const BatchReport& r : rig.reports) {
    EXPECT_EQ(r.counted.events, 100);
    EXPECT_EQ(r.ingestion_ticks.size(), 100u);
    EXPECT_LE(r.start_ticks, r.done_ticks);
  }
  const PipelineStats counted = rig.Counted();
  EXPECT_EQ(counted.events, 2'500);
  EXPECT_EQ(counted.measurements, expected.measurements);
  EXPECT_EQ(counted.dead_lettered, 25);  // every 97th
  EXPECT_EQ(counted.created, expected.created);
  EXPECT_EQ(counted.updated, expected.updated);  // a device's readings merged in order, batch after batch
  EXPECT_EQ(Contents(client), Contents(expected_store));
  EXPECT_EQ(rig.dead.records, expected_dead.records);
  // Committed to the end, and only there.
  EXPECT_EQ(rig.log->committed_seq(), 2'500u);
  EXPECT_EQ(rig.log->pending_records(), 0u);
  EXPECT_EQ(rig.held, 0);
  EXPECT_TRUE(rig.problems.empty());
}

TEST(Worker, AnOutageHoldsTheBatchAndTheOneBehindItIsTakenInAgain) {
  const std::vector<ingest::ReceivedEvent> events = Events(1'000);
  store::MemoryFhirClient expected_store;
  Collected expected_dead;
  const PipelineStats expected = Reference(events, 100, &expected_store, &expected_dead);

  // The 4th batch's write fails twice (its first try and one retry); the
  // 5th was taken in behind it by then.
  Flaky client(3, 2);
  Rig rig(events);
  rig.RunToEnd(&client, 100);

  EXPECT_EQ(client.failures_, 0);
  EXPECT_EQ(rig.held, 1);  // once per outage
  EXPECT_EQ(rig.resumed, 1);
  EXPECT_EQ(rig.retries, 2);
  // Nothing doubled, nothing lost, nothing dead-lettered for the outage.
  ASSERT_EQ(rig.reports.size(), 10u);
  const PipelineStats counted = rig.Counted();
  EXPECT_EQ(counted.events, 1'000);
  EXPECT_EQ(counted.dead_lettered, expected.dead_lettered);
  EXPECT_EQ(counted.created, expected.created);
  EXPECT_EQ(counted.updated, expected.updated);
  EXPECT_EQ(Contents(client), Contents(expected_store));
  EXPECT_EQ(rig.dead.records, expected_dead.records);
  EXPECT_EQ(rig.log->committed_seq(), 1'000u);
}

TEST(Worker, AStopDuringAnOutageLeavesTheUnwrittenBatchesInTheLog) {
  const std::vector<ingest::ReceivedEvent> events = Events(1'000);
  // Two batches are written, then the service stays away.
  Flaky client(2, 1'000'000);
  Rig rig(events);
  WorkerHooks hooks = rig.Hooks(&client);
  std::atomic<bool> held{false};
  hooks.on_held = [&](const Status&) { held = true; };
  rig.RunUntil(100, std::move(hooks), [&] { return held.load(); });

  ASSERT_EQ(rig.reports.size(), 2u);
  EXPECT_EQ(rig.log->committed_seq(), 200u);  // not past the held batch, nor the one read behind it
  EXPECT_EQ(rig.dead.records.size(), 2u);     // the first two batches' own (events 97 and 194)
  // The log was rewound: the next reader starts at the held batch.
  auto again = rig.log->Read(1, 1 << 20, std::chrono::milliseconds(0));
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].seq, 201u);
}

TEST(Worker, APipelineThatRefusesTheBatchHoldsItUntilAFreshOneWritesIt) {
  const std::vector<ingest::ReceivedEvent> events = Events(300);
  store::MemoryFhirClient expected_store;
  Collected expected_dead;
  const PipelineStats expected = Reference(events, 100, &expected_store, &expected_dead);

  // The first pipeline has no device mapping, so it refuses every event;
  // the ones made after it are whole.
  store::MemoryFhirClient client;
  Rig rig(events);
  WorkerHooks hooks = rig.Hooks(&client);
  int made = 0;
  std::vector<std::string> held;
  hooks.make_pipeline = [&](const MappingSet& m) {
    return std::make_unique<Pipeline>(made++ == 0 ? nullptr : &m.device, m.fhir, &client, &rig.dead, Options());
  };
  hooks.on_held = [&](const Status& st) { held.push_back(st.message()); };
  const std::uint64_t end = rig.log->next_seq() - 1;
  rig.RunUntil(100, std::move(hooks), [&] { return rig.log->committed_seq() == end; });

  // Held once, with the refusal, then written by the second pipeline.
  ASSERT_EQ(held.size(), 1u);
  EXPECT_NE(held[0].find("no device mapping"), std::string::npos) << held[0];
  EXPECT_EQ(rig.retries, 1);
  EXPECT_EQ(made, 2);
  ASSERT_EQ(rig.reports.size(), 3u);
  const PipelineStats counted = rig.Counted();
  EXPECT_EQ(counted.events, 300);
  EXPECT_EQ(counted.created, expected.created);
  EXPECT_EQ(counted.updated, expected.updated);
  EXPECT_EQ(Contents(client), Contents(expected_store));
  EXPECT_EQ(rig.dead.records, expected_dead.records);
}

// A store that takes 20 ms a batch, so that events arrive while one is
// written and the worker reads them behind it.
class Slow : public store::MemoryFhirClient {
 public:
  Result<std::vector<Result<store::Resource>>> PutMany(std::vector<store::PutRequest> requests) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return MemoryFhirClient::PutMany(std::move(requests));
  }
};

// The JSON of each resource. The versions depend on how the events fell
// into batches, and so does the status (an Observation updated by a later
// batch is "amended"); the rest does not.
std::map<std::string, std::string> Json(const store::MemoryFhirClient& client) {
  std::map<std::string, std::string> out;
  client.ForEach([&](std::string_view type, const store::Resource& r) {
    std::string json = r.json;
    if (auto at = json.find(R"("status":"amended")"); at != std::string::npos) {
      json.replace(at, 18, R"("status":"final")");
    }
    out[std::string(type) + "/" + r.id] = std::move(json);
  });
  return out;
}

TEST(Worker, EventsThatArriveWhileBatchesAreWrittenAreEachWrittenOnce) {
  const std::vector<ingest::ReceivedEvent> events = Events(600);
  store::MemoryFhirClient expected_store;
  Collected expected_dead;
  Reference(events, 1'000, &expected_store, &expected_dead);

  // The events come one at a time, every 0.2 ms, into the log the worker reads.
  Slow client;
  Rig rig({});
  std::thread sender([&] {
    for (const ingest::ReceivedEvent& e : events) {
      EXPECT_TRUE(AppendEvents(rig.log.get(), {e}).ok());
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  rig.RunUntil(1'000, rig.Hooks(&client), [&] { return rig.log->committed_seq() == events.size(); });
  sender.join();

  std::int64_t counted = 0;
  for (const BatchReport& r : rig.reports) {
    EXPECT_EQ(r.ingestion_ticks.size(), static_cast<std::size_t>(r.counted.events));
    counted += r.counted.events;
  }
  EXPECT_EQ(counted, 600);
  EXPECT_GT(rig.reports.size(), 1u);  // the log was read while batches were written
  const auto got = Json(client), want = Json(expected_store);
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [key, json] : want) {
    EXPECT_TRUE(got.count(key) != 0 && got.at(key) == json) << key;
  }
  EXPECT_EQ(rig.dead.records.size(), expected_dead.records.size());
}

}  // namespace
}  // namespace iomt::pipeline
