// The FHIR REST API over the embedded store, through real HTTP (libcurl):
// every route, status codes, versions and preconditions, paging, Bundles,
// OperationOutcomes; and the FhirClient contract run by iomt's own remote
// client against it, i.e. one iomt as another's FHIR server.
#include "server/http/fhir_api.h"

#include <sys/stat.h>

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "common/json/document.h"
#include "common/json/writer.h"
#include "server/http/bulk_export.h"
#include "store/fhir_client_contract.h"
#include "store/remote/remote_client.h"
#include "test_client.h"

namespace iomt::server {
namespace {

namespace fs = std::filesystem;
using testing::Client;
using testing::Reply;
using testing::Request;

// An embedded store in a temp dir, served under /fhir on a free port.
class FhirServer {
 public:
  FhirServer() {
    static std::atomic<int> n{0};
    dir_ = (fs::temp_directory_path() /
            ("iomt-fhir-api-test-" + std::to_string(getpid()) + "-" + std::to_string(n.fetch_add(1))))
               .string();
    fs::remove_all(dir_);
    auto store = store::EmbeddedStore::Open(dir_);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) return;
    store_ = std::move(*store);
    exports_ = std::make_unique<BulkExports>(store_.get(), dir_ + "/exports");
    HttpServerOptions options;
    options.port = 0;
    auto server = HttpServer::Start(options, [this](const HttpRequest& r) {
      // As `iomt serve` does: the base URL from the Host header.
      std::string base = "http://" + std::string(r.Header("host").value_or("127.0.0.1")) + "/fhir";
      return HandleFhirRequest(*store_, r, base, exports_.get());
    });
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    if (server.ok()) server_ = std::move(*server);
  }
  ~FhirServer() {
    if (server_) server_->Stop();
    server_.reset();
    exports_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  FhirServer(const FhirServer&) = delete;
  FhirServer& operator=(const FhirServer&) = delete;

  [[nodiscard]] std::string base() const { return "http://127.0.0.1:" + std::to_string(server_->port()) + "/fhir"; }
  [[nodiscard]] bool ok() const { return server_ != nullptr; }
  store::EmbeddedStore& store() { return *store_; }
  [[nodiscard]] const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::unique_ptr<store::EmbeddedStore> store_;
  std::unique_ptr<BulkExports> exports_;
  std::unique_ptr<HttpServer> server_;
};

const std::vector<std::string> kJson = {"Content-Type: application/fhir+json", "Accept: application/fhir+json"};

std::vector<std::string> With(std::vector<std::string> headers, const std::string& extra) {
  headers.push_back(extra);
  return headers;
}

// A parsed answer that stays valid for the test.
json::Value Parse(const std::string& text) {
  static thread_local std::vector<std::unique_ptr<json::Document>> docs;
  docs.push_back(std::make_unique<json::Document>());
  EXPECT_TRUE(docs.back()->Parse(text).ok()) << text;
  return docs.back()->root();
}

std::string Str(const json::Value& v, std::string_view key) {
  json::Value m;
  return v.Find(key, &m) && m.is_string() ? std::string(m.string_value()) : "";
}

void ExpectOutcome(const Reply& reply, long status, const std::string& issue_code) {
  EXPECT_EQ(reply.status, status) << reply.body;
  EXPECT_TRUE(reply.Header("content-type").starts_with("application/fhir+json")) << reply.Header("content-type");
  json::Value root = Parse(reply.body);
  EXPECT_EQ(Str(root, "resourceType"), "OperationOutcome") << reply.body;
  json::Value issues;
  ASSERT_TRUE(root.Find("issue", &issues) && issues.size() > 0) << reply.body;
  EXPECT_EQ(Str(issues.ElementAt(0), "code"), issue_code) << reply.body;
}

std::string Patient(const std::string& id, const std::string& value) {
  std::string json = R"({"resourceType":"Patient",)";
  if (!id.empty()) json += R"("id":")" + id + R"(",)";
  return json + R"("identifier":[{"system":"urn:test","value":")" + value + R"("}]})";
}

std::string Observation(const std::string& code, int minute) {
  char date[32];
  std::snprintf(date, sizeof date, "2024-05-01T10:%02d:00Z", minute);
  return R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"urn:codes","code":")" + code +
         R"("}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":")" + date + R"("})";
}

TEST(FhirApi, MetadataIsAnR4CapabilityStatement) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  Reply reply = client.Get(s.base() + "/metadata");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.Header("content-type"), "application/fhir+json; charset=utf-8");
  json::Value root = Parse(reply.body);
  EXPECT_EQ(Str(root, "resourceType"), "CapabilityStatement");
  EXPECT_EQ(Str(root, "fhirVersion"), "4.0.1");
  EXPECT_NE(reply.body.find(R"({"code":"batch"})"), std::string::npos);
  EXPECT_NE(reply.body.find(R"({"code":"transaction"})"), std::string::npos);
  EXPECT_NE(reply.body.find(R"("type":"Observation")"), std::string::npos);
  EXPECT_NE(reply.body.find(R"({"name":"date","type":"date"})"), std::string::npos);
  // _format=json and Accept: application/json are JSON too; XML is not offered.
  EXPECT_EQ(client.Get(s.base() + "/metadata?_format=json").status, 200);
  EXPECT_EQ(client.Get(s.base() + "/metadata", {"Accept: application/json"}).status, 200);
  ExpectOutcome(client.Get(s.base() + "/metadata?_format=xml"), 406, "not-supported");
  ExpectOutcome(client.Get(s.base() + "/metadata", {"Accept: application/fhir+xml"}), 406, "not-supported");
  ExpectOutcome(client.Send({"POST", s.base() + "/metadata", "{}", kJson}), 405, "not-supported");
}

TEST(FhirApi, CreateReadUpdateDeleteWithVersions) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  Reply created = client.Send({"POST", s.base() + "/Patient", Patient("", "crud"), kJson});
  ASSERT_EQ(created.status, 201) << created.body;
  json::Value patient = Parse(created.body);
  const std::string id = Str(patient, "id");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(created.Header("location"), s.base() + "/Patient/" + id + "/_history/1");
  EXPECT_EQ(created.Header("etag"), "W/\"1\"");
  EXPECT_TRUE(created.Header("last-modified").ends_with(" GMT")) << created.Header("last-modified");

  const std::string url = s.base() + "/Patient/" + id;
  Reply read = client.Get(url);
  EXPECT_EQ(read.status, 200);
  EXPECT_EQ(read.Header("etag"), "W/\"1\"");
  EXPECT_EQ(read.Header("last-modified"), created.Header("last-modified"));
  EXPECT_EQ(read.body, created.body);

  Reply updated = client.Send({"PUT", url, Patient(id, "crud-2"), With(kJson, "If-Match: W/\"1\"")});
  EXPECT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(updated.Header("etag"), "W/\"2\"");
  EXPECT_EQ(updated.Header("location"), "");
  // A write based on version 1 has lost.
  ExpectOutcome(client.Send({"PUT", url, Patient(id, "crud-3"), With(kJson, "If-Match: W/\"1\"")}), 412, "conflict");
  // Another id in the body than in the URL.
  ExpectOutcome(client.Send({"PUT", url, Patient("other", "x"), kJson}), 400, "invalid");

  Reply deleted = client.Send({"DELETE", url, "", {}});
  EXPECT_EQ(deleted.status, 204);
  ExpectOutcome(client.Get(url), 410, "not-found");
  ExpectOutcome(client.Get(s.base() + "/Patient/never-was"), 404, "not-found");
  // Deleting what is not there is no error.
  EXPECT_EQ(client.Send({"DELETE", s.base() + "/Patient/never-was", "", {}}).status, 204);

  Reply history = client.Get(url + "/_history");
  EXPECT_EQ(history.status, 200);
  json::Value bundle = Parse(history.body);
  EXPECT_EQ(Str(bundle, "type"), "history");
  json::Value entries;
  ASSERT_TRUE(bundle.Find("entry", &entries));
  ASSERT_EQ(entries.size(), 3u);
  json::Value response, request;
  ASSERT_TRUE(entries.ElementAt(0).Find("request", &request));
  EXPECT_EQ(Str(request, "method"), "DELETE");
  ASSERT_TRUE(entries.ElementAt(2).Find("response", &response));
  EXPECT_EQ(Str(response, "etag"), "W/\"1\"");

  Reply v1 = client.Get(url + "/_history/1");
  EXPECT_EQ(v1.status, 200);
  EXPECT_EQ(v1.Header("etag"), "W/\"1\"");
  EXPECT_EQ(v1.body, created.body);
  EXPECT_EQ(Parse(client.Get(url + "/_history/2").body).size() > 0, true);
  ExpectOutcome(client.Get(url + "/_history/3"), 410, "not-found");
  ExpectOutcome(client.Get(url + "/_history/9"), 404, "not-found");
  ExpectOutcome(client.Get(s.base() + "/Patient/never-was/_history"), 404, "not-found");
}

TEST(FhirApi, PutCreatesAtTheGivenIdAndHeadReadsHeaders) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  Reply created = client.Send({"PUT", s.base() + "/Patient/chosen-id", Patient("chosen-id", "v"), kJson});
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.Header("location"), s.base() + "/Patient/chosen-id/_history/1");
  Request head;
  head.url = s.base() + "/Patient/chosen-id";
  head.head = true;
  Reply headers = client.Send(head);
  EXPECT_EQ(headers.status, 200);
  EXPECT_EQ(headers.Header("etag"), "W/\"1\"");
  EXPECT_EQ(headers.body, "");
  EXPECT_EQ(headers.Header("content-length"), std::to_string(created.body.size()));
}

TEST(FhirApi, ConditionalCreateWithIfNoneExist) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  auto headers = With(kJson, "If-None-Exist: identifier=urn:test|once");
  Reply first = client.Send({"POST", s.base() + "/Patient", Patient("", "once"), headers});
  EXPECT_EQ(first.status, 201) << first.body;
  Reply second = client.Send({"POST", s.base() + "/Patient", Patient("", "once"), headers});
  EXPECT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(Str(Parse(second.body), "id"), Str(Parse(first.body), "id"));
  EXPECT_EQ(second.Header("etag"), "W/\"1\"");
  // Two matches: the precondition fails.
  ASSERT_EQ(client.Send({"POST", s.base() + "/Patient", Patient("", "once"), kJson}).status, 201);
  ExpectOutcome(client.Send({"POST", s.base() + "/Patient", Patient("", "once"), headers}), 412, "conflict");
}

TEST(FhirApi, PreferReturnMinimalAnswersWithoutTheResource) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  Reply created =
      client.Send({"POST", s.base() + "/Patient", Patient("", "min"), With(kJson, "Prefer: return=minimal")});
  EXPECT_EQ(created.status, 201);
  EXPECT_EQ(created.body, "");
  EXPECT_EQ(created.Header("etag"), "W/\"1\"");
  EXPECT_FALSE(created.Header("location").empty());
  Reply fetched = client.Get(created.Header("location"));
  EXPECT_EQ(fetched.status, 200);
  EXPECT_EQ(Str(Parse(fetched.body), "resourceType"), "Patient");
}

TEST(FhirApi, SearchPagesAreFollowedByTheirNextLinks) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  for (int i = 0; i < 7; ++i)
    ASSERT_EQ(client.Send({"POST", s.base() + "/Observation", Observation(i < 5 ? "hr" : "rr", i), kJson}).status, 201);
  std::set<std::string> ids;
  std::string url = s.base() + "/Observation?code=urn:codes%7Chr&_count=2&_format=json";
  int pages = 0;
  while (!url.empty() && pages < 10) {
    Reply page = client.Get(url);
    ASSERT_EQ(page.status, 200) << page.body;
    json::Value bundle = Parse(page.body);
    EXPECT_EQ(Str(bundle, "type"), "searchset");
    json::Value total, entries, links;
    ASSERT_TRUE(bundle.Find("total", &total));
    EXPECT_EQ(json::ToJson(total), "5");
    if (bundle.Find("entry", &entries)) {
      for (json::Value e : entries.elements()) {
        json::Value resource;
        ASSERT_TRUE(e.Find("resource", &resource));
        ids.insert(Str(resource, "id"));
        EXPECT_EQ(Str(e, "fullUrl"), s.base() + "/Observation/" + Str(resource, "id"));
      }
    }
    url.clear();
    if (bundle.Find("link", &links)) {
      for (json::Value l : links.elements())
        if (Str(l, "relation") == "next") url = Str(l, "url");
    }
    ++pages;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(ids.size(), 5u);

  // By POST with a form body ('+' a space, as forms have it), and mixed
  // with the URL's parameters.
  Reply posted = client.Send({"POST",
                              s.base() + "/Observation/_search?_count=100",
                              "code=urn:codes|rr&date=ge2024-05-01",
                              {"Content-Type: application/x-www-form-urlencoded"}});
  ASSERT_EQ(posted.status, 200) << posted.body;
  EXPECT_NE(posted.body.find(R"("total":2)"), std::string::npos) << posted.body;
  Reply dates = client.Send({"POST",
                             s.base() + "/Observation/_search",
                             "date=ge2024-05-01T10:03:00+00:00",
                             {"Content-Type: application/x-www-form-urlencoded"}});
  EXPECT_EQ(dates.status, 400) << dates.body;  // '+' is a space in a form: not a valid date
  ExpectOutcome(client.Send({"POST", s.base() + "/Observation/_search", "code=x", kJson}), 415, "not-supported");

  // Sorted, and a date range.
  Reply sorted =
      client.Get(s.base() + "/Observation?date=ge2024-05-01T10:02:00Z&date=lt2024-05-01T10:05:00Z&_sort=-date");
  ASSERT_EQ(sorted.status, 200) << sorted.body;
  EXPECT_NE(sorted.body.find(R"("total":3)"), std::string::npos) << sorted.body;
  EXPECT_LT(sorted.body.find(R"("effectiveDateTime":"2024-05-01T10:04:00Z")"),
            sorted.body.find(R"("effectiveDateTime":"2024-05-01T10:02:00Z")"));

  ExpectOutcome(client.Get(s.base() + "/Observation?colour=red"), 400, "invalid");
  ExpectOutcome(client.Get(s.base() + "/Observation?date=soon"), 400, "invalid");
}

// The links of a searchset Bundle by relation.
std::map<std::string, std::string> Links(const json::Value& bundle) {
  std::map<std::string, std::string> out;
  json::Value links;
  if (bundle.Find("link", &links)) {
    for (json::Value l : links.elements())
      out[Str(l, "relation")] = Str(l, "url");
  }
  return out;
}

// The entries of a searchset Bundle as "mode Type/id" (an OperationOutcome
// as "outcome OperationOutcome/").
std::vector<std::string> Entries(const json::Value& bundle) {
  std::vector<std::string> out;
  json::Value entries;
  if (!bundle.Find("entry", &entries)) return out;
  for (json::Value e : entries.elements()) {
    json::Value resource, search;
    EXPECT_TRUE(e.Find("resource", &resource) && e.Find("search", &search));
    out.push_back(Str(search, "mode") + " " + Str(resource, "resourceType") + "/" + Str(resource, "id"));
  }
  return out;
}

// The offset a paging link asks for.
std::string OffsetOf(const std::string& url) {
  std::size_t at = url.find("_offset=");
  return at == std::string::npos ? "" : url.substr(at + 8);
}

TEST(FhirApi, SearchPagesLinkBothWaysAndCountsOnlyWhenAsked) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(client.Send({"POST", s.base() + "/Observation", Observation("hr", i), kJson}).status, 201);
  const std::string search = s.base() + "/Observation?code=urn:codes%7Chr&_count=2";

  Reply middle = client.Get(search + "&_offset=2");
  ASSERT_EQ(middle.status, 200) << middle.body;
  std::map<std::string, std::string> links = Links(Parse(middle.body));
  EXPECT_EQ(OffsetOf(links["self"]), "2");
  EXPECT_EQ(OffsetOf(links["first"]), "0");
  EXPECT_EQ(OffsetOf(links["previous"]), "0");
  EXPECT_EQ(OffsetOf(links["next"]), "4");
  EXPECT_EQ(OffsetOf(links["last"]), "4");
  EXPECT_NE(links["last"].find("code=urn:codes%7Chr"), std::string::npos) << links["last"];
  // Backwards from the last page by its previous links: every match once.
  std::set<std::string> ids;
  std::string url = links["last"];
  for (int pages = 0; !url.empty() && pages < 5; ++pages) {
    Reply page = client.Get(url);
    ASSERT_EQ(page.status, 200) << page.body;
    json::Value bundle = Parse(page.body);
    for (const std::string& e : Entries(bundle))
      ids.insert(e);
    url = Links(bundle)["previous"];
  }
  EXPECT_EQ(ids.size(), 5u);
  // The first page has neither first nor previous; the last no next or last.
  Reply first = client.Get(search);
  links = Links(Parse(first.body));
  EXPECT_EQ(links.count("previous") + links.count("first"), 0u) << first.body;
  Reply last = client.Get(search + "&_offset=4");
  links = Links(Parse(last.body));
  EXPECT_EQ(links.count("next") + links.count("last"), 0u) << last.body;
  EXPECT_EQ(Entries(Parse(last.body)).size(), 1u);

  // _total=none: no count is made, and the next link still comes (one row
  // more than the page says there is another).
  Reply uncounted = client.Get(search + "&_total=none");
  ASSERT_EQ(uncounted.status, 200) << uncounted.body;
  json::Value bundle = Parse(uncounted.body), total;
  EXPECT_FALSE(bundle.Find("total", &total)) << uncounted.body;
  EXPECT_EQ(Entries(bundle).size(), 2u);
  links = Links(bundle);
  EXPECT_EQ(OffsetOf(links["next"]), "2");
  EXPECT_EQ(links.count("last"), 0u);
  EXPECT_NE(links["next"].find("_total=none"), std::string::npos) << links["next"];
  Reply uncounted_end = client.Get(search + "&_total=none&_offset=4");
  EXPECT_EQ(Links(Parse(uncounted_end.body)).count("next"), 0u) << uncounted_end.body;
  EXPECT_EQ(Entries(Parse(uncounted_end.body)).size(), 1u);
  EXPECT_EQ(client.Get(search + "&_total=accurate").body.find(R"("total":5)") != std::string::npos, true);
  ExpectOutcome(client.Get(search + "&_total=some"), 400, "invalid");

  // _summary=count: the total alone.
  Reply counted = client.Get(s.base() + "/Observation?code=urn:codes%7Chr&_summary=count");
  ASSERT_EQ(counted.status, 200) << counted.body;
  bundle = Parse(counted.body);
  ASSERT_TRUE(bundle.Find("total", &total));
  EXPECT_EQ(json::ToJson(total), "5");
  EXPECT_TRUE(Entries(bundle).empty()) << counted.body;
  EXPECT_EQ(Links(bundle).size(), 1u) << counted.body;  // self
}

TEST(FhirApi, SummaryAndElementsCutTheMatchesDown) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  const std::string observation =
      R"({"resourceType":"Observation","id":"o1","meta":{"tag":[{"system":"urn:t","code":"mine"}]},)"
      R"("text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">HR</div>"},)"
      R"("status":"final","category":[{"text":"vital-signs"}],"code":{"text":"hr"},)"
      R"("subject":{"reference":"Patient/p1"},"effectiveDateTime":"2024-05-01T10:00:00Z",)"
      R"("valueQuantity":{"value":71.50,"unit":"/min"},"note":[{"text":"resting"}]})";
  ASSERT_EQ(client.Send({"PUT", s.base() + "/Observation/o1", observation, kJson}).status, 201);
  auto members = [&](const std::string& query) {
    Reply r = client.Get(s.base() + "/Observation?_id=o1&" + query);
    EXPECT_EQ(r.status, 200) << r.body;
    json::Value entries, resource;
    std::vector<std::string> keys;
    if (!Parse(r.body).Find("entry", &entries) || entries.size() != 1 ||
        !entries.ElementAt(0).Find("resource", &resource)) {
      ADD_FAILURE() << r.body;
      return std::make_pair(keys, std::string());
    }
    for (const json::Member m : resource.members())
      keys.emplace_back(m.key);
    return std::make_pair(keys, json::ToJson(resource));
  };
  using Keys = std::vector<std::string>;
  auto [summary, summary_text] = members("_summary=true");
  EXPECT_EQ(summary,
            (Keys{"resourceType", "id", "meta", "status", "code", "subject", "effectiveDateTime", "valueQuantity"}));
  // Marked as a subset, the resource's own tags kept; decimals as written.
  EXPECT_NE(summary_text.find(R"({"system":"urn:t","code":"mine"},{"system":"http://terminology.hl7.org/)"
                              R"(CodeSystem/v3-ObservationValue","code":"SUBSETTED"})"),
            std::string::npos)
      << summary_text;
  Reply raw = client.Get(s.base() + "/Observation?_id=o1&_summary=true");
  EXPECT_NE(raw.body.find(R"("value":71.50)"), std::string::npos) << raw.body;
  EXPECT_EQ(members("_summary=data").first, (Keys{"resourceType", "id", "meta", "status", "category", "code", "subject",
                                                  "effectiveDateTime", "valueQuantity", "note"}));
  EXPECT_EQ(members("_summary=text").first, (Keys{"resourceType", "id", "meta", "text", "status", "code"}));
  EXPECT_EQ(members("_summary=false").first.size(), 11u);
  // _elements: what was asked (a choice element by its base name), and the
  // elements FHIR makes mandatory.
  EXPECT_EQ(members("_elements=value,subject").first,
            (Keys{"resourceType", "id", "meta", "status", "code", "subject", "valueQuantity"}));
  EXPECT_EQ(members("_elements=note").first, (Keys{"resourceType", "id", "meta", "status", "code", "note"}));
  // The store keeps the whole resource.
  Reply read = client.Get(s.base() + "/Observation/o1");
  EXPECT_NE(read.body.find(R"("note":[{"text":"resting"}])"), std::string::npos) << read.body;
  EXPECT_EQ(read.body.find("SUBSETTED"), std::string::npos) << read.body;

  ExpectOutcome(client.Get(s.base() + "/Observation?_summary=true&_elements=note"), 400, "invalid");
  ExpectOutcome(client.Get(s.base() + "/Observation?_summary=some"), 400, "invalid");
  ExpectOutcome(client.Get(s.base() + "/Observation?_elements=a.b"), 400, "invalid");
  ExpectOutcome(client.Get(s.base() + "/Basic?_summary=true"), 400, "invalid");
  // A condition cannot be about the answer's shape.
  ExpectOutcome(client.Send({"POST", s.base() + "/Patient", Patient("", "x"),
                             With(kJson, "If-None-Exist: identifier=urn:test|x&_summary=count")}),
                400, "invalid");
}

// Patients p1 and p2, and Device d1 whose patient is p1.
void PutPatientsAndDevice(Client& client, const std::string& base) {
  ASSERT_EQ(client.Send({"PUT", base + "/Patient/p1", Patient("p1", "a"), kJson}).status, 201);
  ASSERT_EQ(client.Send({"PUT", base + "/Patient/p2", Patient("p2", "b"), kJson}).status, 201);
  ASSERT_EQ(client
                .Send({"PUT", base + "/Device/d1",
                       R"({"resourceType":"Device","id":"d1","patient":{"reference":"Patient/p1"}})", kJson})
                .status,
            201);
}

TEST(FhirApi, IncludesBringTheReferencedResourcesOnce) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  ASSERT_NO_FATAL_FAILURE(PutPatientsAndDevice(client, s.base()));
  auto observation = [](const std::string& id, const std::string& patient, const std::string& code) {
    return R"({"resourceType":"Observation","id":")" + id +
           R"(","status":"final","code":{"coding":[{"system":"urn:codes","code":")" + code +
           R"("}]},"subject":{"reference":"Patient/)" + patient + R"("},"device":{"reference":"Device/d1"}})";
  };
  ASSERT_EQ(client.Send({"PUT", s.base() + "/Observation/o1", observation("o1", "p1", "hr"), kJson}).status, 201);
  ASSERT_EQ(client.Send({"PUT", s.base() + "/Observation/o2", observation("o2", "p1", "hr"), kJson}).status, 201);
  ASSERT_EQ(client.Send({"PUT", s.base() + "/Observation/o3", observation("o3", "p2", "rr"), kJson}).status, 201);
  using Modes = std::vector<std::string>;

  Reply forward = client.Get(s.base() +
                             "/Observation?code=urn:codes%7Chr&_sort=_id&_include=Observation:subject"
                             "&_include=Observation:device");
  ASSERT_EQ(forward.status, 200) << forward.body;
  json::Value bundle = Parse(forward.body), total;
  EXPECT_EQ(Entries(bundle),
            (Modes{"match Observation/o1", "match Observation/o2", "include Patient/p1", "include Device/d1"}));
  ASSERT_TRUE(bundle.Find("total", &total));
  EXPECT_EQ(json::ToJson(total), "2");  // the matches only
  EXPECT_NE(Links(bundle)["self"].find("_include=Observation:subject"), std::string::npos);
  // A target type narrows what is followed.
  Reply narrowed = client.Get(s.base() + "/Observation?code=urn:codes%7Crr&_include=Observation:subject:Device");
  EXPECT_EQ(Entries(Parse(narrowed.body)), (Modes{"match Observation/o3"})) << narrowed.body;
  Reply patient = client.Get(s.base() + "/Observation?_id=o3&_include=Observation:patient");
  EXPECT_EQ(Entries(Parse(patient.body)), (Modes{"match Observation/o3", "include Patient/p2"})) << patient.body;

  Reply reverse = client.Get(s.base() + "/Patient?_id=p1&_revinclude=Observation:subject&_revinclude=Device:patient");
  ASSERT_EQ(reverse.status, 200) << reverse.body;
  EXPECT_EQ(Entries(Parse(reverse.body)),
            (Modes{"match Patient/p1", "include Observation/o1", "include Observation/o2", "include Device/d1"}));
  Reply by_device = client.Get(s.base() + "/Device?_revinclude=Observation:device&_summary=true");
  ASSERT_EQ(by_device.status, 200) << by_device.body;
  EXPECT_EQ(Entries(Parse(by_device.body)).size(), 4u) << by_device.body;
  // The CapabilityStatement says which.
  Reply metadata = client.Get(s.base() + "/metadata");
  EXPECT_NE(metadata.body.find(R"("searchRevInclude":["Observation:subject","Observation:patient")"), std::string::npos)
      << metadata.body;
  EXPECT_NE(metadata.body.find(R"("searchInclude":["Observation:subject","Observation:patient")"), std::string::npos);

  ExpectOutcome(client.Get(s.base() + "/Observation?_include=Observation:performer"), 400, "invalid");
  ExpectOutcome(client.Get(s.base() + "/Observation?_include=Device:patient"), 400, "invalid");
  ExpectOutcome(client.Get(s.base() + "/Observation?_include=subject"), 400, "invalid");
  ExpectOutcome(client.Get(s.base() + "/Observation?_include:iterate=Observation:subject"), 400, "invalid");
}

TEST(FhirApi, RevincludeOverManyMatchesIsComplete) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  // 130 Patients with two Observations each: the reverse search goes in
  // slices of matches; all 260 come back, each once.
  for (int i = 0; i < 130; ++i) {
    std::string p = "p";
    p.append(std::to_string(i));
    ASSERT_TRUE(s.store().Update("Patient", p, Patient(p, p), std::nullopt).ok());
    for (int k = 0; k < 2; ++k) {
      std::string o = "o";
      o.append(std::to_string(i)).append("-").append(std::to_string(k));
      std::string json = R"({"resourceType":"Observation","id":")";
      json.append(o).append(R"(","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/)");
      json.append(p).append(R"("}})");
      ASSERT_TRUE(s.store().Update("Observation", o, json, std::nullopt).ok());
    }
  }
  Client client;
  Reply all = client.Get(s.base() + "/Patient?_count=200&_revinclude=Observation:subject");
  ASSERT_EQ(all.status, 200);
  std::vector<std::string> entries = Entries(Parse(all.body));
  EXPECT_EQ(entries.size(), 390u);
  EXPECT_EQ(std::set<std::string>(entries.begin(), entries.end()).size(), 390u);
  EXPECT_EQ(
      std::count_if(entries.begin(), entries.end(), [](const std::string& e) { return e.starts_with("include"); }),
      260);
}

TEST(FhirApi, LenientHandlingIgnoresWhatItDoesNotKnowAndSaysSo) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(client.Send({"POST", s.base() + "/Observation", Observation(i < 2 ? "hr" : "rr", i), kJson}).status, 201);
  const std::string url = s.base() + "/Observation?colour=red&code=urn:codes%7Chr&code:text=x";
  ExpectOutcome(client.Get(url), 400, "invalid");  // strict by default
  ExpectOutcome(client.Get(url, {"Prefer: handling=strict"}), 400, "invalid");
  Reply lenient = client.Get(url, {"Prefer: return=representation, handling=lenient"});
  ASSERT_EQ(lenient.status, 200) << lenient.body;
  json::Value bundle = Parse(lenient.body), total;
  ASSERT_TRUE(bundle.Find("total", &total));
  EXPECT_EQ(json::ToJson(total), "2");  // code applied, the others ignored
  std::vector<std::string> entries = Entries(bundle);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries.back(), "outcome OperationOutcome/");
  EXPECT_NE(lenient.body.find("Unknown search parameter 'colour'"), std::string::npos) << lenient.body;
  EXPECT_NE(lenient.body.find("The modifier ':text'"), std::string::npos) << lenient.body;
  // The self link shows what was applied.
  const std::string self = Links(bundle)["self"];
  EXPECT_EQ(self.find("colour"), std::string::npos) << self;
  EXPECT_NE(self.find("code=urn:codes%7Chr"), std::string::npos) << self;
  // A bad value of a known parameter is still an error.
  ExpectOutcome(client.Get(s.base() + "/Observation?date=soon", {"Prefer: handling=lenient"}), 400, "invalid");
}

TEST(FhirApi, ConditionalUpdateAndDeleteActOnTheOneMatch) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  const std::string by_identifier = s.base() + "/Patient?identifier=urn:test%7Ca";
  // No match and no id: created with a new id.
  Reply created = client.Send({"PUT", by_identifier, Patient("", "a"), kJson});
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = Str(Parse(created.body), "id");
  ASSERT_FALSE(id.empty());
  EXPECT_NE(created.Header("location").find("/Patient/" + id + "/_history/1"), std::string::npos);
  // One match: updated, with or without the id in the body.
  Reply updated = client.Send({"PUT", by_identifier, Patient("", "a"), kJson});
  EXPECT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(updated.Header("etag"), "W/\"2\"");
  EXPECT_EQ(client.Send({"PUT", by_identifier, Patient(id, "a"), kJson}).status, 200);
  // The body's id must be the match's.
  ExpectOutcome(client.Send({"PUT", by_identifier, Patient("other", "a"), kJson}), 400, "invalid");
  // No match, an id given: created there; an id that is another resource's
  // is a conflict.
  EXPECT_EQ(client.Send({"PUT", s.base() + "/Patient?identifier=urn:test%7Cb", Patient("pb", "b"), kJson}).status, 201);
  ExpectOutcome(client.Send({"PUT", s.base() + "/Patient?identifier=urn:test%7Cc", Patient("pb", "c"), kJson}), 409,
                "conflict");
  // Two matches: 412.
  ASSERT_EQ(client.Send({"POST", s.base() + "/Patient", Patient("", "twice"), kJson}).status, 201);
  ASSERT_EQ(client.Send({"POST", s.base() + "/Patient", Patient("", "twice"), kJson}).status, 201);
  ExpectOutcome(client.Send({"PUT", s.base() + "/Patient?identifier=twice", Patient("", "twice"), kJson}), 412,
                "conflict");
  ExpectOutcome(client.Send({"DELETE", s.base() + "/Patient?identifier=twice", "", {}}), 412, "conflict");
  // Conditions only.
  ExpectOutcome(client.Send({"PUT", s.base() + "/Patient?_count=1", Patient("", "a"), kJson}), 400, "invalid");
  ExpectOutcome(client.Send({"PUT", s.base() + "/Patient?identifier=", Patient("", "a"), kJson}), 400, "invalid");

  // Conditional delete: the match, then nothing left to delete.
  EXPECT_EQ(client.Send({"DELETE", by_identifier, "", {}}).status, 204);
  EXPECT_EQ(client.Get(s.base() + "/Patient/" + id).status, 410);
  EXPECT_EQ(client.Send({"DELETE", by_identifier, "", {}}).status, 204);

  // If-None-Match: * creates, never replaces.
  auto none_match = With(kJson, "If-None-Match: *");
  EXPECT_EQ(client.Send({"PUT", s.base() + "/Patient/fresh", Patient("fresh", "f"), none_match}).status, 201);
  ExpectOutcome(client.Send({"PUT", s.base() + "/Patient/fresh", Patient("fresh", "g"), none_match}), 412, "conflict");
  EXPECT_EQ(client.Get(s.base() + "/Patient/fresh").body.find(R"("value":"g")"), std::string::npos);
  ExpectOutcome(
      client.Send({"PUT", s.base() + "/Patient/fresh", Patient("fresh", "g"), With(kJson, "If-None-Match: W/\"1\"")}),
      400, "invalid");
  // A read with If-None-Match naming the current version: 304, no body.
  Reply same = client.Get(s.base() + "/Patient/fresh", {"If-None-Match: W/\"1\""});
  EXPECT_EQ(same.status, 304);
  EXPECT_TRUE(same.body.empty());
  EXPECT_EQ(same.Header("etag"), "W/\"1\"");
  EXPECT_EQ(client.Get(s.base() + "/Patient/fresh", {"If-None-Match: W/\"0\", \"7\""}).status, 200);
}

TEST(FhirApi, PatchAppliesAJsonPatchToTheCurrentVersion) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  const std::string observation =
      R"({"resourceType":"Observation","id":"o1","status":"preliminary","code":{"text":"hr"},)"
      R"("valueQuantity":{"value":71.50,"unit":"/min"}})";
  ASSERT_EQ(client.Send({"PUT", s.base() + "/Observation/o1", observation, kJson}).status, 201);
  const std::vector<std::string> patch_type = {"Content-Type: application/json-patch+json"};
  Reply patched = client.Send({"PATCH", s.base() + "/Observation/o1",
                               R"([{"op":"test","path":"/status","value":"preliminary"},)"
                               R"({"op":"replace","path":"/status","value":"final"},)"
                               R"({"op":"add","path":"/note","value":[{"text":"checked"}]}])",
                               patch_type});
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.Header("etag"), "W/\"2\"");
  Reply read = client.Get(s.base() + "/Observation/o1");
  EXPECT_NE(read.body.find(R"("status":"final")"), std::string::npos) << read.body;
  EXPECT_NE(read.body.find(R"("note":[{"text":"checked"}])"), std::string::npos) << read.body;
  EXPECT_NE(read.body.find(R"("value":71.50)"), std::string::npos) << read.body;  // decimals as written
  EXPECT_NE(read.body.find(R"("versionId":"2")"), std::string::npos) << read.body;

  // A test that fails, or a path that is not there: 422, nothing written.
  ExpectOutcome(client.Send({"PATCH", s.base() + "/Observation/o1",
                             R"([{"op":"test","path":"/status","value":"preliminary"}])", patch_type}),
                422, "processing");
  ExpectOutcome(
      client.Send({"PATCH", s.base() + "/Observation/o1", R"([{"op":"remove","path":"/issued"}])", patch_type}), 422,
      "processing");
  EXPECT_EQ(client.Get(s.base() + "/Observation/o1").Header("etag"), "W/\"2\"");
  // Not a JSON Patch, another media type, the id changed, a stale If-Match.
  ExpectOutcome(client.Send({"PATCH", s.base() + "/Observation/o1", R"({"status":"final"})", patch_type}), 400,
                "invalid");
  ExpectOutcome(client.Send({"PATCH", s.base() + "/Observation/o1", R"([])", kJson}), 415, "not-supported");
  ExpectOutcome(client.Send({"PATCH", s.base() + "/Observation/o1", R"([{"op":"replace","path":"/id","value":"o2"}])",
                             patch_type}),
                400, "invalid");
  ExpectOutcome(client.Send({"PATCH", s.base() + "/Observation/o1", R"([])", With(patch_type, "If-Match: W/\"1\"")}),
                412, "conflict");
  EXPECT_EQ(client.Send({"PATCH", s.base() + "/Observation/o1", R"([])", With(patch_type, "If-Match: W/\"2\"")}).status,
            200);
  ExpectOutcome(client.Send({"PATCH", s.base() + "/Observation/none", R"([])", patch_type}), 404, "not-found");
  // Conditional patch.
  Reply conditional = client.Send({"PATCH", s.base() + "/Observation?_id=o1",
                                   R"([{"op":"add","path":"/issued","value":"2024-05-01T10:00:00Z"}])", patch_type});
  EXPECT_EQ(conditional.status, 200) << conditional.body;
  EXPECT_NE(conditional.body.find(R"("issued":"2024-05-01T10:00:00Z")"), std::string::npos);
  ExpectOutcome(client.Send({"PATCH", s.base() + "/Observation?_id=none", R"([])", patch_type}), 404, "not-found");
}

TEST(FhirApi, TypeAndSystemHistoryListVersionsNewestFirst) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  ASSERT_EQ(client.Send({"PUT", s.base() + "/Patient/p1", Patient("p1", "a"), kJson}).status, 201);
  ASSERT_EQ(client.Send({"PUT", s.base() + "/Patient/p1", Patient("p1", "b"), kJson}).status, 200);
  ASSERT_EQ(client.Send({"PUT", s.base() + "/Observation/o1", Observation("hr", 1), kJson}).status, 201);
  ASSERT_EQ(client.Send({"DELETE", s.base() + "/Observation/o1", "", {}}).status, 204);
  // Each entry as "method type/id version".
  auto entries = [&](const std::string& body) {
    std::vector<std::string> out;
    json::Value bundle = Parse(body), list;
    EXPECT_EQ(Str(bundle, "type"), "history") << body;
    if (!bundle.Find("entry", &list)) return out;
    for (json::Value e : list.elements()) {
      json::Value request, response, resource;
      EXPECT_TRUE(e.Find("request", &request) && e.Find("response", &response));
      const std::string method = Str(request, "method");
      EXPECT_EQ(e.Find("resource", &resource), method != "DELETE") << body;
      out.push_back(method + " " + Str(request, "url") + " " + Str(response, "etag"));
    }
    return out;
  };
  using Lines = std::vector<std::string>;
  Reply all = client.Get(s.base() + "/_history");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(entries(all.body), (Lines{"DELETE Observation/o1 W/\"2\"", "PUT Observation/o1 W/\"1\"",
                                      "PUT Patient/p1 W/\"2\"", "PUT Patient/p1 W/\"1\""}));
  Reply patients = client.Get(s.base() + "/Patient/_history");
  EXPECT_EQ(entries(patients.body), (Lines{"PUT Patient/p1 W/\"2\"", "PUT Patient/p1 W/\"1\""}));
  EXPECT_NE(patients.body.find(R"("value":"b")"), std::string::npos);
  // Paged: the next link goes on where the page ended.
  Reply first = client.Get(s.base() + "/_history?_count=3");
  EXPECT_EQ(entries(first.body).size(), 3u);
  std::map<std::string, std::string> links = Links(Parse(first.body));
  ASSERT_EQ(links.count("next"), 1u) << first.body;
  Reply rest = client.Get(links["next"]);
  EXPECT_EQ(entries(rest.body), (Lines{"PUT Patient/p1 W/\"1\""}));
  EXPECT_EQ(Links(Parse(rest.body)).count("next"), 0u);
  EXPECT_EQ(OffsetOf(Links(Parse(rest.body))["previous"]), "0");
  // _since: versions at or after it.
  EXPECT_TRUE(entries(client.Get(s.base() + "/_history?_since=2999-01-01T00:00:00Z").body).empty());
  EXPECT_EQ(entries(client.Get(s.base() + "/Patient/_history?_since=2000-01-01").body).size(), 2u);
  EXPECT_TRUE(entries(client.Get(s.base() + "/Encounter/_history").body).empty());
  ExpectOutcome(client.Get(s.base() + "/_history?_since=soon"), 400, "invalid");
  ExpectOutcome(client.Get(s.base() + "/_history?_type=Patient"), 400, "invalid");
  ExpectOutcome(client.Send({"POST", s.base() + "/Patient/_history", "{}", kJson}), 405, "not-supported");
}

TEST(FhirApi, UnindexedParametersAreEvaluatedOnTheCandidates) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  auto patient = [](const std::string& id, const std::string& family, const std::string& given,
                    const std::string& gender) {
    return R"({"resourceType":"Patient","id":")" + id + R"(","gender":")" + gender + R"(","name":[{"family":")" +
           family + R"(","given":[")" + given + R"("]}]})";
  };
  ASSERT_EQ(client.Send({"PUT", s.base() + "/Patient/a", patient("a", "Müller", "Anna", "female"), kJson}).status, 201);
  ASSERT_EQ(client.Send({"PUT", s.base() + "/Patient/b", patient("b", "Mueller", "Ben", "male"), kJson}).status, 201);
  ASSERT_EQ(client.Send({"PUT", s.base() + "/Patient/c", patient("c", "Smith", "Anne", "female"), kJson}).status, 201);
  auto ids = [&](const std::string& query) {
    Reply r = client.Get(s.base() + "/Patient?_sort=_id&" + query);
    EXPECT_EQ(r.status, 200) << query << " " << r.body;
    std::vector<std::string> out;
    for (const std::string& e : Entries(Parse(r.body)))
      out.push_back(e.substr(e.find('/') + 1));
    return out;
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(ids("name=ann"), (Ids{"a", "c"}));  // any part, from the start, any case
  EXPECT_EQ(ids("family=mue"), (Ids{"b"}));
  EXPECT_EQ(ids("family:contains=ll"), (Ids{"a", "b"}));
  EXPECT_EQ(ids("family:exact=Mueller"), (Ids{"b"}));
  EXPECT_EQ(ids("family:exact=mueller"), Ids{});
  EXPECT_EQ(ids("given=an,be"), (Ids{"a", "b", "c"}));
  EXPECT_EQ(ids("gender=female&name=smi"), (Ids{"c"}));
  EXPECT_EQ(ids("gender:not=female"), (Ids{"b"}));
  EXPECT_EQ(ids("identifier:missing=true"), (Ids{"a", "b", "c"}));
  ExpectOutcome(client.Get(s.base() + "/Patient?gender:contains=f"), 400, "invalid");
  // The CapabilityStatement lists them with their types.
  Reply metadata = client.Get(s.base() + "/metadata");
  EXPECT_NE(metadata.body.find(R"({"name":"value-quantity","type":"quantity"})"), std::string::npos);
  EXPECT_NE(metadata.body.find(R"({"name":"code-value-quantity","type":"composite"})"), std::string::npos);
  EXPECT_NE(metadata.body.find(R"({"name":"family","type":"string"})"), std::string::npos);

  // "Heart rate above 120 for this patient", the latest first.
  for (int i = 0; i < 6; ++i) {
    std::string o = R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org",)"
                    R"("code":"8867-4"}]},"subject":{"reference":"Patient/a"},"effectiveDateTime":"2024-05-01T10:0)" +
                    std::to_string(i) + R"(:00Z","valueQuantity":{"value":)" + std::to_string(110 + 5 * i) +
                    R"(,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}})";
    ASSERT_EQ(client.Send({"POST", s.base() + "/Observation", o, kJson}).status, 201);
  }
  Reply high = client.Get(s.base() +
                          "/Observation?patient=Patient/a&code=http://loinc.org%7C8867-4&value-quantity=gt120"
                          "&_sort=-date&_count=1");
  ASSERT_EQ(high.status, 200) << high.body;
  json::Value bundle = Parse(high.body), total;
  ASSERT_TRUE(bundle.Find("total", &total));
  EXPECT_EQ(json::ToJson(total), "3");  // 125, 130, 135
  EXPECT_NE(high.body.find(R"("value":135)"), std::string::npos) << high.body;
  EXPECT_EQ(OffsetOf(Links(bundle)["next"]), "1");
  EXPECT_EQ(OffsetOf(Links(bundle)["last"]), "2");
  Reply units =
      client.Get(s.base() + "/Observation?code=8867-4&value-quantity=ge130%7Chttp://unitsofmeasure.org%7C/min");
  EXPECT_NE(units.body.find(R"("total":2)"), std::string::npos) << units.body;
  Reply other_units = client.Get(s.base() + "/Observation?code=8867-4&value-quantity=ge130%7C%7Cmg");
  EXPECT_NE(other_units.body.find(R"("total":0)"), std::string::npos) << other_units.body;
  Reply composite = client.Get(s.base() + "/Observation?code-value-quantity=http://loinc.org%7C8867-4$lt115");
  EXPECT_NE(composite.body.find(R"("total":1)"), std::string::npos) << composite.body;
}

// Kicks off an export and polls it to its manifest (empty on failure).
std::string ExportManifest(Client& client, const std::string& url) {
  Reply kicked = client.Get(url, {"Prefer: respond-async", "Accept: application/fhir+json"});
  EXPECT_EQ(kicked.status, 202) << kicked.body;
  const std::string status = kicked.Header("content-location");
  EXPECT_NE(status.find("/fhir/$export-status/"), std::string::npos) << status;
  for (int i = 0; i < 500 && !status.empty(); ++i) {
    Reply polled = client.Get(status);
    if (polled.status == 200) {
      EXPECT_NE(polled.Header("expires"), "");  // how long the files stay
      return polled.body;
    }
    EXPECT_EQ(polled.status, 202) << polled.body;
    EXPECT_NE(polled.Header("x-progress"), "");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "the export did not finish";
  return "";
}

// type -> (count, url) of a manifest's outputs.
std::map<std::string, std::pair<std::string, std::string>> Outputs(const std::string& manifest) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  json::Value root = Parse(manifest), outputs;
  if (!root.Find("output", &outputs)) return out;
  for (json::Value o : outputs.elements()) {
    json::Value count;
    EXPECT_TRUE(o.Find("count", &count));
    out[Str(o, "type")] = {json::ToJson(count), Str(o, "url")};
  }
  return out;
}

TEST(FhirApi, BulkExportWritesNdjsonFilesFromASnapshot) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  ASSERT_NO_FATAL_FAILURE(PutPatientsAndDevice(client, s.base()));
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(client.Send({"POST", s.base() + "/Observation", Observation("hr", i), kJson}).status, 201);
  ASSERT_EQ(client
                .Send({"PUT", s.base() + "/Observation/group",
                       R"({"resourceType":"Observation","id":"group","status":"final","code":{"text":"x"},)"
                       R"("subject":{"reference":"Group/g1"}})",
                       kJson})
                .status,
            201);
  ASSERT_EQ(client.Send({"DELETE", s.base() + "/Patient/p2", "", {}}).status, 204);

  const std::string manifest = ExportManifest(client, s.base() + "/$export");
  json::Value root = Parse(manifest), token;
  EXPECT_NE(Str(root, "transactionTime"), "");
  EXPECT_EQ(Str(root, "request"), s.base() + "/$export");
  ASSERT_TRUE(root.Find("requiresAccessToken", &token));
  EXPECT_EQ(json::ToJson(token), "false");
  auto outputs = Outputs(manifest);
  ASSERT_EQ(outputs.size(), 3u) << manifest;
  EXPECT_EQ(outputs["Patient"].first, "1");  // the deleted one is not exported
  EXPECT_EQ(outputs["Device"].first, "1");
  EXPECT_EQ(outputs["Observation"].first, "4");
  // Each file: one resource a line, as stored; private to the service.
  Reply file = client.Get(outputs["Observation"].second);
  ASSERT_EQ(file.status, 200) << file.body;
  EXPECT_EQ(file.Header("content-type"), "application/fhir+ndjson");
  EXPECT_EQ(std::count(file.body.begin(), file.body.end(), '\n'), 4);
  EXPECT_NE(file.body.find(R"("id":"group")"), std::string::npos);
  std::size_t start = 0;
  while (start < file.body.size()) {
    const std::size_t end = file.body.find('\n', start);
    EXPECT_EQ(Str(Parse(file.body.substr(start, end - start)), "resourceType"), "Observation");
    start = end + 1;
  }
  const std::string job =
      outputs["Observation"].second.substr(outputs["Observation"].second.find("/$export-file/") + 14, 32);
  struct stat st {};
  ASSERT_EQ(::stat((s.dir() + "/exports/" + job + "/Observation.ndjson").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((s.dir() + "/exports/" + job).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  // _type and _since narrow it; the Patient compartment leaves out what
  // refers to no Patient.
  auto typed = Outputs(ExportManifest(client, s.base() + "/$export?_type=Patient,Device"));
  EXPECT_EQ(typed.size(), 2u);
  EXPECT_TRUE(Outputs(ExportManifest(client, s.base() + "/$export?_since=2999-01-01T00:00:00Z")).empty());
  auto compartment = Outputs(ExportManifest(client, s.base() + "/Patient/$export"));
  EXPECT_EQ(compartment["Observation"].first, "3");
  EXPECT_EQ(compartment["Patient"].first, "1");
  EXPECT_EQ(compartment["Device"].first, "1");

  // Cancelled: the status and the files are gone.
  Reply kicked = client.Get(s.base() + "/$export", {"Prefer: respond-async"});
  const std::string status = kicked.Header("content-location");
  EXPECT_EQ(client.Send({"DELETE", status, "", {}}).status, 202);
  ExpectOutcome(client.Get(status), 404, "not-found");
  ExpectOutcome(
      client.Get(outputs["Observation"].second.substr(0, outputs["Observation"].second.find("/$export-file/")) +
                 "/$export-file/nojob/Observation.ndjson"),
      404, "not-found");

  ExpectOutcome(client.Get(s.base() + "/$export"), 400, "invalid");  // not async
  ExpectOutcome(client.Get(s.base() + "/$export?_type=bad", {"Prefer: respond-async"}), 400, "invalid");
  ExpectOutcome(client.Get(s.base() + "/$export?_typeFilter=x", {"Prefer: respond-async"}), 400, "not-supported");
  ExpectOutcome(client.Get(s.base() + "/$export?_outputFormat=csv", {"Prefer: respond-async"}), 400, "not-supported");
}

TEST(FhirApi, BatchAnswersEachEntryAndTransactionIsAllOrNothing) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  ASSERT_EQ(client.Send({"PUT", s.base() + "/Patient/b1", Patient("b1", "b1"), kJson}).status, 201);
  const std::string batch = R"({"resourceType":"Bundle","type":"batch","entry":[
      {"resource":)" + Patient("b1", "b1-new") +
                            R"(,"request":{"method":"PUT","url":"Patient/b1","ifMatch":"W/\"1\""}},
      {"resource":)" + Patient("b2", "b2") +
                            R"(,"request":{"method":"PUT","url":"Patient/b2","ifMatch":"W/\"7\""}},
      {"request":{"method":"GET","url":"Patient/b1"}}]})";
  Reply answer = client.Send({"POST", s.base(), batch, kJson});
  ASSERT_EQ(answer.status, 200) << answer.body;
  json::Value bundle = Parse(answer.body);
  EXPECT_EQ(Str(bundle, "type"), "batch-response");
  json::Value entries, response;
  ASSERT_TRUE(bundle.Find("entry", &entries));
  ASSERT_EQ(entries.size(), 3u);
  ASSERT_TRUE(entries.ElementAt(0).Find("response", &response));
  EXPECT_TRUE(Str(response, "status").starts_with("200")) << answer.body;
  ASSERT_TRUE(entries.ElementAt(1).Find("response", &response));
  EXPECT_TRUE(Str(response, "status").starts_with("412")) << answer.body;

  const std::string transaction = R"({"resourceType":"Bundle","type":"transaction","entry":[
      {"resource":)" + Patient("t1", "t1") +
                                  R"(,"request":{"method":"PUT","url":"Patient/t1"}},
      {"resource":)" + Patient("b1", "b1-x") +
                                  R"(,"request":{"method":"PUT","url":"Patient/b1","ifMatch":"W/\"1\""}}]})";
  Reply failed = client.Send({"POST", s.base(), transaction, kJson});
  ExpectOutcome(failed, 412, "conflict");
  ExpectOutcome(client.Get(s.base() + "/Patient/t1"), 404, "not-found");  // nothing was written

  const std::string good = R"({"resourceType":"Bundle","type":"transaction","entry":[
      {"resource":)" + Patient("t1", "t1") +
                           R"(,"request":{"method":"PUT","url":"Patient/t1"}},
      {"resource":)" + Patient("t2", "t2") +
                           R"(,"request":{"method":"PUT","url":"Patient/t2"}}]})";
  Reply done = client.Send({"POST", s.base() + "/", good, kJson});
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(Str(Parse(done.body), "type"), "transaction-response");
  EXPECT_EQ(client.Get(s.base() + "/Patient/t1").status, 200);
  EXPECT_EQ(client.Get(s.base() + "/Patient/t2").status, 200);

  ExpectOutcome(client.Send({"POST", s.base(), R"({"resourceType":"Patient"})", kJson}), 400, "invalid");
  ExpectOutcome(client.Send({"GET", s.base(), "", {}}), 405, "not-supported");
}

TEST(FhirApi, ErrorsAreOperationOutcomes) {
  FhirServer s;
  ASSERT_TRUE(s.ok());
  Client client;
  ExpectOutcome(client.Send({"POST", s.base() + "/Patient", Patient("", "x"), {"Content-Type: text/plain"}}), 415,
                "not-supported");
  ExpectOutcome(
      client.Send(
          {"POST", s.base() + "/Patient", Patient("", "x"), {"Content-Type: application/x-www-form-urlencoded"}}),
      415, "not-supported");
  ExpectOutcome(client.Send({"POST", s.base() + "/Patient", "{not json", kJson}), 400, "invalid");
  ExpectOutcome(client.Send({"POST", s.base() + "/Patient", R"({"resourceType":"Device"})", kJson}), 400, "invalid");
  ExpectOutcome(client.Send({"POST", s.base() + "/Patient", "", kJson}), 400, "invalid");
  ExpectOutcome(client.Send({"PATCH", s.base() + "/Patient/x", "[]", kJson}), 415, "not-supported");  // JSON Patch only
  Reply not_allowed = client.Send({"DELETE", s.base() + "/Patient", "", {}});
  ExpectOutcome(not_allowed, 405, "not-supported");
  EXPECT_EQ(not_allowed.Header("allow"), "GET, POST");
  ExpectOutcome(client.Get(s.base() + "/patient/x"), 404, "not-supported");  // not a type
  ExpectOutcome(client.Get(s.base() + "/Patient/x/_history/1/more"), 404, "not-found");
  ExpectOutcome(client.Send({"DELETE", s.base() + "/Patient/x", "", {"If-Match: W/\"1\""}}), 400, "not-supported");
  // application/json is as good as application/fhir+json.
  EXPECT_EQ(client.Send({"POST", s.base() + "/Patient", Patient("", "j"), {"Content-Type: application/json"}}).status,
            201);
}

// ---- the FhirClient contract through RemoteFhirClient -----------------------

FhirServer& SharedServer() {
  static FhirServer server;
  return server;
}

store::testing::ClientFactory ThroughHttp() {
  return {"iomt_fhir_api", []() -> std::unique_ptr<store::FhirClient> {
            store::RemoteOptions options;
            options.base_url = SharedServer().base();
            auto client = store::RemoteFhirClient::Connect(options);
            EXPECT_TRUE(client.ok()) << client.status().ToString();
            if (!client.ok()) return nullptr;
            EXPECT_TRUE((*client)->uses_batch());
            return std::move(*client);
          }};
}

// The remote client's identifier searches by POST _search, by GET when the
// list fits a URL; and a PutMany larger than one batch.
TEST(FhirApi, TheRemoteClientSearchesManyIdentifiersAndWritesInBatches) {
  auto client = ThroughHttp().make();
  ASSERT_NE(client, nullptr);
  std::vector<store::PutRequest> writes;
  std::vector<std::string> values;
  const std::string run = std::to_string(getpid());
  // Two batches, and more identifiers than fit one URL (so one POST).
  const int kCount = std::getenv("IOMT_IDENTIFIERS") ? std::atoi(std::getenv("IOMT_IDENTIFIERS")) : 250;
  for (int i = 0; i < kCount; ++i) {
    const std::string id = "many-" + run + "-" + std::to_string(i);
    values.push_back("value-with-a-long-enough-text-" + id);
    writes.push_back({"Patient", id, Patient(id, values.back()), std::nullopt});
  }
  auto written = client->PutMany(writes);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  for (const auto& w : *written)
    EXPECT_TRUE(w.ok()) << w.status().ToString();
  auto found = client->SearchByIdentifiers("Patient", "urn:test", values);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->size(), values.size());
}

}  // namespace

using store::testing::FhirClientContract;
INSTANTIATE_TEST_SUITE_P(Http, FhirClientContract, ::testing::Values(ThroughHttp()),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace iomt::server
