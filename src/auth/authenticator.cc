#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "auth/api_key.h"
#include "auth/auth.h"
#include "auth/jwks_source.h"
#include "auth/jwt_check.h"
#include "common/mutex.h"
#include "common/status.h"
#include "common/strings.h"

namespace iomt::auth {

namespace {

struct StoredKey {
  std::string name;
  std::vector<Grant> grants;
  internal::HashedKey hashed;
};

AuthResult Invalid(std::string reason) {
  AuthResult out;
  out.outcome = AuthResult::Outcome::kInvalid;
  out.reason = std::move(reason);
  return out;
}

AuthResult Ok(Principal principal) {
  AuthResult out;
  out.outcome = AuthResult::Outcome::kOk;
  out.principal = std::move(principal);
  return out;
}

// HTTP's optional whitespace around a header value.
std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool LooksLikeJwt(std::string_view token) {
  std::size_t dots = 0;
  for (char c : token)
    dots += c == '.' ? 1 : 0;
  return dots == 2;
}

Status CheckJwtOptions(const JwtOptions& jwt) {
  if (jwt.issuer.empty()) return InvalidArgument("jwt: the issuer is required");
  if (jwt.audience.empty()) return InvalidArgument("jwt: the audience is required");
  if (jwt.jwks_file.empty() == jwt.jwks_url.empty()) {
    return InvalidArgument("jwt: exactly one of jwks_file and jwks_url is required");
  }
  if (!jwt.ca_file.empty() && jwt.jwks_url.empty()) return InvalidArgument("jwt: ca_file is for jwks_url only");
  if (!jwt.jwks_url.empty() && !jwt.jwks_url.starts_with("https://") && !jwt.jwks_url.starts_with("http://")) {
    return InvalidArgument("jwt: jwks_url is not an http:// or https:// URL");
  }
  if (jwt.roles_claim.empty()) return InvalidArgument("jwt: roles_claim is empty");
  if (jwt.clock_skew_seconds < 0) return InvalidArgument("jwt: clock_skew_seconds is negative");
  if (jwt.jwks_cache_seconds < 0) return InvalidArgument("jwt: jwks_cache_seconds is negative");
  return Status::Ok();
}

}  // namespace

struct Authenticator::Impl {
  std::vector<StoredKey> keys;
  std::optional<internal::ClaimRules> rules;
  std::unique_ptr<internal::JwksSource> jwks;

  // Tokens already verified. A client sends the same token for its whole
  // life (an hour, with Entra ID), and verifying it costs ~0.5 ms of CPU
  // (libjwt 1.10 reads the key's PEM anew each time, through OpenSSL 3's
  // decoders and their global locks): ~1,800 requests/s on this machine
  // against ~12,000 with an API key (bench/security.sh). An entry holds
  // until the token's exp (plus skew), and only while the key set it was
  // verified with is the current one: a rotation drops what it verified.
  struct Verified {
    Principal principal;
    std::int64_t valid_until = 0;
    std::shared_ptr<const internal::KeySet> key_set;
  };
  static constexpr std::size_t kMaxVerified = 10'000;  // beyond: start again (tokens outnumber clients)
  mutable Mutex verified_mu;
  mutable std::unordered_map<std::string, Verified> verified IOMT_GUARDED_BY(verified_mu);

  std::optional<Principal> Remembered(std::string_view token, const std::shared_ptr<const internal::KeySet>& key_set,
                                      std::int64_t now) const IOMT_EXCLUDES(verified_mu) {
    MutexLock lock(verified_mu);
    auto it = verified.find(std::string(token));
    if (it == verified.end()) return std::nullopt;
    if (it->second.key_set != key_set || now > it->second.valid_until) {
      verified.erase(it);
      return std::nullopt;
    }
    return it->second.principal;
  }

  void Remember(std::string_view token, const Principal& principal, std::int64_t valid_until,
                std::shared_ptr<const internal::KeySet> key_set) const IOMT_EXCLUDES(verified_mu) {
    MutexLock lock(verified_mu);
    if (verified.size() >= kMaxVerified) verified.clear();
    verified[std::string(token)] = Verified{principal, valid_until, std::move(key_set)};
  }

  [[nodiscard]] AuthResult CheckKey(std::string_view key) const {
    // Every configured key is hashed and compared, matched or not, so the
    // time taken does not tell how far down the list a key is.
    const StoredKey* match = nullptr;
    for (const StoredKey& stored : keys) {
      if (internal::KeyMatches(stored.hashed, key) && match == nullptr) match = &stored;
    }
    if (match == nullptr) return Invalid("unknown API key");
    return Ok(Principal{match->name, "key", match->grants});
  }

  [[nodiscard]] AuthResult CheckJwt(std::string_view token) const {
    std::shared_ptr<const internal::KeySet> key_set = jwks->Current();
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (std::optional<Principal> known = Remembered(token, key_set, now)) return Ok(std::move(*known));
    Result<internal::TokenHeader> header = internal::ReadTokenHeader(token);
    if (!header.ok()) return Invalid(header.status().message());
    internal::KeyChoice choice = internal::ChooseKey(*key_set, *header);
    if (choice.lookup == internal::KeyLookup::kUnknownKid) {
      if (std::optional<std::shared_ptr<const internal::KeySet>> fresh = jwks->RefreshForUnknownKid()) {
        key_set = std::move(*fresh);
        choice = internal::ChooseKey(*key_set, *header);
      }
    }
    if (choice.lookup != internal::KeyLookup::kFound) return Invalid(std::move(choice.reason));
    std::int64_t valid_until = 0;
    Result<Principal> principal = internal::VerifyToken(token, *header, *choice.key, *rules, now, &valid_until);
    if (!principal.ok()) return Invalid(principal.status().message());
    Remember(token, *principal, valid_until, std::move(key_set));
    return Ok(std::move(principal).value());
  }
};

Authenticator::Authenticator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Authenticator::~Authenticator() = default;

Result<std::unique_ptr<Authenticator>> Authenticator::Create(AuthOptions options) {
  auto impl = std::make_unique<Impl>();
  std::set<std::string, std::less<>> names;
  for (ApiKey& key : options.api_keys) {
    if (key.name.empty()) return InvalidArgument("an API key has no name");
    if (!names.insert(key.name).second) return InvalidArgument(Cat({"two API keys are named '", key.name, "'"}));
    Result<internal::HashedKey> hashed = internal::ParseApiKeyHash(key.hash);
    if (!hashed.ok()) return InvalidArgument(Cat({"the API key '", key.name, "': ", hashed.status().message()}));
    impl->keys.push_back(StoredKey{std::move(key.name), std::move(key.grants), *hashed});
  }
  if (options.jwt) {
    const JwtOptions& jwt = *options.jwt;
    IOMT_RETURN_IF_ERROR(CheckJwtOptions(jwt));
    internal::ClaimRules rules;
    rules.issuer = jwt.issuer;
    rules.audience = jwt.audience;
    rules.roles_claim = jwt.roles_claim;
    rules.clock_skew_seconds = jwt.clock_skew_seconds;
    for (const auto& [claim_value, grant_text] : jwt.role_map) {
      Result<Grant> grant = ParseGrant(grant_text);
      if (!grant.ok()) {
        return InvalidArgument(Cat({"jwt: role_map maps '", claim_value, "' to ", grant.status().message()}));
      }
      rules.role_map.emplace_back(claim_value, std::move(grant).value());
    }
    impl->rules = std::move(rules);
    IOMT_ASSIGN_OR_RETURN(impl->jwks, internal::JwksSource::Open(jwt));
  }
  return std::unique_ptr<Authenticator>(new Authenticator(std::move(impl)));
}

AuthResult Authenticator::Authenticate(std::optional<std::string_view> authorization,
                                       std::optional<std::string_view> api_key) const {
  if (!authorization && !api_key) return AuthResult{};
  if (authorization && api_key) return Invalid("both Authorization and X-Api-Key were sent: send one of them");
  if (api_key) {
    std::string_view key = TrimOws(*api_key);
    if (key.empty()) return Invalid("the X-Api-Key header is empty");
    return impl_->CheckKey(key);
  }
  std::string_view value = TrimOws(*authorization);
  std::size_t space = value.find(' ');
  std::string_view scheme = value.substr(0, space);
  if (AsciiLower(scheme) != "bearer") return Invalid("the Authorization scheme is not Bearer");
  std::string_view token = space == std::string_view::npos ? std::string_view() : TrimOws(value.substr(space + 1));
  if (token.empty()) return Invalid("the Bearer credentials are empty");
  if (impl_->rules && LooksLikeJwt(token)) return impl_->CheckJwt(token);
  return impl_->CheckKey(token);
}

}  // namespace iomt::auth
