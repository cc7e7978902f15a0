#include "auth/jwt_check.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/auth.h"
#include "common/json/document.h"
#include "common/json/value.h"
#include "common/status.h"
#include "common/strings.h"

namespace iomt::auth::internal {

namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Far above what any identity provider issues; bounds the work a stranger's
// header can cause before a signature has been checked.
constexpr std::size_t kMaxTokenBytes = std::size_t{16} * 1024;

int Sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using JwtPtr = std::unique_ptr<jwt_t, Deleter<jwt_t, jwt_free>>;

BignumPtr ToBignum(std::string_view bytes) {
  return BignumPtr(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), nullptr));
}

// The public key that `params` describe, as PEM: OpenSSL 3's provider
// interface (the RSA_* / EC_KEY_* setters are deprecated in 3.0).
Result<std::string> PemFromParams(const char* type, const OSSL_PARAM* params) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, const_cast<OSSL_PARAM*>(params)) != 1) {
    return InvalidArgument("OpenSSL does not take its key material");
  }
  PkeyPtr pkey(raw);
  if (std::string_view(type) == "RSA" && EVP_PKEY_get_bits(pkey.get()) < 2048) {
    return InvalidArgument("its RSA modulus is shorter than 2048 bits");
  }
  if (std::string_view(type) == "EC") {
    // fromdata takes a point without asking whether it lies on the curve.
    PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) return InvalidArgument("its point is not on P-256");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey.get()) != 1) return Internal("PEM_write_bio_PUBKEY failed");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

// A value from the token, fit for a log line and a 401 body.
std::string_view Printable(std::string_view s) {
  bool plain = s.size() <= 16 && std::all_of(s.begin(), s.end(), [](char c) {
                 return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '+' || c == '_';
               });
  return plain ? s : std::string_view("(unprintable)");
}

bool GetString(const json::Value& object, std::string_view name, std::string* out) {
  json::Value v;
  if (!object.Find(name, &v) || !v.is_string()) return false;
  *out = std::string(v.string_value());
  return true;
}

Jwk ReadJwk(const json::Value& entry) {
  Jwk key;
  GetString(entry, "kid", &key.kid);
  GetString(entry, "kty", &key.kty);
  GetString(entry, "use", &key.use);
  GetString(entry, "alg", &key.alg);
  Result<std::string> pem = InvalidArgument("");
  if (key.kty == "RSA") {
    key.fits = JwtAlg::kRS256;
    std::string n;
    std::string e;
    if (!GetString(entry, "n", &n) || !GetString(entry, "e", &e)) {
      key.problem = "the RSA key has no n or no e";
      return key;
    }
    pem = RsaPublicKeyPem(n, e);
  } else if (key.kty == "EC") {
    std::string crv;
    GetString(entry, "crv", &crv);
    if (crv != "P-256") {
      key.problem = Cat({"the EC key's curve is '", crv, "', not P-256"});
      return key;
    }
    key.fits = JwtAlg::kES256;
    std::string x;
    std::string y;
    if (!GetString(entry, "x", &x) || !GetString(entry, "y", &y)) {
      key.problem = "the EC key has no x or no y";
      return key;
    }
    pem = Ec256PublicKeyPem(x, y);
  } else {
    key.problem = Cat({"its kty is '", key.kty, "' (RSA and EC keys are used)"});
    return key;
  }
  if (pem.ok()) {
    key.pem = std::move(pem).value();
  } else {
    key.problem = pem.status().message();
  }
  return key;
}

bool Usable(const Jwk& key, JwtAlg alg) {
  return key.fits == alg && !key.pem.empty() && (key.use.empty() || key.use == "sig") &&
         (key.alg.empty() || key.alg == JwtAlgName(alg));
}

Result<std::unique_ptr<json::Document>> ParseSegment(std::string_view segment) {
  std::optional<std::string> text = Base64UrlDecode(segment);
  if (!text) return InvalidArgument("not base64url");
  json::ParseOptions options;
  options.max_depth = 16;
  auto doc = json::ParseDocument(*text, options);
  if (!doc.ok()) return InvalidArgument("not JSON");
  if (!(*doc)->root().is_object()) return InvalidArgument("not a JSON object");
  return doc;
}

// The token's segments, without checking what is in them.
bool SplitToken(std::string_view token, std::array<std::string_view, 3>* parts) {
  std::size_t first = token.find('.');
  if (first == std::string_view::npos) return false;
  std::size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) return false;
  (*parts)[0] = token.substr(0, first);
  (*parts)[1] = token.substr(first + 1, second - first - 1);
  (*parts)[2] = token.substr(second + 1);
  return true;
}

// A NumericDate claim (RFC 7519: seconds, possibly with a fraction).
std::optional<std::int64_t> NumericDate(const json::Value& claims, std::string_view name, bool* wrong_type) {
  json::Value v;
  if (!claims.Find(name, &v)) return std::nullopt;
  if (!v.is_number() || !std::isfinite(v.AsDouble())) {
    *wrong_type = true;
    return std::nullopt;
  }
  if (v.kind() == json::Kind::kInt) return v.int_value();
  double d = std::clamp(v.AsDouble(), -1e15, 1e15);
  return static_cast<std::int64_t>(std::floor(d));
}

void AddRole(std::string_view value, const ClaimRules& rules, std::vector<Grant>* grants) {
  bool mapped = false;
  for (const auto& [claim_value, grant] : rules.role_map) {
    if (claim_value != value) continue;
    mapped = true;
    if (std::find(grants->begin(), grants->end(), grant) == grants->end()) grants->push_back(grant);
  }
  if (mapped) return;
  // Identity providers put other applications' roles in the same claim:
  // a value that names no grant is someone else's, not an error.
  Result<Grant> grant = ParseGrant(value);
  if (grant.ok() && std::find(grants->begin(), grants->end(), *grant) == grants->end()) grants->push_back(*grant);
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out.push_back(kAlphabet[v >> 18 & 63]);
    out.push_back(kAlphabet[v >> 12 & 63]);
    out.push_back(kAlphabet[v >> 6 & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
    out.push_back(kAlphabet[v >> 18 & 63]);
    out.push_back(kAlphabet[v >> 12 & 63]);
    if (rest == 2) out.push_back(kAlphabet[v >> 6 & 63]);
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int s = Sextet(c);
    if (s < 0) return std::nullopt;
    acc = (acc << 6 | static_cast<std::uint32_t>(s)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>(acc >> bits & 0xff));
    }
  }
  // Leftover bits must be zero, or two texts would decode to the same bytes.
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string_view JwtAlgName(JwtAlg alg) { return alg == JwtAlg::kRS256 ? "RS256" : "ES256"; }

Result<std::string> RsaPublicKeyPem(std::string_view n_b64url, std::string_view e_b64url) {
  std::optional<std::string> n = Base64UrlDecode(n_b64url);
  std::optional<std::string> e = Base64UrlDecode(e_b64url);
  if (!n || !e || n->empty() || e->empty()) return InvalidArgument("its n or e is not base64url");
  BignumPtr bn_n = ToBignum(*n);
  BignumPtr bn_e = ToBignum(*e);
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return Internal("OSSL_PARAM_BLD failed");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return Internal("OSSL_PARAM_BLD_to_param failed");
  return PemFromParams("RSA", params.get());
}

Result<std::string> Ec256PublicKeyPem(std::string_view x_b64url, std::string_view y_b64url) {
  std::optional<std::string> x = Base64UrlDecode(x_b64url);
  std::optional<std::string> y = Base64UrlDecode(y_b64url);
  if (!x || !y || x->size() != 32 || y->size() != 32) return InvalidArgument("its x or y is not 32 bytes of base64url");
  // The uncompressed SEC 1 point: 0x04 || x || y.
  std::string point = Cat({std::string_view("\x04", 1), *x, *y});
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return Internal("OSSL_PARAM_BLD failed");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return Internal("OSSL_PARAM_BLD_to_param failed");
  return PemFromParams("EC", params.get());
}

Result<KeySet> ParseJwks(std::string_view json) {
  auto doc = json::ParseDocument(json);
  if (!doc.ok()) return InvalidArgument(Cat({"the JWKS is not JSON: ", doc.status().message()}));
  json::Value keys;
  if (!(*doc)->root().Find("keys", &keys) || !keys.is_array()) {
    return InvalidArgument("the JWKS has no \"keys\" array");
  }
  KeySet out;
  bool any = false;
  for (json::Value entry : keys.elements()) {
    if (!entry.is_object()) continue;
    out.keys.push_back(ReadJwk(entry));
    const Jwk& key = out.keys.back();
    any = any || (key.fits && Usable(key, *key.fits));
  }
  if (!any) return InvalidArgument("the JWKS has no key that can verify RS256 or ES256 signatures");
  return out;
}

Result<TokenHeader> ReadTokenHeader(std::string_view token) {
  if (token.size() > kMaxTokenBytes) return InvalidArgument("the token is longer than 16 KiB");
  std::array<std::string_view, 3> parts;
  if (!SplitToken(token, &parts)) return InvalidArgument("the token does not have three parts");
  auto doc = ParseSegment(parts[0]);
  if (!doc.ok()) return InvalidArgument(Cat({"the token's header is ", doc.status().message()}));
  json::Value header = (*doc)->root();
  std::string alg;
  if (!GetString(header, "alg", &alg)) return InvalidArgument("the token's header has no alg");
  TokenHeader out;
  if (alg == "RS256") {
    out.alg = JwtAlg::kRS256;
  } else if (alg == "ES256") {
    out.alg = JwtAlg::kES256;
  } else if (alg == "none" || alg == "None" || alg == "NONE") {
    return InvalidArgument("alg none is not accepted");
  } else {
    // An HMAC alg would have libjwt use the public key as the shared secret,
    // which anyone can compute a signature with.
    return InvalidArgument(Cat({"alg ", Printable(alg), " is not accepted (only RS256 and ES256)"}));
  }
  // libjwt 1.10 refuses any other typ (with the same error as a bad
  // signature); saying so here gives the client the real reason.
  json::Value typ;
  if (header.Find("typ", &typ) && !(typ.is_string() && AsciiLower(typ.string_value()) == "jwt")) {
    return InvalidArgument(Cat({"the token's typ is ", typ.is_string() ? Printable(typ.string_value()) : "not a string",
                                ": only JWT is accepted"}));
  }
  // RFC 7515 section 4.1.11: extensions the recipient does not understand
  // make the token invalid, and none are understood here.
  if (header.Has("crit")) return InvalidArgument("the token's header has crit extensions, which are not supported");
  json::Value kid;
  if (header.Find("kid", &kid)) {
    if (!kid.is_string()) return InvalidArgument("the token's kid is not a string");
    out.kid = std::string(kid.string_value());
  }
  return out;
}

KeyChoice ChooseKey(const KeySet& keys, const TokenHeader& header) {
  KeyChoice out;
  if (!header.kid) {
    const Jwk* only = nullptr;
    int count = 0;
    for (const Jwk& key : keys.keys) {
      if (!Usable(key, header.alg)) continue;
      only = &key;
      ++count;
    }
    if (count == 1) {
      out.lookup = KeyLookup::kFound;
      out.key = only;
      return out;
    }
    out.lookup = KeyLookup::kUnusable;
    out.reason = Cat({"the token has no kid, and the JWKS has ", count == 0 ? "no" : "more than one", " ",
                      JwtAlgName(header.alg), " key"});
    return out;
  }
  const Jwk* named = nullptr;
  for (const Jwk& key : keys.keys) {
    if (key.kid != *header.kid) continue;
    if (Usable(key, header.alg)) {
      out.lookup = KeyLookup::kFound;
      out.key = &key;
      return out;
    }
    if (named == nullptr) named = &key;
  }
  if (named == nullptr) {
    out.lookup = KeyLookup::kUnknownKid;
    out.reason = "unknown kid: no key of the JWKS has the token's kid";
    return out;
  }
  out.lookup = KeyLookup::kUnusable;
  std::string_view alg = JwtAlgName(header.alg);
  if (named->fits != header.alg) {
    out.reason = Cat({"the key with the token's kid is not a key for ", alg, " (its kty is '", named->kty, "')"});
  } else if (named->pem.empty()) {
    out.reason = Cat({"the key with the token's kid is unusable: ", named->problem});
  } else if (!named->use.empty() && named->use != "sig") {
    out.reason = "the key with the token's kid is not for signatures (use)";
  } else {
    out.reason = Cat({"the key with the token's kid is for another alg than ", alg});
  }
  return out;
}

Result<Principal> VerifyToken(std::string_view token, const TokenHeader& header, const Jwk& key,
                              const ClaimRules& rules, std::int64_t now, std::int64_t* valid_until) {
  std::array<std::string_view, 3> parts;
  if (!SplitToken(token, &parts)) return InvalidArgument("the token does not have three parts");
  auto payload = ParseSegment(parts[1]);
  if (!payload.ok()) return InvalidArgument(Cat({"the token's payload is ", payload.status().message()}));
  if (parts[2].empty()) return InvalidArgument("the token has no signature");

  // libjwt checks the signature of these very bytes, so the claims read
  // below from `payload` are the signed ones.
  std::string text(token);
  jwt_t* raw = nullptr;
  int rc = jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(key.pem.data()),
                      static_cast<int>(key.pem.size()));
  JwtPtr decoded(raw);
  if (rc != 0 || !decoded) return InvalidArgument("the signature does not verify");
  // Our own header check chose the key for this alg; should libjwt have
  // read the header differently, the key was not meant for what it did.
  jwt_alg_t expected = header.alg == JwtAlg::kRS256 ? JWT_ALG_RS256 : JWT_ALG_ES256;
  if (jwt_get_alg(decoded.get()) != expected) return InvalidArgument("the signature does not verify");

  json::Value claims = (*payload)->root();
  std::string iss;
  if (!GetString(claims, "iss", &iss)) return InvalidArgument("the token has no iss");
  if (iss != rules.issuer) return InvalidArgument("the token's issuer (iss) is not the configured one");
  json::Value aud;
  bool audience_ok = false;
  if (claims.Find("aud", &aud)) {
    if (aud.is_string()) {
      audience_ok = aud.string_value() == rules.audience;
    } else if (aud.is_array()) {
      for (json::Value a : aud.elements()) {
        if (a.is_string() && a.string_value() == rules.audience) audience_ok = true;
      }
    }
  }
  if (!audience_ok) return InvalidArgument("the token's audience (aud) does not contain the configured one");

  bool wrong_type = false;
  std::optional<std::int64_t> exp = NumericDate(claims, "exp", &wrong_type);
  if (wrong_type) return InvalidArgument("the token's exp is not a number");
  if (!exp) return InvalidArgument("the token has no exp");
  if (now > *exp + rules.clock_skew_seconds) return InvalidArgument("the token has expired");
  if (valid_until != nullptr) *valid_until = *exp + rules.clock_skew_seconds;
  std::optional<std::int64_t> nbf = NumericDate(claims, "nbf", &wrong_type);
  if (wrong_type) return InvalidArgument("the token's nbf is not a number");
  if (nbf && *nbf - rules.clock_skew_seconds > now) return InvalidArgument("the token is not valid yet (nbf)");

  Principal principal;
  principal.kind = "jwt";
  if (!GetString(claims, "sub", &principal.name) || principal.name.empty()) {
    return InvalidArgument("the token has no sub");
  }
  json::Value roles;
  if (claims.Find(rules.roles_claim, &roles)) {
    if (roles.is_array()) {
      for (json::Value r : roles.elements()) {
        if (r.is_string()) AddRole(r.string_value(), rules, &principal.grants);
      }
    } else if (roles.is_string()) {
      std::string_view rest = roles.string_value();
      while (!rest.empty()) {
        std::size_t space = rest.find(' ');
        std::string_view word = rest.substr(0, space);
        if (!word.empty()) AddRole(word, rules, &principal.grants);
        if (space == std::string_view::npos) break;
        rest.remove_prefix(space + 1);
      }
    }
  }
  return principal;
}

}  // namespace iomt::auth::internal
