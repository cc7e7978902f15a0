// The spike of issue 18 (docs/adr/0024): the embedded store's write pattern,
// reduced to what any engine must do for it, on SQLite, LMDB and RocksDB
// (all three Debian's), so that what an engine itself allows on this machine
// is measured apart from iomt's own work (JSON, identity, the FHIR rules).
//
// Per Observation, as `iomt run` does it into the store: a point read of its
// identifier (the writer's search) and of its key (the write finds no
// current version), then its ~1.1 KB JSON under a new row number and seven
// index entries (key, identifier, subject, device, two codes, date), 32-byte
// keys of four 64-bit numbers as the store's token rows. A batch (10,000
// Observations) is one transaction made durable before the next (fsync),
// as a batch of `iomt run` is. Every Observation is new, as in a W1 run.
//
//   store_engines sqlite|lmdb|rocksdb DIR COUNT BATCH [ROWS]
//
// ROWS (default 7) keeps that many of the index entries: 0 measures the
// engine appending the JSON alone, what the index costs on top.
//
// Prints one JSON line: seconds, Observations/s, CPU seconds, bytes written
// to disk (/proc/self/io, every thread), the directory's size at the end.
// Built and run by bench/store_engines.sh, not by CMake: the two other
// engines are the spike's only, not dependencies of iomt.
#include <lmdb.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace {

using Key = std::array<std::uint64_t, 4>;  // (p, vh, sh, rid), as a token row

std::uint64_t Mix(std::uint64_t x) {  // splitmix64's finalizer
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::string Hex64(std::uint64_t seed) {  // 64 hex characters, as a SHA-256 id
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int w = 0; w < 4; ++w) {
    std::uint64_t v = Mix(seed * 4 + static_cast<std::uint64_t>(w));
    for (int i = 0; i < 16; ++i, v >>= 4)
      out.push_back(kHex[v & 15]);
  }
  return out;
}

struct Observation {
  std::uint64_t rid;
  std::string json;
  Key identifier;  // the one looked up first
  Key key;         // the resource's own key
  std::vector<Key> rows;
};

// The i-th W1 Observation (device i % 10,000, one reading a minute each).
Observation Make(std::uint64_t i) {
  const std::uint64_t device = i % 10000, minute = i / 10000;
  const std::string id = Hex64(i), patient = Hex64(1'000'000'000 + device), dev = Hex64(2'000'000'000 + device);
  char when[32], until[32];
  std::snprintf(when, sizeof when, "2023-10-09T%02llu:%02llu:00Z", static_cast<unsigned long long>(minute / 60 % 24),
                static_cast<unsigned long long>(minute % 60));
  std::snprintf(until, sizeof until, "2023-10-09T%02llu:%02llu:59Z", static_cast<unsigned long long>(minute / 60 % 24),
                static_cast<unsigned long long>(minute % 60));
  const std::string value =
      "device-" + std::to_string(device) + ".patient-" + std::to_string(device) + ".HeartRate." + when;
  Observation o;
  o.rid = i + 1;
  o.json =
      R"({"resourceType":"Observation","id":")" + id + R"(","meta":{"versionId":"1","lastUpdated":")" + when +
      R"("},"identifier":[{"system":"https://azure.microsoft.com/en-us/services/iomt-fhir-connector/","value":")" +
      value +
      R"("}],"status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"},{"system":"https://azure.microsoft.com/en-us/services/iomt-fhir-connector/","code":"heartrate","display":"heartrate"}],"text":"heartrate"},"subject":{"reference":"Patient/)" +
      patient + R"("},"device":{"reference":"Device/)" + dev + R"("},"effectivePeriod":{"start":")" + when +
      R"(","end":")" + until + R"("},"issued":"2023-10-10T00:00:00.0000000Z","valueQuantity":{"value":)" +
      std::to_string(60 + i % 40) + R"(,"unit":"count/min","system":"http://unitsofmeasure.org","code":"/min"}})";
  const std::uint64_t r = o.rid;
  o.key = {1 * 16 + 0, Mix(i ^ 0x1111), 0, r};
  o.identifier = {1 * 16 + 1, Mix(i ^ 0x2222), 0x5151, r};
  o.rows = {o.key,
            o.identifier,
            {1 * 16 + 2, Mix(device ^ 0x3333), 0x7171, r},
            {1 * 16 + 4, Mix(device ^ 0x4444), 0x8181, r},
            {1 * 16 + 5, 0x8867, 0x9191, r},
            {1 * 16 + 5, 0x4242, 0x5151, r},
            {1 * 16 + 15, minute * 60'000, minute * 60'000 + 59'999, r}};
  return o;
}

// A key as 32 big-endian bytes: byte order is the tuple's order.
std::string Bytes(const Key& k) {
  std::string out(32, '\0');
  for (int f = 0; f < 4; ++f)
    for (int b = 0; b < 8; ++b)
      out[static_cast<std::size_t>(f * 8 + b)] = static_cast<char>(k[static_cast<std::size_t>(f)] >> (56 - 8 * b));
  return out;
}
// The prefix (p, vh, sh) of a token key: what a search looks up.
std::string Prefix(const Key& k) { return Bytes(k).substr(0, 24); }

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "store_engines: %s\n", what.c_str());
  std::exit(1);
}

// One engine: Begin, the reads and writes of a batch, Commit (durable).
class Engine {
 public:
  virtual ~Engine() = default;
  virtual void Begin() = 0;
  virtual bool Has(const Key& prefix_of) = 0;  // any row with k's (p, vh, sh)
  virtual void PutResource(std::uint64_t rid, const std::string& json) = 0;
  virtual void PutRow(const Key& k) = 0;
  virtual void Commit() = 0;
};

class Sqlite : public Engine {
 public:
  explicit Sqlite(const std::string& dir) {
    if (sqlite3_open((dir + "/store.db").c_str(), &db_) != SQLITE_OK) Die("sqlite open");
    // As the store: 16 KiB pages, WAL, synchronous=FULL, 64 MiB cache.
    Exec(
        "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;"
        "CREATE TABLE resources(rid INTEGER PRIMARY KEY, json BLOB NOT NULL);"
        "CREATE TABLE tok(p INTEGER, vh INTEGER, sh INTEGER, rid INTEGER, PRIMARY KEY(p, vh, sh, rid)) WITHOUT ROWID;");
    Prepare(&has_, "SELECT 1 FROM tok WHERE p=? AND vh=? AND sh=? LIMIT 1");
    Prepare(&res_, "INSERT INTO resources(rid, json) VALUES(?, ?)");
    Prepare(&row_, "INSERT OR IGNORE INTO tok VALUES(?, ?, ?, ?)");
  }
  ~Sqlite() override {
    for (sqlite3_stmt* s : {has_, res_, row_})
      sqlite3_finalize(s);
    sqlite3_close(db_);
  }
  void Begin() override { Exec("BEGIN"); }
  bool Has(const Key& k) override {
    for (int i = 0; i < 3; ++i)
      sqlite3_bind_int64(has_, i + 1, static_cast<sqlite3_int64>(k[static_cast<std::size_t>(i)]));
    const bool found = sqlite3_step(has_) == SQLITE_ROW;
    sqlite3_reset(has_);
    return found;
  }
  void PutResource(std::uint64_t rid, const std::string& json) override {
    sqlite3_bind_int64(res_, 1, static_cast<sqlite3_int64>(rid));
    sqlite3_bind_blob(res_, 2, json.data(), static_cast<int>(json.size()), SQLITE_STATIC);
    if (sqlite3_step(res_) != SQLITE_DONE) Die(sqlite3_errmsg(db_));
    sqlite3_reset(res_);
  }
  void PutRow(const Key& k) override {
    for (int i = 0; i < 4; ++i)
      sqlite3_bind_int64(row_, i + 1, static_cast<sqlite3_int64>(k[static_cast<std::size_t>(i)]));
    if (sqlite3_step(row_) != SQLITE_DONE) Die(sqlite3_errmsg(db_));
    sqlite3_reset(row_);
  }
  void Commit() override {
    Exec("COMMIT");
    // As the store's checkpointer would, but inline: a PASSIVE checkpoint
    // when the WAL is long, so that it does not grow without bound.
    if (++commits_ % 8 == 0) sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }

 private:
  void Exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) Die(error ? error : "sqlite exec");
  }
  void Prepare(sqlite3_stmt** s, const char* sql) {
    if (sqlite3_prepare_v2(db_, sql, -1, s, nullptr) != SQLITE_OK) Die(sqlite3_errmsg(db_));
  }
  sqlite3* db_ = nullptr;
  sqlite3_stmt *has_ = nullptr, *res_ = nullptr, *row_ = nullptr;
  int commits_ = 0;
};

class Lmdb : public Engine {
 public:
  explicit Lmdb(const std::string& dir) {
    Check(mdb_env_create(&env_), "env");
    Check(mdb_env_set_mapsize(env_, std::size_t{64} << 30), "mapsize");
    Check(mdb_env_set_maxdbs(env_, 2), "maxdbs");
    // Defaults: every commit is synced (no MDB_NOSYNC / MDB_NOMETASYNC).
    Check(mdb_env_open(env_, dir.c_str(), 0, 0600), "open");
    MDB_txn* txn = nullptr;
    Check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn");
    Check(mdb_dbi_open(txn, "resources", MDB_CREATE | MDB_INTEGERKEY, &res_), "dbi");
    Check(mdb_dbi_open(txn, "tok", MDB_CREATE, &tok_), "dbi");
    Check(mdb_txn_commit(txn), "commit");
  }
  ~Lmdb() override { mdb_env_close(env_); }
  void Begin() override { Check(mdb_txn_begin(env_, nullptr, 0, &txn_), "begin"); }
  bool Has(const Key& k) override {
    const std::string prefix = Prefix(k);
    MDB_cursor* c = nullptr;
    Check(mdb_cursor_open(txn_, tok_, &c), "cursor");
    MDB_val key{prefix.size(), const_cast<char*>(prefix.data())}, val{};
    const int rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
    const bool found = rc == 0 && key.mv_size >= 24 && std::memcmp(key.mv_data, prefix.data(), 24) == 0;
    mdb_cursor_close(c);
    return found;
  }
  void PutResource(std::uint64_t rid, const std::string& json) override {
    MDB_val key{sizeof rid, &rid}, val{json.size(), const_cast<char*>(json.data())};
    Check(mdb_put(txn_, res_, &key, &val, MDB_APPEND), "put resource");  // rids grow
  }
  void PutRow(const Key& k) override {
    const std::string bytes = Bytes(k);
    MDB_val key{bytes.size(), const_cast<char*>(bytes.data())}, val{0, nullptr};
    Check(mdb_put(txn_, tok_, &key, &val, 0), "put row");
  }
  void Commit() override { Check(mdb_txn_commit(txn_), "commit"); }

 private:
  static void Check(int rc, const char* what) {
    if (rc != 0) Die(std::string("lmdb ") + what + ": " + mdb_strerror(rc));
  }
  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
  MDB_dbi res_ = 0, tok_ = 0;
};

class Rocks : public Engine {
 public:
  explicit Rocks(const std::string& dir) {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.IncreaseParallelism(2);  // flushes and compactions on the other core
    // Lookups are by (p, vh, sh): a prefix Bloom filter lets a miss skip
    // the files that cannot hold it (what a store on RocksDB would do).
    options.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(24));
    rocksdb::BlockBasedTableOptions table;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    read_.prefix_same_as_start = true;
    rocksdb::DB* db = nullptr;
    rocksdb::Status st = rocksdb::DB::Open(options, dir, &db);
    if (!st.ok()) Die("rocksdb open: " + st.ToString());
    db_.reset(db);
    sync_.sync = true;  // the batch is durable when Write returns
  }
  void Begin() override { batch_.Clear(); }
  bool Has(const Key& k) override {
    // The batch's own rows are not in the DB yet: a real store would look in
    // the batch too (rocksdb's WriteBatchWithIndex); every key here is new.
    const std::string prefix = Prefix(k);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_));
    it->Seek(prefix);
    return it->Valid() && it->key().starts_with(prefix);
  }
  void PutResource(std::uint64_t rid, const std::string& json) override {
    Key k{0, 0, 0, rid};  // resources ahead of the token rows (p = 0)
    batch_.Put(Bytes(k), json);
  }
  void PutRow(const Key& k) override { batch_.Put(Bytes(k), rocksdb::Slice()); }
  void Commit() override {
    rocksdb::Status st = db_->Write(sync_, &batch_);
    if (!st.ok()) Die("rocksdb write: " + st.ToString());
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteBatch batch_;
  rocksdb::WriteOptions sync_;
  rocksdb::ReadOptions read_;
};

std::uint64_t WrittenBytes() {
  std::ifstream io("/proc/self/io");
  std::string name;
  std::uint64_t value = 0;
  while (io >> name >> value)
    if (name == "write_bytes:") return value;
  return 0;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) Die("usage: store_engines sqlite|lmdb|rocksdb DIR COUNT BATCH [ROWS]");
  const std::string engine = argv[1], dir = argv[2];
  const std::uint64_t count = std::strtoull(argv[3], nullptr, 10), batch = std::strtoull(argv[4], nullptr, 10);
  const std::size_t keep_rows = argc == 6 ? std::strtoull(argv[5], nullptr, 10) : 7;
  std::filesystem::create_directories(dir);
  std::unique_ptr<Engine> e;
  if (engine == "sqlite") e = std::make_unique<Sqlite>(dir);
  if (engine == "lmdb") e = std::make_unique<Lmdb>(dir);
  if (engine == "rocksdb") e = std::make_unique<Rocks>(dir);
  if (!e) Die("unknown engine " + engine);

  const std::uint64_t written_before = WrittenBytes();
  const double cpu_before = CpuSeconds();
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t json_bytes = 0, found = 0;
  std::vector<Observation> obs;
  std::vector<Key> rows;
  for (std::uint64_t first = 0; first < count; first += batch) {
    obs.clear();
    rows.clear();
    for (std::uint64_t i = first; i < std::min(count, first + batch); ++i)
      obs.push_back(Make(i));
    e->Begin();
    for (const Observation& o : obs) {
      if (keep_rows > 0) {
        found += e->Has(o.identifier) ? 1 : 0;
        found += e->Has(o.key) ? 1 : 0;
      }
      e->PutResource(o.rid, o.json);
      json_bytes += o.json.size();
      rows.insert(rows.end(), o.rows.begin(),
                  o.rows.begin() + static_cast<std::ptrdiff_t>(std::min(keep_rows, o.rows.size())));
    }
    // In key order, as the store inserts a batch's token rows.
    std::sort(rows.begin(), rows.end());
    for (const Key& k : rows)
      e->PutRow(k);
    e->Commit();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = CpuSeconds() - cpu_before;
  // Not timed: the lookups really find what was written (a lookup that
  // always missed would make every engine look faster than it is).
  if (keep_rows >= 2) {
    e->Begin();
    for (std::uint64_t i = 0; i < count; i += std::max<std::uint64_t>(1, count / 1000)) {
      const Observation o = Make(i);
      if (!e->Has(o.identifier) || !e->Has(o.key)) Die(engine + ": a written row is not found");
    }
    e->Commit();
  }
  e.reset();  // closed: RocksDB's last flush, LMDB's and SQLite's files complete
  const std::uint64_t written = WrittenBytes() - written_before;
  std::uint64_t size = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir))
    if (f.is_regular_file()) size += f.file_size();
  std::printf(
      "{\"engine\":\"%s\",\"observations\":%llu,\"batch\":%llu,\"rows\":%zu,\"seconds\":%.2f,\"per_second\":%.0f,"
      "\"cpu_seconds\":%.2f,\"json_bytes_per_obs\":%.0f,\"written_bytes_per_obs\":%.0f,\"size_bytes_per_obs\":%.0f,"
      "\"found\":%llu}\n",
      engine.c_str(), static_cast<unsigned long long>(count), static_cast<unsigned long long>(batch), keep_rows,
      seconds, static_cast<double>(count) / seconds, cpu, static_cast<double>(json_bytes) / static_cast<double>(count),
      static_cast<double>(written) / static_cast<double>(count), static_cast<double>(size) / static_cast<double>(count),
      static_cast<unsigned long long>(found));
  return 0;
}
