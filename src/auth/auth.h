// Who a request comes from: what the credentials of an `iomt serve` request
// prove (docs/adr/0020-jwt-validation.md).
//
// Two kinds of credentials:
// - API keys, configured as salted SHA-256 hashes (HashApiKey), sent as
//   `X-Api-Key: KEY` or `Authorization: Bearer KEY`;
// - OAuth2/OIDC access tokens (JWTs signed RS256 or ES256) sent as
//   `Authorization: Bearer TOKEN`, checked against a JWKS (a file, re-read
//   when it changes, or a URL, cached) and the configured issuer and audience.
//
// This stage answers "who is it, and which grants do the credentials carry";
// whether those grants are enough for a route is the server's decision
// (Principal::Has). A reason for a refusal never contains the token or key.
//
// Thread safety: Authenticator::Authenticate may be called from any number of
// threads at once; the free functions are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace iomt::auth {

enum class Role : std::uint8_t { kAdmin, kIngest, kFhirRead, kFhirWrite, kMetrics };

// A role as granted: ingest may be limited to one connector ("ingest:ward-a").
struct Grant {
  Role role = Role::kMetrics;
  std::string connector;  // kIngest only; empty = every connector

  friend bool operator==(const Grant&, const Grant&) = default;
};

// "admin", "ingest", "ingest:NAME", "fhir-read", "fhir-write", "metrics";
// anything else is kInvalidArgument naming it.
Result<Grant> ParseGrant(std::string_view text);
// The text ParseGrant reads back ("ingest:ward-a").
std::string GrantName(const Grant& g);

struct Principal {
  std::string name;  // the API key's name, or the JWT's subject ("sub"), for the audit log
  std::string kind;  // "key" or "jwt"
  std::vector<Grant> grants;
  // admin holds every role; ingest without a connector holds every
  // connector's ingest. An empty `connector` asks for the role itself (for
  // kIngest: ingest on every connector, which only an unlimited grant holds).
  [[nodiscard]] bool Has(Role role, std::string_view connector = {}) const;
};

struct ApiKey {
  std::string name;
  std::vector<Grant> grants;
  std::string hash;  // HashApiKey's form
};

struct JwtOptions {
  std::string issuer;                 // required: the token's iss must equal it
  std::string audience;               // required: the token's aud (string or array) must contain it
  std::string jwks_file;              // one of these two: a JWKS document on disk (re-read when it changes)...
  std::string jwks_url;               // ...or fetched over HTTPS/HTTP with libcurl, cached
  std::string ca_file;                // optional CA bundle for jwks_url
  std::string roles_claim = "roles";  // array of strings, or one space-separated string
  // Claim value -> grant text ("IoMT.Admin" -> "admin"). Values not mapped are
  // parsed as grant names; those that are not grant names are ignored.
  std::vector<std::pair<std::string, std::string>> role_map;
  int clock_skew_seconds = 60;   // allowed on exp and nbf
  int jwks_cache_seconds = 300;  // how long a fetched JWKS is used before fetching again
};

struct AuthOptions {
  std::vector<ApiKey> api_keys;
  std::optional<JwtOptions> jwt;
  [[nodiscard]] bool configured() const { return !api_keys.empty() || jwt.has_value(); }
};

// Salted hash of an API key, as kept in the configuration:
// "sha256$<salt hex>$<digest hex>", a 16-byte random salt, digest =
// SHA-256(salt || key). Each call draws a new salt.
std::string HashApiKey(std::string_view key);
// Whether `hash_text` has HashApiKey's shape: kInvalidArgument saying what is wrong.
Status CheckApiKeyHash(std::string_view hash_text);
// A new API key: "iomt_" + 32 random bytes in base64url (no padding).
std::string NewApiKey();

struct AuthResult {
  enum class Outcome : std::uint8_t { kNoCredentials, kInvalid, kOk };
  Outcome outcome = Outcome::kNoCredentials;
  Principal principal;  // kOk
  // kInvalid: why, for the server's log and the 401 body ("the token has
  // expired", "unknown API key", ...). Never the token or the key.
  std::string reason;
};

class Authenticator {
 public:
  // Checks the options (every key's hash and grants, the JWT settings and
  // role_map; kInvalidArgument naming what is wrong) and loads the JWKS
  // once: a file that cannot be read or holds no usable key is
  // kInvalidArgument, a URL that cannot be fetched kUnavailable.
  static Result<std::unique_ptr<Authenticator>> Create(AuthOptions options);
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // What the request's credentials prove. `authorization` is the
  // Authorization header's value, `api_key` the X-Api-Key header's (each
  // when present). "Bearer X": X with three dot-separated parts is a JWT when
  // JWTs are configured, else an API key. Neither header: kNoCredentials.
  // Both headers, another scheme than Bearer, or an empty value: kInvalid.
  // May block while a JWKS URL is fetched (a token with an unknown kid, or a
  // cache that has expired).
  [[nodiscard]] AuthResult Authenticate(std::optional<std::string_view> authorization,
                                        std::optional<std::string_view> api_key) const;

 private:
  struct Impl;
  explicit Authenticator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace iomt::auth
