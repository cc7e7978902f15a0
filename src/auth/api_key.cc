#include "auth/api_key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "auth/auth.h"
#include "auth/jwt_check.h"
#include "common/status.h"
#include "common/strings.h"

namespace iomt::auth {

namespace internal {

namespace {

constexpr std::string_view kScheme = "sha256";
constexpr char kHex[] = "0123456789abcdef";

// A salt or a key drawn from a failing generator would be guessable, and
// there is no useful way to go on without randomness: stop.
void RandomBytes(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) std::abort();
}

std::array<unsigned char, kDigestBytes> Digest(const std::array<unsigned char, kSaltBytes>& salt,
                                               std::string_view key) {
  std::array<unsigned char, kDigestBytes> out{};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned int len = 0;
  // Only allocation can fail here, and a digest left zero matches no stored one.
  if (ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1 &&
      EVP_DigestUpdate(ctx.get(), salt.data(), salt.size()) == 1 &&
      EVP_DigestUpdate(ctx.get(), key.data(), key.size()) == 1) {
    EVP_DigestFinal_ex(ctx.get(), out.data(), &len);
  }
  return out;
}

void AppendHex(std::string* out, const unsigned char* bytes, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    out->push_back(kHex[bytes[i] >> 4]);
    out->push_back(kHex[bytes[i] & 0xf]);
  }
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool DecodeHex(std::string_view text, unsigned char* out, std::size_t n) {
  if (text.size() != 2 * n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    int hi = HexDigit(text[2 * i]);
    int lo = HexDigit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

}  // namespace

Result<HashedKey> ParseApiKeyHash(std::string_view hash_text) {
  auto wrong = [](std::string_view what) {
    return InvalidArgument(
        Cat({"an API key hash is sha256$<32 hex digits of salt>$<64 hex digits of digest>: ", what}));
  };
  std::size_t first = hash_text.find('$');
  if (first == std::string_view::npos) return wrong("it has no '$'");
  std::size_t second = hash_text.find('$', first + 1);
  if (second == std::string_view::npos) return wrong("it has one '$', not two");
  if (hash_text.find('$', second + 1) != std::string_view::npos) return wrong("it has more than two '$'");
  if (hash_text.substr(0, first) != kScheme) return wrong("it does not start with sha256$");
  HashedKey out;
  std::string_view salt = hash_text.substr(first + 1, second - first - 1);
  std::string_view digest = hash_text.substr(second + 1);
  if (!DecodeHex(salt, out.salt.data(), out.salt.size())) return wrong("the salt is not 32 hex digits");
  if (!DecodeHex(digest, out.digest.data(), out.digest.size())) return wrong("the digest is not 64 hex digits");
  return out;
}

bool KeyMatches(const HashedKey& hashed, std::string_view key) {
  std::array<unsigned char, kDigestBytes> digest = Digest(hashed.salt, key);
  return CRYPTO_memcmp(digest.data(), hashed.digest.data(), digest.size()) == 0;
}

}  // namespace internal

std::string HashApiKey(std::string_view key) {
  std::array<unsigned char, internal::kSaltBytes> salt{};
  internal::RandomBytes(salt.data(), salt.size());
  std::array<unsigned char, internal::kDigestBytes> digest = internal::Digest(salt, key);
  std::string out(internal::kScheme);
  out.push_back('$');
  internal::AppendHex(&out, salt.data(), salt.size());
  out.push_back('$');
  internal::AppendHex(&out, digest.data(), digest.size());
  return out;
}

Status CheckApiKeyHash(std::string_view hash_text) { return internal::ParseApiKeyHash(hash_text).status(); }

std::string NewApiKey() {
  std::array<unsigned char, 32> bytes{};
  internal::RandomBytes(bytes.data(), bytes.size());
  return Cat({"iomt_",
              internal::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()))});
}

}  // namespace iomt::auth
