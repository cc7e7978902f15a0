// The pieces of JWT validation below the Authenticator, in the order a token
// goes through them: its header read by us (so that libjwt is never handed
// a token whose alg we did not choose), the key picked from a JWKS by kid,
// the signature verified by libjwt with that key as PEM, then the claims.
// A failing step returns kInvalidArgument whose message is the reason given
// to the client. Internal to src/auth (and its tests); thread-safe, no state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/auth.h"
#include "common/status.h"

namespace iomt::auth::internal {

// RFC 4648 section 5, without padding (what JWS uses).
std::string Base64UrlEncode(std::string_view bytes);
// Strict: only the base64url alphabet, no padding, no stray bits at the end.
std::optional<std::string> Base64UrlDecode(std::string_view text);

enum class JwtAlg : std::uint8_t { kRS256, kES256 };
std::string_view JwtAlgName(JwtAlg alg);

// One entry of a JWKS.
struct Jwk {
  std::string kid;             // empty when the JWK has none
  std::optional<JwtAlg> fits;  // the alg its type serves (RSA: RS256, EC P-256: ES256); none for others
  std::string kty;             // as written, for reasons
  std::string use;             // as written; empty when absent
  std::string alg;             // as written; empty when absent
  std::string pem;             // SubjectPublicKeyInfo PEM, when `fits` and the key material converted
  std::string problem;         // why the material did not convert (then `pem` is empty)
};

struct KeySet {
  std::vector<Jwk> keys;
};

// A JWKS document ({"keys": [...]}). Entries of other types are kept (so a
// token naming one gets a precise reason) but never used. kInvalidArgument
// when the text is not a JWKS or none of its keys can verify RS256 or ES256.
Result<KeySet> ParseJwks(std::string_view json);

// A JWK's public key as PEM (what libjwt 1.10 takes): RSA from n and e (at
// least 2048 bits), EC P-256 from x and y (checked to be on the curve).
Result<std::string> RsaPublicKeyPem(std::string_view n_b64url, std::string_view e_b64url);
Result<std::string> Ec256PublicKeyPem(std::string_view x_b64url, std::string_view y_b64url);

struct TokenHeader {
  JwtAlg alg = JwtAlg::kRS256;
  std::optional<std::string> kid;
};

// The header of a compact JWS "H.P.S", read without libjwt: only RS256 and
// ES256 pass.
Result<TokenHeader> ReadTokenHeader(std::string_view token);

enum class KeyLookup : std::uint8_t { kFound, kUnknownKid, kUnusable };
struct KeyChoice {
  KeyLookup lookup = KeyLookup::kUnknownKid;
  const Jwk* key = nullptr;  // kFound
  std::string reason;        // kUnknownKid, kUnusable
};
// The key of `keys` that verifies a token with this header: the one with its
// kid, whose type fits the alg, and whose use and alg (when present) allow
// it. A token without kid takes the only key that fits its alg.
KeyChoice ChooseKey(const KeySet& keys, const TokenHeader& header);

// What is checked in the claims, from JwtOptions with role_map parsed.
struct ClaimRules {
  std::string issuer;
  std::string audience;
  std::string roles_claim;
  std::vector<std::pair<std::string, Grant>> role_map;
  std::int64_t clock_skew_seconds = 60;
};

// The signature (libjwt, with `key`), then the claims against `rules` at
// `now` (seconds since the epoch): the principal the token proves; with
// `valid_until`, the last second it is accepted (exp plus the skew).
Result<Principal> VerifyToken(std::string_view token, const TokenHeader& header, const Jwk& key,
                              const ClaimRules& rules, std::int64_t now, std::int64_t* valid_until = nullptr);

}  // namespace iomt::auth::internal
