// Where `iomt run` (and `validate --sample`, `transform --store`) read and
// write FHIR resources: the embedded store in a directory (the default), or
// a remote FHIR R4 server. One set of flags for every subcommand.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "store/embedded/embedded_store.h"
#include "store/fhir_client.h"
#include "store/remote/remote_options.h"

namespace iomt::cli {

// The embedded store's history policy, as `iomt serve` has it
// (storeHistory.maxVersions, storeHistory.maxAgeHours): the process that
// writes a store applies its own.
struct HistoryFlags {
  std::int64_t max_versions = store::EmbeddedStoreOptions{}.history_max_versions;
  std::int64_t max_age_hours = store::EmbeddedStoreOptions{}.history_max_age_ms / 3'600'000;
};

// Adds --history-max-versions and --history-max-age-hours.
void AddHistoryFlags(CLI::App& app, HistoryFlags* flags);
// The store options with the policy of the flags.
store::EmbeddedStoreOptions StoreOptions(const HistoryFlags& flags);

struct DestinationFlags {
  std::string store_dir;  // empty: the default (see AddDestinationFlags)
  // --fhir-url, --fhir-token, --oauth-* and the TLS files (--fhir-ca,
  // --fhir-client-cert, --fhir-client-key) go straight into the client's options.
  store::RemoteOptions remote;
  HistoryFlags history;  // for the embedded store (AddHistoryFlags)
};

// Adds --store, --fhir-url, --fhir-token, the --oauth-* flags and the TLS
// files: --fhir-ca, --fhir-client-cert, --fhir-client-key.
void AddDestinationFlags(CLI::App& app, DestinationFlags* flags, const std::string& store_help);

struct Destination {
  std::unique_ptr<store::FhirClient> client;
  std::string name;  // for messages: "embedded store ./iomt-data" or the URL
};

// Opens the destination the flags name (`default_store` when neither --store
// nor --fhir-url was given). On failure prints what is wrong and what to do,
// and returns nullptr with `*exit_code` set (2: usage or an unusable
// directory; 3: the FHIR service cannot be used).
std::unique_ptr<Destination> OpenDestination(const DestinationFlags& flags, const std::string& default_store,
                                             int* exit_code);

}  // namespace iomt::cli
