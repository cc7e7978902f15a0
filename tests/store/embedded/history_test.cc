// The embedded store's history policy (the newest N superseded versions,
// those younger than an age), compaction and online backup and restore.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "store/embedded/embedded_store.h"
#include "test_util.h"
#include "tests/store/embedded/store_file.h"

namespace iomt::store {
namespace {

namespace fs = std::filesystem;

using iomt::testing::TempDir;

std::unique_ptr<EmbeddedStore> OpenOrDie(const std::string& dir, EmbeddedStoreOptions options) {
  auto store = EmbeddedStore::Open(dir, std::move(options));
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

EmbeddedStoreOptions Policy(std::int64_t versions, std::int64_t age_ms = 0) {
  EmbeddedStoreOptions options;
  options.history_max_versions = versions;
  options.history_max_age_ms = age_ms;
  return options;
}

// A Device whose JSON says which write made it; `pad` makes it big.
std::string DeviceJson(const std::string& id, int n, std::size_t pad = 0) {
  std::string json = R"({"resourceType":"Device","id":")";
  json.append(id).append(R"(","identifier":[{"system":"urn:t","value":")").append(id);
  json.append(R"("}],"serialNumber":")").append(std::to_string(n)).append(R"(")");
  if (pad > 0) json.append(R"(,"note":[{"text":")").append(iomt::testing::Incompressible(pad, n)).append(R"("}])");
  json.append("}");
  return json;
}

void PutOrDie(EmbeddedStore& store, const std::string& id, int n, std::size_t pad = 0) {
  std::vector<PutRequest> puts;
  puts.push_back({"Device", id, DeviceJson(id, n, pad), std::nullopt});
  auto written = store.PutMany(std::move(puts));
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  ASSERT_TRUE((*written)[0].ok()) << (*written)[0].status().ToString();
}

std::vector<std::string> Versions(EmbeddedStore& store, const std::string& type, const std::string& id) {
  std::vector<std::string> out;
  auto history = store.History(type, id);
  EXPECT_TRUE(history.ok()) << history.status().ToString();
  if (!history.ok()) return out;
  for (const HistoryEntry& e : *history)
    out.push_back(e.version_id);
  return out;
}

using V = std::vector<std::string>;

// "d7" (append, not "d" + std::string: GCC 12 warns falsely on it with
// -Wrestrict).
std::string Id(const char* prefix, int n) {
  std::string id = prefix;
  id.append(std::to_string(n));
  return id;
}

TEST(EmbeddedStoreHistory, KeepsTheNewestVersionsAndSaysWhichAVReadNoLongerFinds) {
  TempDir dir;
  auto store = OpenOrDie(dir.path(), Policy(3));
  for (int n = 1; n <= 10; ++n)
    PutOrDie(*store, "d", n);
  EXPECT_EQ(Versions(*store, "Device", "d"), (V{"10", "9", "8", "7"}));
  EXPECT_EQ(store->RemovedVersions(), 6);
  auto kept = store->VRead("Device", "d", "7");
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_NE(kept->json.find(R"("serialNumber":"7")"), std::string::npos);
  auto pruned = store->VRead("Device", "d", "6");
  ASSERT_EQ(pruned.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(pruned.status().detail(), "");  // 404, not 410: version 6 was no deletion
  EXPECT_NE(pruned.status().message().find("no longer has version 6"), std::string::npos) << pruned.status().message();
  EXPECT_NE(pruned.status().message().find("keeps versions 7 to 10"), std::string::npos) << pruned.status().message();
  EXPECT_EQ(store->VRead("Device", "d", "11").status().code(), StatusCode::kNotFound);
  Status consistent = store->CheckConsistency();
  EXPECT_TRUE(consistent.ok()) << consistent.ToString();
}

TEST(EmbeddedStoreHistory, SingleWritesAreTrimmedToo) {
  TempDir dir;
  auto store = OpenOrDie(dir.path(), Policy(2));
  for (int n = 1; n <= 6; ++n)
    ASSERT_TRUE(store->Update("Device", "d", DeviceJson("d", n), std::nullopt).ok());
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(Versions(*store, "Device", "d"), (V{"6", "5", "4"}));
  EXPECT_TRUE(store->CheckConsistency().ok());
}

TEST(EmbeddedStoreHistory, NoLimitKeepsEveryVersionAndTheStrictCheck) {
  TempDir dir;
  auto store = OpenOrDie(dir.path(), Policy(0));
  for (int n = 1; n <= 15; ++n)
    PutOrDie(*store, "d", n);
  EXPECT_EQ(Versions(*store, "Device", "d").size(), 15u);
  EXPECT_EQ(store->RemovedVersions(), 0);
  EXPECT_TRUE(store->CheckConsistency().ok());
  store.reset();
  // Never pruned: a missing first version is damage, not the policy.
  RunSqlOnStoreFile(dir.path(), "DELETE FROM history WHERE version=1");
  store = OpenOrDie(dir.path(), Policy(0));
  EXPECT_FALSE(store->CheckConsistency().ok());
}

TEST(EmbeddedStoreHistory, KeepsOnlyVersionsYoungerThanTheAgeLimit) {
  TempDir dir;
  auto now = std::make_shared<std::atomic<std::int64_t>>(1'000'000);
  EmbeddedStoreOptions options = Policy(0, /*age_ms=*/10'000);
  options.clock_ms = [now] { return now->load(); };
  options.history_sweep_interval_ms = 0;  // a pass in every transaction
  auto store = OpenOrDie(dir.path(), options);
  for (int n = 1; n <= 3; ++n)
    PutOrDie(*store, "old", n);  // at 1,000,000
  now->store(1'020'000);
  for (int n = 4; n <= 6; ++n)
    PutOrDie(*store, "old", n);  // at 1,020,000: versions 1-3 are 20 s old
  // The sweep runs at the start of the next transactions.
  PutOrDie(*store, "other", 1);
  PutOrDie(*store, "other", 2);
  EXPECT_EQ(Versions(*store, "Device", "old"), (V{"6", "5", "4"}));
  // Every superseded version old: none is kept, the current one stays.
  now->store(1'100'000);
  PutOrDie(*store, "other", 3);
  PutOrDie(*store, "other", 4);
  EXPECT_EQ(Versions(*store, "Device", "old"), (V{"6"}));
  auto current = store->ReadCurrent("Device", "old");
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->version_id, "6");
  Status consistent = store->CheckConsistency();
  EXPECT_TRUE(consistent.ok()) << consistent.ToString();
}

TEST(EmbeddedStoreHistory, BothLimitsApply) {
  TempDir dir;
  auto now = std::make_shared<std::atomic<std::int64_t>>(5'000'000);
  EmbeddedStoreOptions options = Policy(4, /*age_ms=*/60'000);
  options.clock_ms = [now] { return now->load(); };
  options.history_sweep_interval_ms = 0;
  auto store = OpenOrDie(dir.path(), options);
  for (int n = 1; n <= 8; ++n) {
    now->fetch_add(20'000);
    PutOrDie(*store, "d", n);
  }
  // Versions 1-3 beyond the newest four superseded; of those, 4 is 80 s
  // old when the next transaction's sweep runs.
  PutOrDie(*store, "x", 1);
  EXPECT_EQ(Versions(*store, "Device", "d"), (V{"8", "7", "6", "5"}));
  EXPECT_TRUE(store->CheckConsistency().ok());
}

TEST(EmbeddedStoreHistory, ADeletedResourceKeepsItsDeletionRecord) {
  TempDir dir;
  auto store = OpenOrDie(dir.path(), Policy(1));
  for (int n = 1; n <= 5; ++n)
    PutOrDie(*store, "d", n);
  auto deleted = store->Delete("Device", "d");
  ASSERT_TRUE(deleted.ok() && *deleted);
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(store->ReadCurrent("Device", "d").status().detail(), "deleted");  // 410
  auto history = store->History("Device", "d");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_TRUE((*history)[0].deleted);
  EXPECT_EQ((*history)[0].version_id, "6");
  EXPECT_EQ((*history)[1].version_id, "5");
  // Created again: the deletion is now the superseded version kept.
  PutOrDie(*store, "d", 7);
  EXPECT_EQ(Versions(*store, "Device", "d"), (V{"7", "6"}));
  EXPECT_EQ(store->VRead("Device", "d", "6").status().detail(), "deleted");
  EXPECT_TRUE(store->CheckConsistency().ok());
}

TEST(EmbeddedStoreHistory, TheSweepRemovesWhatAnEarlierPolicyKeptASliceAtATime) {
  TempDir dir;
  constexpr int kResources = 40, kVersions = 20;
  {
    auto store = OpenOrDie(dir.path(), Policy(0));
    for (int n = 1; n <= kVersions; ++n) {
      std::vector<PutRequest> puts;
      for (int r = 0; r < kResources; ++r) {
        std::string id = Id("d", r);
        puts.push_back({"Device", id, DeviceJson(id, n), std::nullopt});
      }
      ASSERT_TRUE(store->PutMany(std::move(puts)).ok());
    }
  }
  EmbeddedStoreOptions options = Policy(5);
  options.history_sweep_rows = 50;
  auto store = OpenOrDie(dir.path(), options);
  // 40 x 19 superseded versions, 40 x 14 to remove, at most 50 a
  // transaction: at least 12 transactions, each leaving a consistent store.
  const std::int64_t excess = kResources * (kVersions - 1 - 5);
  int transactions = 0;
  while (store->RemovedVersions() < excess && transactions < 100) {
    const std::int64_t before = store->RemovedVersions();
    PutOrDie(*store, Id("new", transactions), 1);  // a transaction, with versions of nothing
    ++transactions;
    EXPECT_LE(store->RemovedVersions() - before, 50) << "a slice larger than history_sweep_rows";
    Status consistent = store->CheckConsistency();
    ASSERT_TRUE(consistent.ok()) << "after transaction " << transactions << ": " << consistent.ToString();
  }
  EXPECT_EQ(store->RemovedVersions(), excess);
  EXPECT_GE(transactions, 12);
  for (int r = 0; r < kResources; ++r)
    EXPECT_EQ(Versions(*store, "Device", Id("d", r)).size(), 6u) << r;
}

TEST(EmbeddedStoreHistory, OneResourceWithAHugeBacklogIsPrunedInBoundedSlices) {
  TempDir dir;
  {
    auto store = OpenOrDie(dir.path(), Policy(0));
    for (int n = 1; n <= 300; ++n)
      PutOrDie(*store, "d", n);
  }
  EmbeddedStoreOptions options = Policy(10);
  options.history_sweep_rows = 40;
  auto store = OpenOrDie(dir.path(), options);
  for (int t = 0; t < 20 && Versions(*store, "Device", "d").size() > 11; ++t) {
    const std::int64_t before = store->RemovedVersions();
    PutOrDie(*store, "other", t + 1);
    EXPECT_LE(store->RemovedVersions() - before, 40);
    ASSERT_TRUE(store->CheckConsistency().ok());
  }
  EXPECT_EQ(Versions(*store, "Device", "d").size(), 11u);
}

TEST(EmbeddedStoreHistory, CheckStillFindsDamageInPrunedHistory) {
  TempDir dir;
  {
    auto store = OpenOrDie(dir.path(), Policy(4));
    for (int n = 1; n <= 12; ++n) {
      PutOrDie(*store, "a", n);
      PutOrDie(*store, "b", n);
    }
    ASSERT_TRUE(store->CheckConsistency().ok());
  }
  // A hole in the middle of the kept versions.
  RunSqlOnStoreFile(dir.path(),
                    "DELETE FROM history WHERE rid=(SELECT rid FROM resources WHERE id='a') AND version=10");
  // The newest superseded version gone.
  RunSqlOnStoreFile(dir.path(),
                    "DELETE FROM history WHERE rid=(SELECT rid FROM resources WHERE id='b') AND version=11");
  auto store = OpenOrDie(dir.path(), Policy(0));
  Status st = store->CheckConsistency();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("versions not contiguous"), std::string::npos) << st.message();
}

TEST(EmbeddedStoreHistory, ConcurrentWritersAndReadersWhilePruning) {
  TempDir dir;
  EmbeddedStoreOptions options = Policy(2);
  options.history_sweep_rows = 30;
  options.commit_interval_ms = 5;
  auto store = OpenOrDie(dir.path(), options);
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (int n = 1; n <= 60 && !failed; ++n) {
        std::vector<PutRequest> puts;
        for (int r = 0; r < 20; ++r) {
          std::string id = Id("d", r);  // both writers update the same resources
          puts.push_back({"Device", id, DeviceJson(id, w * 1000 + n, 500), std::nullopt});
        }
        if (!store->PutMany(std::move(puts)).ok()) failed = true;
        // Single writes too, committed by the background committer.
        if (!store->Update("Patient", Id("p", w), R"({"resourceType":"Patient"})", std::nullopt).ok()) {
          failed = true;
        }
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 300 && !failed; ++i) {
      auto history = store->History("Device", Id("d", i % 20));
      if (!history.ok()) continue;  // not written yet
      if (history->size() > 3) failed = true;
      // Every version History lists reads back (it was kept, in one view).
      for (std::size_t k = 1; k < history->size(); ++k) {
        if (std::stoll((*history)[k - 1].version_id) != std::stoll((*history)[k].version_id) + 1) failed = true;
      }
    }
  });
  for (std::thread& t : threads)
    t.join();
  ASSERT_FALSE(failed);
  ASSERT_TRUE(store->Flush().ok());
  Status consistent = store->CheckConsistency();
  EXPECT_TRUE(consistent.ok()) << consistent.ToString();
  for (int r = 0; r < 20; ++r)
    EXPECT_EQ(Versions(*store, "Device", Id("d", r)).size(), 3u);
  EXPECT_EQ(Versions(*store, "Patient", "p0"), (V{"60", "59", "58"}));
}

std::int64_t FileSize(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<std::int64_t>(size);
}

TEST(EmbeddedStoreHistory, CompactRemovesOldVersionsAndShrinksTheFile) {
  TempDir dir;
  {
    auto store = OpenOrDie(dir.path(), Policy(0));
    for (int n = 1; n <= 20; ++n) {
      std::vector<PutRequest> puts;
      for (int r = 0; r < 50; ++r) {
        std::string id = Id("d", r);
        puts.push_back({"Device", id, DeviceJson(id, n, 4000), std::nullopt});
      }
      ASSERT_TRUE(store->PutMany(std::move(puts)).ok());
    }
  }
  const std::int64_t before = FileSize(dir.File("store.db")) + FileSize(dir.File("store.db-wal"));
  EmbeddedStoreOptions options = Policy(1);
  options.history_sweep_rows = 10;  // the open's pass has barely begun when compact runs
  auto store = OpenOrDie(dir.path(), options);
  auto report = store->Compact();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->removed_versions, 50 * 18);
  EXPECT_EQ(report->bytes_before, before);
  // 20 versions of ~4 KB each to 2: about a tenth.
  EXPECT_GT(before, 4'000'000);
  EXPECT_LT(report->bytes_after, before / 5) << before << " -> " << report->bytes_after;
  EXPECT_EQ(report->bytes_after, FileSize(dir.File("store.db")) + FileSize(dir.File("store.db-wal")));
  EXPECT_EQ(Versions(*store, "Device", "d7"), (V{"20", "19"}));
  Status consistent = store->CheckConsistency();
  EXPECT_TRUE(consistent.ok()) << consistent.ToString();
  // The store goes on as before.
  PutOrDie(*store, "d7", 21);
  EXPECT_EQ(Versions(*store, "Device", "d7"), (V{"21", "20"}));
  store.reset();
  auto reopened = OpenOrDie(dir.path(), Policy(1));
  EXPECT_TRUE(reopened->CheckConsistency().ok());
}

// type/id -> json of each current resource.
std::map<std::string, std::string> ExportAll(EmbeddedStore& store) {
  std::map<std::string, std::string> out;
  Status st = store.Export("", [&](std::string_view type, const Resource& r) {
    std::string key(type);
    key.append("/").append(r.id);
    out[key] = r.json;
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

mode_t Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST(EmbeddedStoreBackup, BacksUpWhileAnotherThreadWritesAndRestores) {
  TempDir dir;
  const std::string source = dir.File("source"), backup = dir.File("backup"), restored = dir.File("restored");
  // Every version kept, so that each version the backup holds can be found
  // in the source afterwards.
  auto store = OpenOrDie(source, Policy(0));
  constexpr int kFirst = 400;
  {
    std::vector<PutRequest> puts;
    for (int r = 0; r < kFirst; ++r) {
      std::string id = Id("d", r);
      puts.push_back({"Device", id, DeviceJson(id, 1, 2000), std::nullopt});
    }
    ASSERT_TRUE(store->PutMany(std::move(puts)).ok());
  }
  ASSERT_TRUE(store->Update("Patient", "pending", R"({"resourceType":"Patient"})", std::nullopt).ok());
  std::atomic<bool> stop{false}, failed{false};
  std::atomic<int> batches{0};
  std::thread writer([&] {
    for (int n = 2; !stop; ++n) {
      std::vector<PutRequest> puts;
      for (int r = 0; r < 50; ++r) {
        std::string id = Id("d", (n * 50 + r) % (kFirst + 200));  // updates and new ones
        puts.push_back({"Device", id, DeviceJson(id, n, 2000), std::nullopt});
      }
      if (!store->PutMany(std::move(puts)).ok()) failed = true;
      ++batches;
    }
  });
  while (batches < 3)
    std::this_thread::yield();
  // Small steps; after the first, the backup waits for the writer to commit
  // three more batches: the writes go on while it copies, and it still
  // finishes (from its snapshot, not restarting at each commit).
  int during = -1;
  auto report = store->BackupTo(backup, /*pages_per_step=*/2, [&](std::int64_t copied, std::int64_t) {
    if (during >= 0) return;
    const int at = batches;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (batches < at + 3 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    during = batches - at;
    EXPECT_EQ(copied, 2);
  });
  stop = true;
  writer.join();
  ASSERT_FALSE(failed);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GE(during, 3) << "the writer waited for the backup";
  EXPECT_GT(report->steps, 20);
  EXPECT_EQ(Mode(backup), 0700u);
  EXPECT_EQ(Mode(backup + "/store.db"), 0600u);
  EXPECT_EQ(report->bytes, FileSize(backup + "/store.db"));

  auto copy = OpenOrDie(backup, Policy(0));
  Status consistent = copy->CheckConsistency();
  ASSERT_TRUE(consistent.ok()) << consistent.ToString();
  std::map<std::string, std::string> in_backup = ExportAll(*copy);
  // Everything written before the backup began (the pending single write
  // included), and every version the backup holds is the source's.
  EXPECT_GE(in_backup.size(), static_cast<std::size_t>(kFirst + 1));
  EXPECT_EQ(in_backup.count("Patient/pending"), 1u);
  for (const auto& [key, json] : in_backup) {
    const std::string type = key.substr(0, key.find('/')), id = key.substr(key.find('/') + 1);
    auto history = copy->History(type, id);
    ASSERT_TRUE(history.ok());
    for (const HistoryEntry& e : *history) {
      auto original = store->VRead(type, id, e.version_id);
      ASSERT_TRUE(original.ok()) << key << " version " << e.version_id;
      EXPECT_EQ(original->json, e.json) << key << " version " << e.version_id;
    }
  }
  // The source has moved on since: the backup is the snapshot of its start.
  EXPECT_NE(ExportAll(*store), in_backup);

  // A backup goes into a new or empty directory only.
  EXPECT_EQ(store->BackupTo(backup).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs::exists(backup + "/store.db"));

  // Restoring is backing up the backup into the store's new directory.
  ASSERT_TRUE(copy->BackupTo(restored).ok());
  auto back = OpenOrDie(restored, Policy(0));
  EXPECT_TRUE(back->CheckConsistency().ok());
  EXPECT_EQ(ExportAll(*back), in_backup);
  EXPECT_EQ(Versions(*back, "Device", "d1"), Versions(*copy, "Device", "d1"));
}

TEST(EmbeddedStoreBackup, AFailedBackupLeavesNoStoreFile) {
  TempDir dir;
  auto store = OpenOrDie(dir.File("s"), Policy(0));
  PutOrDie(*store, "d", 1);
  // Not a directory.
  { std::ofstream(dir.File("file")) << "x"; }
  EXPECT_EQ(store->BackupTo(dir.File("file")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir.File("file") + "/store.db"));
  // An empty directory is fine.
  fs::create_directories(dir.File("empty"));
  ASSERT_TRUE(store->BackupTo(dir.File("empty")).ok());
  EXPECT_FALSE(fs::exists(dir.File("empty") + "/store.db.partial"));
  EXPECT_TRUE(fs::exists(dir.File("empty") + "/store.db"));
}

}  // namespace
}  // namespace iomt::store
