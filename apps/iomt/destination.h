// Where `iomt run` (and `validate --sample`, `transform --store`) read and
// write FHIR resources: the embedded store in a directory (the default), or
// a remote FHIR R4 server. One set of flags for every subcommand.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "store/fhir_client.h"
#include "store/remote/remote_options.h"

namespace iomt::cli {

struct DestinationFlags {
  std::string store_dir;  // empty: the default (see AddDestinationFlags)
  // --fhir-url, --fhir-token, --oauth-* and the TLS files (--fhir-ca,
  // --fhir-client-cert, --fhir-client-key) go straight into the client's options.
  store::RemoteOptions remote;
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
