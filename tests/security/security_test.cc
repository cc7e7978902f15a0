// The access rules of `iomt serve` (docs/security.md), over real sockets:
// every route the server registers is tried without credentials, with
// credentials that do not hold, and with a key of each role; the answers
// are 401, 403 or the route's own. Then the audit log, the connectors' own
// ingest keys, the refusal to listen openly without credentials, the FHIR
// API's cost limits and names that would reach the file system.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "auth/auth.h"
#include "console/console.h"
#include "control/provisioning.h"
#include "server/config.h"
#include "server/service.h"
#include "test_client.h"
#include "test_util.h"

namespace iomt::server {
namespace {

namespace http = iomt::server::testing;

// One key per role, and one that holds none of this connector's ingest.
const std::map<std::string, std::string> kRoleKeys = {
    {"admin", "iomt_test-admin-0123456789abcdef"},          {"ingest", "iomt_test-ingest-0123456789abcdef"},
    {"ingest:ward-b", "iomt_test-ingest-b-0123456789abcd"}, {"fhir-read", "iomt_test-fhir-read-0123456789ab"},
    {"fhir-write", "iomt_test-fhir-write-0123456789a"},     {"metrics", "iomt_test-metrics-0123456789abcd"},
};
constexpr char kLegacyIngestKey[] = "ward-b-device-key-42";
constexpr char kReadWriteKey[] = "iomt_test-read-write-0123456789a";

std::string MakeTempDir() {
  char dir[] = "/tmp/iomt-security-XXXXXX";
  if (::mkdtemp(dir) == nullptr) std::abort();
  return dir;
}

class SecuredService : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir());
    ServeConfig config;
    config.port = 0;
    config.store = *dir_ + "/store";
    for (const auto& [role, key] : kRoleKeys)
      config.auth.api_keys.emplace_back(role + "-key", role + " " + auth::HashApiKey(key));
    config.auth.api_keys.emplace_back("reader-writer", "fhir-read,fhir-write " + auth::HashApiKey(kReadWriteKey));
    for (const char* name : {"ward-a", "ward-b"}) {
      ConnectorConfig c;
      c.name = name;
      c.device_mapping = iomt::testing::SourcePath("examples/mappings/devicecontent.json");
      c.fhir_mapping = iomt::testing::SourcePath("examples/mappings/fhirmapping.json");
      if (std::string(name) == "ward-b") c.ingest_keys = {kLegacyIngestKey};
      config.connectors.push_back(c);
    }
    ASSERT_TRUE(CheckServeConfig(config).empty());
    auto started = Service::Start(config, [](Service& s) -> Status {
      IOMT_RETURN_IF_ERROR(control::Provisioning::AttachTo(s));
      return console::AttachTo(s);
    });
    ASSERT_TRUE(started.ok()) << started.status().message();
    service_ = started->release();
  }
  static void TearDownTestSuite() {
    delete service_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  static std::string Url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(service_->port()) + path;
  }
  static http::Reply Send(const std::string& method, const std::string& path, std::vector<std::string> headers = {},
                          std::string body = "") {
    http::Client client;
    http::Request r;
    r.method = method;
    r.url = Url(path);
    r.headers = std::move(headers);
    r.body = std::move(body);
    const bool typed = std::any_of(r.headers.begin(), r.headers.end(),
                                   [](const std::string& h) { return h.starts_with("Content-Type:"); });
    if (!r.body.empty() && !typed) r.headers.emplace_back("Content-Type: application/json");
    return client.Send(r);
  }
  static std::vector<std::string> Key(const std::string& role) { return {"X-Api-Key: " + kRoleKeys.at(role)}; }

  static std::string* dir_;
  static Service* service_;
};
std::string* SecuredService::dir_ = nullptr;
Service* SecuredService::service_ = nullptr;

// A path of the route to call: its placeholders filled, its open end given
// a real target.
std::string Concrete(std::string path) {
  auto replace = [&](const std::string& from, const std::string& to) {
    if (auto at = path.find(from); at != std::string::npos) path.replace(at, from.size(), to);
  };
  replace("{name}", "ward-a");
  replace("{type}", "Observation");
  if (!path.empty() && path.back() == '*') {
    path.pop_back();
    if (path == "/fhir/") {
      path += "Observation";
    } else if (path == "/console/") {
      path += "app.js";
    } else if (path == "/api/mappings/") {
      path += "validate";
    } else if (path == "/subscriptions/") {
      path += "s1/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces";
    }
  }
  return path;
}

bool RoleAllows(const std::string& role, const Service::Access& access, const std::string& path) {
  if (role == "admin") return true;
  auto grant = auth::ParseGrant(role);
  if (!grant.ok() || grant->role != access.role) return false;
  // ingest:ward-b holds ward-b's ingestion only; the routes name ward-a.
  return grant->connector.empty() || path.find("/" + grant->connector + "/") != std::string::npos;
}

TEST_F(SecuredService, EveryRouteAsksForItsRole) {
  const std::vector<Service::RouteInfo> routes = service_->Routes();
  // The service's own routes and those of the provisioning API and the console.
  ASSERT_GE(routes.size(), 20u);
  int tried = 0;
  for (const Service::RouteInfo& route : routes) {
    const std::string path = Concrete(route.path);
    const std::vector<std::string> methods = route.method == "*"
                                                 ? std::vector<std::string>{"GET", "POST", "PUT", "DELETE"}
                                                 : std::vector<std::string>{route.method};
    const bool fhir = path.starts_with("/fhir");
    for (const std::string& method : methods) {
      SCOPED_TRACE(method + " " + path);
      ++tried;
      const http::Reply anonymous = Send(method, path);
      if (route.access.open) {
        EXPECT_NE(anonymous.status, 401);
        EXPECT_NE(anonymous.status, 403);
        continue;
      }
      EXPECT_EQ(anonymous.status, 401) << anonymous.body;
      EXPECT_EQ(anonymous.Header("www-authenticate").rfind("Bearer realm=\"iomt\"", 0), 0u);
      if (fhir) {
        EXPECT_NE(anonymous.body.find(R"("resourceType":"OperationOutcome")"), std::string::npos) << anonymous.body;
        EXPECT_NE(anonymous.body.find(R"("code":"login")"), std::string::npos) << anonymous.body;
      } else {
        EXPECT_NE(anonymous.body.find(R"("code":"Unauthorized")"), std::string::npos) << anonymous.body;
      }
      const http::Reply wrong = Send(method, path, {"X-Api-Key: iomt_not-a-key-of-this-server-000"});
      EXPECT_EQ(wrong.status, 401);
      const http::Reply wrong_bearer = Send(method, path, {"Authorization: Bearer iomt_not-a-key-000000000000"});
      EXPECT_EQ(wrong_bearer.status, 401);
      EXPECT_NE(wrong_bearer.Header("www-authenticate").find("invalid_token"), std::string::npos);
      for (const auto& [role, key] : kRoleKeys) {
        SCOPED_TRACE("role " + role);
        // Keys work in either header.
        const http::Reply reply = Send(
            method, path, role == "metrics" ? std::vector<std::string>{"Authorization: Bearer " + key} : Key(role));
        // A PATCH answers with the stored resource: a writer needs
        // fhir-read as well (AWriteOnlyKeyCannotReadThroughAWrite).
        if (RoleAllows(role, route.access, path) && (method != "PATCH" || role == "admin")) {
          EXPECT_NE(reply.status, 401) << reply.body;
          EXPECT_NE(reply.status, 403) << reply.body;
        } else {
          EXPECT_EQ(reply.status, 403) << reply.body;
          EXPECT_NE(reply.body.find(fhir ? R"("code":"forbidden")" : R"("code":"Forbidden")"), std::string::npos)
              << reply.body;
        }
      }
    }
  }
  EXPECT_GE(tried, 30);
}

TEST_F(SecuredService, AnUnknownRouteIsClosedToo) {
  EXPECT_EQ(Send("GET", "/no/such/route").status, 401);
  EXPECT_EQ(Send("GET", "/no/such/route", Key("metrics")).status, 403);
  EXPECT_EQ(Send("GET", "/no/such/route", Key("admin")).status, 404);
}

TEST_F(SecuredService, AConnectorsOwnIngestKeyAdmitsToItsIngestionOnly) {
  const std::string message = R"({"heartRate":"78","deviceId":"dev-1","endDate":"2024-01-01T00:00:00Z"})";
  EXPECT_EQ(
      Send("POST", "/connectors/ward-b/messages", {std::string("x-iomt-ingest-key: ") + kLegacyIngestKey}, message)
          .status,
      202);
  EXPECT_EQ(
      Send("POST", "/connectors/ward-b/messages", {std::string("Authorization: Bearer ") + kLegacyIngestKey}, message)
          .status,
      202);
  // Not another connector's, not the FHIR data.
  EXPECT_EQ(
      Send("POST", "/connectors/ward-a/messages", {std::string("x-iomt-ingest-key: ") + kLegacyIngestKey}, message)
          .status,
      401);
  EXPECT_EQ(Send("GET", "/fhir/Observation", {std::string("Authorization: Bearer ") + kLegacyIngestKey}).status, 401);
  // The server's ingest:ward-b key admits there too, not to ward-a.
  EXPECT_EQ(Send("POST", "/connectors/ward-b/messages", Key("ingest:ward-b"), message).status, 202);
  EXPECT_EQ(Send("POST", "/connectors/ward-a/messages", Key("ingest:ward-b"), message).status, 403);
}

TEST_F(SecuredService, TheAuditLogSaysWhoDidWhatAndIsPrivate) {
  const std::string ws = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/audited";
  ASSERT_EQ(Send("PUT", ws + "?api-version=2022-06-01", Key("admin"), R"({"location":"westus"})").status, 201);
  ASSERT_EQ(Send("DELETE", ws, {"X-Api-Key: iomt_guessed-key-0000000000000"}).status, 401);
  ASSERT_EQ(Send("POST", "/connectors/ward-a/mappings/reload", Key("fhir-write")).status, 403);
  ASSERT_EQ(Send("GET", "/connectors/ward-a/deadletters?limit=5", Key("admin")).status, 200);
  const std::string log_path = *dir_ + "/store/audit.log";
  struct stat st {};
  ASSERT_EQ(::stat(log_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string log = iomt::testing::ReadFile(log_path);
  EXPECT_NE(log.find(R"("who":"admin-key","kind":"key","method":"PUT","path":")" + ws + R"(","status":201)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find(R"("who":"anonymous","method":"DELETE","path":")" + ws + R"(","status":401)"), std::string::npos)
      << log;
  EXPECT_NE(
      log.find(
          R"("who":"fhir-write-key","kind":"key","method":"POST","path":"/connectors/ward-a/mappings/reload","status":403)"),
      std::string::npos)
      << log;
  // Reading dead letters (whole device messages) is recorded; the query is not.
  EXPECT_NE(log.find(R"("method":"GET","path":"/connectors/ward-a/deadletters","status":200)"), std::string::npos)
      << log;
  EXPECT_EQ(log.find("limit=5"), std::string::npos);
  // No key, hash or token is ever written there.
  for (const auto& [role, key] : kRoleKeys)
    EXPECT_EQ(log.find(key), std::string::npos);
  EXPECT_EQ(log.find("iomt_guessed"), std::string::npos);
}

TEST_F(SecuredService, PatientDataFilesArePrivate) {
  const std::string message = R"({"heartRate":"78","deviceId":"dev-2","endDate":"2024-01-01T00:00:00Z"})";
  ASSERT_EQ(Send("POST", "/connectors/ward-a/messages", Key("ingest"), message).status, 202);
  struct stat st {};
  ASSERT_EQ(::stat((*dir_ + "/store/connectors").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(*dir_ + "/store/connectors/ward-a")) {
    ASSERT_EQ(::stat(entry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0077, 0u) << entry.path() << " is readable by others";
  }
}

TEST_F(SecuredService, SearchesAndBundlesHaveACost) {
  const http::Reply deep = Send("GET", "/fhir/Observation?_offset=100001", Key("fhir-read"));
  EXPECT_EQ(deep.status, 400);
  EXPECT_NE(deep.body.find(R"("code":"too-costly")"), std::string::npos) << deep.body;
  const http::Reply big_count = Send("GET", "/fhir/Observation?_count=1000000", Key("fhir-read"));
  EXPECT_EQ(big_count.status, 200);
  EXPECT_NE(big_count.body.find("_count=1000&"), std::string::npos) << big_count.body.substr(0, 400);
  std::string bundle = R"({"resourceType":"Bundle","type":"batch","entry":[)";
  for (int i = 0; i < 10'001; ++i) {
    bundle.append(i == 0 ? "" : ",").append(R"({"request":{"method":"GET","url":"Patient/x"}})");
  }
  bundle.append("]}");
  const http::Reply too_many = Send("POST", "/fhir", {std::string("X-Api-Key: ") + kReadWriteKey}, bundle);
  EXPECT_EQ(too_many.status, 400);
  EXPECT_NE(too_many.body.find("at most 10000"), std::string::npos) << too_many.body.substr(0, 400);
}

TEST_F(SecuredService, AWriteOnlyKeyCannotReadThroughAWrite) {
  const std::string patient = R"({"resourceType":"Patient","id":"p-secret","identifier":[{"value":"x"}]})";
  ASSERT_LT(Send("PUT", "/fhir/Patient/p-secret", Key("fhir-write"), patient).status, 300);
  // A batch whose entries read, and a conditional create that would answer
  // with the match it found.
  const std::string batch = R"({"resourceType":"Bundle","type":"batch","entry":[)"
                            R"({"request":{"method":"GET","url":"Patient?_count=10"}}]})";
  const std::string conditional =
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"},)"
      R"("request":{"method":"POST","url":"Patient","ifNoneExist":"_id=p-secret"}}]})";
  for (const std::string& body : {batch, conditional}) {
    const http::Reply refused = Send("POST", "/fhir", Key("fhir-write"), body);
    EXPECT_EQ(refused.status, 403) << refused.body;
    EXPECT_EQ(refused.body.find("p-secret"), std::string::npos);
    const http::Reply allowed = Send("POST", "/fhir", {std::string("X-Api-Key: ") + kReadWriteKey}, body);
    EXPECT_EQ(allowed.status, 200) << allowed.body;
  }
  std::vector<std::string> headers = Key("fhir-write");
  headers.emplace_back("If-None-Exist: _id=p-secret");
  const http::Reply create = Send("POST", "/fhir/Patient", headers, R"({"resourceType":"Patient"})");
  EXPECT_EQ(create.status, 403) << create.body;
  // A PATCH answers with the stored resource; a conditional update, delete
  // or patch tells what its condition matched.
  std::vector<std::string> patch_headers = Key("fhir-write");
  patch_headers.emplace_back("Content-Type: application/json-patch+json");
  const std::string patch = R"([{"op":"add","path":"/active","value":true}])";
  for (const std::string& path : {std::string("/fhir/Patient/p-secret"), std::string("/fhir/Patient?_id=p-secret")}) {
    const http::Reply patched = Send("PATCH", path, patch_headers, patch);
    EXPECT_EQ(patched.status, 403) << path << " " << patched.body;
    EXPECT_EQ(patched.body.find("identifier"), std::string::npos);
  }
  EXPECT_EQ(Send("PUT", "/fhir/Patient?_id=p-secret", Key("fhir-write"), patient).status, 403);
  EXPECT_EQ(Send("DELETE", "/fhir/Patient?_id=p-secret", Key("fhir-write"), "").status, 403);
  std::vector<std::string> read_write = {std::string("X-Api-Key: ") + kReadWriteKey,
                                         "Content-Type: application/json-patch+json"};
  const http::Reply allowed_patch = Send("PATCH", "/fhir/Patient/p-secret", read_write, patch);
  EXPECT_EQ(allowed_patch.status, 200) << allowed_patch.body;
  EXPECT_NE(allowed_patch.body.find(R"("active":true)"), std::string::npos) << allowed_patch.body;
  // A Subscription sends what it matches where its writer says: a standing
  // read, whether POSTed, PUT or in a Bundle.
  const std::string subscription =
      R"({"resourceType":"Subscription","id":"s1","status":"requested","reason":"x","criteria":"Patient",)"
      R"("channel":{"type":"rest-hook","endpoint":"http://127.0.0.1:9/","payload":"application/fhir+json"}})";
  EXPECT_EQ(Send("POST", "/fhir/Subscription", Key("fhir-write"), subscription).status, 403);
  EXPECT_EQ(Send("PUT", "/fhir/Subscription/s1", Key("fhir-write"), subscription).status, 403);
  const std::string subscribe = R"({"resourceType":"Bundle","type":"batch","entry":[{"resource":)" + subscription +
                                R"(,"request":{"method":"PUT","url":"Subscription/s1"}}]})";
  EXPECT_EQ(Send("POST", "/fhir", Key("fhir-write"), subscribe).status, 403);
  EXPECT_EQ(Send("PUT", "/fhir/Subscription/s1", {std::string("X-Api-Key: ") + kReadWriteKey}, subscription).status,
            201);
  // Its WebSocket (notifications of what is stored) is a read too.
  EXPECT_EQ(Send("GET", "/fhir/websocket", Key("fhir-write"), "").status, 403);
  const http::Reply plain = Send("GET", "/fhir/websocket", {std::string("X-Api-Key: ") + kReadWriteKey}, "");
  EXPECT_EQ(plain.status, 426);
  EXPECT_NE(plain.body.find("OperationOutcome"), std::string::npos) << plain.body;
  // A Bundle that only writes stays a write.
  const std::string writes = R"({"resourceType":"Bundle","type":"batch","entry":[{"resource":)" + patient +
                             R"(,"request":{"method":"PUT","url":"Patient/p-secret"}}]})";
  EXPECT_EQ(Send("POST", "/fhir", Key("fhir-write"), writes).status, 200);
}

TEST_F(SecuredService, AnOversizedFhirBodyGetsAnOperationOutcome) {
  const http::Reply reply = Send("POST", "/fhir/Observation", Key("fhir-write"), std::string(2 << 20, ' '));
  EXPECT_EQ(reply.status, 413);
  EXPECT_NE(reply.body.find(R"("resourceType":"OperationOutcome")"), std::string::npos) << reply.body;
  const http::Reply ingest = Send("POST", "/connectors/ward-a/messages", Key("ingest"), std::string(2 << 20, ' '));
  EXPECT_EQ(ingest.status, 413);
  EXPECT_NE(ingest.body.find(R"("error")"), std::string::npos) << ingest.body;
}

TEST_F(SecuredService, NamesCannotClimbOutOfTheStore) {
  for (const char* name : {"..", ".", "a/b", "..%2F..", ""})
    EXPECT_FALSE(ValidConnectorName(name)) << name;
  EXPECT_NE(Send("POST", "/connectors/../messages", Key("admin"), "{}").status, 202);
  const std::string base = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/";
  for (const char* name : {"..", "%2E%2E", "a%2F..%2F..", "..%2Fetc"}) {
    const http::Reply reply = Send("PUT", base + name, Key("admin"), R"({"location":"westus"})");
    EXPECT_GE(reply.status, 400) << name << ": " << reply.body;
    EXPECT_LT(reply.status, 500) << name;
  }
  EXPECT_FALSE(std::filesystem::exists(*dir_ + "/etc"));
}

TEST(OpenNetwork, WithoutCredentialsOnlyLoopbackUnlessTheNetworkIsTrusted) {
  ServeConfig config;
  config.host = "0.0.0.0";
  std::vector<std::string> problems = CheckServeConfig(config);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("without credentials"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("--unauthenticated allow-any-address"), std::string::npos) << problems[0];
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "localhost"}) {
    config.host = host;
    EXPECT_TRUE(CheckServeConfig(config).empty()) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "10.0.0.1", "127.0.0.1.example.com"}) {
    config.host = host;
    EXPECT_FALSE(CheckServeConfig(config).empty()) << host;
  }
  config.host = "0.0.0.0";
  config.auth.unauthenticated = "allow-any-address";
  EXPECT_TRUE(CheckServeConfig(config).empty());
  config.auth.unauthenticated = "loopback-only";
  config.auth.api_keys = {{"ops", "admin " + auth::HashApiKey("iomt_some-key-0123456789")}};
  EXPECT_TRUE(CheckServeConfig(config).empty());
}

TEST(OpenNetwork, CredentialsThatCannotWorkAreRefusedAtStart) {
  ServeConfig config;
  config.auth.api_keys = {{"ops", "admin sha256$nothex$00"},
                          {"dev", "superuser " + auth::HashApiKey("k-0123456789abcdef")}};
  config.auth.jwt_issuer = "https://issuer.example";
  std::vector<std::string> problems = CheckServeConfig(config);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("auth.apiKeys.ops"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("superuser"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("auth.jwt needs issuer and audience"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("jwksFile and jwksUrl"), std::string::npos) << problems[0];
}

}  // namespace
}  // namespace iomt::server
