// The remote FHIR client against a real FHIR server (Medplum's FHIR router,
// tests/fhir_server/server.js) and through a fault-injecting proxy
// (proxy.js): the FhirClient contract, start-up errors, bearer and OAuth2
// auth, retries that lose and duplicate nothing, batch Bundles, paging.
#include "store/remote/remote_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <random>
#include <thread>

#include "common/json/document.h"
#include "common/json/writer.h"
#include "store/fhir_client_contract.h"
#include "store/remote/http.h"
#include "test_servers.h"

namespace iomt::store::testing {
namespace {

const auto* const kServers = ::testing::AddGlobalTestEnvironment(new TestServers);

std::string Unique(const std::string& name) {
  static std::mt19937_64 rng{std::random_device{}()};
  return name + "-" + std::to_string(rng() % 1'000'000'000'000ULL);
}

std::string PatientJson(const std::string& id, const std::string& value, const std::string& system = "urn:iomt:test") {
  std::string json = R"({"resourceType":"Patient","id":)";
  json::AppendQuoted(&json, id);
  json.append(R"(,"identifier":[{"system":)");
  json::AppendQuoted(&json, system);
  json.append(R"(,"value":)");
  json::AppendQuoted(&json, value);
  json.append("}]}");
  return json;
}

// The identifier value of a stored Patient (as PatientJson wrote it).
std::string IdentifierValue(const std::string& json) {
  json::Document doc;
  json::Value list, value;
  if (!doc.Parse(json).ok() || !doc.root().Find("identifier", &list) || list.size() == 0) return "";
  return list.ElementAt(0).Find("value", &value) ? std::string(value.string_value()) : "";
}

// A client straight to the server, to check what a faulty path left there.
FhirClient& Direct() {
  static std::unique_ptr<RemoteFhirClient> client = ConnectOrDie(TestOptions(TestServers::fhir_base()));
  return *client;
}

// Exactly one Patient with that identifier value, and it has it.
void ExpectWrittenOnce(const std::string& id, const std::string& value) {
  auto found = Direct().SearchByIdentifier("Patient", "urn:iomt:test", value, 10);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 1u) << value;
  EXPECT_EQ((*found)[0].id, id);
  auto read = Direct().Read("Patient", id);
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ(IdentifierValue((*read)->json), value);
}

// ---- the contract -----------------------------------------------------------

ClientFactory Open() {
  return {"server", [] { return std::unique_ptr<FhirClient>(ConnectOrDie(TestOptions(TestServers::fhir_base()))); }};
}
ClientFactory NoBatch() {
  return {"nobatch", [] {
            return std::unique_ptr<FhirClient>(ConnectOrDie(TestOptions(TestServers::origin() + "/nobatch/fhir/R4")));
          }};
}
// A server that answers writes without the resource (Prefer: return=minimal
// whatever is asked): versions come from ETag and batch-response etags.
ClientFactory Minimal() {
  return {"minimal", [] {
            return std::unique_ptr<FhirClient>(ConnectOrDie(TestOptions(TestServers::origin() + "/minimal/fhir/R4")));
          }};
}
// Through the proxy, with faults that never reach the server (so that
// every answer means what the contract says): each test's client sees 503,
// 500, 429 and dropped connections between successful requests.
ClientFactory Faulty() {
  return {
      "faulty_proxy", [] {
        auto session = TestServers::NewSession({"pass", "503", "pass", "drop", "pass", "429:0", "500", "pass"}, true);
        return std::unique_ptr<FhirClient>(ConnectOrDie(TestOptions(session.fhir_base)));
      }};
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Remote, FhirClientContract, ::testing::Values(Open(), NoBatch(), Minimal(), Faulty()),
                         [](const auto& param_info) { return param_info.param.name; });

namespace {

// ---- URLs and headers -------------------------------------------------------

TEST(RemoteHttp, EscapesSearchValuesThenPercentEncodes) {
  EXPECT_EQ(http::EscapeSearchValue(R"(a,b|c$d\e)"), R"(a\,b\|c\$d\\e)");
  EXPECT_EQ(http::PercentEncode("a b/c|d,é"), "a%20b%2Fc%7Cd%2C%C3%A9");
  EXPECT_EQ(http::PercentEncode("AZaz09-._~"), "AZaz09-._~");
}

TEST(RemoteHttp, ReadsRetryAfterInSecondsAndAsADate) {
  auto now = std::chrono::system_clock::from_time_t(1'700'000'000);  // Tue, 14 Nov 2023 22:13:20 GMT
  EXPECT_EQ(http::RetryAfterSeconds("3", now), 3);
  EXPECT_EQ(http::RetryAfterSeconds(" 0 ", now), 0);
  EXPECT_EQ(http::RetryAfterSeconds("Tue, 14 Nov 2023 22:13:25 GMT", now), 5);
  EXPECT_EQ(http::RetryAfterSeconds("Tue, 14 Nov 2023 22:13:00 GMT", now), 0);  // past: no wait
  EXPECT_EQ(http::RetryAfterSeconds("", now), -1);
  EXPECT_EQ(http::RetryAfterSeconds("soon", now), -1);
}

TEST(RemoteClient, SearchValuesWithSeparatorsAreEscaped) {
  auto& c = Direct();
  const std::string id = Unique("esc");
  // (`|` is escaped too, but Medplum 4.5.2 does not unescape it in token
  // values, so it is left out here.)
  const std::string value = "a,b$c\\d-" + id;
  ASSERT_TRUE(c.Put("Patient", id, PatientJson(id, value), std::nullopt).ok());
  auto found = c.SearchByIdentifier("Patient", "urn:iomt:test", value, 10);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, id);
  // The comma is part of the value, not an "or".
  EXPECT_TRUE(c.SearchByIdentifier("Patient", "urn:iomt:test", "a", 10)->empty());
  auto many = c.SearchByIdentifiers("Patient", "urn:iomt:test", {value, "other-" + id});
  ASSERT_TRUE(many.ok());
  EXPECT_EQ(many->size(), 1u);
}

// ---- start-up ---------------------------------------------------------------

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);  // nothing listens there now
  return ntohs(addr.sin_port);
}

void ExpectConnectFails(const RemoteOptions& options, std::string_view detail, StatusCode code,
                        std::string_view in_message) {
  auto client = RemoteFhirClient::Connect(options);
  ASSERT_FALSE(client.ok()) << options.base_url;
  EXPECT_EQ(client.status().error_name(), detail) << client.status().ToString();
  EXPECT_EQ(client.status().code(), code) << client.status().ToString();
  EXPECT_NE(client.status().message().find(in_message), std::string::npos) << client.status().message();
}

TEST(RemoteConnect, LearnsFromTheCapabilityStatementWhetherBatchIsSupported) {
  EXPECT_TRUE(ConnectOrDie(TestOptions(TestServers::fhir_base()))->uses_batch());
  EXPECT_FALSE(ConnectOrDie(TestOptions(TestServers::origin() + "/nobatch/fhir/R4"))->uses_batch());
  // A trailing slash is the same base.
  EXPECT_TRUE(ConnectOrDie(TestOptions(TestServers::fhir_base() + "/"))->uses_batch());
}

TEST(RemoteConnect, ConfigurationErrors) {
  const std::string config = "FHIRServiceErrorConfigurationError";
  ExpectConnectFails(TestOptions("http://127.0.0.1:" + std::to_string(FreePort()) + "/fhir"), config,
                     StatusCode::kUnavailable, "Could not reach");
  ExpectConnectFails(TestOptions(TestServers::origin() + "/not-fhir/page"), config, StatusCode::kUnavailable,
                     "CapabilityStatement");
  ExpectConnectFails(TestOptions(TestServers::origin() + "/elsewhere/fhir"), config, StatusCode::kUnavailable, "404");
  ExpectConnectFails(TestOptions("ftp://127.0.0.1/fhir"), config, StatusCode::kInvalidArgument, "not valid");
  ExpectConnectFails(TestOptions("localhost:8080/fhir"), config, StatusCode::kInvalidArgument, "http://");
  ExpectConnectFails(TestOptions("http://iomt-no-such-host.invalid/fhir"), config, StatusCode::kUnavailable, "resolve");
}

TEST(RemoteConnect, AuthorizationErrors) {
  const std::string auth = "FHIRServiceErrorAuthorizationError";
  const std::string secure = TestServers::origin() + "/secure/fhir/R4";
  ExpectConnectFails(TestOptions(secure), auth, StatusCode::kUnavailable, "401");
  RemoteOptions wrong_token = TestOptions(secure);
  wrong_token.bearer_token = "not-the-token";
  ExpectConnectFails(wrong_token, auth, StatusCode::kUnavailable, "bearer token");
  RemoteOptions bad_secret = TestOptions(secure);
  bad_secret.oauth = {TestServers::origin() + "/oauth2/token", Unique("client"), "wrong-secret", "fhir"};
  ExpectConnectFails(bad_secret, auth, StatusCode::kUnavailable, "invalid_client");
  RemoteOptions no_endpoint = TestOptions(secure);
  no_endpoint.oauth = {TestServers::origin() + "/no-token-here", Unique("client"), "iomt-test-secret", ""};
  ExpectConnectFails(no_endpoint, auth, StatusCode::kUnavailable, "OAuth2 token");
}

// ---- auth -------------------------------------------------------------------

TEST(RemoteAuth, StaticBearerToken) {
  RemoteOptions o = TestOptions(TestServers::origin() + "/secure/fhir/R4");
  o.bearer_token = "iomt-test-token";
  auto c = ConnectOrDie(o);
  ASSERT_NE(c, nullptr);
  const std::string id = Unique("bearer");
  ASSERT_TRUE(c->Put("Patient", id, PatientJson(id, id), std::nullopt).ok());
  EXPECT_TRUE(c->Read("Patient", id)->has_value());
}

int TokenRequests(const std::string& client_id) {
  json::Document doc;
  json::Value v;
  std::string answer = TestServers::Get(TestServers::origin() + "/__oauth/clients/" + client_id);
  return doc.Parse(answer).ok() && doc.root().Find("token_requests", &v) ? static_cast<int>(v.AsDouble()) : -1;
}

RemoteOptions OAuthOptions(const std::string& client_id) {
  RemoteOptions o = TestOptions(TestServers::origin() + "/secure/fhir/R4");
  o.oauth = {TestServers::origin() + "/oauth2/token", client_id, "iomt-test-secret", "system/*.write"};
  return o;
}

TEST(RemoteAuth, OAuthTokenIsReusedThenRenewedWhenItExpires) {
  const std::string client_id = Unique("client");
  auto c = ConnectOrDie(OAuthOptions(client_id));
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < 10; ++i) {
    const std::string id = Unique("oauth");
    ASSERT_TRUE(c->Put("Patient", id, PatientJson(id, id), std::nullopt).ok());
  }
  EXPECT_EQ(TokenRequests(client_id), 1);
  EXPECT_EQ(c->stats().token_requests, 1);
  // server.js's tokens live 2 s; the client renews shortly before.
  std::this_thread::sleep_for(std::chrono::milliseconds(2'100));
  const std::string id = Unique("oauth");
  ASSERT_TRUE(c->Put("Patient", id, PatientJson(id, id), std::nullopt).ok());
  EXPECT_EQ(TokenRequests(client_id), 2);
  EXPECT_EQ(c->stats().by_status.count(401), 0u);  // renewed before, not after a refusal
}

TEST(RemoteAuth, ARevokedTokenIsRenewedOnceAndTheRequestRetried) {
  const std::string client_id = Unique("client");
  auto c = ConnectOrDie(OAuthOptions(client_id));
  ASSERT_NE(c, nullptr);
  TestServers::Post(TestServers::origin() + "/__oauth/clients/" + client_id + "/revoke", "");
  const std::string id = Unique("revoked");
  auto put = c->Put("Patient", id, PatientJson(id, id), std::nullopt);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(TokenRequests(client_id), 2);
  EXPECT_EQ(c->stats().by_status.at(401), 1);
  // The request sent again with the new token is a retry, for that reason.
  EXPECT_EQ(c->stats().retried_for(RetryReason::kTokenRefresh), 1);
  EXPECT_EQ(c->stats().retries, 1);
  ExpectWrittenOnce(id, id);
}

// ---- retries ----------------------------------------------------------------

// A client through a new proxy session whose schedule starts after the two
// requests of Connect (metadata and the start-up search).
struct Faulted {
  TestServers::Session session;
  std::unique_ptr<RemoteFhirClient> client;
};
Faulted Through(std::vector<std::string> faults, RemoteOptions options = TestOptions("")) {
  faults.insert(faults.begin(), {"pass", "pass"});
  Faulted f;
  f.session = TestServers::NewSession(faults);
  options.base_url = f.session.fhir_base;
  f.client = ConnectOrDie(options);
  return f;
}

// Writes a Patient through `faults`; it must land exactly once.
void ExpectPutSurvives(const std::vector<std::string>& faults, RemoteOptions options = TestOptions("")) {
  Faulted f = Through(faults, std::move(options));
  ASSERT_NE(f.client, nullptr);
  const std::string id = Unique("retry");
  auto put = f.client->Put("Patient", id, PatientJson(id, id), std::nullopt);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->id, id);
  EXPECT_EQ(IdentifierValue(put->json), id);
  auto info = TestServers::Info(f.session.id);
  for (const std::string& fault : faults)
    EXPECT_EQ(info.faults.count(fault), 1u) << fault << " was not injected";
  // Connect's two, each fault, the one that passed. (curl itself sends a
  // request again at once when a reused connection closes before any
  // answer, so a drop is not always one of the client's own retries.)
  EXPECT_EQ(info.requests, static_cast<int>(2 + faults.size() + 1));
  ExpectWrittenOnce(id, id);
}

TEST(RemoteRetry, On503And500And502) { ExpectPutSurvives({"503", "500", "502"}); }
TEST(RemoteRetry, OnADroppedConnection) { ExpectPutSurvives({"drop"}); }
TEST(RemoteRetry, WhenTheServerDidTheWorkButTheAnswerWasLost) { ExpectPutSurvives({"forward-drop"}); }
TEST(RemoteRetry, WhenTheAnswerIsCutMidBody) { ExpectPutSurvives({"reset"}); }

TEST(RemoteRetry, WhenTheServerAnswersTooLate) {
  RemoteOptions o = TestOptions("");
  o.request_timeout = std::chrono::milliseconds(1'000);
  ExpectPutSurvives({"delay:2500"}, o);
}

TEST(RemoteRetry, HonoursRetryAfterInSeconds) {
  auto start = std::chrono::steady_clock::now();
  ExpectPutSurvives({"429:1"});
  // The backoff alone would be at most 20 ms here.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(950));
}

TEST(RemoteRetry, HonoursRetryAfterAsADate) {
  Faulted f = Through({"429:date"});
  ASSERT_NE(f.client, nullptr);
  const std::string id = Unique("date");
  ASSERT_TRUE(f.client->Put("Patient", id, PatientJson(id, id), std::nullopt).ok());
  EXPECT_EQ(f.client->stats().retry_after, 1);
  EXPECT_EQ(f.client->stats().retried_for(RetryReason::kThrottled), 1);
  EXPECT_EQ(TestServers::Info(f.session.id).faults.at("429:date"), 1);
  ExpectWrittenOnce(id, id);
}

TEST(RemoteRetry, RetryReasonsHaveTheirMetricLabels) {
  std::vector<std::string> labels;
  for (RetryReason reason : kRetryReasons)
    labels.emplace_back(ToString(reason));
  EXPECT_EQ(labels, (std::vector<std::string>{"http_429", "http_5xx", "timeout", "connection", "token_refresh"}));
}

// Each request sent again is counted once, by why its previous attempt failed
// (the service's iomt_retries_total{reason}). A "reset" cuts the answer
// after it began, so curl does not send it again on its own (as it may
// after a "drop") and every retry is the client's.
TEST(RemoteRetry, CountsEachRetryByItsReason) {
  RemoteOptions o = TestOptions("");
  o.max_attempts = 6;
  o.request_timeout = std::chrono::milliseconds(1'000);
  Faulted f = Through({"503", "429:0", "reset", "delay:2500", "502"}, o);
  ASSERT_NE(f.client, nullptr);
  const RemoteStats before = f.client->stats();
  EXPECT_EQ(before.retries, 0);  // Connect's two requests went through
  const std::string id = Unique("reasons");
  auto put = f.client->Put("Patient", id, PatientJson(id, id), std::nullopt);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  const RemoteStats after = f.client->stats();
  EXPECT_EQ(after.retried_for(RetryReason::kServerError), 2);
  EXPECT_EQ(after.retried_for(RetryReason::kThrottled), 1);
  EXPECT_EQ(after.retried_for(RetryReason::kConnection), 1);
  EXPECT_EQ(after.retried_for(RetryReason::kTimeout), 1);
  EXPECT_EQ(after.retried_for(RetryReason::kTokenRefresh), 0);
  EXPECT_EQ(after.retries, 5);
  EXPECT_EQ(after.requests - before.requests, 6);
  ExpectWrittenOnce(id, id);
}

TEST(RemoteRetry, AnAnswerOnTheFirstAttemptCountsNoRetry) {
  auto c = ConnectOrDie(TestOptions(TestServers::fhir_base()));
  ASSERT_NE(c, nullptr);
  const std::string id = Unique("first");
  ASSERT_TRUE(c->Put("Patient", id, PatientJson(id, id), std::nullopt).ok());
  // A 400 is an answer, not a reason to send again.
  EXPECT_FALSE(c->Put("Patient", id, PatientJson("other-" + id, id), std::nullopt).ok());
  EXPECT_EQ(c->stats().retries, 0);
  EXPECT_EQ(c->stats().retried, (std::array<std::int64_t, kRetryReasons.size()>{}));
}

TEST(RemoteRetry, AnIfMatchWriteWhoseAnswerWasLostComesBackAsAConflict) {
  // The first attempt lands; its retry finds a newer version (412). The
  // writer then re-reads and merges again (ObservationWriter; the e2e test).
  const std::string id = Unique("ifmatch");
  auto v1 = Direct().Put("Patient", id, PatientJson(id, "old-" + id), std::nullopt);
  ASSERT_TRUE(v1.ok());
  Faulted f = Through({"reset"});
  auto put = f.client->Put("Patient", id, PatientJson(id, id), v1->version_id);
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), StatusCode::kConflict) << put.status().ToString();
  ExpectWrittenOnce(id, id);
}

TEST(RemoteRetry, GivesUpAfterMaxAttemptsAsUnavailable) {
  RemoteOptions o = TestOptions("");
  o.max_attempts = 3;
  Faulted f = Through({"503", "503", "503", "503"}, o);
  const std::string id = Unique("down");
  auto put = f.client->Put("Patient", id, PatientJson(id, id), std::nullopt);
  ASSERT_FALSE(put.ok());
  // Three attempts: two of them sent again.
  EXPECT_EQ(f.client->stats().retried_for(RetryReason::kServerError), 2);
  EXPECT_EQ(f.client->stats().retries, 2);
  EXPECT_EQ(put.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(put.status().error_name(), "FHIRServiceError");
  EXPECT_NE(put.status().message().find("PUT Patient/" + id), std::string::npos) << put.status().message();
  EXPECT_NE(put.status().message().find("503"), std::string::npos) << put.status().message();
  EXPECT_EQ(TestServers::Info(f.session.id).requests, 2 + 3);
  EXPECT_FALSE(Direct().Read("Patient", id)->has_value());
}

TEST(RemoteRetry, ABadRequestIsNotRetriedAndNotUnavailable) {
  auto& c = Direct();
  const std::string id = Unique("bad");
  // The body names another id: the server refuses it with 400.
  auto put = c.Put("Patient", id, PatientJson("other-" + id, id), std::nullopt);
  ASSERT_FALSE(put.ok());
  EXPECT_NE(put.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(put.status().error_name(), "FHIRServiceError");
  EXPECT_NE(put.status().message().find("HTTP 400"), std::string::npos) << put.status().message();
  EXPECT_NE(put.status().message().find("Incorrect resource ID"), std::string::npos) << put.status().message();
}

// ---- round trips ------------------------------------------------------------

std::vector<PutRequest> Patients(const std::string& prefix, int n) {
  std::vector<PutRequest> out;
  for (int i = 0; i < n; ++i) {
    std::string id = prefix + "-" + std::to_string(i);
    out.push_back({"Patient", id, PatientJson(id, id), std::nullopt});
  }
  return out;
}

TEST(RemoteRoundTrips, PutManySendsBatchBundles) {
  RemoteOptions o = TestOptions(TestServers::fhir_base());
  o.batch_size = 20;
  auto c = ConnectOrDie(o);
  const std::string prefix = Unique("batch");
  const std::int64_t before = c->stats().requests;
  auto written = c->PutMany(Patients(prefix, 50));
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(c->stats().requests - before, 3);  // 20 + 20 + 10
  ASSERT_EQ(written->size(), 50u);
  for (int i = 0; i < 50; ++i) {
    const auto& r = (*written)[static_cast<std::size_t>(i)];
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->id, prefix + "-" + std::to_string(i));
    EXPECT_FALSE(r->version_id.empty());
  }
  ExpectWrittenOnce(prefix + "-49", prefix + "-49");
}

TEST(RemoteRoundTrips, PutManyWithoutBatchSendsOnePutEach) {
  auto c = ConnectOrDie(TestOptions(TestServers::origin() + "/nobatch/fhir/R4"));
  const std::string prefix = Unique("single");
  const std::int64_t before = c->stats().requests;
  auto written = c->PutMany(Patients(prefix, 12));
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(c->stats().requests - before, 12);
  for (const auto& r : *written)
    EXPECT_TRUE(r.ok()) << r.status().ToString();
}

TEST(RemoteRoundTrips, WritesAnsweredWithoutTheResourceKeepTheSentOneWithItsVersion) {
  auto c = ConnectOrDie(TestOptions(TestServers::origin() + "/minimal/fhir/R4"));
  ASSERT_NE(c, nullptr);
  const std::string id = Unique("minimal");
  auto put = c->Put("Patient", id, PatientJson(id, id), std::nullopt);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  ASSERT_FALSE(put->version_id.empty());
  EXPECT_EQ(IdentifierValue(put->json), id);
  EXPECT_NE(put->json.find(R"("versionId":")" + put->version_id + "\""), std::string::npos) << put->json;
  EXPECT_EQ((*Direct().Read("Patient", id))->version_id, put->version_id);
  auto many = c->PutMany(Patients(id, 3));
  ASSERT_TRUE(many.ok()) << many.status().ToString();
  for (int i = 0; i < 3; ++i) {
    const auto& r = (*many)[static_cast<std::size_t>(i)];
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(IdentifierValue(r->json), id + "-" + std::to_string(i));
    EXPECT_EQ((*Direct().Read("Patient", r->id))->version_id, r->version_id);
  }
}

TEST(RemoteRoundTrips, ABatchThatIsCutMidBodyIsSentAgainAndWritesEachOnce) {
  RemoteOptions o = TestOptions("");
  Faulted f = Through({"reset", "forward-drop"}, o);
  const std::string prefix = Unique("batchreset");
  auto written = f.client->PutMany(Patients(prefix, 30));
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  for (const auto& r : *written)
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(TestServers::Info(f.session.id).requests, 2 + 3);
  EXPECT_EQ(f.client->stats().retried_for(RetryReason::kConnection), 2);
  for (int i : {0, 17, 29})
    ExpectWrittenOnce(prefix + "-" + std::to_string(i), prefix + "-" + std::to_string(i));
}

TEST(RemoteRoundTrips, SearchesFollowNextLinks) {
  // server.js pages by 5.
  auto& c = Direct();
  const std::string shared = Unique("paged");
  std::vector<std::string> values;
  for (int i = 0; i < 12; ++i) {
    std::string id = shared + "-" + std::to_string(i);
    values.push_back(i < 6 ? shared : id);
    ASSERT_TRUE(c.Put("Patient", id, PatientJson(id, values.back()), std::nullopt).ok());
  }
  auto c2 = ConnectOrDie(TestOptions(TestServers::fhir_base()));
  std::int64_t before = c2->stats().requests;
  auto same = c2->SearchByIdentifier("Patient", "urn:iomt:test", shared, 100);
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_EQ(same->size(), 6u);
  EXPECT_EQ(c2->stats().requests - before, 2);                                           // 5 + 1
  EXPECT_EQ(c2->SearchByIdentifier("Patient", "urn:iomt:test", shared, 2)->size(), 2u);  // the limit
  auto many = c2->SearchByIdentifiers("Patient", "urn:iomt:test", values);
  ASSERT_TRUE(many.ok()) << many.status().ToString();
  EXPECT_EQ(many->size(), 12u);
}

TEST(RemoteRoundTrips, NextLinksComeBackThroughTheProxy) {
  auto& c = Direct();
  const std::string shared = Unique("proxied");
  for (int i = 0; i < 7; ++i) {
    std::string id = shared + "-" + std::to_string(i);
    ASSERT_TRUE(c.Put("Patient", id, PatientJson(id, shared), std::nullopt).ok());
  }
  Faulted f = Through({"pass", "503"});
  auto found = f.client->SearchByIdentifier("Patient", "urn:iomt:test", shared, 100);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->size(), 7u);
  EXPECT_EQ(TestServers::Info(f.session.id).requests, 2 + 3);
}

// 40 identifiers that do not fit one URL of 1,000 bytes: one POST _search,
// or (post_search off, or a server that refuses it) several short GETs.
struct LongList {
  std::vector<std::string> values;
  LongList() {
    auto c = ConnectOrDie(TestOptions(TestServers::fhir_base()));
    const std::string prefix = Unique("chunk");
    EXPECT_TRUE(c->PutMany(Patients(prefix, 40)).ok());
    for (int i = 0; i < 40; ++i)
      values.push_back(prefix + "-" + std::to_string(i));
  }
};

int Count(const std::vector<std::string>& log, const std::string& start) {
  return static_cast<int>(
      std::count_if(log.begin(), log.end(), [&](const std::string& line) { return line.starts_with(start); }));
}

TEST(RemoteRoundTrips, LongIdentifierListsAreOnePostSearch) {
  LongList list;
  RemoteOptions o = TestOptions("");
  o.max_url_bytes = 1'000;
  Faulted f = Through({}, o);
  auto found = f.client->SearchByIdentifiers("Patient", "urn:iomt:test", list.values);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->size(), 40u);
  auto log = TestServers::Info(f.session.id).log;
  EXPECT_EQ(Count(log, "POST /fhir/R4/Patient/_search"), 1);
  EXPECT_EQ(Count(log, "GET /fhir/R4/Patient"), 1 + 7);  // Connect's search, then pages 2..8 of 5
}

TEST(RemoteRoundTrips, LongIdentifierListsAreShortGetsWithoutPostSearch) {
  LongList list;
  for (bool refused : {false, true}) {
    RemoteOptions o = TestOptions(TestServers::fhir_base());
    if (refused) o.base_url = TestServers::origin() + "/nobatch/fhir/R4";  // refuses POST _search
    o.post_search = refused;
    o.max_url_bytes = 1'000;
    auto c = ConnectOrDie(o);
    std::int64_t before = c->stats().requests;
    auto found = c->SearchByIdentifiers("Patient", "urn:iomt:test", list.values);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    EXPECT_EQ(found->size(), 40u);
    EXPECT_GT(c->stats().requests - before, 4 + (refused ? 1 : 0));
    if (refused) {
      // Asked once; GETs from then on.
      EXPECT_EQ(c->stats().by_status.at(405), 1);
      ASSERT_TRUE(c->SearchByIdentifiers("Patient", "urn:iomt:test", list.values).ok());
      EXPECT_EQ(c->stats().by_status.at(405), 1);
    }
  }
}

int ServerConnections() {
  json::Document doc;
  json::Value v;
  std::string answer = TestServers::Get(TestServers::origin() + "/__stats");
  return doc.Parse(answer).ok() && doc.root().Find("connections", &v) ? static_cast<int>(v.AsDouble()) : -1;
}

TEST(RemoteRoundTrips, ConnectionsAreBoundedAndSharedByThreads) {
  RemoteOptions o = TestOptions(TestServers::fhir_base());
  o.max_connections = 2;
  ServerConnections();  // the test's own connection is open from here on
  const int before = ServerConnections();
  auto c = ConnectOrDie(o);
  const std::string prefix = Unique("threads");
  std::vector<std::thread> threads;
  threads.reserve(8);
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        std::string id = prefix + "-" + std::to_string(t) + "-" + std::to_string(i);
        if (!c->Put("Patient", id, PatientJson(id, id), std::nullopt).ok()) ++failures;
        if (!c->Read("Patient", id).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);
  // 8 threads, 162 requests, 2 connections kept alive (microsoft/iomt-fhir#225).
  const int opened = ServerConnections() - before;
  EXPECT_GE(opened, 1);
  EXPECT_LE(opened, 2);
  EXPECT_EQ(c->stats().requests, 2 + 160);
  ExpectWrittenOnce(prefix + "-7-9", prefix + "-7-9");
}

TEST(RemoteRoundTrips, ABundleRefusedAsAWholeIsSentAsSinglePuts) {
  RemoteOptions o = TestOptions(TestServers::origin() + "/nobatch/fhir/R4");
  o.batch = RemoteOptions::Batch::kAlways;  // the server says no batch; forced anyway
  auto c = ConnectOrDie(o);
  ASSERT_TRUE(c->uses_batch());
  const std::string prefix = Unique("refused");
  const std::int64_t before = c->stats().requests;
  auto written = c->PutMany(Patients(prefix, 5));
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  for (const auto& r : *written)
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(c->stats().requests - before, 1 + 5);
  EXPECT_EQ(c->stats().by_status.at(405), 1);
  ExpectWrittenOnce(prefix + "-4", prefix + "-4");
}

TEST(RemoteRoundTrips, ABatchThatCannotGetThroughFailsTheRoundTripAsUnavailable) {
  RemoteOptions o = TestOptions("");
  o.max_attempts = 2;
  Faulted f = Through({"503", "502"}, o);
  const std::string prefix = Unique("unavailable");
  auto written = f.client->PutMany(Patients(prefix, 5));
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(written.status().error_name(), "FHIRServiceError");
  EXPECT_NE(written.status().message().find("502"), std::string::npos) << written.status().message();
  EXPECT_FALSE(Direct().Read("Patient", prefix + "-0")->has_value());
}

// A FHIR server that answers each request with the next of `answers`
// (status and body), one request a connection: for what the real server
// cannot be made to do, such as failing some entries of a batch.
class ScriptedServer {
 public:
  struct Answer {
    int status;
    std::string body;
  };
  explicit ScriptedServer(std::vector<Answer> answers) : answers_(std::move(answers)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_) + "/fhir"; }

 private:
  void Serve() {
    for (const Answer& answer : answers_) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      // The request: headers, then Content-Length bytes of body.
      std::string in;
      char buf[65536];
      std::size_t need = std::string::npos;
      while (need == std::string::npos || in.size() < need) {
        const ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
        const std::size_t end = in.find("\r\n\r\n");
        if (need == std::string::npos && end != std::string::npos) {
          std::string lower = in.substr(0, end);
          std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
          const std::size_t at = lower.find("content-length:");
          need = end + 4 + (at == std::string::npos ? 0 : std::stoul(lower.substr(at + 15)));
        }
      }
      const std::string out = "HTTP/1.1 " + std::to_string(answer.status) +
                              " X\r\nContent-Type: application/fhir+json\r\nConnection: close\r\nContent-Length: " +
                              std::to_string(answer.body.size()) + "\r\n\r\n" + answer.body;
      EXPECT_EQ(write(c, out.data(), out.size()), static_cast<ssize_t>(out.size()));
      close(c);
    }
  }

  std::vector<Answer> answers_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

std::string BatchEntry(const std::string& status, const std::string& id = "") {
  std::string entry = R"({"response":{"status":")" + status + R"("}})";
  if (!id.empty()) {
    entry = R"({"resource":{"resourceType":"Patient","id":")" + id + R"(","meta":{"versionId":"1"}},)" +
            R"("response":{"status":")" + status + R"(","etag":"W/\"1\""}})";
  }
  return entry;
}
std::string BatchResponse(const std::vector<std::string>& entries) {
  std::string out = R"({"resourceType":"Bundle","type":"batch-response","entry":[)";
  for (std::size_t i = 0; i < entries.size(); ++i)
    out.append(i > 0 ? "," : "").append(entries[i]);
  return out + "]}";
}

// Entries of a batch that the server answers 429 or 5xx are sent again in a
// Bundle of their own: a retry, throttled when any of them was.
TEST(RemoteRoundTrips, BatchEntriesSentAgainAreCountedAsRetriesByTheirReason) {
  const std::string capability =
      R"({"resourceType":"CapabilityStatement","fhirVersion":"4.0.1","rest":[{"interaction":[{"code":"batch"}]}]})";
  const std::string empty = R"({"resourceType":"Bundle","type":"searchset","entry":[]})";
  ScriptedServer server({
      {200, capability},
      {200, empty},  // Connect's search
      {200, BatchResponse({BatchEntry("201 Created", "a"), BatchEntry("503"), BatchEntry("429"), BatchEntry("503")})},
      {200, BatchResponse({BatchEntry("201 Created", "b"), BatchEntry("500"), BatchEntry("201 Created", "d")})},
      {200, BatchResponse({BatchEntry("201 Created", "c")})},
  });
  RemoteOptions o = TestOptions(server.base());
  auto c = ConnectOrDie(o);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->uses_batch());
  std::vector<PutRequest> requests;
  for (const char* id : {"a", "b", "c", "d"})
    requests.push_back({"Patient", id, PatientJson(id, id), std::nullopt});
  auto written = c->PutMany(std::move(requests));
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  for (const auto& r : *written)
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  const RemoteStats stats = c->stats();
  EXPECT_EQ(stats.retried_for(RetryReason::kThrottled), 1);    // b, c and d again: one was 429
  EXPECT_EQ(stats.retried_for(RetryReason::kServerError), 1);  // c again: 500
  EXPECT_EQ(stats.retries, 2);
  EXPECT_EQ(stats.requests, 2 + 3);
}

}  // namespace
}  // namespace iomt::store::testing
