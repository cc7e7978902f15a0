#include "destination.h"

#include <cstdio>

#include "commands.h"
#include "store/embedded/embedded_store.h"
#include "store/remote/remote_client.h"

namespace iomt::cli {

void AddHistoryFlags(CLI::App& app, HistoryFlags* flags) {
  app.add_option("--history-max-versions", flags->max_versions,
                 "The embedded store keeps this many superseded versions of each resource (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1'000'000}));
  app.add_option("--history-max-age-hours", flags->max_age_hours,
                 "The embedded store removes superseded versions written longer ago than this (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1'000'000}));
}

store::EmbeddedStoreOptions StoreOptions(const HistoryFlags& flags) {
  store::EmbeddedStoreOptions options;
  options.history_max_versions = flags.max_versions;
  options.history_max_age_ms = flags.max_age_hours * 3'600'000;
  return options;
}

void AddDestinationFlags(CLI::App& app, DestinationFlags* flags, const std::string& store_help) {
  app.add_option("--store", flags->store_dir, store_help);
  app.add_option("--fhir-url", flags->remote.base_url,
                 "A FHIR R4 server to use instead of the embedded store (its base URL, e.g. "
                 "https://example.fhir.azurehealthcareapis.com)");
  app.add_option("--fhir-token", flags->remote.bearer_token, "A bearer token for --fhir-url");
  app.add_option("--oauth-token-url", flags->remote.oauth.token_url,
                 "OAuth2 token endpoint for --fhir-url (client credentials grant)");
  app.add_option("--oauth-client-id", flags->remote.oauth.client_id, "OAuth2 client id");
  app.add_option("--oauth-client-secret", flags->remote.oauth.client_secret, "OAuth2 client secret");
  app.add_option("--oauth-scope", flags->remote.oauth.scope,
                 "OAuth2 scope (for Azure: https://NAME.fhir.azurehealthcareapis.com/.default)");
  app.add_option("--fhir-ca", flags->remote.ca_file,
                 "A PEM bundle of the CAs to trust for --fhir-url and --oauth-token-url instead of the system's "
                 "(a private CA)");
  app.add_option("--fhir-client-cert", flags->remote.client_cert_file,
                 "A PEM client certificate for servers that ask for one (mutual TLS)");
  app.add_option("--fhir-client-key", flags->remote.client_key_file,
                 "The unencrypted PEM key of --fhir-client-cert (default: read from that file)");
}

std::unique_ptr<Destination> OpenDestination(const DestinationFlags& flags, const std::string& default_store,
                                             int* exit_code) {
  auto dest = std::make_unique<Destination>();
  const bool oauth = !flags.remote.oauth.token_url.empty() || !flags.remote.oauth.client_id.empty() ||
                     !flags.remote.oauth.client_secret.empty() || !flags.remote.oauth.scope.empty();
  const bool tls =
      !flags.remote.ca_file.empty() || !flags.remote.client_cert_file.empty() || !flags.remote.client_key_file.empty();
  if (flags.remote.base_url.empty()) {
    if (!flags.remote.bearer_token.empty() || oauth || tls) {
      std::fprintf(stderr, "error: --fhir-token, --oauth-* and --fhir-ca/--fhir-client-* go with --fhir-url\n");
      *exit_code = kExitUsage;
      return nullptr;
    }
    const std::string& dir = flags.store_dir.empty() ? default_store : flags.store_dir;
    auto opened = store::EmbeddedStore::Open(dir, StoreOptions(flags.history));
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
  if (!flags.remote.bearer_token.empty() && oauth) {
    std::fprintf(stderr, "error: --fhir-token and --oauth-* are two ways to authenticate; give one\n");
    *exit_code = kExitUsage;
    return nullptr;
  }
  if (oauth && (flags.remote.oauth.token_url.empty() || flags.remote.oauth.client_id.empty() ||
                flags.remote.oauth.client_secret.empty())) {
    std::fprintf(stderr,
                 "error: OAuth2 client credentials need --oauth-token-url, --oauth-client-id and "
                 "--oauth-client-secret (and usually --oauth-scope)\n");
    *exit_code = kExitUsage;
    return nullptr;
  }
  auto connected = store::RemoteFhirClient::Connect(flags.remote);
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
  dest->name = flags.remote.base_url;
  return dest;
}

}  // namespace iomt::cli
