// The remote FHIR client over TLS: the test FHIR server behind stunnel,
// which requires a client certificate signed by a CA that this test makes
// (tls_util.h). With the CA and a client certificate, resources go there and
// back, the OAuth2 token request included; without the CA, with a wrong CA
// or without the client certificate, Connect fails at once and says why
// with curl's reason. `iomt run --fhir-ca/--fhir-client-cert/--fhir-client-key`
// does the same from the command line.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "common/errors.h"
#include "store/remote/remote_client.h"
#include "test_servers.h"
#include "test_util.h"
#include "tls_util.h"

namespace iomt::store::testing {
namespace {

const auto* const kServers = ::testing::AddGlobalTestEnvironment(new TestServers);

// One CA and one stunnel for the whole binary: certificates take a moment.
class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new iomt::testing::TestPki();
    Status made = pki_->Make();
    ASSERT_TRUE(made.ok()) << made.ToString();
    std::string target = TestServers::origin().substr(std::string("http://").size());
    tunnel_ = new iomt::testing::Stunnel({.connect = target, .pki = pki_});
    Status started = tunnel_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
  }
  static void TearDownTestSuite() {
    delete tunnel_;
    delete pki_;
    tunnel_ = nullptr;
    pki_ = nullptr;
  }

  static std::string base() { return tunnel_->origin() + "/fhir/R4"; }
  // Options with the CA and the client certificate.
  static RemoteOptions Trusted() {
    RemoteOptions o = TestOptions(base());
    o.ca_file = pki_->ca_cert();
    o.client_cert_file = pki_->client_cert();
    o.client_key_file = pki_->client_key();
    return o;
  }

  static iomt::testing::TestPki* pki_;
  static iomt::testing::Stunnel* tunnel_;
};

iomt::testing::TestPki* Tls::pki_ = nullptr;
iomt::testing::Stunnel* Tls::tunnel_ = nullptr;

std::string Unique(const std::string& prefix) {
  static int n = 0;
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

std::string ObservationJson(const std::string& id, const std::string& value) {
  return R"({"resourceType":"Observation","id":")" + id +
         R"(","status":"final","code":{"text":"heart rate"},"identifier":[{"system":"urn:iomt:tls","value":")" + value +
         R"("}],"valueQuantity":{"value":72,"unit":"/min"}})";
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_F(Tls, WithTheCaAndAClientCertificateObservationsAreWrittenAndReadBack) {
  auto client = ConnectOrDie(Trusted());
  ASSERT_NE(client, nullptr) << tunnel_->log();
  const std::string id = Unique("tls-obs");
  auto put = client->Put("Observation", id, ObservationJson(id, id), std::nullopt);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  auto read = client->Read("Observation", id);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_TRUE(read->has_value());
  EXPECT_TRUE(Contains((*read)->json, id));
  auto found = client->SearchByIdentifier("Observation", "urn:iomt:tls", id, 10);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, id);
  // Through stunnel, not around it: it saw a client certificate.
  EXPECT_TRUE(Contains(tunnel_->log(), "Certificate accepted")) << tunnel_->log();
}

TEST_F(Tls, TheOAuthTokenRequestUsesTheSameCaAndClientCertificate) {
  RemoteOptions o = Trusted();
  o.oauth = {tunnel_->origin() + "/oauth2/token", Unique("client"), "iomt-test-secret", "fhir"};
  auto client = ConnectOrDie(o);
  ASSERT_NE(client, nullptr);
  EXPECT_GE(client->stats().token_requests, 1);
  // Without the CA, the token endpoint is not trusted either.
  o.ca_file.clear();
  o.base_url = TestServers::fhir_base();  // plain: only the token request is TLS
  auto refused = RemoteFhirClient::Connect(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(Contains(refused.status().message(), "certificate")) << refused.status().message();
  EXPECT_FALSE(Contains(refused.status().ToString(), "iomt-test-secret"));
}

TEST_F(Tls, WithoutTheCaTheServersCertificateIsNotTrusted) {
  RemoteOptions o = Trusted();
  o.ca_file.clear();  // the system's CAs do not know the test CA
  o.bearer_token = "a-secret-token";
  auto client = RemoteFhirClient::Connect(o);
  ASSERT_FALSE(client.ok());
  const Status& st = client.status();
  EXPECT_EQ(st.error_name(), Describe(ErrorName::kFhirServiceConfiguration).name) << st.ToString();
  // curl's reason, and what to check.
  EXPECT_TRUE(Contains(st.message(), "SSL certificate problem")) << st.message();
  EXPECT_TRUE(Contains(st.message(), "fhir.caFile")) << st.message();
  EXPECT_FALSE(Contains(st.ToString(), "a-secret-token"));
}

TEST_F(Tls, WithAnotherCaTheServersCertificateIsNotTrusted) {
  RemoteOptions o = Trusted();
  o.ca_file = pki_->other_ca_cert();
  auto client = RemoteFhirClient::Connect(o);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().error_name(), Describe(ErrorName::kFhirServiceConfiguration).name);
  EXPECT_TRUE(Contains(client.status().message(), "certificate")) << client.status().message();
}

TEST_F(Tls, WithoutAClientCertificateTheServerRefusesAndItIsNotRetried) {
  RemoteOptions o = Trusted();
  o.client_cert_file.clear();
  o.client_key_file.clear();
  auto client = RemoteFhirClient::Connect(o);
  ASSERT_FALSE(client.ok());
  const Status& st = client.status();
  // (The server may close before curl reads its alert: see below. Then the
  // message says a client certificate may be wanted.)
  if (Contains(st.message(), "getpeername") || Contains(st.message(), "reset by peer")) {
    EXPECT_TRUE(Contains(st.message(), "--fhir-client-cert")) << st.message();
    return;
  }
  EXPECT_EQ(st.error_name(), Describe(ErrorName::kFhirServiceAuthorization).name) << st.ToString();
  // OpenSSL's alert, as curl tells it ("tlsv13 alert certificate required").
  EXPECT_TRUE(Contains(st.message(), "alert")) << st.message();
  EXPECT_TRUE(Contains(st.message(), "client certificate")) << st.message();
}

TEST_F(Tls, AClientCertificateOfAnotherCaIsRefused) {
  RemoteOptions o = Trusted();
  // The other CA's own certificate and key: a certificate the server's CA
  // did not sign.
  o.client_cert_file = pki_->other_ca_cert();
  o.client_key_file = pki_->dir() + "/other-ca.key";
  auto client = RemoteFhirClient::Connect(o);
  ASSERT_FALSE(client.ok());
  // With TLS 1.3 the server judges the client's certificate after the
  // handshake, sends its alert and closes: curl usually reads the alert
  // (an authorization error), but may find the connection gone first
  // ("getpeername() failed", "Connection reset by peer") when stunnel is
  // quick. Either way nothing was accepted.
  const std::string name(client.status().error_name());
  EXPECT_TRUE(name == Describe(ErrorName::kFhirServiceAuthorization).name ||
              Contains(client.status().message(), "getpeername") ||
              Contains(client.status().message(), "reset by peer"))
      << client.status().ToString();
}

TEST_F(Tls, FilesThatCannotBeReadAreNamedAtConnect) {
  RemoteOptions o = Trusted();
  o.ca_file = pki_->dir() + "/no-such-ca.pem";
  auto client = RemoteFhirClient::Connect(o);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(client.status().message(), "no-such-ca.pem")) << client.status().message();
  o = Trusted();
  o.client_cert_file.clear();
  client = RemoteFhirClient::Connect(o);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument);
}

// ---- iomt run -------------------------------------------------------------

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

RunResult RunIomt(const std::string& flags) {
  const char* iomt = std::getenv("IOMT");
  RunResult r;
  if (iomt == nullptr) {
    ADD_FAILURE() << "IOMT=path to the iomt binary is not set (ctest sets it)";
    return r;
  }
  char dir[] = "/tmp/iomt-tls-run-XXXXXX";
  if (mkdtemp(dir) == nullptr) return r;
  const std::string d = dir;
  const std::string command = std::string(iomt) +
                              " run --device-mapping examples/mappings/devicecontent.json --fhir-mapping "
                              "examples/mappings/fhirmapping.json --input examples/events/ward.ndjson "
                              "--now 2023-10-10T00:00:00Z --ingestion-time 2023-10-10T00:00:00Z --dead-letter " +
                              d + "/dead.ndjson " + flags + " > " + d + "/out 2> " + d + "/err";
  int status = std::system(command.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = iomt::testing::ReadFile(d + "/out");
  r.err = iomt::testing::ReadFile(d + "/err");
  std::system(("rm -rf " + d).c_str());
  return r;
}

TEST_F(Tls, IomtRunWritesThroughMutualTls) {
  const std::string files = " --fhir-ca " + pki_->ca_cert() + " --fhir-client-cert " + pki_->client_cert() +
                            " --fhir-client-key " + pki_->client_key();
  RunResult ok = RunIomt("--fhir-url " + base() + files);
  EXPECT_LE(ok.exit_code, 1) << ok.err;  // 1: some examples are dead letters on purpose
  EXPECT_TRUE(Contains(ok.out, R"("observations":{"created":)")) << ok.out << ok.err;
  EXPECT_FALSE(Contains(ok.out, R"("observations":{"created":0,)")) << ok.out << ok.err;
  // What it wrote is on the server.
  const std::string page = TestServers::Get(TestServers::fhir_base() + "/Observation?_count=1");
  EXPECT_TRUE(Contains(page, "\"entry\"")) << page;

  RunResult untrusted = RunIomt("--fhir-url " + base() + " --fhir-client-cert " + pki_->client_cert() +
                                " --fhir-client-key " + pki_->client_key());
  EXPECT_EQ(untrusted.exit_code, 3) << untrusted.err;
  EXPECT_TRUE(Contains(untrusted.err, "FHIRServiceErrorConfigurationError")) << untrusted.err;
  EXPECT_TRUE(Contains(untrusted.err, "certificate")) << untrusted.err;

  RunResult no_cert = RunIomt("--fhir-url " + base() + " --fhir-ca " + pki_->ca_cert() + " --fhir-token sekrit-token");
  EXPECT_EQ(no_cert.exit_code, 3) << no_cert.err;
  // The alert (authorization), or, when the server closed before curl read
  // it, a reset whose message points at the client certificate.
  EXPECT_TRUE(Contains(no_cert.err, "FHIRServiceErrorAuthorizationError") ||
              Contains(no_cert.err, "--fhir-client-cert"))
      << no_cert.err;
  EXPECT_FALSE(Contains(no_cert.err, "sekrit-token")) << no_cert.err;

  RunResult usage = RunIomt("--fhir-ca " + pki_->ca_cert());  // no --fhir-url
  EXPECT_EQ(usage.exit_code, 2) << usage.err;
}

}  // namespace
}  // namespace iomt::store::testing
