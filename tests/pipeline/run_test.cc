// `iomt run` as a library: every event is carried through or dead-lettered,
// a second run changes nothing, dead letters replay, an unreachable FHIR
// service stops the run without losing anything.
#include "pipeline/pipeline.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

#include "common/datetime.h"
#include "common/json/document.h"
#include "common/json/writer.h"
#include "common/mutex.h"
#include "fhir/fhir_mapping.h"
#include "store/memory/memory_client.h"
#include "test_util.h"

namespace iomt::pipeline {
namespace {

const std::string kBasic = "conformance/iomt-fhir/sample/templates/basic/";

struct Collected : DeadLetters {
  std::vector<std::string> records;
  Status Write(std::string_view record_json) override {
    records.emplace_back(record_json);
    return Status::Ok();
  }
};

// Lines through a LineReader (it reads a file descriptor).
class Input {
 public:
  explicit Input(const std::string& text) {
    char name[] = "/tmp/iomt-run-test-XXXXXX";
    fd_ = mkstemp(name);
    path_ = name;
    EXPECT_EQ(::write(fd_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::lseek(fd_, 0, SEEK_SET);
  }
  ~Input() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;
  [[nodiscard]] int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// The basic sample mappings, run as `iomt run` runs them.
struct Runner {
  normalize::LoadResult device =
      normalize::LoadDeviceMapping(testing::ReadFile(testing::SourcePath(kBasic + "devicecontent.json")));
  fhir::FhirLoadResult fhir =
      fhir::LoadFhirMapping(testing::ReadFile(testing::SourcePath(kBasic + "fhirmapping.json")));
  store::FhirClient* client;

  explicit Runner(store::FhirClient* c, const std::string& fhir_text = "") : client(c) {
    if (!fhir_text.empty()) fhir = fhir::LoadFhirMapping(fhir_text);
    EXPECT_TRUE(fhir.ok());
  }

  PipelineStats Run(const std::string& input, Collected* dead, std::size_t batch = 10'000,
                    std::chrono::milliseconds patience = std::chrono::milliseconds(0)) {
    EXPECT_TRUE(device.ok());
    Input in(input);
    ingest::LineReader reader(in.fd());
    PipelineOptions options;
    options.batch_events = batch;
    options.ingestion_ticks = 0;
    options.outage_patience = patience;
    Pipeline pipeline(&device.mapping, fhir.mapping, client, dead, std::move(options));
    Status st = RunStream(&reader, &pipeline);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return pipeline.stats();
  }
};

std::string Events() {
  return R"({"heartrate": 65, "deviceid": "watch-1", "patientid": "p-1", "measurementdatetime": "2023-10-09T19:18:23Z"}
{"steps": 112, "deviceid": "watch-1", "patientid": "p-1", "measurementdatetime": "2023-10-09T19:19:00Z"}
{"systolic": 121, "diastolic": 79, "deviceid": "cuff-1", "patientid": "p-1", "measurementdatetime": "2023-10-09T19:20:10Z"}
{"temperature": 36.6, "deviceid": "watch-1", "measurementdatetime": "2023-10-09T19:21:00Z"}
not json

{"heartrate": 70, "patientid": "p-1", "measurementdatetime": "2023-10-09T19:22:00Z"}
{"heartrate": 66, "deviceid": "watch-1", "patientid": "p-1", "measurementdatetime": "2023-10-09T19:18:24Z"}
)";
}

std::string Field(const std::string& record, std::string_view key) {
  json::Document doc;
  if (!doc.Parse(record).ok()) return "<bad>";
  json::Value v;
  if (!doc.root().Find(key, &v)) return "<absent>";
  return v.is_string() ? std::string(v.string_value()) : json::ToJson(v);
}

TEST(Run, EveryEventIsCarriedOrDeadLettered) {
  store::MemoryFhirClient client;
  Runner p(&client);
  Collected dead;
  PipelineStats s = p.Run(Events(), &dead);
  EXPECT_EQ(s.events, 7);  // the blank line is not an event
  EXPECT_EQ(s.measurements, 4);
  EXPECT_EQ(s.dead_lettered, 3);
  ASSERT_EQ(dead.records.size(), 3u);
  // The unmatched message, the non-JSON line, the message without a device id.
  EXPECT_EQ(Field(dead.records[0], "errorName"), "UnmatchedDeviceMessage");
  EXPECT_EQ(Field(dead.records[0], "input"), R"({"line":4})");
  EXPECT_NE(Field(dead.records[0], "event").find("\"Body\":{\"temperature\":36.6"), std::string::npos);
  EXPECT_EQ(Field(dead.records[1], "errorName"), "NotSupportedException");
  EXPECT_EQ(Field(dead.records[1], "event"), "not json");  // a JSON string: the line as it was
  EXPECT_EQ(Field(dead.records[2], "errorName"), "DeviceIdentityNotDefinedException");
  EXPECT_EQ(s.errors.at("UnmatchedDeviceMessage"), 1);
  EXPECT_EQ(s.errors.at("NotSupportedException"), 1);
  // heartrate (2 readings, one hour), steps, bloodpressure: 3 Observations.
  EXPECT_EQ(s.created, 3);
  EXPECT_EQ(s.patients_created, 1);
  EXPECT_EQ(s.devices_created, 2);
  const std::string summary = StatsJson(s);
  EXPECT_NE(summary.find(R"("observations":{"created":3,"updated":0,"unchanged":0})"), std::string::npos) << summary;
}

TEST(Run, ASecondRunChangesNothing) {
  store::MemoryFhirClient client;
  Runner p(&client);
  Collected dead;
  p.Run(Events(), &dead);
  std::size_t resources = client.size();
  Runner again(&client);
  Collected dead2;
  PipelineStats s = again.Run(Events(), &dead2);
  EXPECT_EQ(s.created, 0);
  EXPECT_EQ(s.updated, 0);
  EXPECT_EQ(s.unchanged, 3);
  EXPECT_EQ(s.dead_lettered, 3);
  EXPECT_EQ(client.size(), resources);
}

TEST(Run, SmallBatchesMergeIntoTheSameObservations) {
  store::MemoryFhirClient one_batch_client, small_client;
  Runner one(&one_batch_client), small(&small_client);
  Collected d1, d2;
  one.Run(Events(), &d1);
  PipelineStats s = small.Run(Events(), &d2, /*batch=*/1);
  EXPECT_EQ(s.created, 3);
  EXPECT_EQ(s.updated, 1);  // the second heartrate reading merged into the hour
  // The same resources in the end (ids and content), whatever the batching.
  std::vector<std::string> a, b;
  one_batch_client.ForEach([&](std::string_view, const store::Resource& r) { a.push_back(r.id); });
  small_client.ForEach([&](std::string_view, const store::Resource& r) { b.push_back(r.id); });
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(a, b);
}

TEST(Run, DeadLettersReplayAfterTheMappingIsFixed) {
  // A FHIR mapping without the steps template: those events are dead-lettered.
  std::string fhir = testing::ReadFile(testing::SourcePath(kBasic + "fhirmapping.json"));
  std::string without_steps = fhir;
  std::size_t at = without_steps.find("\"typeName\": \"steps\"");
  ASSERT_NE(at, std::string::npos);
  without_steps.replace(at, 19, "\"typeName\": \"stepz\"");
  store::MemoryFhirClient client;
  Runner broken(&client, without_steps);
  Collected dead;
  PipelineStats s = broken.Run(Events(), &dead);
  EXPECT_EQ(s.dead_lettered, 4);
  EXPECT_EQ(s.errors.at("TemplateNotFoundException"), 1);
  // Replay the dead letters with the fixed mapping: the steps event comes
  // through; the others fail again, the same way.
  std::string replay;
  for (const std::string& r : dead.records)
    replay += r + "\n";
  Runner fixed(&client);
  Collected dead2;
  PipelineStats r = fixed.Run(replay, &dead2);
  EXPECT_EQ(r.events, 4);
  EXPECT_EQ(r.created, 1);
  EXPECT_EQ(r.dead_lettered, 3);
  EXPECT_EQ(r.errors.count("TemplateNotFoundException"), 0u);
}

// A FHIR service that cannot be reached.
class Down : public store::MemoryFhirClient {
 public:
  Result<store::Resource> Put(std::string_view, std::string_view, std::string,
                              std::optional<std::string_view>) override {
    return Status(StatusCode::kUnavailable, "503 Service Unavailable after 5 attempts").WithDetail("FHIRServiceError");
  }
};

// Down for the first `failures` writes, then up again.
class Flaky : public store::MemoryFhirClient {
 public:
  explicit Flaky(int failures) : failures_(failures) {}
  Result<std::vector<Result<store::Resource>>> PutMany(std::vector<store::PutRequest> requests) override {
    if (failures_ > 0) {
      --failures_;
      return Status(StatusCode::kUnavailable, "503 Service Unavailable after 5 attempts")
          .WithError(ErrorName::kFhirService);
    }
    return MemoryFhirClient::PutMany(std::move(requests));
  }
  int failures_;
};

TEST(Run, AnOutageIsWaitedOutAndNothingIsDeadLetteredForIt) {
  Flaky flaky(2);
  store::MemoryFhirClient clean;
  Collected dead_flaky, dead_clean;
  PipelineStats s = Runner(&flaky).Run(Events(), &dead_flaky, 10'000, std::chrono::seconds(30));
  PipelineStats c = Runner(&clean).Run(Events(), &dead_clean);
  EXPECT_EQ(flaky.failures_, 0);  // it was tried until the service came back
  EXPECT_FALSE(s.unavailable);
  // Only what fails on its own is dead-lettered, once, as without the outage.
  EXPECT_EQ(s.dead_lettered, c.dead_lettered);
  ASSERT_EQ(dead_flaky.records.size(), dead_clean.records.size());
  for (std::size_t i = 0; i < dead_flaky.records.size(); ++i) {
    EXPECT_EQ(Field(dead_flaky.records[i], "errorName"), Field(dead_clean.records[i], "errorName"));
    EXPECT_EQ(Field(dead_flaky.records[i], "event"), Field(dead_clean.records[i], "event"));
  }
  EXPECT_EQ(s.events, c.events);
  EXPECT_EQ(s.groups, c.groups);
  EXPECT_EQ(s.errors, c.errors);
  EXPECT_EQ(flaky.size(), clean.size());
}

TEST(Run, AnUnreachableServiceStopsTheRunAndLosesNothing) {
  Down client;
  Runner p(&client);
  Collected dead;
  PipelineStats s = p.Run(Events() + Events(), &dead, /*batch=*/3);
  EXPECT_TRUE(s.unavailable);
  EXPECT_EQ(s.events, 14);
  EXPECT_EQ(s.dead_lettered, 14);  // every event: failed, or not attempted
  EXPECT_EQ(s.created, 0);
  EXPECT_GE(s.errors.at("FHIRServiceError"), 1);
  EXPECT_NE(dead.records.back().find("Not attempted"), std::string::npos);
}

// A store whose first write waits (up to a minute) until the pipeline has
// normalized an event beyond the first batch: the writes of a batch overlap
// the taking in of the next one.
class WaitsForTheNextBatch : public store::MemoryFhirClient {
 public:
  explicit WaitsForTheNextBatch(std::int64_t first_batch_lines) : first_batch_lines_(first_batch_lines) {}
  Result<std::vector<Result<store::Resource>>> PutMany(std::vector<store::PutRequest> requests) override {
    {
      MutexLock lock(mu_);
      if (!asked_) {
        asked_ = true;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (!seen_next_ && cv_.WaitUntil(lock, deadline)) {
        }
        overlapped_ = seen_next_;
      }
    }
    return MemoryFhirClient::PutMany(std::move(requests));
  }
  void Normalized(std::int64_t line) IOMT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (line > first_batch_lines_) seen_next_ = true;
    cv_.NotifyAll();
  }
  bool overlapped() IOMT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return overlapped_;
  }

 private:
  const std::int64_t first_batch_lines_;
  Mutex mu_;
  CondVar cv_;
  bool asked_ IOMT_GUARDED_BY(mu_) = false;
  bool seen_next_ IOMT_GUARDED_BY(mu_) = false;
  bool overlapped_ IOMT_GUARDED_BY(mu_) = false;
};

TEST(Run, TheNextBatchIsNormalizedWhileThisOneIsWritten) {
  WaitsForTheNextBatch client(/*first_batch_lines=*/3);
  Runner p(&client);
  Collected dead;
  Input in(Events() + Events());
  ingest::LineReader reader(in.fd());
  PipelineOptions options;
  options.batch_events = 3;
  options.ingestion_ticks = 0;
  options.on_measurement = [&](const Measurement&, const InputLocation& where) { client.Normalized(where.line); };
  Pipeline pipeline(&p.device.mapping, p.fhir.mapping, &client, &dead, std::move(options));
  ASSERT_TRUE(RunStream(&reader, &pipeline).ok());
  EXPECT_TRUE(client.overlapped());
  // And the result is the one of batches taken in and written one after
  // another, on one thread (Accept, Flush).
  store::MemoryFhirClient serial;
  Collected serial_dead;
  PipelineOptions serial_options;
  serial_options.batch_events = 3;
  serial_options.ingestion_ticks = 0;
  Pipeline one_thread(&p.device.mapping, p.fhir.mapping, &serial, &serial_dead, std::move(serial_options));
  std::int64_t number = 0;
  const std::string all = Events() + Events();
  for (std::string_view rest = all; !rest.empty();) {
    const std::size_t end = rest.find('\n');
    const std::string line(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    ++number;
    if (line.empty()) continue;
    EventInput event;
    event.text = line;
    event.location.line = number;
    ASSERT_TRUE(one_thread.Accept(event).ok());
    if (one_thread.pending() >= 3) {
      ASSERT_TRUE(one_thread.Flush().ok());
    }
  }
  ASSERT_TRUE(one_thread.Flush().ok());
  const PipelineStats& s = one_thread.stats();
  EXPECT_EQ(pipeline.stats().events, s.events);
  EXPECT_EQ(pipeline.stats().created, s.created);
  EXPECT_EQ(pipeline.stats().updated, s.updated);
  EXPECT_EQ(pipeline.stats().dead_lettered, s.dead_lettered);
  ASSERT_EQ(dead.records.size(), serial_dead.records.size());
  for (std::size_t i = 0; i < dead.records.size(); ++i) {
    EXPECT_EQ(Field(dead.records[i], "errorName"), Field(serial_dead.records[i], "errorName"));
    EXPECT_EQ(Field(dead.records[i], "event"), Field(serial_dead.records[i], "event"));
  }
  EXPECT_EQ(client.size(), serial.size());
}

TEST(Run, AFailedCommitStopsTheRunBeforeTheBatchIsCounted) {
  store::MemoryFhirClient client;
  Runner p(&client);
  Collected dead;
  std::string input;
  for (int i = 0; i < 50; ++i)
    input += Events();
  Input in(input);
  ingest::LineReader reader(in.fd());
  PipelineOptions options;
  options.batch_events = 3;
  options.ingestion_ticks = 0;
  int commits = 0;
  options.commit = [&]() -> Status { return ++commits == 2 ? IoError("the disk is full") : Status::Ok(); };
  Pipeline pipeline(&p.device.mapping, p.fhir.mapping, &client, &dead, std::move(options));
  Status st = RunStream(&reader, &pipeline);
  EXPECT_EQ(st.code(), StatusCode::kIoError);
  EXPECT_EQ(commits, 2);                  // nothing written after the failure
  EXPECT_EQ(pipeline.stats().events, 3);  // the first batch only
}

}  // namespace
}  // namespace iomt::pipeline
