// Fuzzes what `iomt serve` does with a request once HTTP has framed it: the
// route, the credentials (Authorization and X-Api-Key headers: API keys,
// bearer JWTs with any header and payload), the body. One service lives for
// the whole run, with credentials configured (an API key per role and a JWT
// issuer whose JWKS holds an RSA key), the provisioning API and the console
// attached, and one connector. Nothing may crash; a request without valid
// credentials must never get past them (a 2xx answer to one is a finding).
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "auth/auth.h"
#include "console/console.h"
#include "control/provisioning.h"
#include "server/service.h"

namespace {

constexpr std::string_view kAdminKey = "iomt_fuzz-admin-key-0123456789abcdef";

// A JWKS with one RSA key made at start: its private half is dropped, so
// no token the fuzzer makes can carry a valid signature.
std::string Base64Url(const unsigned char* bytes, int n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  int bits = 0;
  unsigned value = 0;
  for (int i = 0; i < n; ++i) {
    value = (value << 8) | bytes[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(value >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(value << (6 - bits)) & 63]);
  return out;
}

std::string BigNum(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) std::abort();
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return Base64Url(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
}

std::string MakeJwks() {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  if (key == nullptr) std::abort();
  std::string jwks = R"({"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","e":")" + BigNum(key, "e") +
                     R"(","n":")" + BigNum(key, "n") + R"("}]})";
  EVP_PKEY_free(key);
  return jwks;
}

iomt::server::Service& TheService() {
  static std::unique_ptr<iomt::server::Service> service = [] {
    char dir[] = "/tmp/iomt-serve-fuzz-XXXXXX";
    if (::mkdtemp(dir) == nullptr) std::abort();
    const std::string base(dir);
    std::ofstream(base + "/jwks.json") << MakeJwks();
    iomt::server::ServeConfig config;
    config.port = 0;
    config.store = base + "/store";
    config.auth.api_keys = {{"admin", "admin " + iomt::auth::HashApiKey(kAdminKey)},
                            {"reader", "fhir-read " + iomt::auth::HashApiKey("iomt_fuzz-reader-key-0123456789")}};
    config.auth.jwt_issuer = "https://issuer.example";
    config.auth.jwt_audience = "api://iomt";
    config.auth.jwt_jwks_file = base + "/jwks.json";
    iomt::server::ConnectorConfig connector;
    connector.name = "fuzz";
    connector.device_mapping = std::string(IOMT_SOURCE_DIR) + "/examples/mappings/devicecontent.json";
    connector.fhir_mapping = std::string(IOMT_SOURCE_DIR) + "/examples/mappings/fhirmapping.json";
    config.connectors.push_back(connector);
    auto started = iomt::server::Service::Start(config, [](iomt::server::Service& s) -> iomt::Status {
      IOMT_RETURN_IF_ERROR(iomt::control::Provisioning::AttachTo(s));
      return iomt::console::AttachTo(s);
    });
    if (!started.ok()) {
      std::fprintf(stderr, "cannot start: %s\n", started.status().message().c_str());
      std::abort();
    }
    return std::move(started).value();
  }();
  return *service;
}

// Splits the input at '\n' into: method selector, path, Authorization,
// X-Api-Key, body (the rest).
std::string_view Take(std::string_view* rest) {
  const std::size_t nl = rest->find('\n');
  std::string_view piece = rest->substr(0, nl);
  rest->remove_prefix(nl == std::string_view::npos ? rest->size() : nl + 1);
  return piece;
}

constexpr std::string_view kMethods[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  iomt::server::Service& service = TheService();
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  iomt::server::HttpRequest request;
  request.method = std::string(kMethods[data[0] % 5]);
  request.target = std::string(Take(&rest));
  const std::size_t q = request.target.find('?');
  request.path = request.target.substr(0, q);
  request.query = q == std::string::npos ? "" : request.target.substr(q + 1);
  const std::string_view authorization = Take(&rest);
  const std::string_view api_key = Take(&rest);
  // The admin key, when the input asks for it, lets the fuzzer reach the
  // handlers behind the credentials too.
  const bool admin = (data[0] & 0x80) != 0;
  if (admin) {
    request.headers.emplace_back("x-api-key", std::string(kAdminKey));
  } else {
    if (!authorization.empty()) request.headers.emplace_back("authorization", std::string(authorization));
    if (!api_key.empty()) request.headers.emplace_back("x-api-key", std::string(api_key));
  }
  request.body = std::string(rest);
  request.peer = "127.0.0.1:1";
  const iomt::server::HttpResponse response = service.Handle(request);
  // Open routes aside (probes, the page, metadata), nothing may succeed
  // without valid credentials.
  const bool open = request.path == "/healthz" || request.path == "/readyz" || request.path == "/fhir/metadata" ||
                    request.path == "/" || request.path == "/index.html" || request.path.starts_with("/console/");
  if (!admin && !open && response.status >= 200 && response.status < 300) {
    std::fprintf(stderr, "%s %s answered %d without valid credentials\n", request.method.c_str(), request.path.c_str(),
                 response.status);
    std::abort();
  }
  return 0;
}
