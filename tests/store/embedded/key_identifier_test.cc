// Key rows that carry the identifier a resource's id is derived from
// (embedded::TakeKeyIdentifier, docs/adr/0021): such an identifier has no
// row of its own, and every search must still find exactly what it found
// before, through every change of the resource.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "store/embedded/embedded_store.h"
#include "store/embedded/resource_text.h"
#include "test_util.h"
#include "tests/store/embedded/store_file.h"

namespace iomt::store {
namespace {

using embedded::KeyIdentifierId;
using iomt::testing::TempDir;

constexpr const char* kSystem = "https://azure.microsoft.com/en-us/services/iomt-fhir-connector/";

std::string Device(const std::string& id, const std::vector<std::pair<std::string, std::string>>& identifiers) {
  std::string json = R"({"resourceType":"Device","id":")" + id + R"(","identifier":[)";
  for (std::size_t i = 0; i < identifiers.size(); ++i) {
    json.append(i > 0 ? "," : "").append("{");
    if (!identifiers[i].first.empty()) json.append(R"("system":")" + identifiers[i].first + R"(",)");
    json.append(R"("value":")" + identifiers[i].second + R"("})");
  }
  return json + "]}";
}

class KeyIdentifier : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_.reset();
    auto store = EmbeddedStore::Open(dir_.path(), {});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }
  void Put(const std::string& id, const std::vector<std::pair<std::string, std::string>>& identifiers) {
    auto put = store_->Put("Device", id, Device(id, identifiers), std::nullopt);
    ASSERT_TRUE(put.ok()) << put.status().ToString();
  }
  // The ids a search finds, sorted.
  std::vector<std::string> Found(const std::string& query) {
    auto page = store_->Search("Device", query);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    std::vector<std::string> ids;
    if (!page.ok()) return ids;
    EXPECT_EQ(page->total, static_cast<std::int64_t>(page->resources.size())) << query;
    for (const Resource& r : page->resources)
      ids.push_back(r.id);
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  // The ids SearchByIdentifiers finds (the writer's and identity's lookup),
  // in its order.
  std::vector<std::string> Looked(const std::string& system, const std::string& value) {
    auto found = store_->SearchByIdentifiers("Device", system, {value});
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    std::vector<std::string> ids;
    if (found.ok()) {
      for (const Resource& r : *found)
        ids.push_back(r.id);
    }
    return ids;
  }
  std::string Sql(const std::string& sql) { return QueryStoreFile(dir_.path(), sql.c_str()); }
  void ExpectConsistent() {
    ASSERT_TRUE(store_->Flush().ok());
    Status st = store_->CheckConsistency();
    EXPECT_TRUE(st.ok()) << st.ToString();
  }

  TempDir dir_;
  std::unique_ptr<EmbeddedStore> store_;
};

using V = std::vector<std::string>;

V Sorted(V ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(KeyIdentifierText, OnlyTheIdentifierTheIdIsDerivedFromIsTaken) {
  const std::string id = KeyIdentifierId(kSystem, "dev-1");
  EXPECT_EQ(id.size(), 64U);
  json::Document doc;
  ASSERT_TRUE(doc.Parse(Device(id, {{"urn:other", "x"}, {kSystem, "dev-1"}, {kSystem, "dev-1"}})).ok());
  embedded::IndexRows rows;
  embedded::ExtractIndex(doc.root(), &rows);
  ASSERT_EQ(rows.tokens.size(), 3U);
  std::string system;
  ASSERT_TRUE(embedded::TakeKeyIdentifier(doc.root(), id, &rows, &system));
  EXPECT_EQ(system, kSystem);
  EXPECT_EQ(rows.key_system, embedded::Hash64(kSystem));
  // Both copies of the repeated one go; the other identifier stays.
  ASSERT_EQ(rows.tokens.size(), 1U);
  EXPECT_EQ(rows.tokens[0].value_hash, embedded::Hash64("x"));
  // Another id (not derived, or derived from an identifier it does not
  // have) takes nothing.
  embedded::ExtractIndex(doc.root(), &rows);
  EXPECT_FALSE(embedded::TakeKeyIdentifier(doc.root(), "dev-1", &rows, &system));
  EXPECT_FALSE(embedded::TakeKeyIdentifier(doc.root(), KeyIdentifierId(kSystem, "dev-2"), &rows, &system));
  EXPECT_EQ(rows.tokens.size(), 3U);
  EXPECT_EQ(rows.key_system, 0);
  // No system: derived from "_value".
  ASSERT_TRUE(doc.Parse(Device("x", {{"", "dev-3"}})).ok());
  embedded::ExtractIndex(doc.root(), &rows);
  EXPECT_TRUE(embedded::TakeKeyIdentifier(doc.root(), KeyIdentifierId("", "dev-3"), &rows, &system));
  EXPECT_TRUE(rows.tokens.empty());
}

TEST_F(KeyIdentifier, TheIdentifierRowIsTheKeyRowAndEverySearchStillFindsIt) {
  const std::string derived = KeyIdentifierId(kSystem, "dev-1");
  Put(derived, {{kSystem, "dev-1"}, {"urn:serial", "SN-9"}});
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(Sql("SELECT value FROM iomt_meta WHERE key='format'"), "5");
  // One identifier row (the serial's); the key row carries the other.
  EXPECT_EQ(Sql("SELECT count(*) FROM (SELECT * FROM tok UNION ALL SELECT * FROM tok_delta) WHERE p % 16 = 1"), "1");
  EXPECT_EQ(Sql("SELECT count(*) FROM (SELECT * FROM tok UNION ALL SELECT * FROM tok_delta) WHERE p % 16 = 0 "
                "AND sh = " +
                std::to_string(embedded::Hash64(kSystem))),
            "1");
  EXPECT_EQ(Sql("SELECT count(*) FROM iomt_meta WHERE key = 'key-system:" + std::string(kSystem) + "'"), "1");

  // Another Device with the same identifier and an id of its own, and one
  // whose id is derived from an identifier it does not have.
  Put("plain", {{kSystem, "dev-1"}});
  Put(KeyIdentifierId(kSystem, "dev-2"), {{kSystem, "dev-1"}});
  const std::string lookalike = KeyIdentifierId(kSystem, "dev-2");
  for (int reopened = 0; reopened < 2; ++reopened) {
    EXPECT_EQ(Found("identifier=" + std::string(kSystem) + "|dev-1"), Sorted({derived, lookalike, "plain"}));
    EXPECT_EQ(Found("identifier=dev-1"), Sorted({derived, lookalike, "plain"}));
    EXPECT_EQ(Found("identifier=" + std::string(kSystem) + "|"), Sorted({derived, lookalike, "plain"}));
    EXPECT_EQ(Found("identifier=urn:serial|SN-9"), (V{derived}));
    EXPECT_EQ(Found("identifier=" + std::string(kSystem) + "|dev-2"), V{});
    EXPECT_EQ(Found("identifier=dev-2"), V{});
    EXPECT_EQ(Found("identifier=urn:other|dev-1"), V{});
    EXPECT_EQ(Found("identifier=dev-2,urn:serial|SN-9&_id=" + derived), (V{derived}));
    // In the order they were first written, with or without the system.
    EXPECT_EQ(Looked(kSystem, "dev-1"), (V{derived, "plain", lookalike}));
    EXPECT_EQ(Looked("", "dev-1"), (V{derived, "plain", lookalike}));
    EXPECT_EQ(Looked(kSystem, "dev-2"), V{});
    ExpectConsistent();
    Open();  // the systems are known from the file
  }
}

TEST_F(KeyIdentifier, UpdatesDeletesAndRecreationsKeepTheKeyRowInStep) {
  const std::string id = KeyIdentifierId(kSystem, "dev-1");
  const std::string by_system = "identifier=" + std::string(kSystem) + "|dev-1";
  Put(id, {{kSystem, "dev-1"}});
  // The identifier changes: the id is no longer derived from any of them.
  Put(id, {{kSystem, "dev-1b"}});
  EXPECT_EQ(Found(by_system), V{});
  EXPECT_EQ(Found("identifier=dev-1"), V{});
  EXPECT_EQ(Looked("", "dev-1"), V{});
  EXPECT_EQ(Found("identifier=dev-1b"), (V{id}));
  ExpectConsistent();
  // And back, with another beside it.
  Put(id, {{"urn:serial", "SN-1"}, {kSystem, "dev-1"}});
  EXPECT_EQ(Found(by_system), (V{id}));
  EXPECT_EQ(Found("identifier=dev-1b"), V{});
  EXPECT_EQ(Looked(kSystem, "dev-1"), (V{id}));
  ExpectConsistent();
  // The same identifiers again (a merge): nothing moves.
  Put(id, {{"urn:serial", "SN-1"}, {kSystem, "dev-1"}});
  EXPECT_EQ(Found(by_system), (V{id}));
  ExpectConsistent();
  // Deleted: found by no identifier.
  ASSERT_TRUE(store_->Delete("Device", id).ok());
  EXPECT_EQ(Found(by_system), V{});
  EXPECT_EQ(Found("identifier=" + std::string(kSystem) + "|"), V{});
  EXPECT_EQ(Looked("", "dev-1"), V{});
  EXPECT_EQ(Found("_id=" + id), V{});
  ExpectConsistent();
  // Recreated: found again, its versions go on.
  Put(id, {{kSystem, "dev-1"}});
  EXPECT_EQ(Found(by_system), (V{id}));
  EXPECT_EQ((*store_->Read("Device", id))->version_id, "6");
  ExpectConsistent();
  // Within one batch: created, changed, and changed back.
  std::vector<PutRequest> batch;
  const std::string other = KeyIdentifierId(kSystem, "dev-7");
  batch.push_back({"Device", other, Device(other, {{kSystem, "dev-7"}}), std::nullopt});
  batch.push_back({"Device", other, Device(other, {{kSystem, "dev-7x"}}), std::nullopt});
  batch.push_back({"Device", id, Device(id, {{kSystem, "dev-1x"}}), std::nullopt});
  batch.push_back({"Device", id, Device(id, {{kSystem, "dev-1"}}), std::nullopt});
  auto wrote = store_->PutMany(std::move(batch));
  ASSERT_TRUE(wrote.ok()) << wrote.status().ToString();
  EXPECT_EQ(Found("identifier=dev-7"), V{});
  EXPECT_EQ(Found("identifier=dev-7x"), (V{other}));
  EXPECT_EQ(Found("identifier=dev-1"), (V{id}));
  ExpectConsistent();
}

TEST_F(KeyIdentifier, ASystemRegisteredByAWriteThatFailedIsRegisteredAgain) {
  // The write fails after its system was registered (a precondition), and
  // its savepoint takes the registration back with it.
  const std::string id = KeyIdentifierId("urn:new", "n-1");
  EXPECT_FALSE(store_->Put("Device", id, Device(id, {{"urn:new", "n-1"}}), "7").ok());
  Put(id, {{"urn:new", "n-1"}});
  ExpectConsistent();
  Open();
  EXPECT_EQ(Found("identifier=n-1"), (V{id}));
  EXPECT_EQ(Looked("", "n-1"), (V{id}));
}

TEST_F(KeyIdentifier, TheCheckFindsAKeyRowOutOfStep) {
  const std::string id = KeyIdentifierId(kSystem, "dev-1");
  Put(id, {{kSystem, "dev-1"}});
  ExpectConsistent();
  store_.reset();
  RunSqlOnStoreFile(dir_.path(), "UPDATE tok_delta SET sh = 0 WHERE p % 16 = 0; UPDATE tok SET sh = 0 WHERE p % 16 = 0");
  Open();
  EXPECT_FALSE(store_->CheckConsistency().ok());
  store_.reset();
  RunSqlOnStoreFile(dir_.path(), ("UPDATE tok_delta SET sh = " + std::to_string(embedded::Hash64(kSystem)) +
                                  " WHERE p % 16 = 0; DELETE FROM iomt_meta WHERE key LIKE 'key-system:%'")
                                     .c_str());
  Open();
  Status st = store_->CheckConsistency();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not registered"), std::string::npos) << st.ToString();
}

// A store made by an older iomt (format 4) keeps an identifier row for
// every identifier: its rows follow from its JSON by that rule.
TEST_F(KeyIdentifier, AFormatFourStoreKeepsIdentifierRows) {
  store_.reset();
  RunSqlOnStoreFile(dir_.path(), "UPDATE iomt_meta SET value='4' WHERE key='format'");
  Open();
  const std::string id = KeyIdentifierId(kSystem, "dev-1");
  Put(id, {{kSystem, "dev-1"}});
  Put(id, {{kSystem, "dev-1"}, {"urn:serial", "SN-1"}});
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(Sql("SELECT count(*) FROM (SELECT * FROM tok UNION ALL SELECT * FROM tok_delta) WHERE p % 16 = 1"), "2");
  EXPECT_EQ(Sql("SELECT count(*) FROM (SELECT * FROM tok UNION ALL SELECT * FROM tok_delta) WHERE p % 16 = 0 "
                "AND sh != 0"),
            "0");
  EXPECT_EQ(Found("identifier=dev-1"), (V{id}));
  EXPECT_EQ(Looked(kSystem, "dev-1"), (V{id}));
  ExpectConsistent();
  store_.reset();
  EXPECT_EQ(Sql("SELECT value FROM iomt_meta WHERE key='format'"), "4");
}

}  // namespace
}  // namespace iomt::store
