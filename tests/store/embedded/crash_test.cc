// A child process writes in a loop and is killed with SIGKILL at a random
// moment, several times over the same store. After each kill the store must
// open, be consistent (index rows match the JSON, the versions kept
// contiguous up to the current one), and hold every write the child
// reported as flushed. Odd rounds prune the history as they write (each
// update trims, and the sweep removes what the even rounds kept, a small
// slice per transaction), so kills land in pruning too.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <random>
#include <string>

#include "store/embedded/embedded_store.h"

namespace iomt::store {
namespace {

// Joins the parts of an id (append, not "lit" + std::string: GCC 12 warns
// falsely on such chains with -Wrestrict).
std::string Join(std::initializer_list<std::string> parts) {
  std::string out;
  for (const std::string& p : parts)
    out.append(p);
  return out;
}

// The superseded versions the odd rounds keep.
constexpr int kKeptVersions = 3;

std::string Observation(const std::string& id, int round, int n) {
  return R"({"resourceType":"Observation","id":")" + id + R"(","identifier":[{"system":"urn:crash","value":")" + id +
         R"("}],"status":"final",)" +
         R"("code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p)" +
         std::to_string(n % 7) + R"("},"effectiveDateTime":"2023-10-09T10:00:00Z","valueQuantity":{"value":)" +
         std::to_string(round * 1000 + n) + "}}";
}

// The child: writes batches (new Observations, updates of earlier ones and a
// single Put each round) and reports the last flushed batch on `fd`.
[[noreturn]] void Writer(const std::string& dir, int round, int fd) {
  EmbeddedStoreOptions options;
  options.token_delta_rows = 600;  // merges every few batches, so kills land in them too
  options.history_max_versions = round % 2 == 1 ? kKeptVersions : 0;
  options.history_sweep_rows = 20;
  auto store = EmbeddedStore::Open(dir, options);
  if (!store.ok()) _exit(2);
  for (int batch = 0;; ++batch) {
    std::vector<PutRequest> puts;
    for (int i = 0; i < 50; ++i) {
      std::string id = Join({"r", std::to_string(round), "-b", std::to_string(batch), "-", std::to_string(i)});
      puts.push_back({"Observation", id, Observation(id, round, i), std::nullopt});
    }
    // Updates: the first batch's Observations of this round, again and again.
    for (int i = 0; i < 5 && batch > 0; ++i) {
      std::string id = Join({"r", std::to_string(round), "-b0-", std::to_string(i)});
      puts.push_back({"Observation", id, Observation(id, round, batch), std::nullopt});
    }
    auto written = (*store)->PutMany(std::move(puts));
    if (!written.ok()) _exit(3);
    std::string patient = Join({"p-r", std::to_string(round), "-", std::to_string(batch)});
    if (!(*store)->Put("Patient", patient, R"({"resourceType":"Patient"})", std::nullopt).ok()) _exit(4);
    if (!(*store)->Flush().ok()) _exit(5);
    std::int32_t done = batch;
    if (write(fd, &done, sizeof(done)) != sizeof(done)) _exit(6);
  }
}

TEST(EmbeddedStoreCrash, SigkillLeavesAConsistentStoreWithEveryFlushedWrite) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("iomt-crash-" + std::to_string(getpid()))).string();
  std::filesystem::remove_all(dir);
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 5; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      Writer(dir, round, fds[1]);
    }
    close(fds[1]);
    // Let it run for a while, reading progress, then kill it mid-flight.
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(std::uniform_int_distribution<>(100, 600)(rng));
    std::int32_t last = -1, got = 0;
    while (std::chrono::steady_clock::now() < until) {
      if (read(fds[0], &got, sizeof(got)) == sizeof(got)) last = got;
    }
    kill(pid, SIGKILL);
    while (read(fds[0], &got, sizeof(got)) == sizeof(got))
      last = got;  // reports written before the kill
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself: " << WEXITSTATUS(status);

    auto store = EmbeddedStore::Open(dir);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    Status consistent = (*store)->CheckConsistency();
    ASSERT_TRUE(consistent.ok()) << "round " << round << ": " << consistent.ToString();
    ASSERT_GE(last, 0) << "the writer never flushed";
    for (int batch = 0; batch <= last; ++batch) {
      for (int i : {0, 49}) {
        std::string id = Join({"r", std::to_string(round), "-b", std::to_string(batch), "-", std::to_string(i)});
        auto r = (*store)->Read("Observation", id);
        ASSERT_TRUE(r.ok() && r->has_value()) << "round " << round << ": lost " << id;
      }
      std::string patient = Join({"p-r", std::to_string(round), "-", std::to_string(batch)});
      ASSERT_TRUE((*store)->Read("Patient", patient)->has_value()) << "lost " << patient;
    }
    // The updated Observation has one version per flushed batch at least,
    // as many as the round's policy keeps.
    auto history = (*store)->History("Observation", Join({"r", std::to_string(round), "-b0-0"}));
    ASSERT_TRUE(history.ok());
    if (round % 2 == 1) {
      EXPECT_GE(history->size(), std::min<std::size_t>(last + 1, kKeptVersions + 1));
      EXPECT_LE(history->size(), kKeptVersions + 1u);
    } else {
      EXPECT_GE(history->size(), static_cast<std::size_t>(last + 1));
    }
  }
  std::filesystem::remove_all(dir);
}

// A process that ends while its checkpointer copies the WAL into store.db
// can leave the file's size between two pages: a page write that extends
// the file is cut 4 KiB at a time (`iomt run` ending, serve_test under the
// fresh-machine check). The WAL still holds every page then, so the store
// must open whole; without a WAL such a size is still damage.
TEST(EmbeddedStoreCrash, AFileCutBetweenPagesWhileTheWalHoldsThemOpensWhole) {
  const std::string dir = (std::filesystem::temp_directory_path() / ("iomt-torn-" + std::to_string(getpid()))).string();
  std::filesystem::remove_all(dir);
  const std::string db = dir + "/store.db";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto store = EmbeddedStore::Open(dir);
    if (!store.ok()) _exit(2);
    std::vector<PutRequest> puts;
    for (int i = 0; i < 200; ++i) {
      std::string id = Join({"t-", std::to_string(i)});
      puts.push_back({"Observation", id, Observation(id, 0, i), std::nullopt});
    }
    if (!(*store)->PutMany(std::move(puts)).ok() || !(*store)->Flush().ok()) _exit(3);
    _exit(0);  // no close: the WAL stays, as after a crash
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_TRUE(std::filesystem::exists(db + "-wal"));
  ASSERT_GT(std::filesystem::file_size(db + "-wal"), 32u + 24u + 16384u);
  // The torn page: 4 KiB past the last whole one.
  std::filesystem::resize_file(db, std::filesystem::file_size(db) + 4096);
  {
    auto store = EmbeddedStore::Open(dir);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_TRUE((*store)->Read("Observation", "t-199")->has_value());
    Status consistent = (*store)->CheckConsistency();
    EXPECT_TRUE(consistent.ok()) << consistent.ToString();
  }
  // Closed cleanly: the WAL is copied in and gone, the file whole pages
  // again; cut now, it is damaged.
  EXPECT_FALSE(std::filesystem::exists(db + "-wal"));
  EXPECT_EQ(std::filesystem::file_size(db) % 16384, 0u);
  std::filesystem::resize_file(db, std::filesystem::file_size(db) + 4096);
  auto damaged = EmbeddedStore::Open(dir);
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.status().message().find("is not a whole number of 16384-byte pages"), std::string::npos)
      << damaged.status().message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace iomt::store
