#include "common/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <memory>

namespace iomt {
namespace {

// The digest is fetched once and a context kept per thread: OpenSSL 3's
// one-shot calls look the algorithm up every time, which costs more than
// hashing a resource identifier.
struct Hasher {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Hasher() {
    if (md == nullptr || ctx == nullptr) std::abort();  // libcrypto without SHA-256: nothing sensible to do
  }
  ~Hasher() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
};

}  // namespace

void AppendSha256Hex(std::string* out, std::string_view data) {
  thread_local Hasher hasher;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestInit_ex2(hasher.ctx, hasher.md, nullptr) != 1 ||
      EVP_DigestUpdate(hasher.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(hasher.ctx, digest, &len) != 1) {
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  const std::size_t at = out->size();
  const std::size_t n = len;
  out->resize(at + 2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    (*out)[at + 2 * i] = kHex[digest[i] >> 4];
    (*out)[at + 2 * i + 1] = kHex[digest[i] & 15];
  }
}

std::string Sha256Hex(std::string_view data) {
  std::string out;
  out.reserve(64);
  AppendSha256Hex(&out, data);
  return out;
}

}  // namespace iomt
