// iomt: IoMT device messages to FHIR R4. One binary, many subcommands.
#include <sys/stat.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <map>

#include "commands.h"
#include "version.h"

namespace {

int Main(int argc, char** argv) {
  CLI::App app{"iomt: turns medical device messages into FHIR R4 resources, using Azure IoT connector mappings",
               "iomt"};
  app.set_version_flag("--version", iomt::cli::VersionLine());
  app.require_subcommand(1);

  std::map<CLI::App*, iomt::cli::Runner> runners;
  auto add = [&](CLI::App* sub, iomt::cli::Runner run) { runners[sub] = std::move(run); };

  CLI::App* eval = app.add_subcommand("eval", "Evaluate a JSONPath or JMESPath expression against a JSON document");
  add(eval, iomt::cli::RegisterEval(*eval));
  CLI::App* validate = app.add_subcommand("validate", "Validate a device mapping and run sample events through it");
  add(validate, iomt::cli::RegisterValidate(*validate));
  CLI::App* normalize = app.add_subcommand("normalize", "Turn device events (NDJSON) into measurements");
  add(normalize, iomt::cli::RegisterNormalize(*normalize));
  CLI::App* transform =
      app.add_subcommand("transform", "Turn measurements (NDJSON) into FHIR resources with a FHIR mapping");
  add(transform, iomt::cli::RegisterTransform(*transform));
  CLI::App* run_cmd = app.add_subcommand("run", "Run device events through both mappings into a FHIR store");
  add(run_cmd, iomt::cli::RegisterRun(*run_cmd));
  CLI::App* test =
      app.add_subcommand("test", "Run mapping test cases (folders of mappings, events and expected output)");
  add(test, iomt::cli::RegisterTest(*test));
  CLI::App* store = app.add_subcommand("store", "Import, export and search the embedded FHIR store");
  add(store, iomt::cli::RegisterStore(*store));
  CLI::App* serve = app.add_subcommand("serve", "Run the service: HTTP, Kafka and MQTT ingestion, /fhir, /metrics");
  add(serve, iomt::cli::RegisterServe(*serve));
  CLI::App* mappings = app.add_subcommand("mappings", "Export a provisioned IoT connector's mappings from iomt serve");
  add(mappings, iomt::cli::RegisterMappings(*mappings));
  CLI::App* bundle = app.add_subcommand(
      "support-bundle", "Write a connector's mappings, settings, status and metrics into a .tar.gz for support");
  add(bundle, iomt::cli::RegisterSupportBundle(*bundle));
  CLI::App* auth_cmd = app.add_subcommand("auth", "Make API keys for iomt serve (stored as salted hashes)");
  add(auth_cmd, iomt::cli::RegisterAuth(*auth_cmd));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    // --help and --version are successes; everything else is a usage error.
    return code == 0 ? 0 : iomt::cli::kExitUsage;
  }
  // The stores, queues and dead letters that these commands keep hold
  // patient data: what they create is their user's alone (files 0600,
  // directories 0700). Files written where the user says (exported
  // mappings, test cases) keep the user's umask.
  if (serve->parsed() || run_cmd->parsed() || store->parsed()) ::umask(077);
  for (auto& [sub, run] : runners) {
    if (sub->parsed()) return run();
  }
  return iomt::cli::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // The libraries report failures as Status; only allocation failure or a
  // library bug can throw, and then the user gets a message, not an abort.
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "iomt: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "iomt: internal error\n");
  }
  return iomt::cli::kExitInvalid;
}
