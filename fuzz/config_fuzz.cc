// Fuzzes the configuration file of `iomt serve`: LoadServeConfig (every
// setting's type and bounds, `${NAME}` and "@FILE" secrets, groups,
// connectors and event hub namespaces) and CheckServeConfig (credentials,
// TLS, names), then the credentials the configuration makes. Nothing may
// crash; a file that loads and checks clean must give credentials that the
// authenticator accepts.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/auth.h"
#include "server/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  iomt::server::ConfigLoadResult loaded = iomt::server::LoadServeConfig(text, "/nonexistent");
  if (!loaded.ok()) return 0;
  if (!iomt::server::CheckServeConfig(loaded.config).empty()) return 0;
  auto options = iomt::server::AuthOptionsFor(loaded.config.auth);
  if (!options.ok()) __builtin_trap();                      // CheckServeConfig said it was fine
  if (options->api_keys.empty() || options->jwt) return 0;  // a JWKS would be read from disk
  auto authenticator = iomt::auth::Authenticator::Create(*options);
  if (!authenticator.ok()) __builtin_trap();
  return 0;
}
