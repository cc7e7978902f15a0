// The event log when the disk fails: full (a real tmpfs of a few hundred
// KiB, mounted by the test, so it needs root) and fdatasync returning EIO
// (injected: no disk gives that on demand). A failed Append must leave
// nothing of itself in the files, later Appends must succeed once the cause is
// gone, and a reopened log must hold exactly the acknowledged records. A
// failed checkpoint keeps the old one. (ADR 0010, "Failures".)
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/event_log/event_log.h"
#include "test_util.h"

namespace iomt::pipeline {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

using testing::Tmpfs;

// Tests that mount a tmpfs need root; without it they are skipped, saying so.
#define IOMT_REQUIRE_ROOT()                                                                         \
  if (::geteuid() != 0) {                                                                           \
    GTEST_SKIP() << "needs root to mount a small tmpfs (run the test as root to fill a real disk)"; \
  }

std::vector<std::string_view> Views(const std::vector<std::string>& records) {
  return {records.begin(), records.end()};
}

// Batch `b`: `n` records of `bytes` bytes, each telling which it is.
std::vector<std::string> Batch(int b, int n, std::size_t bytes) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string r = "b";
    r.append(std::to_string(b)).append("-r").append(std::to_string(i)).append(":");
    r.resize(bytes, static_cast<char>('a' + (b + i) % 26));
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<LogRecord> ReadAll(EventLog& log) {
  std::vector<LogRecord> out;
  for (;;) {
    auto batch = log.Read(1000, 1 << 30, milliseconds(0));
    EXPECT_TRUE(batch.ok());
    if (!batch.ok() || batch->empty()) return out;
    for (LogRecord& r : *batch)
      out.push_back(std::move(r));
  }
}

std::vector<std::string> Data(const std::vector<LogRecord>& records) {
  std::vector<std::string> out;
  for (const LogRecord& r : records)
    out.push_back(r.data);
  return out;
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".log") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// The bytes `records` take in a segment (16-byte header each).
std::uint64_t FrameBytes(const std::vector<std::string>& records) {
  std::uint64_t n = 0;
  for (const std::string& r : records)
    n += 16 + r.size();
  return n;
}

void Contains(const Status& st, std::string_view what) {
  EXPECT_NE(st.message().find(what), std::string::npos) << "'" << what << "' not in: " << st.message();
}

TEST(EventLogDiskFull, AFailedAppendLeavesNothingBehindAndAppendsResumeWhenSpaceReturns) {
  IOMT_REQUIRE_ROOT();
  Tmpfs disk("512k");
  ASSERT_TRUE(disk.ok()) << disk.why();
  const std::string dir = disk.path() + "/queue";
  std::vector<std::string> acknowledged;
  std::vector<std::string> refused;
  {
    auto opened = EventLog::Open(dir);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EventLog& log = **opened;
    // 7 records of 9,000 bytes a batch: the disk fills in the middle of one,
    // so its write is short (part of it reaches the file) before ENOSPC.
    Status failed;
    for (int b = 0; b < 1000 && failed.ok(); ++b) {
      std::vector<std::string> batch = Batch(b, 7, 9000);
      failed = log.Append(Views(batch));
      if (failed.ok()) {
        acknowledged.insert(acknowledged.end(), batch.begin(), batch.end());
      } else {
        refused = std::move(batch);
      }
    }
    ASSERT_FALSE(failed.ok()) << "a 512 KiB disk never filled";
    ASSERT_GT(acknowledged.size(), 0u);
    EXPECT_EQ(failed.code(), StatusCode::kIoError);
    Contains(failed, "disk full");
    Contains(failed, SegmentFiles(dir).back());
    Contains(failed, "nothing of the append was stored");
    // Nothing half-written: the segment ends with the last acknowledged record.
    EXPECT_EQ(fs::file_size(SegmentFiles(dir).back()), FrameBytes(acknowledged));
    EXPECT_EQ(log.pending_records(), acknowledged.size());
    EXPECT_EQ(log.next_seq(), acknowledged.size() + 1) << "the failed batch's seqs were not given back";

    // Still full: refused again, still nothing left behind.
    EXPECT_EQ(log.Append(Views(refused)).code(), StatusCode::kIoError);
    EXPECT_EQ(fs::file_size(SegmentFiles(dir).back()), FrameBytes(acknowledged));

    // Space returns: the same batch is taken, right after the others.
    ASSERT_TRUE(disk.Resize("4m"));
    std::uint64_t first = 0;
    Status again = log.Append(Views(refused), &first);
    ASSERT_TRUE(again.ok()) << again.ToString();
    EXPECT_EQ(first, acknowledged.size() + 1);
    acknowledged.insert(acknowledged.end(), refused.begin(), refused.end());
    EXPECT_EQ(Data(ReadAll(log)), acknowledged);
  }
  auto log = EventLog::Open(dir);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->truncated_bytes(), 0u);
  std::vector<LogRecord> records = ReadAll(**log);
  EXPECT_EQ(Data(records), acknowledged);
  for (std::size_t i = 0; i < records.size(); ++i)
    ASSERT_EQ(records[i].seq, i + 1);
}

TEST(EventLogDiskFull, ConcurrentAppendersRetryingAfterFailuresEachLandOnce) {
  // Group commit on a full disk: a failed group fails every Append queued
  // with it and gives their seqs back. Each thread sends a refused batch
  // again (as an HTTP client does after a 503) until it is taken.
  IOMT_REQUIRE_ROOT();
  Tmpfs disk("512k");
  ASSERT_TRUE(disk.ok()) << disk.why();
  const std::string dir = disk.path() + "/queue";
  constexpr int kThreads = 4;
  constexpr int kBatches = 40;
  constexpr int kRecords = 5;
  std::atomic<int> failures{0};
  std::atomic<bool> bad_status{false};
  std::atomic<bool> gave_up{false};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  {
    auto opened = EventLog::Open(dir);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EventLog& log = **opened;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int b = 0; b < kBatches; ++b) {
          std::vector<std::string> batch = Batch(t * 1000 + b, kRecords, 3000);
          for (;;) {
            Status st = log.Append(Views(batch));
            if (st.ok()) break;
            if (st.code() != StatusCode::kIoError) bad_status = true;
            ++failures;
            if (std::chrono::steady_clock::now() > deadline) {
              gave_up = true;  // appends never resumed
              return;
            }
            std::this_thread::sleep_for(milliseconds(2));
          }
        }
      });
    }
    // 2.4 MB in all: the disk fills; after some refusals, room for all.
    while (failures < 20 && !bad_status && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(milliseconds(1));
    ASSERT_TRUE(disk.Resize("8m"));
    for (std::thread& t : threads)
      t.join();
  }
  ASSERT_FALSE(gave_up) << "Appends kept failing after space returned";
  EXPECT_FALSE(bad_status) << "a failure other than kIoError";
  EXPECT_GE(failures.load(), 20);
  auto log = EventLog::Open(dir);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->truncated_bytes(), 0u);
  std::vector<LogRecord> records = ReadAll(**log);
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kThreads * kBatches * kRecords));
  std::set<int> batches;
  for (std::size_t i = 0; i < records.size(); ++i) {
    ASSERT_EQ(records[i].seq, i + 1);
    // Each batch once, its records together and in order.
    if (i % kRecords == 0) {
      int b = std::stoi(records[i].data.substr(1));
      EXPECT_TRUE(batches.insert(b).second) << "batch " << b << " twice";
      std::vector<std::string> expected = Batch(b, kRecords, 3000);
      for (int k = 0; k < kRecords; ++k)
        ASSERT_EQ(records[i + static_cast<std::size_t>(k)].data, expected[static_cast<std::size_t>(k)]);
    }
  }
  EXPECT_EQ(batches.size(), static_cast<std::size_t>(kThreads * kBatches));
}

TEST(EventLogDiskFull, AFailedCheckpointKeepsTheOldOneAndTheBatchIsReadAgain) {
  IOMT_REQUIRE_ROOT();
  Tmpfs disk("256k");
  ASSERT_TRUE(disk.ok()) << disk.why();
  const std::string dir = disk.path() + "/queue";
  std::vector<std::string> first = Batch(1, 3, 100), second = Batch(2, 3, 100);
  {
    auto log = EventLog::Open(dir);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ASSERT_TRUE((*log)->Append(Views(first)).ok());
    ReadAll(**log);
    ASSERT_TRUE((*log)->Commit(3).ok());
    ASSERT_TRUE((*log)->Append(Views(second)).ok());
    ASSERT_EQ(ReadAll(**log).size(), 3u);
    // Fill what is left of the disk, to the last page.
    {
      std::ofstream filler(disk.path() + "/filler", std::ios::binary);
      std::string block(4096, 'x');
      while (filler.write(block.data(), static_cast<std::streamsize>(block.size())))
        filler.flush();
    }
    Status st = (*log)->Commit(6);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), StatusCode::kIoError);
    Contains(st, "disk full");
    Contains(st, "checkpoint.tmp");
    Contains(st, "the previous checkpoint stays");
    EXPECT_EQ((*log)->committed_seq(), 3u);
    EXPECT_EQ((*log)->pending_records(), 3u);
    EXPECT_FALSE(fs::exists(dir + "/checkpoint.tmp"));
  }
  {
    // The batch whose commit failed is delivered again.
    auto log = EventLog::Open(dir);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    EXPECT_EQ(Data(ReadAll(**log)), second);
    fs::remove(disk.path() + "/filler");
    Status st = (*log)->Commit(6);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  auto log = EventLog::Open(dir);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_TRUE(ReadAll(**log).empty());
  EXPECT_EQ((*log)->committed_seq(), 6u);
}

// ---- fdatasync failing with EIO (injected) ------------------------------------

std::atomic<int> sync_failures_left{0};

int FailingSync(int fd) {
  if (sync_failures_left.load() > 0) {
    --sync_failures_left;
    errno = EIO;
    return -1;
  }
  return ::fdatasync(fd);
}

class EventLogSyncFailure : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("iomt-event-log-eio-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    internal::SetSegmentSyncForTest(FailingSync);
  }
  void TearDown() override {
    internal::SetSegmentSyncForTest(nullptr);
    sync_failures_left = 0;
    fs::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(EventLogSyncFailure, TheGroupFailsAndTheNextGoesToANewSegment) {
  std::vector<std::string> a = Batch(1, 4, 50), b = Batch(2, 4, 50), c = Batch(3, 4, 50);
  {
    auto log = EventLog::Open(dir_);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ASSERT_TRUE((*log)->Append(Views(a)).ok());
    sync_failures_left = 1;
    Status st = (*log)->Append(Views(b));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), StatusCode::kIoError);
    Contains(st, "fdatasync");
    Contains(st, std::strerror(EIO));
    Contains(st, "nothing of the append was stored");
    std::uint64_t first = 0;
    ASSERT_TRUE((*log)->Append(Views(c), &first).ok());
    EXPECT_EQ(first, 5u);
    EXPECT_EQ(Data(ReadAll(**log)), (std::vector<std::string>{a[0], a[1], a[2], a[3], c[0], c[1], c[2], c[3]}));
  }
  // The segment whose sync failed was cut back to A and left; C started the next.
  std::vector<std::string> segments = SegmentFiles(dir_);
  ASSERT_EQ(segments.size(), 2u);
  EXPECT_EQ(fs::path(segments[1]).filename(), "00000000000000000005.log");
  EXPECT_EQ(fs::file_size(segments[0]), FrameBytes(a));
  auto log = EventLog::Open(dir_);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->truncated_bytes(), 0u);
  EXPECT_EQ(Data(ReadAll(**log)), (std::vector<std::string>{a[0], a[1], a[2], a[3], c[0], c[1], c[2], c[3]}));
}

TEST_F(EventLogSyncFailure, OnAnEmptySegmentTheSameFileIsReopened) {
  std::vector<std::string> a = Batch(1, 2, 10);
  {
    auto log = EventLog::Open(dir_);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    sync_failures_left = 1;
    EXPECT_EQ((*log)->Append(Views(a)).code(), StatusCode::kIoError);
    ASSERT_TRUE((*log)->Append(Views(a)).ok());
  }
  EXPECT_EQ(SegmentFiles(dir_).size(), 1u);
  auto log = EventLog::Open(dir_);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ(Data(ReadAll(**log)), a);
}

TEST_F(EventLogSyncFailure, WhenTheUndoFailsTooTheLogStopsUntilReopened) {
  std::vector<std::string> a = Batch(1, 3, 20), b = Batch(2, 3, 20);
  {
    auto log = EventLog::Open(dir_);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ASSERT_TRUE((*log)->Append(Views(a)).ok());
    sync_failures_left = 2;  // the group's sync, then the one after cutting it off
    Status st = (*log)->Append(Views(b));
    EXPECT_EQ(st.code(), StatusCode::kIoError);
    Contains(st, "undoing the write failed too");
    Contains(st, "restart iomt");
    Status later = (*log)->Append(Views(b));
    EXPECT_EQ(later.code(), StatusCode::kIoError);
    EXPECT_EQ(later.message(), st.message());
  }
  auto log = EventLog::Open(dir_);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  // What was acknowledged is there; the failed group (fully written, only
  // its sync failed) may turn up too: it was never acknowledged.
  std::vector<std::string> records = Data(ReadAll(**log));
  ASSERT_GE(records.size(), a.size());
  EXPECT_EQ(std::vector<std::string>(records.begin(), records.begin() + 3), a);
  ASSERT_TRUE((*log)->Append(Views(b)).ok());
}

}  // namespace
}  // namespace iomt::pipeline
