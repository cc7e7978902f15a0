// src/auth: API keys, grants, and JWTs checked against a JWKS. Every key
// and token is made here with OpenSSL (RSA-2048, EC P-256), so the tests
// exercise exactly what an identity provider would send, including the
// forgeries a validator must refuse.
#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "auth/auth.h"
#include "auth/jwt_check.h"
#include "common/mutex.h"
#include "server/http/http_server.h"
#include "test_util.h"

namespace iomt::auth {
namespace {

using Outcome = AuthResult::Outcome;
using internal::Base64UrlDecode;
using internal::Base64UrlEncode;

constexpr std::string_view kIssuer = "https://login.example.org/tenant-1/v2.0";
constexpr std::string_view kAudience = "api://iomt";

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Pkey NewRsaKey() { return Pkey(EVP_RSA_gen(2048)); }
Pkey NewEcKey() { return Pkey(EVP_EC_gen("P-256")); }

std::string Bytes(const unsigned char* p, std::size_t n) { return {reinterpret_cast<const char*>(p), n}; }

// A big-number parameter of the key, base64url, left-padded to `width`
// bytes when given (EC coordinates are fixed-size in a JWK).
std::string BnParam(EVP_PKEY* key, const char* name, int width = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1);
  std::vector<unsigned char> out(width > 0 ? width : BN_num_bytes(bn));
  if (width > 0) {
    BN_bn2binpad(bn, out.data(), width);
  } else {
    BN_bn2bin(bn, out.data());
  }
  BN_free(bn);
  return Base64UrlEncode(Bytes(out.data(), out.size()));
}

std::string RsaJwk(EVP_PKEY* key, std::string_view kid, std::string_view extra = R"("use":"sig",)") {
  return std::string(R"({"kty":"RSA","kid":")") + std::string(kid) + "\"," + std::string(extra) + R"("n":")" +
         BnParam(key, OSSL_PKEY_PARAM_RSA_N) + R"(","e":")" + BnParam(key, OSSL_PKEY_PARAM_RSA_E) + "\"}";
}

std::string EcJwk(EVP_PKEY* key, std::string_view kid) {
  return std::string(R"({"kty":"EC","crv":"P-256","kid":")") + std::string(kid) + R"(","x":")" +
         BnParam(key, OSSL_PKEY_PARAM_EC_PUB_X, 32) + R"(","y":")" + BnParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32) + "\"}";
}

std::string Jwks(std::initializer_list<std::string> keys) {
  std::string out = R"({"keys":[)";
  bool first = true;
  for (const std::string& k : keys) {
    if (!first) out += ",";
    out += k;
    first = false;
  }
  return out + "]}";
}

std::string PublicPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return out;
}

// RS256 (PKCS#1 v1.5) or ES256 over `data`; ES256 as JWS wants it: r || s,
// 32 bytes each, not OpenSSL's DER.
std::string Sign(EVP_PKEY* key, std::string_view data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key), 1);
  std::size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, in, data.size()), 1);
  std::vector<unsigned char> sig(len);
  EXPECT_EQ(EVP_DigestSign(ctx, sig.data(), &len, in, data.size()), 1);
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return Bytes(sig.data(), sig.size());
  const unsigned char* p = sig.data();
  ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  std::vector<unsigned char> raw(64);
  BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), raw.data(), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), raw.data() + 32, 32);
  ECDSA_SIG_free(ecdsa);
  return Bytes(raw.data(), raw.size());
}

std::string HmacSha256(std::string_view secret, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  EXPECT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
                      reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, sizeof out, &len),
            nullptr);
  return Bytes(out, len);
}

// A JSON object from members whose values are JSON text already.
using Members = std::vector<std::pair<std::string, std::string>>;
std::string Object(const Members& members) {
  std::string out = "{";
  for (const auto& [k, v] : members) {
    if (out.size() > 1) out += ",";
    out.append("\"").append(k).append("\":").append(v);
  }
  return out + "}";
}
std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

void Set(Members* m, const std::string& key, std::string value) {
  for (auto& [k, v] : *m) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  m->emplace_back(key, std::move(value));
}
void Erase(Members* m, const std::string& key) {
  std::erase_if(*m, [&](const auto& kv) { return kv.first == key; });
}

Members GoodClaims() {
  return {{"iss", Quote(kIssuer)},
          {"aud", Quote(kAudience)},
          {"sub", Quote("client-7")},
          {"iat", std::to_string(Now())},
          {"exp", std::to_string(Now() + 600)},
          {"roles", R"(["ingest:ward-a","fhir-read"])"}};
}

std::string SigningInput(const std::string& header, const Members& claims) {
  return Base64UrlEncode(header) + "." + Base64UrlEncode(Object(claims));
}

std::string Token(EVP_PKEY* key, std::string_view alg, std::string_view kid, const Members& claims) {
  std::string header = Object({{"alg", Quote(alg)}, {"typ", Quote("JWT")}, {"kid", Quote(kid)}});
  std::string input = SigningInput(header, claims);
  return input + "." + Base64UrlEncode(Sign(key, input));
}

std::string Bearer(const std::string& token) { return "Bearer " + token; }

using iomt::testing::TempDir;

// Replaced the way an operator rotating keys should: written aside, then
// renamed over, so a reader never sees half a file.
void WriteFile(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  std::ofstream(tmp, std::ios::binary | std::ios::trunc) << text;
  std::filesystem::rename(tmp, path);
}

class JwtTest : public ::testing::Test {
 protected:
  // RSA key generation takes a few hundred milliseconds: one pair for all.
  static void SetUpTestSuite() {
    shared_rsa_ = NewRsaKey().release();
    shared_ec_ = NewEcKey().release();
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(shared_rsa_);
    EVP_PKEY_free(shared_ec_);
  }

  void SetUp() override {
    ASSERT_TRUE(rsa_ && ec_);
    jwks_path_ = dir_.File("jwks.json");
    WriteFile(jwks_path_, Jwks({RsaJwk(rsa_, "rsa-1"), EcJwk(ec_, "ec-1")}));
  }

  JwtOptions Options() const {
    JwtOptions jwt;
    jwt.issuer = kIssuer;
    jwt.audience = kAudience;
    jwt.jwks_file = jwks_path_;
    return jwt;
  }

  std::unique_ptr<Authenticator> Make(JwtOptions jwt) const {
    AuthOptions options;
    options.jwt = std::move(jwt);
    auto created = Authenticator::Create(std::move(options));
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return created.ok() ? std::move(created).value() : nullptr;
  }

  AuthResult Check(const std::string& token, JwtOptions jwt) const {
    auto auth = Make(std::move(jwt));
    if (!auth) return {};
    return auth->Authenticate(Bearer(token), std::nullopt);
  }
  AuthResult Check(const std::string& token) const { return Check(token, Options()); }

  void ExpectRefused(const std::string& token, std::string_view reason) const {
    AuthResult result = Check(token);
    EXPECT_EQ(result.outcome, Outcome::kInvalid);
    EXPECT_EQ(result.reason, reason);
    EXPECT_EQ(result.reason.find(token), std::string::npos);
  }

  static EVP_PKEY* shared_rsa_;
  static EVP_PKEY* shared_ec_;
  TempDir dir_{true};  // created: the key files are written into it
  std::string jwks_path_;
  EVP_PKEY* rsa_ = shared_rsa_;
  EVP_PKEY* ec_ = shared_ec_;
};

EVP_PKEY* JwtTest::shared_rsa_ = nullptr;
EVP_PKEY* JwtTest::shared_ec_ = nullptr;

TEST_F(JwtTest, AcceptsRs256WithTheRightClaims) {
  AuthResult result = Check(Token(rsa_, "RS256", "rsa-1", GoodClaims()));
  ASSERT_EQ(result.outcome, Outcome::kOk) << result.reason;
  EXPECT_EQ(result.principal.name, "client-7");
  EXPECT_EQ(result.principal.kind, "jwt");
  EXPECT_EQ(result.principal.grants, (std::vector<Grant>{{Role::kIngest, "ward-a"}, {Role::kFhirRead, ""}}));
}

TEST_F(JwtTest, AcceptsEs256WithTheRightClaims) {
  AuthResult result = Check(Token(ec_, "ES256", "ec-1", GoodClaims()));
  ASSERT_EQ(result.outcome, Outcome::kOk) << result.reason;
  EXPECT_EQ(result.principal.name, "client-7");
}

TEST_F(JwtTest, AcceptsAnAudienceArrayThatContainsOurs) {
  Members claims = GoodClaims();
  Set(&claims, "aud", R"(["api://other","api://iomt"])");
  EXPECT_EQ(Check(Token(rsa_, "RS256", "rsa-1", claims)).outcome, Outcome::kOk);
}

TEST_F(JwtTest, ReadsRolesFromASpaceSeparatedString) {
  Members claims = GoodClaims();
  Set(&claims, "roles", Quote("metrics  fhir-write unknown-role"));
  AuthResult result = Check(Token(rsa_, "RS256", "rsa-1", claims));
  ASSERT_EQ(result.outcome, Outcome::kOk) << result.reason;
  EXPECT_EQ(result.principal.grants, (std::vector<Grant>{{Role::kMetrics, ""}, {Role::kFhirWrite, ""}}));
}

TEST_F(JwtTest, MapsClaimValuesThroughRoleMapAndIgnoresUnknownOnes) {
  JwtOptions jwt = Options();
  jwt.roles_claim = "app_roles";
  jwt.role_map = {{"IoMT.Admin", "admin"}, {"IoMT.Ward", "ingest:ward-b"}};
  Members claims = GoodClaims();
  Erase(&claims, "roles");
  Set(&claims, "app_roles", R"(["IoMT.Admin","IoMT.Ward","Other.App.Role","metrics"])");
  AuthResult result = Check(Token(rsa_, "RS256", "rsa-1", claims), jwt);
  ASSERT_EQ(result.outcome, Outcome::kOk) << result.reason;
  EXPECT_EQ(result.principal.grants,
            (std::vector<Grant>{{Role::kAdmin, ""}, {Role::kIngest, "ward-b"}, {Role::kMetrics, ""}}));
}

TEST_F(JwtTest, ATokenWithoutRolesAuthenticatesWithNoGrants) {
  Members claims = GoodClaims();
  Erase(&claims, "roles");
  AuthResult result = Check(Token(rsa_, "RS256", "rsa-1", claims));
  ASSERT_EQ(result.outcome, Outcome::kOk) << result.reason;
  EXPECT_TRUE(result.principal.grants.empty());
}

TEST_F(JwtTest, HonoursTheClockSkewOnExp) {
  Members claims = GoodClaims();
  Set(&claims, "exp", std::to_string(Now() - 30));
  EXPECT_EQ(Check(Token(rsa_, "RS256", "rsa-1", claims)).outcome, Outcome::kOk);
  JwtOptions strict = Options();
  strict.clock_skew_seconds = 0;
  EXPECT_EQ(Check(Token(rsa_, "RS256", "rsa-1", claims), strict).reason, "the token has expired");
}

TEST_F(JwtTest, HonoursTheClockSkewOnNbf) {
  Members claims = GoodClaims();
  Set(&claims, "nbf", std::to_string(Now() + 30));
  EXPECT_EQ(Check(Token(rsa_, "RS256", "rsa-1", claims)).outcome, Outcome::kOk);
}

TEST_F(JwtTest, RefusesAnExpiredToken) {
  Members claims = GoodClaims();
  Set(&claims, "exp", std::to_string(Now() - 120));
  ExpectRefused(Token(rsa_, "RS256", "rsa-1", claims), "the token has expired");
}

TEST_F(JwtTest, RefusesATokenNotValidYet) {
  Members claims = GoodClaims();
  Set(&claims, "nbf", std::to_string(Now() + 600));
  ExpectRefused(Token(rsa_, "RS256", "rsa-1", claims), "the token is not valid yet (nbf)");
}

TEST_F(JwtTest, RefusesATokenWithoutExp) {
  Members claims = GoodClaims();
  Erase(&claims, "exp");
  ExpectRefused(Token(rsa_, "RS256", "rsa-1", claims), "the token has no exp");
}

TEST_F(JwtTest, RefusesAnotherAudience) {
  Members claims = GoodClaims();
  Set(&claims, "aud", Quote("api://someone-else"));
  ExpectRefused(Token(rsa_, "RS256", "rsa-1", claims),
                "the token's audience (aud) does not contain the configured one");
  Set(&claims, "aud", R"(["api://a","api://b"])");
  ExpectRefused(Token(rsa_, "RS256", "rsa-1", claims),
                "the token's audience (aud) does not contain the configured one");
}

TEST_F(JwtTest, RefusesAnotherIssuer) {
  Members claims = GoodClaims();
  Set(&claims, "iss", Quote("https://evil.example.org/"));
  ExpectRefused(Token(rsa_, "RS256", "rsa-1", claims), "the token's issuer (iss) is not the configured one");
}

TEST_F(JwtTest, RefusesAlgNoneWithAndWithoutASignature) {
  std::string header = Object({{"alg", Quote("none")}, {"typ", Quote("JWT")}, {"kid", Quote("rsa-1")}});
  std::string input = SigningInput(header, GoodClaims());
  ExpectRefused(input + ".", "alg none is not accepted");
  ExpectRefused(input + "." + Base64UrlEncode(Sign(rsa_, input)), "alg none is not accepted");
}

// The classic confusion: the verifier holds an RSA public key; a token says
// HS256 and is MACed with that public key's PEM, which anyone can download.
// A library that lets the token choose the alg checks the MAC and passes.
TEST_F(JwtTest, RefusesHs256MacedWithThePublicKeyPem) {
  std::string pem = PublicPem(rsa_);
  std::string header = Object({{"alg", Quote("HS256")}, {"typ", Quote("JWT")}, {"kid", Quote("rsa-1")}});
  std::string input = SigningInput(header, GoodClaims());
  std::string forged = input + "." + Base64UrlEncode(HmacSha256(pem, input));
  ExpectRefused(forged, "alg HS256 is not accepted (only RS256 and ES256)");

  // Why iomt reads the header itself: libjwt 1.10 alone takes the forgery.
  jwt_t* decoded = nullptr;
  int rc = jwt_decode(&decoded, forged.c_str(), reinterpret_cast<const unsigned char*>(pem.data()),
                      static_cast<int>(pem.size()));
  jwt_free(decoded);
  EXPECT_EQ(rc, 0) << "libjwt now refuses the forgery itself; docs/adr/0020 can say so";
}

TEST_F(JwtTest, RefusesATamperedPayload) {
  std::string good = Token(rsa_, "RS256", "rsa-1", GoodClaims());
  Members claims = GoodClaims();
  Set(&claims, "roles", R"(["admin"])");
  std::string other = Token(rsa_, "RS256", "rsa-1", claims);
  // The header and payload of one token with the signature of the other.
  std::string spliced = other.substr(0, other.rfind('.')) + good.substr(good.rfind('.'));
  ExpectRefused(spliced, "the signature does not verify");
}

TEST_F(JwtTest, RefusesASignatureByAnotherKeyWithOurKid) {
  Pkey stranger = NewRsaKey();
  ExpectRefused(Token(stranger.get(), "RS256", "rsa-1", GoodClaims()), "the signature does not verify");
  Pkey other_ec = NewEcKey();
  ExpectRefused(Token(other_ec.get(), "ES256", "ec-1", GoodClaims()), "the signature does not verify");
}

TEST_F(JwtTest, RefusesAnUnknownKid) {
  ExpectRefused(Token(rsa_, "RS256", "rsa-9", GoodClaims()), "unknown kid: no key of the JWKS has the token's kid");
}

TEST_F(JwtTest, RefusesRs256NamingAnEcKey) {
  ExpectRefused(Token(rsa_, "RS256", "ec-1", GoodClaims()),
                "the key with the token's kid is not a key for RS256 (its kty is 'EC')");
  ExpectRefused(Token(ec_, "ES256", "rsa-1", GoodClaims()),
                "the key with the token's kid is not a key for ES256 (its kty is 'RSA')");
}

TEST_F(JwtTest, DoesNotUseAKeyMeantForEncryptionOrAnotherAlg) {
  Pkey enc = NewRsaKey();
  Pkey ps = NewRsaKey();
  WriteFile(jwks_path_, Jwks({RsaJwk(rsa_, "rsa-1"), RsaJwk(enc.get(), "enc-1", R"("use":"enc",)"),
                              RsaJwk(ps.get(), "ps-1", R"("alg":"PS256",)")}));
  ExpectRefused(Token(enc.get(), "RS256", "enc-1", GoodClaims()),
                "the key with the token's kid is not for signatures (use)");
  ExpectRefused(Token(ps.get(), "RS256", "ps-1", GoodClaims()),
                "the key with the token's kid is for another alg than RS256");
}

TEST_F(JwtTest, RefusesMalformedTokens) {
  std::string good = Token(rsa_, "RS256", "rsa-1", GoodClaims());
  std::string head = good.substr(0, good.find('.'));
  ExpectRefused("e30." + good.substr(good.find('.') + 1), "the token's header has no alg");
  ExpectRefused("!!!." + good.substr(good.find('.') + 1), "the token's header is not base64url");
  ExpectRefused(head + ".bm90IGpzb24." + "c2ln", "the token's payload is not JSON");
  ExpectRefused(good.substr(0, good.rfind('.') + 1), "the token has no signature");
  std::string crit = Object({{"alg", Quote("RS256")}, {"kid", Quote("rsa-1")}, {"crit", R"(["exp"])"}, {"exp", "1"}});
  std::string input = SigningInput(crit, GoodClaims());
  ExpectRefused(input + "." + Base64UrlEncode(Sign(rsa_, input)),
                "the token's header has crit extensions, which are not supported");
}

// RFC 9068 access tokens say typ at+jwt, which libjwt 1.10 refuses as it
// refuses a bad signature: the reason must tell the two apart.
TEST_F(JwtTest, RefusesATypOtherThanJwtSayingSo) {
  std::string header = Object({{"alg", Quote("RS256")}, {"typ", Quote("at+jwt")}, {"kid", Quote("rsa-1")}});
  std::string input = SigningInput(header, GoodClaims());
  ExpectRefused(input + "." + Base64UrlEncode(Sign(rsa_, input)), "the token's typ is at+jwt: only JWT is accepted");
  header = Object({{"alg", Quote("RS256")}, {"typ", Quote("jwt")}, {"kid", Quote("rsa-1")}});
  input = SigningInput(header, GoodClaims());
  EXPECT_EQ(Check(input + "." + Base64UrlEncode(Sign(rsa_, input))).outcome, Outcome::kOk);
}

TEST_F(JwtTest, ATokenWithoutKidUsesTheOnlyKeyForItsAlg) {
  std::string header = Object({{"alg", Quote("ES256")}, {"typ", Quote("JWT")}});
  std::string input = SigningInput(header, GoodClaims());
  EXPECT_EQ(Check(input + "." + Base64UrlEncode(Sign(ec_, input))).outcome, Outcome::kOk);
}

TEST_F(JwtTest, ARotatedJwksFileTakesEffectWithoutARestart) {
  auto auth = Make(Options());
  ASSERT_TRUE(auth);
  std::string old_token = Token(rsa_, "RS256", "rsa-1", GoodClaims());
  EXPECT_EQ(auth->Authenticate(Bearer(old_token), std::nullopt).outcome, Outcome::kOk);

  Pkey next = NewRsaKey();
  WriteFile(jwks_path_, Jwks({RsaJwk(next.get(), "rsa-2")}));
  std::string new_token = Token(next.get(), "RS256", "rsa-2", GoodClaims());
  AuthResult result = auth->Authenticate(Bearer(new_token), std::nullopt);
  EXPECT_EQ(result.outcome, Outcome::kOk) << result.reason;
  result = auth->Authenticate(Bearer(old_token), std::nullopt);
  EXPECT_EQ(result.outcome, Outcome::kInvalid);
  EXPECT_EQ(result.reason, "unknown kid: no key of the JWKS has the token's kid");

  // A broken replacement does not take the keys away.
  WriteFile(jwks_path_, "{\"keys\": [");
  EXPECT_EQ(auth->Authenticate(Bearer(new_token), std::nullopt).outcome, Outcome::kOk);
}

TEST_F(JwtTest, CreateChecksTheOptions) {
  auto refused = [](AuthOptions options, std::string_view message) {
    auto created = Authenticator::Create(std::move(options));
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(created.status().message().find(message), std::string::npos) << created.status().message();
  };
  AuthOptions options;
  options.jwt = Options();
  options.jwt->issuer.clear();
  refused(options, "issuer");
  options.jwt = Options();
  options.jwt->jwks_url = "https://login.example.org/keys";
  refused(options, "exactly one of jwks_file and jwks_url");
  options.jwt = Options();
  options.jwt->role_map = {{"IoMT.Boss", "boss"}};
  refused(options, "'boss' is not a grant");
  options.jwt = Options();
  options.jwt->jwks_file = dir_.File("missing.json");
  refused(options, "cannot be read");
  WriteFile(dir_.File("hmac.json"), R"({"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]})");
  options.jwt->jwks_file = dir_.File("hmac.json");
  refused(options, "no key that can verify RS256 or ES256");
}

// A JWKS served over HTTP by iomt's own server, as an identity provider's
// jwks_uri would be.
class JwksServer {
 public:
  JwksServer() {
    server::HttpServerOptions options;
    options.port = 0;
    auto started = server::HttpServer::Start(options, [this](const server::HttpRequest&) {
      requests_.fetch_add(1);
      MutexLock lock(mu_);
      return server::JsonBody(status_, body_);
    });
    EXPECT_TRUE(started.ok()) << started.status().ToString();
    if (started.ok()) server_ = std::move(started).value();
  }
  void Serve(int status, std::string body) {
    MutexLock lock(mu_);
    status_ = status;
    body_ = std::move(body);
  }
  [[nodiscard]] std::string Url() const { return "http://127.0.0.1:" + std::to_string(server_->port()) + "/keys"; }
  [[nodiscard]] int requests() const { return requests_.load(); }

 private:
  Mutex mu_;
  int status_ IOMT_GUARDED_BY(mu_) = 200;
  std::string body_ IOMT_GUARDED_BY(mu_) = R"({"keys":[]})";
  std::atomic<int> requests_{0};
  std::unique_ptr<server::HttpServer> server_;
};

TEST_F(JwtTest, FetchesAJwksUrlOnceAndAgainForAnUnknownKid) {
  JwksServer idp;
  idp.Serve(200, Jwks({RsaJwk(rsa_, "rsa-1")}));
  JwtOptions jwt = Options();
  jwt.jwks_file.clear();
  jwt.jwks_url = idp.Url();
  auto auth = Make(jwt);
  ASSERT_TRUE(auth);
  EXPECT_EQ(idp.requests(), 1);

  // Within the cache's life, tokens are checked without asking again.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(auth->Authenticate(Bearer(Token(rsa_, "RS256", "rsa-1", GoodClaims())), std::nullopt).outcome,
              Outcome::kOk);
  }
  EXPECT_EQ(idp.requests(), 1);

  // The provider rotates: a token with the new kid makes iomt fetch again.
  Pkey next = NewEcKey();
  idp.Serve(200, Jwks({RsaJwk(rsa_, "rsa-1"), EcJwk(next.get(), "ec-2")}));
  AuthResult result = auth->Authenticate(Bearer(Token(next.get(), "ES256", "ec-2", GoodClaims())), std::nullopt);
  EXPECT_EQ(result.outcome, Outcome::kOk) << result.reason;
  EXPECT_EQ(idp.requests(), 2);

  // Made-up kids right after do not make it fetch again (at most every 30 s).
  result = auth->Authenticate(Bearer(Token(rsa_, "RS256", "made-up", GoodClaims())), std::nullopt);
  EXPECT_EQ(result.reason, "unknown kid: no key of the JWKS has the token's kid");
  EXPECT_EQ(idp.requests(), 2);
}

TEST_F(JwtTest, FetchesTheJwksAgainOnceTheCacheHasExpired) {
  JwksServer idp;
  idp.Serve(200, Jwks({RsaJwk(rsa_, "rsa-1")}));
  JwtOptions jwt = Options();
  jwt.jwks_file.clear();
  jwt.jwks_url = idp.Url();
  jwt.jwks_cache_seconds = 1;
  auto auth = Make(jwt);
  ASSERT_TRUE(auth);
  std::string token = Token(rsa_, "RS256", "rsa-1", GoodClaims());
  EXPECT_EQ(auth->Authenticate(Bearer(token), std::nullopt).outcome, Outcome::kOk);
  EXPECT_EQ(idp.requests(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));

  // A failing refresh keeps the keys that were good.
  idp.Serve(500, R"({"error":"down"})");
  EXPECT_EQ(auth->Authenticate(Bearer(token), std::nullopt).outcome, Outcome::kOk);
  EXPECT_EQ(idp.requests(), 2);
}

TEST_F(JwtTest, AJwksUrlThatCannotBeFetchedAtStartIsUnavailable) {
  JwksServer idp;
  idp.Serve(404, R"({"error":"no"})");
  AuthOptions options;
  options.jwt = Options();
  options.jwt->jwks_file.clear();
  options.jwt->jwks_url = idp.Url();
  auto created = Authenticator::Create(std::move(options));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(created.status().message().find("HTTP 404"), std::string::npos) << created.status().message();
}

// Many request threads while the JWKS is refetched on every request (cache
// of 0 s): for ThreadSanitizer, and no thread ever sees an empty key set.
TEST_F(JwtTest, ManyThreadsAuthenticateWhileTheJwksIsRefreshed) {
  JwksServer idp;
  idp.Serve(200, Jwks({RsaJwk(rsa_, "rsa-1")}));
  JwtOptions jwt = Options();
  jwt.jwks_file.clear();
  jwt.jwks_url = idp.Url();
  jwt.jwks_cache_seconds = 0;
  auto auth = Make(jwt);
  ASSERT_TRUE(auth);
  std::string token = Token(rsa_, "RS256", "rsa-1", GoodClaims());
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        if (auth->Authenticate(Bearer(token), std::nullopt).outcome != Outcome::kOk) refused.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads)
    t.join();
  EXPECT_EQ(refused.load(), 0);
  EXPECT_GT(idp.requests(), 1);
}

TEST(ApiKeys, HashRoundTrips) {
  std::string key = NewApiKey();
  std::string hash = HashApiKey(key);
  EXPECT_TRUE(CheckApiKeyHash(hash).ok()) << CheckApiKeyHash(hash).ToString();
  EXPECT_EQ(hash.size(), std::string("sha256$").size() + 32 + 1 + 64);
  EXPECT_EQ(hash.rfind("sha256$", 0), 0U);
}

TEST(ApiKeys, TheSameKeyHashedTwiceGivesDifferentHashes) {
  EXPECT_NE(HashApiKey("iomt_same"), HashApiKey("iomt_same"));
}

TEST(ApiKeys, NewKeysAreIomtPrefixedBase64urlOf32Bytes) {
  std::string a = NewApiKey();
  std::string b = NewApiKey();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.rfind("iomt_", 0), 0U);
  std::optional<std::string> bytes = Base64UrlDecode(a.substr(5));
  ASSERT_TRUE(bytes.has_value()) << a;
  EXPECT_EQ(bytes->size(), 32U);
}

TEST(ApiKeys, CheckApiKeyHashSaysWhatIsWrong) {
  std::string good = HashApiKey("k");
  std::string salt = good.substr(7, 32);
  std::string digest = good.substr(40);
  struct Case {
    std::string text;
    std::string_view says;
  };
  for (const Case& c : std::vector<Case>{
           {"", "no '$'"},
           {"plain-text-key", "no '$'"},
           {"sha256$" + salt, "one '$'"},
           {"md5$" + salt + "$" + digest, "does not start with sha256$"},
           {"sha256$" + salt + "$" + digest + "$x", "more than two"},
           {"sha256$" + salt.substr(2) + "$" + digest, "salt is not 32 hex digits"},
           {"sha256$" + salt + "$" + digest.substr(1) + "g", "digest is not 64 hex digits"},
       }) {
    Status status = CheckApiKeyHash(c.text);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(status.message().find(c.says), std::string::npos) << status.message();
  }
}

class ApiKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ward_key_ = NewApiKey();
    admin_key_ = NewApiKey();
    AuthOptions options;
    options.api_keys.push_back(ApiKey{"ward-a-gateway", {{Role::kIngest, "ward-a"}}, HashApiKey(ward_key_)});
    options.api_keys.push_back(ApiKey{"ops", {{Role::kAdmin, ""}}, HashApiKey(admin_key_)});
    auto created = Authenticator::Create(std::move(options));
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    auth_ = std::move(created).value();
  }
  std::string ward_key_;
  std::string admin_key_;
  std::unique_ptr<Authenticator> auth_;
};

TEST_F(ApiKeyTest, TheRightKeyIsAcceptedWithItsGrants) {
  AuthResult result = auth_->Authenticate(std::nullopt, ward_key_);
  ASSERT_EQ(result.outcome, Outcome::kOk) << result.reason;
  EXPECT_EQ(result.principal.name, "ward-a-gateway");
  EXPECT_EQ(result.principal.kind, "key");
  EXPECT_EQ(result.principal.grants, (std::vector<Grant>{{Role::kIngest, "ward-a"}}));

  result = auth_->Authenticate("Bearer " + admin_key_, std::nullopt);
  ASSERT_EQ(result.outcome, Outcome::kOk) << result.reason;
  EXPECT_EQ(result.principal.name, "ops");
  EXPECT_EQ(auth_->Authenticate("bearer   " + admin_key_ + " ", std::nullopt).principal.name, "ops");
}

TEST_F(ApiKeyTest, AWrongKeyIsRefused) {
  std::string wrong = NewApiKey();
  AuthResult result = auth_->Authenticate(std::nullopt, wrong);
  EXPECT_EQ(result.outcome, Outcome::kInvalid);
  EXPECT_EQ(result.reason, "unknown API key");
  EXPECT_EQ(auth_->Authenticate(std::nullopt, ward_key_ + "x").reason, "unknown API key");
  // Without JWTs configured, a three-part bearer is just a wrong key.
  EXPECT_EQ(auth_->Authenticate("Bearer a.b.c", std::nullopt).reason, "unknown API key");
}

TEST_F(ApiKeyTest, TellsNoCredentialsFromBadOnes) {
  EXPECT_EQ(auth_->Authenticate(std::nullopt, std::nullopt).outcome, Outcome::kNoCredentials);
  EXPECT_EQ(auth_->Authenticate("Basic dXNlcjpwYXNz", std::nullopt).reason, "the Authorization scheme is not Bearer");
  EXPECT_EQ(auth_->Authenticate("Bearer ", std::nullopt).reason, "the Bearer credentials are empty");
  EXPECT_EQ(auth_->Authenticate(std::nullopt, "").reason, "the X-Api-Key header is empty");
  AuthResult both = auth_->Authenticate("Bearer " + admin_key_, ward_key_);
  EXPECT_EQ(both.outcome, Outcome::kInvalid);
  EXPECT_EQ(both.reason, "both Authorization and X-Api-Key were sent: send one of them");
}

TEST(ApiKeys, CreateRefusesAMalformedHashNamingTheKey) {
  AuthOptions options;
  options.api_keys.push_back(ApiKey{"gateway", {}, "sha256$nothex"});
  auto created = Authenticator::Create(std::move(options));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(created.status().message().find("'gateway'"), std::string::npos) << created.status().message();
}

TEST(Grants, ParseAndNameRoundTrip) {
  for (std::string_view text : {"admin", "ingest", "ingest:ward-a", "fhir-read", "fhir-write", "metrics"}) {
    Result<Grant> grant = ParseGrant(text);
    ASSERT_TRUE(grant.ok()) << text;
    EXPECT_EQ(GrantName(*grant), text);
  }
  Result<Grant> bad = ParseGrant("superuser");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'superuser'"), std::string::npos);
  EXPECT_FALSE(ParseGrant("ingest:").ok());
}

TEST(Principals, AdminHoldsEveryRole) {
  Principal admin{"ops", "key", {{Role::kAdmin, ""}}};
  for (Role role : {Role::kAdmin, Role::kIngest, Role::kFhirRead, Role::kFhirWrite, Role::kMetrics}) {
    EXPECT_TRUE(admin.Has(role));
  }
  EXPECT_TRUE(admin.Has(Role::kIngest, "ward-z"));
}

TEST(Principals, IngestForOneConnectorHoldsThatConnectorOnly) {
  Principal ward{"gw", "key", {{Role::kIngest, "ward-a"}}};
  EXPECT_TRUE(ward.Has(Role::kIngest, "ward-a"));
  EXPECT_FALSE(ward.Has(Role::kIngest, "ward-b"));
  EXPECT_FALSE(ward.Has(Role::kIngest));
  EXPECT_FALSE(ward.Has(Role::kFhirRead));
  EXPECT_FALSE(ward.Has(Role::kAdmin));

  Principal any{"gw", "key", {{Role::kIngest, ""}, {Role::kMetrics, ""}}};
  EXPECT_TRUE(any.Has(Role::kIngest, "ward-b"));
  EXPECT_TRUE(any.Has(Role::kIngest));
  EXPECT_TRUE(any.Has(Role::kMetrics));
  EXPECT_FALSE(any.Has(Role::kFhirWrite));
}

TEST(Base64Url, RoundTripsAndIsStrict) {
  for (std::string_view s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(s)), std::string(s));
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_FALSE(Base64UrlDecode("Zm9v=").has_value());  // padding
  EXPECT_FALSE(Base64UrlDecode("Zm9+").has_value());   // the other alphabet
  EXPECT_FALSE(Base64UrlDecode("Zh").has_value());     // stray bits
  EXPECT_FALSE(Base64UrlDecode("Z").has_value());
}

}  // namespace
}  // namespace iomt::auth
