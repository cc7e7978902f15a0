#include "store/embedded/embedded_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/json/document.h"
#include "store/embedded/packed_json.h"
#include "store/embedded/resource_text.h"
#include "store/embedded/split_store.h"
#include "store/embedded/sqlite.h"
#include "store/rest_outcome.h"
#include "test_util.h"
#include "tests/store/embedded/store_file.h"
#include "tests/store/fhir_client_contract.h"

namespace iomt::store {
namespace {

namespace fs = std::filesystem;

using iomt::testing::TempDir;

std::unique_ptr<EmbeddedStore> OpenOrDie(const std::string& dir, EmbeddedStoreOptions options = {}) {
  auto store = EmbeddedStore::Open(dir, std::move(options));
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

std::string Member(const std::string& json, std::string_view a, std::string_view b = {}) {
  json::Document doc;
  if (!doc.Parse(json).ok()) return "<bad json>";
  json::Value v;
  if (!doc.root().Find(a, &v)) return "";
  if (!b.empty() && !v.Find(b, &v)) return "";
  return v.is_string() ? std::string(v.string_value()) : "<not a string>";
}

std::string Obs(const std::string& id, const std::string& patient, const std::string& code,
                const std::string& effective, const std::string& device = "dev1") {
  std::string eff = effective.find('/') != std::string::npos
                        ? R"("effectivePeriod":{"start":")" + effective.substr(0, effective.find('/')) +
                              R"(","end":")" + effective.substr(effective.find('/') + 1) + R"("})"
                        : R"("effectiveDateTime":")" + effective + R"(")";
  return R"({"resourceType":"Observation","id":")" + id + R"(","identifier":[{"system":"urn:obs","value":"v-)" + id +
         R"("}],"status":"final","code":{"coding":[{"system":"http://loinc.org","code":")" + code +
         R"("}]},"subject":{"reference":"Patient/)" + patient + R"("},"device":{"reference":"Device/)" + device +
         R"("},)" + eff + R"(,"valueQuantity":{"value":72.50,"unit":"count/min"}})";
}

// Observations o<first> .. o<first + count - 1> of Patient p1, as one batch.
std::vector<PutRequest> ObsBatch(int first, int count) {
  std::vector<PutRequest> batch;
  for (int i = first; i < first + count; ++i) {
    std::string id = std::string("o").append(std::to_string(i));
    batch.push_back({"Observation", id, Obs(id, "p1", "8867-4", "2023-10-09"), std::nullopt});
  }
  return batch;
}

std::vector<std::string> Ids(const SearchPage& page) {
  std::vector<std::string> ids;
  for (const Resource& r : page.resources)
    ids.push_back(r.id);
  return ids;
}

class EmbeddedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EmbeddedStoreOptions options;
    options.clock_ms = [this] { return now_ms_; };
    store_ = OpenOrDie(dir_.path(), options);
    ASSERT_NE(store_, nullptr);
  }
  std::vector<std::string> Search(const std::string& type, const std::string& query) {
    auto page = store_->Search(type, query);
    EXPECT_TRUE(page.ok()) << query << ": " << page.status().ToString();
    return page.ok() ? Ids(*page) : std::vector<std::string>{"<error>"};
  }
  void PutObservations() {
    ASSERT_TRUE(store_->Put("Observation", "o1", Obs("o1", "p1", "8867-4", "2023-10-09T10:00:00Z"), {}).ok());
    ASSERT_TRUE(store_->Put("Observation", "o2", Obs("o2", "p1", "59408-5", "2023-10-10T10:00:00Z"), {}).ok());
    ASSERT_TRUE(
        store_->Put("Observation", "o3", Obs("o3", "p2", "8867-4", "2023-10-11T10:00:00+02:00", "dev2"), {}).ok());
    ASSERT_TRUE(store_
                    ->Put("Observation", "o4",
                          Obs("o4", "p2", "8867-4", "2023-10-09T19:00:00.0000000Z/2023-10-09T19:59:59.9999999Z"), {})
                    .ok());
  }

  TempDir dir_;
  std::int64_t now_ms_ = 1696845600000;  // 2023-10-09T10:00:00Z
  std::unique_ptr<EmbeddedStore> store_;
};

// ----------------------------------------------------------- contract ---

TempDir& ContractDir() {
  static TempDir* dir = new TempDir;  // one store shared by the contract tests, as a server would be
  return *dir;
}

}  // namespace

namespace testing {
INSTANTIATE_TEST_SUITE_P(Embedded, FhirClientContract,
                         ::testing::Values(ClientFactory{"embedded",
                                                         []() -> std::unique_ptr<FhirClient> {
                                                           static int n = 0;
                                                           return OpenOrDie(ContractDir().path() + "/s" +
                                                                            std::to_string(n++));
                                                         }},
                                           // The store split in two files (split_store.h).
                                           ClientFactory{"split", []() -> std::unique_ptr<FhirClient> {
                                                           static int n = 0;
                                                           auto split = SplitStore::Open(
                                                               ContractDir().path() + "/split" + std::to_string(n++),
                                                               2);
                                                           EXPECT_TRUE(split.ok()) << split.status().ToString();
                                                           return split.ok() ? std::move(*split) : nullptr;
                                                         }}));
}  // namespace testing

namespace {

// -------------------------------------------------------- versions, meta ---

TEST_F(EmbeddedStoreTest, StampsIdVersionAndLastUpdated) {
  auto v1 = store_->Update("Patient", "p1", R"({"resourceType":"Patient","active":true})", std::nullopt);
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_TRUE(v1->created);
  EXPECT_EQ(v1->resource.version_id, "1");
  EXPECT_EQ(v1->resource.json,
            R"({"resourceType":"Patient","id":"p1","meta":{"versionId":"1","lastUpdated":"2023-10-09T10:00:00.000Z"},)"
            R"("active":true})");
  now_ms_ += 1500;
  auto v2 = store_->Update(
      "Patient", "p1",
      R"({"resourceType":"Patient","meta":{"versionId":"9","profile":["x"],"lastUpdated":"2000-01-01"},"id":"p1","n":1.50})",
      "1");
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_FALSE(v2->created);
  EXPECT_EQ(v2->resource.json,
            R"({"resourceType":"Patient","meta":{"versionId":"2","lastUpdated":"2023-10-09T10:00:01.500Z",)"
            R"("profile":["x"]},"id":"p1","n":1.50})");
  EXPECT_EQ(v2->last_updated, "2023-10-09T10:00:01.500Z");
}

TEST_F(EmbeddedStoreTest, HistoryAndVRead) {
  ASSERT_TRUE(store_->Put("Device", "d", R"({"resourceType":"Device","identifier":[{"value":"a"}]})", {}).ok());
  ASSERT_TRUE(store_->Put("Device", "d", R"({"resourceType":"Device","identifier":[{"value":"b"}]})", "1").ok());
  ASSERT_TRUE(store_->Put("Device", "d", R"({"resourceType":"Device","identifier":[{"value":"c"}]})", "W/\"2\"").ok());
  auto history = store_->History("Device", "d");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ((*history)[0].version_id, "3");
  EXPECT_EQ((*history)[2].version_id, "1");
  EXPECT_NE((*history)[2].json.find(R"("value":"a")"), std::string::npos);
  auto v2 = store_->VRead("Device", "d", "2");
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(Member(v2->json, "meta", "versionId"), "2");
  EXPECT_EQ(store_->VRead("Device", "d", "4").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->History("Device", "nope").status().code(), StatusCode::kNotFound);
  // Only the current version is indexed.
  EXPECT_TRUE(store_->SearchByIdentifier("Device", "", "a", 5)->empty());
  EXPECT_EQ(store_->SearchByIdentifier("Device", "", "c", 5)->size(), 1u);
  EXPECT_TRUE(store_->CheckConsistency().ok()) << store_->CheckConsistency().ToString();
}

TEST_F(EmbeddedStoreTest, IfMatchMismatchIsPreconditionFailed) {
  ASSERT_TRUE(store_->Put("Patient", "p", R"({"resourceType":"Patient"})", {}).ok());
  auto stale = store_->Update("Patient", "p", R"({"resourceType":"Patient"})", "W/\"7\"");
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict);
  EXPECT_EQ(HttpStatus(stale.status()), 412);
  // If-Match on a resource that does not exist.
  EXPECT_EQ(store_->Update("Patient", "q", R"({"resourceType":"Patient"})", "1").status().code(),
            StatusCode::kConflict);
  EXPECT_FALSE(store_->Read("Patient", "q")->has_value());
}

TEST_F(EmbeddedStoreTest, BadInputIsInvalidArgument) {
  EXPECT_EQ(store_->Put("Patient", "p", "not json", {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Put("Patient", "p", "[1]", {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Put("Patient", "p", R"({"resourceType":"Device"})", {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Put("Patient", "p", R"({"resourceType":"Patient","id":"other"})", {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Put("Patient", "bad id!", R"({"resourceType":"Patient"})", {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Put("patient", "p", R"({"resourceType":"patient"})", {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Export("", [](std::string_view, const Resource&) { ADD_FAILURE(); }).code(), StatusCode::kOk);
}

TEST_F(EmbeddedStoreTest, ConditionalCreate) {
  const std::string patient = R"({"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"42"}]})";
  auto first = store_->Create("Patient", patient, "identifier=urn:mrn|42");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->resource.id.size(), 36u);  // a UUID
  EXPECT_EQ(Member(first->resource.json, "id"), first->resource.id);
  auto again = store_->Create("Patient", patient, "identifier=urn:mrn|42");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->resource.id, first->resource.id);
  ASSERT_TRUE(store_->Create("Patient", patient).ok());  // unconditional: a second one
  auto ambiguous = store_->Create("Patient", patient, "identifier=urn:mrn|42");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(HttpStatus(ambiguous.status()), 412);
  EXPECT_EQ(store_->Create("Patient", patient, "nonsense=1").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(EmbeddedStoreTest, DeleteKeepsHistoryAndAllowsRecreate) {
  ASSERT_TRUE(store_->Put("Patient", "p", R"({"resourceType":"Patient","identifier":[{"value":"x"}]})", {}).ok());
  auto deleted = store_->Delete("Patient", "p");
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(*deleted);
  EXPECT_FALSE(*store_->Delete("Patient", "p"));
  EXPECT_FALSE(*store_->Delete("Patient", "never"));
  EXPECT_FALSE(store_->Read("Patient", "p")->has_value());
  EXPECT_EQ(HttpStatus(store_->ReadCurrent("Patient", "p").status()), 410);
  EXPECT_EQ(HttpStatus(store_->ReadCurrent("Patient", "never").status()), 404);
  EXPECT_TRUE(store_->SearchByIdentifier("Patient", "", "x", 2)->empty());
  EXPECT_TRUE(Search("Patient", "").empty());
  auto history = store_->History("Patient", "p");
  ASSERT_EQ(history->size(), 2u);
  EXPECT_TRUE((*history)[0].deleted);
  auto again = store_->Put("Patient", "p", R"({"resourceType":"Patient"})", {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version_id, "3");
  EXPECT_TRUE(store_->CheckConsistency().ok()) << store_->CheckConsistency().ToString();
}

// ------------------------------------------------------------- search ---

TEST_F(EmbeddedStoreTest, SearchById) {
  PutObservations();
  EXPECT_EQ(Search("Observation", "_id=o2"), std::vector<std::string>{"o2"});
  EXPECT_EQ(Search("Observation", "_id=o2,o3"), (std::vector<std::string>{"o2", "o3"}));
  EXPECT_TRUE(Search("Observation", "_id=zz").empty());
  EXPECT_TRUE(Search("Patient", "_id=o1").empty());
}

TEST_F(EmbeddedStoreTest, SearchByIdentifierForms) {
  PutObservations();
  ASSERT_TRUE(store_
                  ->Put("Observation", "nos",
                        R"({"resourceType":"Observation","identifier":[{"value":"v-o1"}],"status":"final"})", {})
                  .ok());
  EXPECT_EQ(Search("Observation", "identifier=urn:obs|v-o1"), std::vector<std::string>{"o1"});
  EXPECT_EQ(Search("Observation", "identifier=v-o1"), (std::vector<std::string>{"o1", "nos"}));
  EXPECT_EQ(Search("Observation", "identifier=|v-o1"), std::vector<std::string>{"nos"});
  EXPECT_EQ(Search("Observation", "identifier=urn:obs|").size(), 4u);
  EXPECT_EQ(Search("Observation", "identifier=urn:obs|v-o1,urn:obs|v-o3"), (std::vector<std::string>{"o1", "o3"}));
  EXPECT_EQ(Search("Observation", "identifier=urn%3Aobs%7Cv-o2"), std::vector<std::string>{"o2"});
}

// Regression: one SELECT per value made a compound query beyond SQLite's
// 500 terms at about 250 values (a remote client sends 500 per POST _search).
TEST_F(EmbeddedStoreTest, SearchesForHundredsOfIdentifiersAtOnce) {
  std::vector<PutRequest> puts;
  std::string query = "identifier=";
  for (int i = 0; i < 700; ++i) {
    const std::string n = std::to_string(i);
    std::string json = R"({"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"m)";
    json.append(n).append(R"("}]})");
    puts.push_back({"Patient", std::string("p").append(n), std::move(json), {}});
    if (i % 2 == 0) query.append(i > 0 ? ",urn:mrn|m" : "urn:mrn|m").append(n);  // 350 pairs
  }
  for (int i = 1; i < 600; i += 2)
    query.append(",m").append(std::to_string(i));  // 300 values without system
  query.append(",urn:other|");                     // and a system alone
  ASSERT_TRUE(store_->PutMany(std::move(puts)).ok());
  EXPECT_EQ(Search("Patient", query + "&_count=1000").size(), 650u);
}

TEST_F(EmbeddedStoreTest, SearchByReferences) {
  PutObservations();
  EXPECT_EQ(Search("Observation", "subject=Patient/p1"), (std::vector<std::string>{"o1", "o2"}));
  EXPECT_EQ(Search("Observation", "subject=p2"), (std::vector<std::string>{"o3", "o4"}));
  EXPECT_EQ(Search("Observation", "patient=p1"), (std::vector<std::string>{"o1", "o2"}));
  EXPECT_EQ(Search("Observation", "patient=Patient/p2"), (std::vector<std::string>{"o3", "o4"}));
  EXPECT_TRUE(Search("Observation", "subject=Group/p1").empty());
  EXPECT_EQ(Search("Observation", "device=Device/dev2"), std::vector<std::string>{"o3"});
  EXPECT_EQ(Search("Observation", "device=dev1,dev2").size(), 4u);
  ASSERT_TRUE(
      store_->Put("Device", "dev1", R"({"resourceType":"Device","patient":{"reference":"Patient/p1"}})", {}).ok());
  EXPECT_EQ(Search("Device", "patient=Patient/p1"), std::vector<std::string>{"dev1"});
}

TEST_F(EmbeddedStoreTest, SearchByCode) {
  PutObservations();
  EXPECT_EQ(Search("Observation", "code=8867-4"), (std::vector<std::string>{"o1", "o3", "o4"}));
  EXPECT_EQ(Search("Observation", "code=http://loinc.org|59408-5"), std::vector<std::string>{"o2"});
  EXPECT_TRUE(Search("Observation", "code=http://snomed.info/sct|59408-5").empty());
  EXPECT_EQ(Search("Observation", "code=8867-4&subject=Patient/p1"), std::vector<std::string>{"o1"});
  EXPECT_EQ(Search("Observation", "code=59408-5,8867-4&patient=p2"), (std::vector<std::string>{"o3", "o4"}));
}

TEST_F(EmbeddedStoreTest, SearchByDateWithPrefixes) {
  PutObservations();
  // o1 2023-10-09T10:00:00Z (a second), o2 2023-10-10T10:00:00Z,
  // o3 2023-10-11T08:00:00Z, o4 2023-10-09T19:00 .. 19:59:59.999Z.
  EXPECT_EQ(Search("Observation", "date=2023-10-09"), (std::vector<std::string>{"o1", "o4"}));
  EXPECT_EQ(Search("Observation", "date=eq2023-10-09T10:00:00Z"), std::vector<std::string>{"o1"});
  EXPECT_EQ(Search("Observation", "date=2023-10"), (std::vector<std::string>{"o1", "o2", "o3", "o4"}));
  EXPECT_EQ(Search("Observation", "date=ge2023-10-10"), (std::vector<std::string>{"o2", "o3"}));
  EXPECT_EQ(Search("Observation", "date=gt2023-10-10"), std::vector<std::string>{"o3"});
  EXPECT_EQ(Search("Observation", "date=le2023-10-10"), (std::vector<std::string>{"o1", "o2", "o4"}));
  EXPECT_EQ(Search("Observation", "date=lt2023-10-10"), (std::vector<std::string>{"o1", "o4"}));
  EXPECT_EQ(Search("Observation", "date=ne2023-10-09"), (std::vector<std::string>{"o2", "o3"}));
  EXPECT_EQ(Search("Observation", "date=ge2023-10-09T19:30:00Z&date=lt2023-10-10"), std::vector<std::string>{"o4"});
  EXPECT_EQ(Search("Observation", "date=2023-10-11T10:00:00%2B02:00"), std::vector<std::string>{"o3"});
  EXPECT_EQ(Search("Observation", "date=2023-10-09,2023-10-11"), (std::vector<std::string>{"o1", "o3", "o4"}));
  EXPECT_EQ(Search("Observation", "_lastUpdated=le2023-10-09T10:00:00Z").size(), 4u);
  EXPECT_TRUE(Search("Observation", "_lastUpdated=gt2023-10-09T10:00:00Z").empty());
  auto bad = store_->Search("Observation", "date=sa2023");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'sa'"), std::string::npos);
  EXPECT_FALSE(store_->Search("Observation", "date=yesterday").ok());
}

TEST_F(EmbeddedStoreTest, UnknownParametersAreErrorsNamingThem) {
  auto bad = store_->Search("Observation", "subject=p1&colour=red");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'colour'"), std::string::npos) << bad.status().message();
  EXPECT_NE(OperationOutcome(bad.status()).find("colour"), std::string::npos);
  EXPECT_FALSE(store_->Search("Observation", "code:text=x").ok());
  EXPECT_FALSE(store_->Search("Observation", "_sort=colour").ok());
  EXPECT_FALSE(store_->Search("Observation", "_count=many").ok());
  EXPECT_TRUE(store_->Search("Observation", "identifier=").ok());  // an empty value is ignored
}

TEST_F(EmbeddedStoreTest, SortAndPaging) {
  PutObservations();
  EXPECT_EQ(Search("Observation", "_sort=date"), (std::vector<std::string>{"o1", "o4", "o2", "o3"}));
  EXPECT_EQ(Search("Observation", "_sort=-date"), (std::vector<std::string>{"o3", "o2", "o4", "o1"}));
  EXPECT_EQ(Search("Observation", "_sort=-_id"), (std::vector<std::string>{"o4", "o3", "o2", "o1"}));
  EXPECT_EQ(Search("Observation", "_sort=_lastUpdated,_id"), (std::vector<std::string>{"o1", "o2", "o3", "o4"}));
  auto page = store_->Search("Observation", "code=8867-4&_sort=-date&_count=2");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total, 3);
  EXPECT_EQ(Ids(*page), (std::vector<std::string>{"o3", "o4"}));
  ASSERT_TRUE(page->next_offset.has_value());
  EXPECT_EQ(*page->next_offset, 2u);
  auto bundle = store_->SearchBundle("Observation", "code=8867-4&_sort=-date&_count=2", "http://h/fhir");
  ASSERT_TRUE(bundle.ok());
  json::Document doc;
  ASSERT_TRUE(doc.Parse(*bundle).ok()) << *bundle;
  json::Value links, total;
  ASSERT_TRUE(doc.root().Find("link", &links));
  ASSERT_TRUE(doc.root().Find("total", &total));
  EXPECT_EQ(total.int_value(), 3);
  std::string next;
  for (json::Value l : links.elements()) {
    json::Value rel, url;
    if (l.Find("relation", &rel) && rel.string_value() == "next" && l.Find("url", &url)) next = url.string_value();
  }
  // The next page by keyset: after o4's (date, rid), with the offset only
  // numbering the page.
  EXPECT_EQ(next, "http://h/fhir/Observation?code=8867-4&_sort=-date&_count=2&_cursor=4~1696878000000&_offset=2");
  // A reading written meanwhile that sorts first shifts nothing: the next
  // page is still o1 (by offset it would be o4 again).
  ASSERT_TRUE(store_->Put("Observation", "o0", Obs("o0", "p1", "8867-4", "2023-10-11"), {}).ok());
  auto second = store_->Search("Observation", next.substr(next.find('?') + 1));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(Ids(*second), std::vector<std::string>{"o1"});
  EXPECT_FALSE(second->next_offset.has_value());
  EXPECT_EQ(second->total, 4);
  auto by_offset = store_->Search("Observation", "code=8867-4&_sort=-date&_count=2&_offset=2");
  ASSERT_TRUE(by_offset.ok());
  EXPECT_EQ(Ids(*by_offset), (std::vector<std::string>{"o4", "o1"}));
  ASSERT_TRUE(store_->Delete("Observation", "o0").ok());
  // Cursors that this search did not give.
  for (const char* bad : {"_cursor=x", "_cursor=4", "_sort=date,_id&_cursor=4~1",
                          "_cursor=4~1&_sort=-date&"
                          "value-quantity=gt1"}) {
    auto refused = store_->Search("Observation", std::string("code=8867-4&_sort=-date&") + bad);
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(store_->Search("Observation", "_sort=_id&_cursor=4~a%20b").status().code(), StatusCode::kInvalidArgument);
  auto none = store_->Search("Observation", "_count=0");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->total, 4);
  EXPECT_TRUE(none->resources.empty());
}

TEST_F(EmbeddedStoreTest, KeysetPagingWalksEveryOrderOneAtATime) {
  // Dated and undated Observations (no date sorts first ascending, last
  // descending), two with the same date and two with the same lastUpdated.
  for (const auto& [id, date] : std::vector<std::pair<std::string, std::string>>{
           {"a", "2023-10-09"}, {"b", ""}, {"c", "2023-10-08"}, {"d", "2023-10-09"}, {"e", ""}}) {
    std::string json = date.empty() ? R"({"resourceType":"Observation","id":")" + id + R"(","status":"final"})"
                                    : Obs(id, "p1", "8867-4", date);
    ASSERT_TRUE(store_->Put("Observation", id, json, {}).ok());
  }
  ASSERT_TRUE(store_->Flush().ok());
  for (const char* sort :
       {"", "_sort=date", "_sort=-date", "_sort=_id", "_sort=-_id", "_sort=_lastUpdated", "_sort=-_lastUpdated"}) {
    auto whole = store_->Search("Observation", std::string(sort) + "&_count=100");
    ASSERT_TRUE(whole.ok());
    std::vector<std::string> paged;
    std::string cursor;
    for (int i = 0; i < 10; ++i) {
      std::string query = std::string(sort) + "&_count=1";
      if (!cursor.empty()) query.append("&_cursor=").append(cursor);
      auto page = store_->Search("Observation", query);
      ASSERT_TRUE(page.ok()) << query << ": " << page.status().ToString();
      for (const Resource& r : page->resources)
        paged.push_back(r.id);
      cursor = page->next_cursor;
      if (cursor.empty()) break;
    }
    EXPECT_EQ(paged, Ids(*whole)) << sort;
    EXPECT_EQ(paged.size(), 5u) << sort;
  }
}

// ------------------------------------------------------------ bundles ---

TEST_F(EmbeddedStoreTest, TransactionIsAllOrNothing) {
  ASSERT_TRUE(store_->Put("Patient", "keep", R"({"resourceType":"Patient"})", {}).ok());
  const std::string failing = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"request":{"method":"PUT","url":"Patient/t1"},"resource":{"resourceType":"Patient","id":"t1"}},
    {"request":{"method":"DELETE","url":"Patient/keep"}},
    {"request":{"method":"PUT","url":"Patient/t2","ifMatch":"W/\"5\""},"resource":{"resourceType":"Patient","id":"t2"}}]})";
  auto failed = store_->ProcessBundle(failing, "http://h/fhir");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(HttpStatus(failed.status()), 412);
  EXPECT_NE(failed.status().message().find("entry 2"), std::string::npos) << failed.status().message();
  EXPECT_FALSE(store_->Read("Patient", "t1")->has_value());
  EXPECT_TRUE(store_->Read("Patient", "keep")->has_value());

  const std::string good = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a","request":{"method":"POST","url":"Patient"},
     "resource":{"resourceType":"Patient","identifier":[{"value":"new"}]}},
    {"request":{"method":"PUT","url":"Device/d1"},
     "resource":{"resourceType":"Device","id":"d1","patient":{"reference":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}}},
    {"request":{"method":"GET","url":"Device?patient=Patient/keep"}}]})";
  auto ok = store_->ProcessBundle(good, "http://h/fhir");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_NE(ok->find(R"("type":"transaction-response")"), std::string::npos);
  EXPECT_NE(ok->find(R"("status":"201 Created")"), std::string::npos) << *ok;
  auto patients = store_->SearchByIdentifier("Patient", "", "new", 2);
  ASSERT_EQ(patients->size(), 1u);
  auto device = store_->Read("Device", "d1");
  ASSERT_TRUE(device->has_value());
  EXPECT_EQ(Member((*device)->json, "patient", "reference"), "Patient/" + (*patients)[0].id);
  EXPECT_TRUE(store_->CheckConsistency().ok());
}

// ------------------------------------------------------- WatchChanges ---

// What the observer got, one entry per commit: "type/id/version" (with
// "/deleted"), and the JSON's versionId where there is JSON.
struct Watched {
  std::vector<std::vector<std::string>> commits;
  std::function<void(std::vector<StoreChange>&&)> Observer() {
    return [this](std::vector<StoreChange>&& changes) {
      std::vector<std::string> seen;
      for (const StoreChange& c : changes) {
        std::string s = c.type + "/" + c.id + "/" + std::to_string(c.version);
        if (c.deleted) s.append("/deleted");
        if (!c.deleted) {
          EXPECT_EQ(Member(c.json, "meta", "versionId"), std::to_string(c.version)) << c.json;
        }
        seen.push_back(std::move(s));
      }
      commits.push_back(std::move(seen));
    };
  }
};

TEST_F(EmbeddedStoreTest, WatchChangesReportsCommittedWritesOfTheWatchedTypes) {
  Watched watched;
  store_->WatchChanges({"Observation", "Subscription"}, watched.Observer());
  ASSERT_TRUE(store_->PutMany(ObsBatch(1, 3)).ok());
  ASSERT_TRUE(store_->Put("Patient", "p1", R"({"resourceType":"Patient"})", {}).ok());  // not watched
  ASSERT_TRUE(store_->Put("Observation", "o1", Obs("o1", "p1", "8867-4", "2023-10-10"), {}).ok());
  ASSERT_TRUE(store_->Delete("Observation", "o2").ok());
  // Single writes are reported at their commit, not before.
  EXPECT_EQ(watched.commits.size(), 1u);
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(watched.commits,
            (std::vector<std::vector<std::string>>{{"Observation/o1/1", "Observation/o2/1", "Observation/o3/1"},
                                                   {"Observation/o1/2", "Observation/o2/2/deleted"}}));

  // Rolled back: a failed transaction, a failed batch entry.
  watched.commits.clear();
  const std::string failing = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"request":{"method":"PUT","url":"Subscription/s1"},"resource":{"resourceType":"Subscription","id":"s1"}},
    {"request":{"method":"PUT","url":"Observation/o3","ifMatch":"W/\"9\""},"resource":)" +
                              Obs("o3", "p1", "1", "2023") + "}]}";
  ASSERT_FALSE(store_->ProcessBundle(failing, "http://h/fhir").ok());
  const std::string batch = R"({"resourceType":"Bundle","type":"batch","entry":[
    {"request":{"method":"PUT","url":"Subscription/s2"},"resource":{"resourceType":"Subscription","id":"s2"}},
    {"request":{"method":"PUT","url":"Observation/o4"},"resource":{"resourceType":"Observation","id":"o9"}}]})";
  ASSERT_TRUE(store_->ProcessBundle(batch, "http://h/fhir").ok());
  EXPECT_EQ(watched.commits, (std::vector<std::vector<std::string>>{{"Subscription/s2/1"}}));

  // Unwatched: nothing more.
  store_->WatchChanges({}, {});
  watched.commits.clear();
  ASSERT_TRUE(store_->PutMany(ObsBatch(5, 2)).ok());
  EXPECT_TRUE(watched.commits.empty());
}

TEST_F(EmbeddedStoreTest, BatchAnswersEachEntry) {
  const std::string batch = R"({"resourceType":"Bundle","type":"batch","entry":[
    {"request":{"method":"PUT","url":"Patient/b1"},"resource":{"resourceType":"Patient","id":"b1"}},
    {"request":{"method":"PUT","url":"Patient/b2"},"resource":{"resourceType":"Device","id":"b2"}},
    {"request":{"method":"GET","url":"Patient/b1"}},
    {"request":{"method":"GET","url":"Patient/missing"}},
    {"request":{"method":"PATCH","url":"Patient/b1"}},
    {"request":{"method":"PUT","url":"Patient/b1","ifMatch":"W/\"1\""},"resource":{"resourceType":"Patient","id":"b1"}}]})";
  auto r = store_->ProcessBundle(batch, "http://h/fhir");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  json::Document doc;
  ASSERT_TRUE(doc.Parse(*r).ok()) << *r;
  json::Value entries;
  ASSERT_TRUE(doc.root().Find("entry", &entries));
  std::vector<std::string> statuses;
  for (json::Value e : entries.elements()) {
    json::Value resp, st;
    ASSERT_TRUE(e.Find("response", &resp) && resp.Find("status", &st));
    statuses.emplace_back(st.string_value());
  }
  EXPECT_EQ(statuses, (std::vector<std::string>{"201 Created", "400 Bad Request", "200 OK", "404 Not Found",
                                                "400 Bad Request", "200 OK"}));
  EXPECT_EQ((*store_->Read("Patient", "b1"))->version_id, "2");
  EXPECT_FALSE(store_->Read("Patient", "b2")->has_value());
  EXPECT_FALSE(store_->ProcessBundle(R"({"resourceType":"Bundle","type":"collection"})", "").ok());
  EXPECT_FALSE(store_->ProcessBundle("{", "").ok());
}

// --------------------------------------------- durability, reopen, files ---

// Many small commits: the checkpointer's copies never catch up with the
// WAL's end, so without the writer's restarting checkpoint the WAL only
// grows (it reached gigabytes with 1,000-event batches).
// A new store gets 16 KiB pages; an existing one keeps its own.
TEST(EmbeddedStore, NewStoresHaveSixteenKibPages) {
  auto page_size = [](const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    unsigned char header[18] = {};
    in.read(reinterpret_cast<char*>(header), sizeof header);
    return header[16] * 256 + header[17];  // big-endian, at offset 16
  };
  TempDir fresh;
  ASSERT_NE(OpenOrDie(fresh.path()), nullptr);
  EXPECT_EQ(page_size(fresh.path() + "/store.db"), 16384);

  TempDir old;
  EmbeddedStoreOptions four;
  four.page_size_kib = 4;
  ASSERT_NE(OpenOrDie(old.path(), four), nullptr);
  auto reopened = OpenOrDie(old.path());  // the default asks for 16
  ASSERT_NE(reopened, nullptr);
  ASSERT_TRUE(reopened->Put("Patient", "p1", R"({"resourceType":"Patient"})", {}).ok());
  ASSERT_TRUE(reopened->Flush().ok());
  reopened.reset();
  EXPECT_EQ(page_size(old.path() + "/store.db"), 4096);
}

TEST(EmbeddedStore, ALongWalIsRestartedAfterACommit) {
  TempDir dir;
  EmbeddedStoreOptions options;
  options.wal_restart_mib = 1;  // each batch below is longer on its own
  auto store = OpenOrDie(dir.path(), options);
  for (int b = 0; b < 3; ++b) {
    ASSERT_TRUE(store->PutMany(ObsBatch(b * 2500, 2500)).ok());
    // The commit left more than the limit in the WAL: the writer's
    // checkpoint ran after it.
    EXPECT_EQ(store->WalRestarts(), b + 1);
  }
  // Nothing was lost on the way, and the store reopens whole.
  EXPECT_EQ(store->Search("Observation", "subject=Patient/p1&_count=1")->total, 7500);
  EXPECT_TRUE(store->CheckConsistency().ok());
  store.reset();
  store = OpenOrDie(dir.path());
  EXPECT_EQ(store->Search("Observation", "subject=Patient/p1&_count=1")->total, 7500);
  // The default limit is far from reached by a small store.
  EXPECT_EQ(store->WalRestarts(), 0);
}

TEST(EmbeddedStore, ReopenKeepsEverything) {
  TempDir dir;
  EmbeddedStoreOptions options;
  options.token_delta_rows = 50;  // the second batch merges the first's index rows
  {
    auto store = OpenOrDie(dir.path(), options);
    std::vector<PutRequest> batch;
    for (int i = 0; i < 100; ++i) {
      std::string id = std::string("o").append(std::to_string(i));
      std::string patient = std::string("p").append(std::to_string(i % 3));
      batch.push_back({"Observation", id, Obs(id, patient, "8867-4", "2023-10-09"), std::nullopt});
    }
    std::vector<PutRequest> second(batch.begin() + 50, batch.end());
    batch.resize(50);
    ASSERT_TRUE(store->PutMany(std::move(batch)).ok());
    ASSERT_TRUE(store->PutMany(std::move(second)).ok());
    EXPECT_EQ(store->SearchByIdentifier("Observation", "urn:obs", "v-o3", 2)->size(), 1u);
    EXPECT_EQ(store->SearchByIdentifier("Observation", "urn:obs", "v-o93", 2)->size(), 1u);
    // A single Put that is never flushed explicitly: the clean close commits it.
    ASSERT_TRUE(store->Put("Patient", "p0", R"({"resourceType":"Patient"})", {}).ok());
    ASSERT_TRUE(store->Put("Patient", "p0", R"({"resourceType":"Patient","active":true})", "1").ok());
  }
  auto store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ((*store->Read("Patient", "p0"))->version_id, "2");
  EXPECT_EQ(store->History("Patient", "p0")->size(), 2u);
  auto page = store->Search("Observation", "subject=Patient/p1&_count=1000");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total, 33);
  std::vector<std::string> order;
  ASSERT_TRUE(store
                  ->Export("", [&](std::string_view type,
                                   const Resource& r) { order.push_back(std::string(type) + "/" + r.id); })
                  .ok());
  ASSERT_EQ(order.size(), 101u);
  EXPECT_EQ(order[0], "Observation/o0");
  EXPECT_EQ(order[1], "Observation/o1");
  EXPECT_EQ(order[2], "Observation/o10");
  EXPECT_EQ(order.back(), "Patient/p0");
  EXPECT_TRUE(store->CheckConsistency().ok()) << store->CheckConsistency().ToString();
}

TEST(EmbeddedStore, CommitsAreCheckpointedIntoTheDatabaseWhileItRuns) {
  // The WAL is copied into store.db by the checkpointer while the store is
  // open (a WAL that is never checkpointed grows without end: 10 GB for a
  // million Observations).
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  for (int b = 0; b < 10; ++b) {
    ASSERT_TRUE(store->PutMany(ObsBatch(b * 1000, 200)).ok());
  }
  const fs::path db = fs::path(dir.path()) / "store.db";
  // The checkpointer runs on its own thread: wait for it (generously).
  for (int i = 0; i < 500 && fs::file_size(db) < 256 * 1024; ++i)
    usleep(10'000);
  EXPECT_GE(fs::file_size(db), 256u * 1024u);
}

TEST(EmbeddedStore, OneResourceTwiceInABatchKeepsTheLastIndexRows) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  std::vector<PutRequest> batch;
  batch.push_back({"Device", "d", R"({"resourceType":"Device","identifier":[{"value":"first"}]})", std::nullopt});
  batch.push_back({"Device", "e", R"({"resourceType":"Device","identifier":[{"value":"other"}]})", std::nullopt});
  batch.push_back({"Device", "d", R"({"resourceType":"Device","identifier":[{"value":"second"}]})", "1"});
  auto written = store->PutMany(std::move(batch));
  ASSERT_TRUE(written.ok());
  for (const auto& w : *written)
    EXPECT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_TRUE(store->SearchByIdentifier("Device", "", "first", 2)->empty());
  EXPECT_EQ(store->SearchByIdentifier("Device", "", "second", 2)->size(), 1u);
  EXPECT_EQ(store->SearchByIdentifier("Device", "", "other", 2)->size(), 1u);
  EXPECT_EQ((*store->Read("Device", "d"))->version_id, "2");
  EXPECT_TRUE(store->CheckConsistency().ok()) << store->CheckConsistency().ToString();
}

TEST(EmbeddedStore, RefusesWhatIsNotAStore) {
  TempDir dir;
  fs::create_directories(dir.path());
  std::ofstream(dir.path() + "/store.db") << "this is not a database, just some text that is long enough......."
                                             "................................................................";
  auto store = EmbeddedStore::Open(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(store.status().message().find("not an iomt store"), std::string::npos) << store.status().message();

  TempDir file_dir;
  std::ofstream(file_dir.path()) << "a file";
  auto on_file = EmbeddedStore::Open(file_dir.path());
  ASSERT_FALSE(on_file.ok());
  EXPECT_EQ(on_file.status().code(), StatusCode::kIoError);
  fs::remove(file_dir.path());
}

// Format 2 found resources through an index on resources(key); format 3
// through a key token row per resource (docs/adr/0008). A format 2 store
// (made here from a format 3 one: the index back, the key rows gone) opens
// as format 4 with every resource found, updated in place, and consistent.
TEST(EmbeddedStore, AFormatTwoStoreIsMigratedWhenOpened) {
  TempDir dir;
  EmbeddedStoreOptions options;
  options.token_delta_rows = 40;  // some key rows merged into tok, some not
  {
    auto store = OpenOrDie(dir.path(), options);
    for (int b = 0; b < 3; ++b)
      ASSERT_TRUE(store->PutMany(ObsBatch(b * 50, 50)).ok());
    ASSERT_TRUE(store->Put("Device", "gone", R"({"resourceType":"Device"})", {}).ok());
    ASSERT_TRUE(store->Delete("Device", "gone").ok());
    ASSERT_TRUE(store->Flush().ok());
  }
  RunSqlOnStoreFile(dir.path(),
                    "CREATE INDEX resources_key ON resources(key); DELETE FROM tok WHERE p % 16 = 0; "
                    "DELETE FROM tok_delta WHERE p % 16 = 0; UPDATE iomt_meta SET value='2' WHERE key='format'");
  {
    auto store = OpenOrDie(dir.path(), options);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(store->CheckConsistency().ok()) << store->CheckConsistency().ToString();
    EXPECT_EQ((*store->Read("Observation", "o7"))->version_id, "1");
    EXPECT_EQ(store->Search("Observation", "_id=o3,o149,nope")->total, 2);
    // An update finds the old row: version 2, not a second o7.
    ASSERT_TRUE(store->Put("Observation", "o7", Obs("o7", "p2", "8867-4", "2023-10-09"), std::nullopt).ok());
    EXPECT_EQ((*store->Read("Observation", "o7"))->version_id, "2");
    EXPECT_EQ(store->Search("Observation", "_count=1")->total, 150);
    // The deleted Device is still known: recreated, it is version 3.
    ASSERT_TRUE(store->Put("Device", "gone", R"({"resourceType":"Device"})", {}).ok());
    EXPECT_EQ((*store->Read("Device", "gone"))->version_id, "3");
    ASSERT_TRUE(store->Flush().ok());
    EXPECT_TRUE(store->CheckConsistency().ok()) << store->CheckConsistency().ToString();
  }
  // Migrated once: format 4, no index left; another format is still refused.
  EXPECT_EQ(QueryStoreFile(dir.path(), "SELECT value FROM iomt_meta WHERE key='format'"), "4");
  EXPECT_EQ(QueryStoreFile(dir.path(), "SELECT count(*) FROM sqlite_master WHERE name='resources_key'"), "0");
  RunSqlOnStoreFile(dir.path(), "UPDATE iomt_meta SET value='1' WHERE key='format'");
  auto refused = EmbeddedStore::Open(dir.path(), options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("another format (expected format 4)"), std::string::npos)
      << refused.status().message();
}

// An hourly SampledData Observation: 3,600 slots, mostly "E".
std::string HourlyObs(const std::string& id, const std::string& first_value) {
  std::string data = first_value;
  for (int i = 1; i < 3600; ++i)
    data.append(" E");
  return R"({"resourceType":"Observation","id":")" + id + R"(","identifier":[{"system":"urn:obs","value":"v-)" + id +
         R"("}],"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"55423-8"}]},)" +
         R"("subject":{"reference":"Patient/p1"},"effectivePeriod":{"start":"2023-10-09T00:00:00Z",)" +
         R"("end":"2023-10-09T00:59:59Z"},"valueSampledData":{"origin":{"value":0},"period":1000,"dimensions":1,)" +
         R"("data":")" + data + R"("}})";
}

std::string SampledData(const std::string& json) {
  json::Document doc;
  json::Value v;
  if (!doc.Parse(json).ok() || !doc.root().Find("valueSampledData", &v) || !v.Find("data", &v)) return "<none>";
  return std::string(v.string_value());
}

// Large resources (an hourly SampledData Observation is ~7 KB) are stored as
// zstd frames, small ones as text (docs/adr/0023); every way of reading one
// gives back the JSON that was written.
TEST(EmbeddedStore, LargeResourcesAreStoredCompressed) {
  TempDir dir;
  const std::string v1 = HourlyObs("big", "171"), v2 = HourlyObs("big", "172");
  {
    auto store = OpenOrDie(dir.path());
    ASSERT_TRUE(store->Put("Observation", "big", v1, std::nullopt).ok());
    ASSERT_TRUE(store->Put("Observation", "big", v2, std::nullopt).ok());
    ASSERT_TRUE(store->Put("Observation", "small", Obs("small", "p1", "8867-4", "2023-10-09"), std::nullopt).ok());
    ASSERT_TRUE(store->Flush().ok());

    Result<std::optional<Resource>> read = store->Read("Observation", "big");
    ASSERT_TRUE(read.ok() && read->has_value());
    EXPECT_EQ(SampledData((*read)->json), SampledData(v2));
    EXPECT_EQ((*read)->version_id, "2");
    Result<Resource> old = store->VRead("Observation", "big", "1");
    ASSERT_TRUE(old.ok()) << old.status().ToString();
    EXPECT_EQ(SampledData(old->json), SampledData(v1));
    Result<std::vector<HistoryEntry>> history = store->History("Observation", "big");
    ASSERT_TRUE(history.ok());
    ASSERT_EQ(history->size(), 2U);
    EXPECT_EQ(SampledData((*history)[1].json), SampledData(v1));
    Result<SearchPage> page = store->Search("Observation", "_id=big");
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->resources.size(), 1U);
    EXPECT_EQ(SampledData(page->resources[0].json), SampledData(v2));
    Result<std::vector<Resource>> by_identifier = store->SearchByIdentifier("Observation", "urn:obs", "v-big", 10);
    ASSERT_TRUE(by_identifier.ok());
    ASSERT_EQ(by_identifier->size(), 1U);
    EXPECT_EQ(SampledData((*by_identifier)[0].json), SampledData(v2));
    int exported = 0;
    ASSERT_TRUE(store
                    ->Export("Observation",
                             [&](std::string_view, const Resource& r) {
                               if (r.id == "big") exported += SampledData(r.json) == SampledData(v2) ? 1 : 100;
                             })
                    .ok());
    EXPECT_EQ(exported, 1);
    EXPECT_TRUE(store->CheckConsistency().ok()) << store->CheckConsistency().ToString();
  }
  // On disk: the large one's versions are frames of a fraction of its size.
  EXPECT_EQ(QueryStoreFile(dir.path(), "SELECT typeof(json) FROM resources WHERE id='big'"), "blob");
  EXPECT_EQ(QueryStoreFile(dir.path(), "SELECT typeof(json) FROM history"), "blob");
  EXPECT_EQ(QueryStoreFile(dir.path(), "SELECT typeof(json) FROM resources WHERE id='small'"), "text");
  EXPECT_LT(std::stoi(QueryStoreFile(dir.path(), "SELECT length(json) FROM resources WHERE id='big'")) * 4,
            static_cast<int>(v2.size()));

  // A frame that does not decompress is damage, reported as such.
  RunSqlOnStoreFile(dir.path(), "UPDATE resources SET json=X'28B52FFD2000FFFF' WHERE id='big'");
  auto store = OpenOrDie(dir.path());
  Result<std::optional<Resource>> damaged = store->Read("Observation", "big");
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), StatusCode::kIoError);
  EXPECT_EQ(damaged.status().detail(), "damaged") << damaged.status().ToString();
  // Which file, what is wrong, and what to do: as for the store's other damage.
  EXPECT_NE(damaged.status().message().find(dir.path() + "/store.db is damaged: a resource's compressed JSON"),
            std::string::npos)
      << damaged.status().message();
  EXPECT_NE(damaged.status().message().find(sqlite::DamagedAdvice(dir.path() + "/store.db")), std::string::npos)
      << damaged.status().message();
  EXPECT_FALSE(store->CheckConsistency().ok());
  EXPECT_TRUE(store->Read("Observation", "small").ok());
}

// What the store keeps for a text: short ones and ones that do not compress
// by a quarter as they are, the rest as a frame that gives the text back.
TEST(JsonPacker, PacksOnlyLargeTextsThatCompress) {
  embedded::JsonPacker packer;
  bool blob = true;
  const std::string small(embedded::kPackFrom - 1, 'E');
  EXPECT_EQ(packer.Pack(small, &blob), small);
  EXPECT_FALSE(blob);
  const std::string noise = iomt::testing::Incompressible(8000);
  EXPECT_EQ(packer.Pack(noise, &blob), noise);
  EXPECT_FALSE(blob);
  const std::string large = HourlyObs("x", "1");
  const std::string packed(packer.Pack(large, &blob));
  ASSERT_TRUE(blob);
  EXPECT_LT(packed.size() * 4, large.size());
  Result<std::string_view> back = packer.Unpack(packed, true);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, large);
  // Text comes back as it is; a cut or altered frame is damage.
  EXPECT_EQ(*packer.Unpack(small, false), small);
  for (const std::string& bad : {packed.substr(0, packed.size() / 2), std::string("not a frame"),
                                 packed.substr(0, 4) + std::string(packed.size() - 4, '\x01')}) {
    Result<std::string_view> r = packer.Unpack(bad, true);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().detail(), "damaged") << r.status().ToString();
  }
}

// Format 3 stored every resource as text: such a store opens as format 4,
// its texts read as before, and a new version of one is stored compressed.
TEST(EmbeddedStore, AFormatThreeStoreIsMigratedWhenOpened) {
  TempDir dir;
  std::string stored;
  {
    auto store = OpenOrDie(dir.path());
    ASSERT_TRUE(store->Put("Observation", "big", HourlyObs("big", "1"), std::nullopt).ok());
    ASSERT_TRUE(store->Flush().ok());
    stored = (*store->Read("Observation", "big"))->json;
  }
  // What format 3 wrote: the text itself.
  const std::string sql =
      "UPDATE resources SET json='" + stored + "'; UPDATE iomt_meta SET value='3' WHERE key='format'";
  RunSqlOnStoreFile(dir.path(), sql.c_str());
  ASSERT_EQ(QueryStoreFile(dir.path(), "SELECT typeof(json) FROM resources"), "text");
  {
    auto store = OpenOrDie(dir.path());
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(store->CheckConsistency().ok()) << store->CheckConsistency().ToString();
    EXPECT_EQ((*store->Read("Observation", "big"))->json, stored);
    ASSERT_TRUE(store->Put("Observation", "big", HourlyObs("big", "2"), std::nullopt).ok());
    ASSERT_TRUE(store->Flush().ok());
    EXPECT_EQ(SampledData((*store->VRead("Observation", "big", "1")).json), SampledData(stored));
    EXPECT_TRUE(store->CheckConsistency().ok()) << store->CheckConsistency().ToString();
  }
  EXPECT_EQ(QueryStoreFile(dir.path(), "SELECT value FROM iomt_meta WHERE key='format'"), "4");
  EXPECT_EQ(QueryStoreFile(dir.path(), "SELECT typeof(json) FROM resources"), "blob");
  EXPECT_EQ(QueryStoreFile(dir.path(), "SELECT typeof(json) FROM history"), "text");
}

TEST(EmbeddedStore, BackgroundCommitterCommitsSingleWrites) {
  TempDir dir;
  EmbeddedStoreOptions options;
  options.commit_interval_ms = 5;
  auto store = OpenOrDie(dir.path(), options);
  ASSERT_TRUE(store->Put("Patient", "p", R"({"resourceType":"Patient"})", {}).ok());
  // Another connection sees only committed data.
  bool seen = false;
  for (int i = 0; i < 200 && !seen; ++i) {
    usleep(5000);
    auto other = OpenOrDie(dir.path());
    seen = other->Read("Patient", "p")->has_value();
  }
  EXPECT_TRUE(seen);
}

TEST(EmbeddedStore, StampLeavesOtherMembersAlone) {
  std::string out;
  embedded::StampResource(R"( { "id" : "x", "a":[1,{"b":"}"}], "resourceType":"P" } )", "x", 3, "T", &out);
  // A new meta goes after the id.
  EXPECT_EQ(out, R"({"id":"x","meta":{"versionId":"3","lastUpdated":"T"},"a":[1,{"b":"}"}],"resourceType":"P"})");
  embedded::StampResource(R"({"resourceType":"P","id":"x","a":1})", "x", 1, "T", &out);
  EXPECT_EQ(out, R"({"resourceType":"P","id":"x","meta":{"versionId":"1","lastUpdated":"T"},"a":1})");
  embedded::StampResource(R"({"a":1})", "y", 1, "T", &out);
  EXPECT_EQ(out, R"({"id":"y","meta":{"versionId":"1","lastUpdated":"T"},"a":1})");
  std::int64_t lo = 0, hi = 0;
  ASSERT_TRUE(embedded::ParseDateRange("2024-02", &lo, &hi));
  EXPECT_EQ(embedded::FormatInstant(lo), "2024-02-01T00:00:00.000Z");
  EXPECT_EQ(embedded::FormatInstant(hi), "2024-02-29T23:59:59.999Z");
  EXPECT_FALSE(embedded::ParseDateRange("2023-02-29", &lo, &hi));
  EXPECT_FALSE(embedded::ParseDateRange("2023-01-01Z", &lo, &hi));
}

}  // namespace
}  // namespace iomt::store
