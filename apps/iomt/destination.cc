#include "destination.h"

#include <cstdio>

#include "commands.h"
#include "store/embedded/embedded_store.h"
#include "store/remote/remote_client.h"

namespace iomt::cli {

void AddDestinationFlags(CLI::App& app, DestinationFlags* flags, const std::string& store_help) {
  app.add_option("--store", flags->store_dir, store_help);
  app.add_option("--fhir-url", flags->fhir_url,
                 "A FHIR R4 server to use instead of the embedded store (its base URL, e.g. "
                 "https://example.fhir.azurehealthcareapis.com)");
  app.add_option("--fhir-token", flags->fhir_token, "A bearer token for --fhir-url");
  app.add_option("--oauth-token-url", flags->oauth_token_url,
                 "OAuth2 token endpoint for --fhir-url (client credentials grant)");
  app.add_option("--oauth-client-id", flags->oauth_client_id, "OAuth2 client id");
  app.add_option("--oauth-client-secret", flags->oauth_client_secret, "OAuth2 client secret");
  app.add_option("--oauth-scope", flags->oauth_scope,
                 "OAuth2 scope (for Azure: https://NAME.fhir.azurehealthcareapis.com/.default)");
}

std::unique_ptr<Destination> OpenDestination(const DestinationFlags& flags, const std::string& default_store,
                                             int* exit_code) {
  auto dest = std::make_unique<Destination>();
  const bool oauth = !flags.oauth_token_url.empty() || !flags.oauth_client_id.empty() ||
                     !flags.oauth_client_secret.empty() || !flags.oauth_scope.empty();
  if (flags.fhir_url.empty()) {
    if (!flags.fhir_token.empty() || oauth) {
      std::fprintf(stderr, "error: --fhir-token and --oauth-* go with --fhir-url\n");
      *exit_code = kExitUsage;
      return nullptr;
    }
    const std::string& dir = flags.store_dir.empty() ? default_store : flags.store_dir;
    auto opened = store::EmbeddedStore::Open(dir);
    if (!opened.ok()) {
      std::fprintf(stderr, "error: --store %s: %s\n", dir.c_str(), opened.status().message().c_str());
      *exit_code = kExitUsage;
      return nullptr;
    }
    dest->client = std::move(*opened);
    dest->name = "embedded store " + dir;
    return dest;
  }
  if (!flags.store_dir.empty()) {
    std::fprintf(stderr, "error: --store and --fhir-url name two destinations; give one\n");
    *exit_code = kExitUsage;
    return nullptr;
  }
  if (!flags.fhir_token.empty() && oauth) {
    std::fprintf(stderr, "error: --fhir-token and --oauth-* are two ways to authenticate; give one\n");
    *exit_code = kExitUsage;
    return nullptr;
  }
  if (oauth && (flags.oauth_token_url.empty() || flags.oauth_client_id.empty() || flags.oauth_client_secret.empty())) {
    std::fprintf(stderr,
                 "error: OAuth2 client credentials need --oauth-token-url, --oauth-client-id and "
                 "--oauth-client-secret (and usually --oauth-scope)\n");
    *exit_code = kExitUsage;
    return nullptr;
  }
  store::RemoteOptions options;
  options.base_url = flags.fhir_url;
  options.bearer_token = flags.fhir_token;
  options.oauth.token_url = flags.oauth_token_url;
  options.oauth.client_id = flags.oauth_client_id;
  options.oauth.client_secret = flags.oauth_client_secret;
  options.oauth.scope = flags.oauth_scope;
  auto connected = store::RemoteFhirClient::Connect(std::move(options));
  if (!connected.ok()) {
    const Status& st = connected.status();
    if (st.error_name().empty()) {
      std::fprintf(stderr, "error: %s\n", st.message().c_str());
    } else {
      std::fprintf(stderr, "error: %s: %s\n", std::string(st.error_name()).c_str(), st.message().c_str());
    }
    *exit_code = st.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitExternal;
    return nullptr;
  }
  dest->client = std::move(*connected);
  dest->name = flags.fhir_url;
  return dest;
}

}  // namespace iomt::cli
