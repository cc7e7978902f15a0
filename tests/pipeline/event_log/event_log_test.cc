#include "pipeline/event_log/event_log.h"
#include "test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace iomt::pipeline {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

using iomt::testing::TempDir;

std::vector<std::string_view> Views(const std::vector<std::string>& records) {
  return {records.begin(), records.end()};
}

// Joins the parts (append, not "lit" + std::string: GCC 12 warns falsely on
// such chains with -Wrestrict).
std::string Join(std::initializer_list<std::string> parts) {
  std::string out;
  for (const std::string& p : parts)
    out.append(p);
  return out;
}

std::vector<std::string> Strings(const std::string& prefix, int n) {
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    out.push_back(prefix + std::to_string(i));
  return out;
}

std::unique_ptr<EventLog> OpenOrDie(const std::string& dir, EventLogOptions options = {}) {
  auto log = EventLog::Open(dir, options);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  return log.ok() ? std::move(*log) : nullptr;
}

// Every record there is now, in one list (the reader's view).
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
  out.reserve(records.size());
  for (const LogRecord& r : records)
    out.push_back(r.data);
  return out;
}

std::vector<std::uint64_t> Seqs(const std::vector<LogRecord>& records) {
  std::vector<std::uint64_t> out;
  out.reserve(records.size());
  for (const LogRecord& r : records)
    out.push_back(r.seq);
  return out;
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".log") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string LastSegment(const std::string& dir) { return dir + "/" + SegmentFiles(dir).back(); }

TEST(Crc32c, MatchesTheStandardCheckValues) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(internal::Crc32cPortable("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32c, FastAndPortableAgreeAndContinue) {
  std::mt19937 rng(7);
  std::string bytes(300, '\0');
  for (char& c : bytes)
    c = static_cast<char>(rng());
  for (std::size_t start = 0; start < 9; ++start) {
    for (std::size_t len = 0; start + len <= bytes.size(); len += 13) {
      std::string_view piece(bytes.data() + start, len);
      ASSERT_EQ(Crc32c(piece), internal::Crc32cPortable(piece)) << start << "+" << len;
    }
  }
  std::string_view all(bytes);
  EXPECT_EQ(Crc32c(all.substr(100), Crc32c(all.substr(0, 100))), Crc32c(all));
}

TEST(EventLog, ReadsInAppendOrderCommitsAndRewinds) {
  TempDir dir;
  auto log = OpenOrDie(dir.path());
  std::uint64_t first = 0;
  auto a = Strings("a", 3), b = Strings("b", 2);
  ASSERT_TRUE(log->Append(Views(a), &first).ok());
  EXPECT_EQ(first, 1u);
  ASSERT_TRUE(log->Append(Views(b), &first).ok());
  EXPECT_EQ(first, 4u);
  EXPECT_EQ(log->pending_records(), 5u);
  EXPECT_EQ(log->pending_bytes(), 10u);

  auto batch = log->Read(2, 1 << 20, milliseconds(0));
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(Data(*batch), (std::vector<std::string>{"a0", "a1"}));
  EXPECT_EQ(Seqs(*batch), (std::vector<std::uint64_t>{1, 2}));
  ASSERT_TRUE(log->Commit(2).ok());
  EXPECT_EQ(log->pending_records(), 3u);
  EXPECT_EQ(log->committed_seq(), 2u);

  // The worker's batch failed: the same records come again.
  batch = log->Read(10, 1 << 20, milliseconds(0));
  EXPECT_EQ(Data(*batch), (std::vector<std::string>{"a2", "b0", "b1"}));
  log->Rewind();
  batch = log->Read(10, 1 << 20, milliseconds(0));
  EXPECT_EQ(Seqs(*batch), (std::vector<std::uint64_t>{3, 4, 5}));
  ASSERT_TRUE(log->Commit(5).ok());
  EXPECT_EQ(log->pending_records(), 0u);
  EXPECT_EQ(log->pending_bytes(), 0u);
  EXPECT_TRUE(log->Read(10, 1 << 20, milliseconds(1))->empty());
}

TEST(EventLog, ReadStopsAtMaxRecordsAndMaxBytesButReturnsAtLeastOne) {
  TempDir dir;
  auto log = OpenOrDie(dir.path());
  std::vector<std::string> records = {std::string(100, 'x'), std::string(100, 'y'), std::string(100, 'z'), "w"};
  ASSERT_TRUE(log->Append(Views(records)).ok());
  EXPECT_EQ(log->Read(10, 10, milliseconds(0))->size(), 1u);   // one, although larger than max_bytes
  EXPECT_EQ(log->Read(10, 200, milliseconds(0))->size(), 2u);  // y, z
  EXPECT_EQ(log->Read(10, 200, milliseconds(0))->front().data, "w");
  log->Rewind();
  EXPECT_EQ(log->Read(3, 1 << 20, milliseconds(0))->size(), 3u);
  EXPECT_FALSE(log->Read(0, 1 << 20, milliseconds(0)).ok());
}

TEST(EventLog, CommitOfWhatWasNotReadIsRefusedAndAnOldCommitIsANoOp) {
  TempDir dir;
  auto log = OpenOrDie(dir.path());
  auto records = Strings("r", 4);
  ASSERT_TRUE(log->Append(Views(records)).ok());
  ASSERT_EQ(log->Read(2, 1 << 20, milliseconds(0))->size(), 2u);
  EXPECT_EQ(log->Commit(3).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(log->Commit(2).ok());
  EXPECT_TRUE(log->Commit(1).ok());
  EXPECT_EQ(log->committed_seq(), 2u);
  EXPECT_EQ(log->pending_records(), 2u);
}

TEST(EventLog, FullLogRefusesWithOutOfRangeAppendsNothingAndAcceptsAgainAfterCommit) {
  TempDir dir;
  EventLogOptions options;
  options.max_pending_records = 10;
  options.max_pending_bytes = 1000;
  auto log = OpenOrDie(dir.path(), options);
  auto eight = Strings("r", 8);
  ASSERT_TRUE(log->Append(Views(eight)).ok());
  auto three = Strings("s", 3);
  Status full = log->Append(Views(three));
  EXPECT_EQ(full.code(), StatusCode::kOutOfRange) << full.ToString();
  EXPECT_EQ(log->pending_records(), 8u);
  EXPECT_EQ(log->next_seq(), 9u);  // no seq was spent on the refused batch

  // Bytes: 8 small records plus 990 bytes is over 1000.
  std::vector<std::string> big = {std::string(990, 'b')};
  EXPECT_EQ(log->Append(Views(big)).code(), StatusCode::kOutOfRange);
  // A batch that could never fit is refused the same way.
  std::vector<std::string> huge = {std::string(1001, 'h')};
  EXPECT_EQ(log->Append(Views(huge)).code(), StatusCode::kOutOfRange);

  ASSERT_EQ(log->Read(5, 1 << 20, milliseconds(0))->size(), 5u);
  ASSERT_TRUE(log->Commit(5).ok());
  ASSERT_TRUE(log->Append(Views(three)).ok());
  EXPECT_EQ(log->pending_records(), 6u);
  EXPECT_EQ(Data(ReadAll(*log)), (std::vector<std::string>{"r5", "r6", "r7", "s0", "s1", "s2"}));
}

TEST(EventLog, ConcurrentAppendersGetEveryRecordOnceWithEachBatchContiguous) {
  TempDir dir;
  constexpr int kThreads = 4, kBatches = 60, kPerBatch = 50;
  {
    auto log = OpenOrDie(dir.path());  // sync on: group commit is what is under test
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int b = 0; b < kBatches; ++b) {
          auto records = Strings(Join({"t", std::to_string(t), "-b", std::to_string(b), "-"}), kPerBatch);
          if (!log->Append(Views(records)).ok()) ++failures;
        }
      });
    }
    for (std::thread& th : threads)
      th.join();
    EXPECT_EQ(failures.load(), 0);
  }
  // Checked after reopening, so what is checked is what the disk holds.
  auto log = OpenOrDie(dir.path());
  std::vector<LogRecord> all = ReadAll(*log);
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kBatches * kPerBatch));
  std::set<std::string> seen;
  std::map<int, int> last_batch;  // thread -> its last batch seen
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i].seq, i + 1);
    ASSERT_TRUE(seen.insert(all[i].data).second) << "twice: " << all[i].data;
    int t = 0, b = 0, k = 0;
    ASSERT_EQ(std::sscanf(all[i].data.c_str(), "t%d-b%d-%d", &t, &b, &k), 3);
    // A batch's records are contiguous and in order, and a thread's batches
    // follow each other.
    if (k == 0) {
      EXPECT_EQ(b, last_batch.count(t) ? last_batch[t] + 1 : 0) << all[i].data;
      last_batch[t] = b;
    } else {
      EXPECT_EQ(all[i - 1].data, Join({"t", std::to_string(t), "-b", std::to_string(b), "-", std::to_string(k - 1)}));
    }
  }
}

TEST(EventLog, ReopenDeliversWhatWasNotCommittedAndNotWhatWas) {
  TempDir dir;
  {
    auto log = OpenOrDie(dir.path());
    auto records = Strings("r", 10);
    ASSERT_TRUE(log->Append(Views(records)).ok());
    ASSERT_EQ(log->Read(8, 1 << 20, milliseconds(0))->size(), 8u);
    ASSERT_TRUE(log->Commit(6).ok());
  }
  auto log = OpenOrDie(dir.path());
  EXPECT_EQ(log->truncated_bytes(), 0u);
  EXPECT_EQ(log->committed_seq(), 6u);
  EXPECT_EQ(log->pending_records(), 4u);
  EXPECT_EQ(log->next_seq(), 11u);
  std::vector<LogRecord> rest = ReadAll(*log);
  EXPECT_EQ(Data(rest), (std::vector<std::string>{"r6", "r7", "r8", "r9"}));
  EXPECT_EQ(rest.front().seq, 7u);
  auto more = Strings("m", 1);
  std::uint64_t first = 0;
  ASSERT_TRUE(log->Append(Views(more), &first).ok());
  EXPECT_EQ(first, 11u);
}

TEST(EventLog, SeqsKeepIncreasingAfterEverythingWasCommitted) {
  TempDir dir;
  {
    auto log = OpenOrDie(dir.path());
    auto records = Strings("r", 5);
    ASSERT_TRUE(log->Append(Views(records)).ok());
    ReadAll(*log);
    ASSERT_TRUE(log->Commit(5).ok());
  }
  auto log = OpenOrDie(dir.path());
  EXPECT_EQ(log->pending_records(), 0u);
  EXPECT_EQ(log->next_seq(), 6u);
}

TEST(EventLog, SegmentsRollOverAndWhollyCommittedOnesAreDeleted) {
  TempDir dir;
  EventLogOptions options;
  options.segment_bytes = 1000;
  options.sync = false;
  auto log = OpenOrDie(dir.path(), options);
  // 20 batches of 10 records of 16 + 40 bytes on disk: a new segment every
  // other batch.
  for (int b = 0; b < 20; ++b) {
    std::vector<std::string> records(10, std::string(38, 'x') + std::to_string(b % 10) + "!");
    ASSERT_TRUE(log->Append(Views(records)).ok());
  }
  std::vector<std::string> files = SegmentFiles(dir.path());
  ASSERT_EQ(files.size(), 10u);
  EXPECT_EQ(files[0], "00000000000000000001.log");
  EXPECT_EQ(files[1], "00000000000000000021.log");

  // Up to 45: the segments starting at 1 and 21 are wholly done; 41 is not.
  ASSERT_EQ(log->Read(45, 1 << 30, milliseconds(0))->size(), 45u);
  ASSERT_TRUE(log->Commit(45).ok());
  files = SegmentFiles(dir.path());
  ASSERT_EQ(files.size(), 8u);
  EXPECT_EQ(files[0], "00000000000000000041.log");
  EXPECT_FALSE(fs::exists(dir.path() + "/00000000000000000001.log"));

  // Everything: only the segment being appended to is left.
  EXPECT_EQ(ReadAll(*log).size(), 155u);
  ASSERT_TRUE(log->Commit(200).ok());
  EXPECT_EQ(SegmentFiles(dir.path()), (std::vector<std::string>{"00000000000000000181.log"}));
  log.reset();

  log = OpenOrDie(dir.path(), options);
  EXPECT_EQ(log->next_seq(), 201u);
  auto more = Strings("m", 3);
  ASSERT_TRUE(log->Append(Views(more)).ok());
  EXPECT_EQ(Seqs(ReadAll(*log)), (std::vector<std::uint64_t>{201, 202, 203}));
}

TEST(EventLog, TornTailIsCutOffAndTheLogGoesOn) {
  TempDir dir;
  {
    auto log = OpenOrDie(dir.path());
    auto records = Strings("record-", 5);
    ASSERT_TRUE(log->Append(Views(records)).ok());
  }
  // The last record (16 + 8 bytes) loses its last 7 bytes.
  const std::string segment = LastSegment(dir.path());
  const auto size = fs::file_size(segment);
  fs::resize_file(segment, size - 7);
  {
    auto log = OpenOrDie(dir.path());
    EXPECT_EQ(log->truncated_bytes(), 24u - 7u);
    EXPECT_EQ(fs::file_size(segment), size - 24);
    EXPECT_EQ(Data(ReadAll(*log)), Strings("record-", 4));
    auto more = Strings("more-", 1);
    std::uint64_t first = 0;
    ASSERT_TRUE(log->Append(Views(more), &first).ok());
    EXPECT_EQ(first, 5u);
  }
  auto log = OpenOrDie(dir.path());
  EXPECT_EQ(log->truncated_bytes(), 0u);
  std::vector<std::string> expected = Strings("record-", 4);
  expected.emplace_back("more-0");
  EXPECT_EQ(Data(ReadAll(*log)), expected);
}

TEST(EventLog, GarbageAfterTheLastRecordIsCutOff) {
  TempDir dir;
  {
    auto log = OpenOrDie(dir.path());
    auto records = Strings("record-", 5);
    ASSERT_TRUE(log->Append(Views(records)).ok());
  }
  const std::string segment = LastSegment(dir.path());
  const auto size = fs::file_size(segment);
  {
    std::ofstream out(segment, std::ios::binary | std::ios::app);
    std::mt19937 rng(3);
    for (int i = 0; i < 1000; ++i)
      out.put(static_cast<char>(rng()));
    // And something that looks like a header with a plausible length.
    out.write("\x05\x00\x00\x00\x00\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00hello", 21);
  }
  auto log = OpenOrDie(dir.path());
  EXPECT_EQ(log->truncated_bytes(), 1021u);
  EXPECT_EQ(fs::file_size(segment), size);
  EXPECT_EQ(Data(ReadAll(*log)), Strings("record-", 5));
}

TEST(EventLog, LastRecordWithABadChecksumIsCutOff) {
  TempDir dir;
  {
    auto log = OpenOrDie(dir.path());
    auto records = Strings("record-", 3);
    ASSERT_TRUE(log->Append(Views(records)).ok());
  }
  const std::string segment = LastSegment(dir.path());
  {
    std::fstream f(segment, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(fs::file_size(segment) - 1));
    f.put('X');  // "record-2" -> "record-X"
  }
  auto log = OpenOrDie(dir.path());
  EXPECT_EQ(log->truncated_bytes(), 24u);
  EXPECT_EQ(Data(ReadAll(*log)), Strings("record-", 2));
}

TEST(EventLog, DamageBeforeTheLastSegmentIsAnErrorNotATruncation) {
  TempDir dir;
  EventLogOptions options;
  options.segment_bytes = 100;
  {
    auto log = OpenOrDie(dir.path(), options);
    for (int b = 0; b < 3; ++b) {
      auto records = Strings("batch-of-records-", 5);
      ASSERT_TRUE(log->Append(Views(records)).ok());
    }
  }
  ASSERT_EQ(SegmentFiles(dir.path()).size(), 3u);
  const std::string first = dir.path() + "/" + SegmentFiles(dir.path()).front();
  {
    std::fstream f(first, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(20);
    f.put('#');
  }
  auto log = EventLog::Open(dir.path(), options);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kIoError);
  // The message says which file, where, what is wrong and what to do.
  for (const std::string& part :
       {first, std::string("offset 0"), std::string("checksum does not match"), std::string("not the last segment"),
        std::string("move the directory ") + dir.path(), std::string("restore it from a backup")}) {
    EXPECT_NE(log.status().message().find(part), std::string::npos) << part << " not in: " << log.status().message();
  }
  // Refused, not repaired: the damaged file is as it was.
  EXPECT_EQ(SegmentFiles(dir.path()).size(), 3u);
}

TEST(EventLog, DamagedCheckpointIsAnError) {
  TempDir dir;
  {
    auto log = OpenOrDie(dir.path());
    auto records = Strings("r", 2);
    ASSERT_TRUE(log->Append(Views(records)).ok());
    ReadAll(*log);
    ASSERT_TRUE(log->Commit(1).ok());
  }
  {
    std::fstream f(dir.path() + "/checkpoint", std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(8);
    f.put('\x07');
  }
  auto log = EventLog::Open(dir.path());
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kIoError);
}

TEST(EventLog, ADiskBehindTheCheckpointGoesOnInANewSegment) {
  TempDir dir;
  {
    auto log = OpenOrDie(dir.path());
    auto records = Strings("r", 5);
    ASSERT_TRUE(log->Append(Views(records)).ok());
    ReadAll(*log);
    ASSERT_TRUE(log->Commit(5).ok());
  }
  // As after a power loss with sync off: the records are gone, the
  // checkpoint is not.
  fs::resize_file(LastSegment(dir.path()), 0);
  {
    auto log = OpenOrDie(dir.path());
    EXPECT_EQ(log->next_seq(), 6u);
    auto more = Strings("m", 2);
    ASSERT_TRUE(log->Append(Views(more)).ok());
  }
  auto log = OpenOrDie(dir.path());
  EXPECT_EQ(SegmentFiles(dir.path()), (std::vector<std::string>{"00000000000000000006.log"}));
  EXPECT_EQ(Seqs(ReadAll(*log)), (std::vector<std::uint64_t>{6, 7}));
}

TEST(EventLog, CreatesNestedDirectoriesAndTakesATrailingSlash) {
  TempDir dir;
  const std::string nested = dir.path() + "/a/b/";
  {
    auto log = OpenOrDie(nested);
    auto records = Strings("r", 2);
    ASSERT_TRUE(log->Append(Views(records)).ok());
  }
  EXPECT_EQ(SegmentFiles(dir.path() + "/a/b"), (std::vector<std::string>{"00000000000000000001.log"}));
  auto log = OpenOrDie(dir.path() + "/a/b");
  EXPECT_EQ(Data(ReadAll(*log)), Strings("r", 2));
}

TEST(EventLog, ASecondOpenOfTheSameDirectoryIsUnavailable) {
  TempDir dir;
  auto log = OpenOrDie(dir.path());
  auto second = EventLog::Open(dir.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  log.reset();
  EXPECT_TRUE(EventLog::Open(dir.path()).ok());
}

TEST(EventLog, CloseWakesAWaitingReadAndStopsAppends) {
  TempDir dir;
  auto log = OpenOrDie(dir.path());
  const auto wait = std::chrono::seconds(60);
  std::atomic<bool> returned{false};
  std::size_t got = 99;
  auto started = std::chrono::steady_clock::now();
  std::thread reader([&] {
    auto batch = log->Read(10, 1 << 20, std::chrono::duration_cast<milliseconds>(wait));
    got = batch.ok() ? batch->size() : 98;
    returned = true;
  });
  log->Close();
  reader.join();
  EXPECT_TRUE(returned);
  EXPECT_EQ(got, 0u);
  // Woken, not timed out.
  EXPECT_LT(std::chrono::steady_clock::now() - started, wait);
  auto records = Strings("r", 1);
  EXPECT_EQ(log->Append(Views(records)).code(), StatusCode::kUnavailable);
}

TEST(EventLog, ReadDrainsWhatIsLeftAfterClose) {
  TempDir dir;
  auto log = OpenOrDie(dir.path());
  auto records = Strings("r", 3);
  ASSERT_TRUE(log->Append(Views(records)).ok());
  log->Close();
  EXPECT_EQ(log->Append(Views(records)).code(), StatusCode::kUnavailable);
  auto batch = log->Read(2, 1 << 20, milliseconds(0));
  EXPECT_EQ(batch->size(), 2u);
  batch = log->Read(2, 1 << 20, std::chrono::seconds(60));
  EXPECT_EQ(Data(*batch), (std::vector<std::string>{"r2"}));
  auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(log->Read(2, 1 << 20, std::chrono::seconds(60))->empty());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(60));
  ASSERT_TRUE(log->Commit(3).ok());  // the drained work is still committed
  EXPECT_EQ(log->pending_records(), 0u);
}

TEST(EventLog, ReadWaitsForAnAppendFromAnotherThread) {
  TempDir dir;
  auto log = OpenOrDie(dir.path());
  EXPECT_TRUE(log->Read(10, 1 << 20, milliseconds(5))->empty());  // times out empty
  std::thread writer([&] {
    auto records = Strings("late", 1);
    EXPECT_TRUE(log->Append(Views(records)).ok());
  });
  auto batch = log->Read(10, 1 << 20, std::chrono::seconds(60));
  writer.join();
  ASSERT_EQ(batch->size(), 1u);
  EXPECT_EQ(batch->front().data, "late0");
}

TEST(EventLog, EmptyRecordsAndAOneMebibyteRecordSurviveAReopen) {
  TempDir dir;
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>(i * 131 + 7);
  std::vector<std::string> records = {"", big, ""};
  {
    auto log = OpenOrDie(dir.path());
    ASSERT_TRUE(log->Append(Views(records)).ok());
    EXPECT_EQ(log->pending_bytes(), big.size());
    EXPECT_EQ(Data(ReadAll(*log)), records);
    std::vector<std::string_view> none;
    EXPECT_TRUE(log->Append(none).ok());
    EXPECT_EQ(log->next_seq(), 4u);
  }
  auto log = OpenOrDie(dir.path());
  std::vector<LogRecord> all = ReadAll(*log);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_TRUE(all[0].data.empty());
  EXPECT_TRUE(all[1].data == big);
  EXPECT_TRUE(all[2].data.empty());
}

}  // namespace
}  // namespace iomt::pipeline
