// The embedded store when the disk fails or the file is damaged: a batch
// that meets a full disk (a real tmpfs of 1 MiB, mounted by the test, so it
// needs root) is rolled back whole, reported as kIoError naming the file and
// "disk full", and the store takes it once space returns; a damaged header or
// schema is an error at Open that says what to do; damage deeper in the file
// is found by Check (`iomt store check`) and by the reads that reach it.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "store/embedded/embedded_store.h"
#include "test_util.h"

namespace iomt::store {
namespace {

namespace fs = std::filesystem;

using iomt::testing::Tmpfs;

using iomt::testing::TempDir;

#define IOMT_REQUIRE_ROOT()                                                                         \
  if (::geteuid() != 0) {                                                                           \
    GTEST_SKIP() << "needs root to mount a small tmpfs (run the test as root to fill a real disk)"; \
  }

std::string Obs(const std::string& id) {
  std::string out = R"({"resourceType":"Observation","id":")";
  out.append(id)
      .append(R"(","identifier":[{"system":"urn:obs","value":"v-)")
      .append(id)
      .append(R"("}],"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},)")
      .append(R"("subject":{"reference":"Patient/p1"},"device":{"reference":"Device/d1"},)")
      .append(R"("effectiveDateTime":"2023-10-09T10:00:00Z","valueQuantity":{"value":72.5,"unit":"count/min"},)")
      .append(R"("note":[{"text":")")
      .append(std::string(400, 'n'))
      .append(R"("}]})");
  return out;
}

std::vector<PutRequest> Batch(int b, int n) {
  std::vector<PutRequest> out;
  for (int i = 0; i < n; ++i) {
    // (Built by append: GCC 12 warns falsely on "lit" + std::string chains.)
    std::string id = "o";
    id.append(std::to_string(b)).append("-").append(std::to_string(i));
    out.push_back({"Observation", id, Obs(id), std::nullopt});
  }
  return out;
}

std::size_t CountObservations(EmbeddedStore& store) {
  std::size_t n = 0;
  Status st = store.Export("Observation", [&](std::string_view, const Resource&) { ++n; });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return n;
}

void Contains(const Status& st, std::string_view what) {
  EXPECT_NE(st.message().find(what), std::string::npos) << "'" << what << "' not in: " << st.message();
}

TEST(EmbeddedStoreDiskFull, AFailedBatchIsRolledBackWholeAndTheStoreTakesItWhenSpaceReturns) {
  IOMT_REQUIRE_ROOT();
  Tmpfs disk("1m");
  ASSERT_TRUE(disk.ok()) << disk.why();
  const std::string dir = disk.path() + "/store";
  const std::string file = dir + "/store.db";
  std::size_t acknowledged = 0;
  std::vector<PutRequest> refused;
  {
    auto opened = EmbeddedStore::Open(dir);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EmbeddedStore& store = **opened;
    Status failed;
    for (int b = 0; b < 1000 && failed.ok(); ++b) {
      std::vector<PutRequest> batch = Batch(b, 50);
      auto written = store.PutMany(batch);
      if (written.ok()) {
        for (const auto& w : *written)
          ASSERT_TRUE(w.ok()) << w.status().ToString();
        acknowledged += batch.size();
      } else {
        failed = written.status();
        refused = std::move(batch);
      }
    }
    ASSERT_FALSE(failed.ok()) << "a 1 MiB disk never filled";
    ASSERT_GT(acknowledged, 0u);
    EXPECT_EQ(failed.code(), StatusCode::kIoError);
    Contains(failed, file);
    Contains(failed, "disk full");
    Contains(failed, "rolled back");
    // Nothing of the failed batch is there, everything before it is.
    EXPECT_FALSE(store.Read("Observation", refused.front().id)->has_value());
    EXPECT_FALSE(store.Read("Observation", refused.back().id)->has_value());
    EXPECT_EQ(CountObservations(store), acknowledged);
    EXPECT_TRUE(store.SearchByIdentifier("Observation", "urn:obs", "v-" + refused.front().id, 2)->empty());
    Status consistent = store.CheckConsistency();
    EXPECT_TRUE(consistent.ok()) << consistent.ToString();

    // Space returns: the same batch is written, and more after it.
    ASSERT_TRUE(disk.Resize("32m"));
    auto again = store.PutMany(refused);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    acknowledged += refused.size();
    ASSERT_TRUE(store.PutMany(Batch(5000, 50)).ok());
    acknowledged += 50;
    EXPECT_EQ(CountObservations(store), acknowledged);
    consistent = store.CheckConsistency();
    EXPECT_TRUE(consistent.ok()) << consistent.ToString();
  }
  auto store = EmbeddedStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(CountObservations(**store), acknowledged);
  EXPECT_TRUE((*store)->Check().empty());
}

// Fills what is left of the disk at `dir`, to the last page (file "filler").
void FillDisk(const std::string& dir) {
  std::ofstream filler(dir + "/filler", std::ios::binary);
  std::string block(4096, 'x');
  while (filler.write(block.data(), static_cast<std::streamsize>(block.size())))
    filler.flush();
}

// Patients p0..p99 of ~3 KB each, as single writes waiting for a commit.
std::string BigPatient() {
  return R"({"resourceType":"Patient","text":{"div":")" + iomt::testing::Incompressible(3000) + R"("}})";
}
void PutBigPatients(EmbeddedStore& store) {
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(store.Put("Patient", std::string("p").append(std::to_string(i)), BigPatient(), std::nullopt).ok());
}

TEST(EmbeddedStoreDiskFull, PendingSingleWritesWhoseCommitFailsAreReportedByFlush) {
  IOMT_REQUIRE_ROOT();
  Tmpfs disk("1m");
  ASSERT_TRUE(disk.ok()) << disk.why();
  const std::string dir = disk.path() + "/store";
  auto opened = EmbeddedStore::Open(dir);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EmbeddedStore& store = **opened;
  ASSERT_TRUE(store.Put("Patient", "before", R"({"resourceType":"Patient"})", std::nullopt).ok());
  ASSERT_TRUE(store.Flush().ok());
  // Fill what is left of the disk, to the last page.
  FillDisk(disk.path());
  ASSERT_NO_FATAL_FAILURE(PutBigPatients(store));
  Status flushed = store.Flush();
  ASSERT_FALSE(flushed.ok());
  EXPECT_EQ(flushed.code(), StatusCode::kIoError);
  Contains(flushed, "disk full");
  Contains(flushed, dir + "/store.db");
  EXPECT_FALSE(store.Read("Patient", "p0")->has_value());
  EXPECT_TRUE(store.Read("Patient", "before")->has_value());

  fs::remove(disk.path() + "/filler");
  ASSERT_TRUE(store.Put("Patient", "p0", BigPatient(), std::nullopt).ok());
  Status again = store.Flush();
  ASSERT_TRUE(again.ok()) << again.ToString();
  EXPECT_EQ((*store.Read("Patient", "p0"))->version_id, "1");
  EXPECT_TRUE(store.CheckConsistency().ok());
}

// `iomt serve`'s group commit: a commit in the background that fails loses
// the single writes of whoever made them; that thread's next PutMany fails
// before writing (its batch must not land on top of a Patient that is gone),
// once, while another thread's batch is written.
TEST(EmbeddedStoreDiskFull, ABackgroundCommitThatFailsStopsTheNextBatchOfTheThreadWhoseWritesItLost) {
  IOMT_REQUIRE_ROOT();
  Tmpfs disk("1m");
  ASSERT_TRUE(disk.ok()) << disk.why();
  const std::string dir = disk.path() + "/store";
  EmbeddedStoreOptions options;
  options.commit_interval_ms = 20;
  auto opened = EmbeddedStore::Open(dir, options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EmbeddedStore& store = **opened;
  ASSERT_TRUE(store.Put("Patient", "before", R"({"resourceType":"Patient"})", std::nullopt).ok());
  ASSERT_TRUE(store.Flush().ok());
  FillDisk(disk.path());
  ASSERT_NO_FATAL_FAILURE(PutBigPatients(store));
  // The committer tries within 20 ms; the first commits may still fit in
  // the WAL's old space, a later one fails: some of the writes are gone.
  auto some_gone = [&] {
    for (int i = 0; i < 100; ++i)
      if (!store.Read("Patient", std::string("p").append(std::to_string(i)))->has_value()) return true;
    return false;
  };
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = some_gone();
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(gone) << "the background commit did not fail on the full disk";
  fs::remove(disk.path() + "/filler");

  // Another thread, which had nothing waiting, writes its batch.
  Status other;
  std::thread([&] {
    auto written = store.PutMany(Batch(1, 10));
    other = written.ok() ? store.Flush() : written.status();
  }).join();
  EXPECT_TRUE(other.ok()) << other.ToString();
  EXPECT_TRUE(store.Read("Observation", "o1-0")->has_value());

  // This thread's next batch is refused before it writes anything, once.
  auto refused = store.PutMany(Batch(2, 10));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kIoError);
  Contains(refused.status(), "disk full");
  EXPECT_FALSE(store.Read("Observation", "o2-0")->has_value());
  auto again = store.PutMany(Batch(2, 10));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(store.Flush().ok());
  EXPECT_TRUE(store.Read("Observation", "o2-9")->has_value());
  EXPECT_TRUE(some_gone());
  EXPECT_TRUE(store.CheckConsistency().ok());
}

// ---- damage ---------------------------------------------------------------------

// A closed store of 400 Observations (its WAL checkpointed into store.db).
std::string MakeStore(const std::string& dir) {
  auto store = EmbeddedStore::Open(dir);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  for (int b = 0; b < 8 && store.ok(); ++b)
    EXPECT_TRUE((*store)->PutMany(Batch(b, 50)).ok());
  return dir + "/store.db";
}

void Overwrite(const std::string& file, std::uint64_t offset, const std::string& bytes) {
  std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good());
}

// The advice every damaged-file error gives.
void SaysWhatToDo(const Status& st, const std::string& dir) {
  Contains(st, dir + "/store.db");
  Contains(st, "damaged");
  Contains(st, "iomt store --store " + dir + " check");
  Contains(st, "restore");
}

TEST(EmbeddedStoreDamage, ADamagedHeaderIsAnErrorAtOpenThatSaysWhatToDo) {
  TempDir dir;
  const std::string file = MakeStore(dir.path());
  Overwrite(file, 16, std::string("\x12\x34\x05\x07", 4));  // page size, format versions
  auto store = EmbeddedStore::Open(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kIoError);
  EXPECT_EQ(store.status().detail(), "damaged");
  SaysWhatToDo(store.status(), dir.path());
  Contains(store.status(), "page size");
}

TEST(EmbeddedStoreDamage, AStoreWhoseMagicIsGoneIsDamagedNotForeign) {
  // The application id ('IOMT', at offset 68) survives: it was a store.
  TempDir dir;
  const std::string file = MakeStore(dir.path());
  Overwrite(file, 0, std::string(16, '\0'));
  auto store = EmbeddedStore::Open(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kIoError);
  SaysWhatToDo(store.status(), dir.path());
}

TEST(EmbeddedStoreDamage, AStoreCutShortIsDamaged) {
  TempDir dir;
  const std::string file = MakeStore(dir.path());
  fs::resize_file(file, fs::file_size(file) - 1000);
  auto store = EmbeddedStore::Open(dir.path());
  ASSERT_FALSE(store.ok());
  SaysWhatToDo(store.status(), dir.path());
}

TEST(EmbeddedStoreDamage, AMissingTableIsDamage) {
  TempDir dir;
  const std::string file = MakeStore(dir.path());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE history", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = EmbeddedStore::Open(dir.path());
  ASSERT_FALSE(store.ok());
  SaysWhatToDo(store.status(), dir.path());
  Contains(store.status(), "'history'");
}

// The store's page size, from the database header (big-endian, offset 16).
std::uint64_t PageSize(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char header[18] = {};
  in.read(reinterpret_cast<char*>(header), sizeof header);
  return header[16] * 256U + header[17];
}

// The number of a leaf page of the resources table in the middle of the file
// (SQLite's dbstat), or the file's middle page when dbstat is not there.
std::uint64_t ResourcesPage(const std::string& file) {
  sqlite3* db = nullptr;
  std::vector<std::int64_t> pages;
  if (sqlite3_open(file.c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT pageno FROM dbstat WHERE name='resources' AND pagetype='leaf' ORDER BY pageno",
                           -1, &s, nullptr) == SQLITE_OK) {
      while (sqlite3_step(s) == SQLITE_ROW)
        pages.push_back(sqlite3_column_int64(s, 0));
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  if (!pages.empty()) return static_cast<std::uint64_t>(pages[pages.size() / 2]);
  return fs::file_size(file) / PageSize(file) / 2 + 1;
}

TEST(EmbeddedStoreDamage, ADamagedPageInTheMiddleIsFoundByCheckAndByTheReadsThatReachIt) {
  TempDir dir;
  const std::string file = MakeStore(dir.path());
  {
    auto store = EmbeddedStore::Open(dir.path());
    ASSERT_TRUE(store.ok());
    EXPECT_TRUE((*store)->Check().empty()) << (*store)->Check().front();
  }
  const std::uint64_t page = ResourcesPage(file);
  ASSERT_GT(page, 1u);
  const std::uint64_t size = PageSize(file);
  Overwrite(file, (page - 1) * size, std::string(size, '\x5a'));
  // Open reads a few pages only, so it may not see this one (which is the
  // point: opening a big store stays fast).
  auto store = EmbeddedStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::vector<std::string> findings = (*store)->Check();
  ASSERT_FALSE(findings.empty());
  // integrity_check names the page ("Page 68: ...").
  EXPECT_NE(findings.front().find(std::string("age ").append(std::to_string(page))), std::string::npos)
      << findings.front();
  Status exported = (*store)->Export("Observation", [](std::string_view, const Resource&) {});
  ASSERT_FALSE(exported.ok());
  EXPECT_EQ(exported.code(), StatusCode::kIoError);
  SaysWhatToDo(exported, dir.path());
}

TEST(EmbeddedStoreDamage, CheckFindsIndexRowsThatDoNotMatchTheJson) {
  TempDir dir;
  const std::string file = MakeStore(dir.path());
  {
    auto store = EmbeddedStore::Open(dir.path());
    ASSERT_TRUE(store.ok());
    EXPECT_TRUE((*store)->Check().empty());
  }
  // Sound b-trees, wrong content: one token row gone, another changed.
  for (const char* sql :
       {"DELETE FROM tok_delta WHERE (p, vh, sh, rid) IN (SELECT p, vh, sh, rid FROM tok_delta LIMIT 1)",
        "UPDATE tok_delta SET vh = vh + 1 WHERE (p, vh, sh, rid) IN "
        "(SELECT p, vh, sh, rid FROM tok_delta LIMIT 1)"}) {
    TempDir copy;
    fs::create_directories(copy.path());
    fs::copy_file(file, copy.path() + "/store.db");
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((copy.path() + "/store.db").c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
    ASSERT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "");
    sqlite3_close(db);
    auto store = EmbeddedStore::Open(copy.path());
    ASSERT_TRUE(store.ok());
    std::vector<std::string> findings = (*store)->Check();
    ASSERT_EQ(findings.size(), 1u) << sql;
    EXPECT_NE(findings.front().find("token index does not match"), std::string::npos) << findings.front();
    EXPECT_FALSE((*store)->CheckConsistency().ok());
  }
}

}  // namespace
}  // namespace iomt::store
