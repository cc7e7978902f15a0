// A child process appends from two threads (group commit) while a third
// reads and commits, as a connector's worker does, with small segments so
// that rollovers, checkpoints and deletions are all in flight. The parent
// kills it with SIGKILL at a random moment, several rounds over the same
// directory. After each kill the log must open, and every record whose
// Append returned OK must be there, intact, unless it was committed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/event_log/event_log.h"

namespace iomt::pipeline {
namespace {

// What a child appended: the id of the record and the content that id gives.
// (Built by append: GCC 12 warns falsely on "lit" + std::string chains with
// -Wrestrict.)
std::string Payload(int round, int thread, std::uint64_t n) {
  std::string out = "r";
  out.append(std::to_string(round)).append("-t").append(std::to_string(thread));
  out.append("-n").append(std::to_string(n)).append(":");
  out.append(static_cast<std::size_t>((n * 37 + static_cast<std::uint64_t>(thread)) % 700),
             static_cast<char>('a' + n % 26));
  return out;
}

// A record is intact when its content is what its id gives.
bool Intact(const std::string& data) {
  int round = 0, thread = 0;
  unsigned long long n = 0;
  if (std::sscanf(data.c_str(), "r%d-t%d-n%llu:", &round, &thread, &n) != 3) return false;
  return data == Payload(round, thread, n);
}

// One acknowledged Append, as the child reports it through the pipe (small
// enough for the threads' writes to be atomic). The worker reports each
// Commit too, before and after, so that the parent does not have to take the
// reopened log's word for what was committed.
struct Ack {
  std::uint64_t first_seq;  // or the seq committed
  std::uint32_t count;
  std::int32_t thread;  // or kCommitting, kCommitted
  std::uint64_t first_n;
};
constexpr std::int32_t kCommitting = -1;
constexpr std::int32_t kCommitted = -2;
static_assert(sizeof(Ack) <= PIPE_BUF);

EventLogOptions CrashOptions() {
  EventLogOptions options;
  options.segment_bytes = 256 << 10;
  options.max_pending_records = 20'000;
  return options;
}

[[noreturn]] void Child(const std::string& dir, int round, int fd) {
  auto opened = EventLog::Open(dir, CrashOptions());
  if (!opened.ok()) _exit(2);
  EventLog& log = **opened;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  threads.reserve(2);
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(round * 10 + t));
      std::uint64_t n = 0;
      for (;;) {
        const std::uint32_t count = std::uniform_int_distribution<std::uint32_t>(1, 300)(rng);
        std::vector<std::string> records;
        for (std::uint32_t i = 0; i < count; ++i)
          records.push_back(Payload(round, t, n + i));
        std::vector<std::string_view> views(records.begin(), records.end());
        std::uint64_t first = 0;
        Status s = log.Append(views, &first);
        if (s.code() == StatusCode::kOutOfRange) continue;  // the reader is behind: as a 429, try again
        if (!s.ok()) failed = true;
        if (failed) return;
        Ack ack{first, count, t, n};
        if (write(fd, &ack, sizeof(ack)) != sizeof(ack)) failed = true;
        n += count;
      }
    });
  }
  // The worker: reads, "processes" and commits; now and then a batch fails
  // and is read again.
  for (int batch = 0; !failed; ++batch) {
    auto records = log.Read(500, 1 << 20, std::chrono::milliseconds(50));
    if (!records.ok()) break;
    if (records->empty()) continue;
    if (batch % 7 == 3) {
      log.Rewind();
      continue;
    }
    Ack begin{records->back().seq, 0, kCommitting, 0};
    if (write(fd, &begin, sizeof(begin)) != sizeof(begin)) break;
    if (!log.Commit(records->back().seq).ok()) break;
    Ack end{records->back().seq, 0, kCommitted, 0};
    if (write(fd, &end, sizeof(end)) != sizeof(end)) break;
  }
  _exit(3);  // only on a failure: the parent expects SIGKILL
}

TEST(EventLogCrash, SigkillLosesNoAcknowledgedRecord) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("iomt-event-log-crash-" + std::to_string(getpid()))).string();
  std::filesystem::remove_all(dir);
  std::mt19937 rng(std::random_device{}());
  std::uint64_t last_next_seq = 1;
  for (int round = 0; round < 6; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      Child(dir, round, fds[1]);
    }
    close(fds[1]);
    // Run for a while, collecting acknowledgements, then kill mid-flight.
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(std::uniform_int_distribution<>(50, 400)(rng));
    std::vector<Ack> acks;
    Ack ack{};
    while (std::chrono::steady_clock::now() < until) {
      if (read(fds[0], &ack, sizeof(ack)) == sizeof(ack)) acks.push_back(ack);
    }
    kill(pid, SIGKILL);
    while (read(fds[0], &ack, sizeof(ack)) == sizeof(ack))
      acks.push_back(ack);  // acknowledged before the kill
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child stopped by itself: " << WEXITSTATUS(status);
    ASSERT_FALSE(acks.empty()) << "round " << round << ": nothing was acknowledged";

    auto opened = EventLog::Open(dir, CrashOptions());
    ASSERT_TRUE(opened.ok()) << "round " << round << ": " << opened.status().ToString();
    EventLog& log = **opened;
    // The checkpoint holds a commit the worker made, at least its last one.
    const std::uint64_t committed = log.committed_seq();
    std::uint64_t attempted = last_next_seq - 1, done = last_next_seq - 1;
    for (const Ack& a : acks) {
      if (a.thread == kCommitting) attempted = std::max(attempted, a.first_seq);
      if (a.thread == kCommitted) done = std::max(done, a.first_seq);
    }
    EXPECT_GE(committed, done) << "round " << round << ": a commit was lost";
    EXPECT_LE(committed, attempted) << "round " << round << ": committed what the worker never committed";
    std::map<std::uint64_t, std::string> present;
    std::uint64_t expected_seq = committed + 1;
    for (;;) {
      auto batch = log.Read(10'000, 1 << 30, std::chrono::milliseconds(0));
      ASSERT_TRUE(batch.ok());
      if (batch->empty()) break;
      for (LogRecord& r : *batch) {
        ASSERT_EQ(r.seq, expected_seq++) << "round " << round;
        ASSERT_TRUE(Intact(r.data)) << "round " << round << ": seq " << r.seq << " damaged";
        present.emplace(r.seq, std::move(r.data));
      }
    }
    std::size_t checked = 0, appends = 0;
    for (const Ack& a : acks) {
      if (a.thread < 0) continue;
      ++appends;
      EXPECT_GE(a.first_seq, last_next_seq) << "round " << round << ": a seq was used again";
      for (std::uint32_t i = 0; i < a.count; ++i) {
        const std::uint64_t seq = a.first_seq + i;
        if (seq <= committed) continue;
        auto it = present.find(seq);
        ASSERT_NE(it, present.end()) << "round " << round << ": acknowledged seq " << seq << " lost";
        ASSERT_EQ(it->second, Payload(round, a.thread, a.first_n + i)) << "round " << round << ": seq " << seq;
        ++checked;
      }
    }
    // The next round starts after everything there is; the worker of this
    // one takes the leftovers as done.
    last_next_seq = log.next_seq();
    if (!present.empty()) {
      ASSERT_TRUE(log.Commit(present.rbegin()->first).ok());
    }
    std::printf("round %d: %zu appends acknowledged, committed up to %llu, %zu acknowledged records checked\n", round,
                appends, static_cast<unsigned long long>(committed), checked);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace iomt::pipeline
