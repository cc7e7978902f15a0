// The FHIR REST API over the embedded store, through real HTTP (libcurl):
// every route, status codes, versions and preconditions, paging, Bundles,
// OperationOutcomes; and the FhirClient contract run by iomt's own remote
// client against it, i.e. one iomt as another's FHIR server.
#include "server/http/fhir_api.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>

#include "common/json/document.h"
#include "common/json/writer.h"
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
    HttpServerOptions options;
    options.port = 0;
    auto server = HttpServer::Start(options, [this](const HttpRequest& r) {
      // As `iomt serve` does: the base URL from the Host header.
      std::string base = "http://" + std::string(r.Header("host").value_or("127.0.0.1")) + "/fhir";
      return HandleFhirRequest(*store_, r, base);
    });
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    if (server.ok()) server_ = std::move(*server);
  }
  ~FhirServer() {
    if (server_) server_->Stop();
    server_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  FhirServer(const FhirServer&) = delete;
  FhirServer& operator=(const FhirServer&) = delete;

  [[nodiscard]] std::string base() const { return "http://127.0.0.1:" + std::to_string(server_->port()) + "/fhir"; }
  [[nodiscard]] bool ok() const { return server_ != nullptr; }
  store::EmbeddedStore& store() { return *store_; }

 private:
  std::string dir_;
  std::unique_ptr<store::EmbeddedStore> store_;
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
  ExpectOutcome(client.Send({"PATCH", s.base() + "/Patient/x", "[]", kJson}), 405, "not-supported");
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
