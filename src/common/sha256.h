// SHA-256, for iomt-fhir's deterministic resource ids (OpenSSL's libcrypto,
// which uses the CPU's SHA instructions where there are any).
#pragma once

#include <string>
#include <string_view>

namespace iomt {

// Lowercase hex of the SHA-256 of `data` (64 characters).
std::string Sha256Hex(std::string_view data);
// The same, appended to `out`.
void AppendSha256Hex(std::string* out, std::string_view data);

}  // namespace iomt
