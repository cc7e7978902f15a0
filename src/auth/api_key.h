// API keys as the configuration keeps them (HashApiKey's form), parsed once
// so that checking a presented key is one SHA-256 and one constant-time
// comparison per configured key. Internal to src/auth (and its tests).
#pragma once

#include <array>
#include <string_view>

#include "common/status.h"

namespace iomt::auth::internal {

inline constexpr std::size_t kSaltBytes = 16;
inline constexpr std::size_t kDigestBytes = 32;

struct HashedKey {
  std::array<unsigned char, kSaltBytes> salt{};
  std::array<unsigned char, kDigestBytes> digest{};
};

Result<HashedKey> ParseApiKeyHash(std::string_view hash_text);

// Whether `key` hashes to `hashed`; the comparison takes the same time
// wherever the digests differ.
bool KeyMatches(const HashedKey& hashed, std::string_view key);

}  // namespace iomt::auth::internal
