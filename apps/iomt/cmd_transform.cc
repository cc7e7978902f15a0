// `iomt transform`: measurements in, FHIR resources out, with a FHIR
// destination mapping. Identities are resolved offline in memory, as Create
// mode (or the mode given) would resolve them, and nothing is written
// anywhere but stdout.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "common/datetime.h"
#include "destination.h"
#include "fhir/fhir_mapping.h"
#include "io.h"
#include "mapping_report.h"
#include "pipeline/pipeline.h"
#include "store/forwarding_client.h"
#include "store/memory/memory_client.h"

namespace iomt::cli {
namespace {

// Passes everything to the store and keeps a copy of each resource written
// (in `written`), so that `--store` prints what this run wrote.
class RecordingClient : public store::ForwardingFhirClient {
 public:
  RecordingClient(store::FhirClient* below, store::MemoryFhirClient* written)
      : ForwardingFhirClient(below), written_(written) {}
  Result<store::Resource> Put(std::string_view type, std::string_view id, std::string json,
                              std::optional<std::string_view> if_match) override {
    IOMT_ASSIGN_OR_RETURN(store::Resource r, below()->Put(type, id, std::move(json), if_match));
    Record(type, r);
    return r;
  }
  Result<std::vector<Result<store::Resource>>> PutMany(std::vector<store::PutRequest> requests) override {
    std::vector<std::string> types;
    types.reserve(requests.size());
    for (const store::PutRequest& r : requests)
      types.push_back(r.type);
    IOMT_ASSIGN_OR_RETURN(auto results, below()->PutMany(std::move(requests)));
    for (std::size_t i = 0; i < results.size() && i < types.size(); ++i) {
      if (results[i].ok()) Record(types[i], *results[i]);
    }
    return results;
  }

 private:
  void Record(std::string_view type, const store::Resource& r) {
    (void)written_->Put(type, r.id, r.json, std::nullopt);
  }
  store::MemoryFhirClient* written_;
};

struct TransformFlags {
  std::string fhir_mapping;
  std::string input = "-";
  std::string resolution = "Create";
  std::string store;
  std::string errors;
  std::string now;
  std::string device_system;
  std::size_t batch_size = 100'000;
};

int Run(const TransformFlags& flags) {
  auto mode = identity::ParseMode(flags.resolution);
  if (!mode.ok()) {
    std::fprintf(stderr, "error: --resolution: %s\n", mode.status().message().c_str());
    return kExitUsage;
  }
  pipeline::PipelineOptions options;
  options.resolver.mode = *mode;
  options.resolver.device_system = flags.device_system;
  if (!ParseTimeFlag("--now", flags.now, &options.now_ticks)) return kExitUsage;
  LoadedFhirMapping mapping = LoadFhirMappingOrReport(flags.fhir_mapping);
  if (!mapping.loaded) return mapping.exit_code;

  int fd = OpenForReading(flags.input);
  if (fd < 0) {
    std::fprintf(stderr, "error: cannot read %s\n", flags.input.c_str());
    return kExitUsage;
  }
  ErrorsOutput errors;
  if (!errors.Open(flags.errors)) return kExitUsage;

  // Never destroyed: the process ends right after, and freeing every
  // resource one by one would cost a good part of the run (the OS takes the
  // memory back at once). Held by a static, so leak checkers see it as live.
  static store::MemoryFhirClient* const kept = new store::MemoryFhirClient;
  store::MemoryFhirClient& memory = *kept;
  // With --store, the embedded store is read and written, and what was
  // written is printed: the writes go through a recorder into it.
  std::unique_ptr<Destination> destination;
  std::unique_ptr<RecordingClient> recorder;
  store::FhirClient* client = &memory;
  if (!flags.store.empty()) {
    DestinationFlags dflags;
    dflags.store_dir = flags.store;
    int exit_code = kExitOk;
    destination = OpenDestination(dflags, flags.store, &exit_code);
    if (destination == nullptr) return exit_code;
    recorder = std::make_unique<RecordingClient>(destination->client.get(), &memory);
    client = recorder.get();
  }
  pipeline::Pipeline pipeline(nullptr, mapping.result.mapping, client, nullptr, std::move(options));
  ingest::LineReader reader(fd);
  std::int64_t bad_lines = 0;
  Status st = pipeline::TransformStream(&reader, &pipeline, flags.batch_size, errors.get(), &bad_lines);
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return kExitUsage;
  }
  if (Status flushed = client->Flush(); !flushed.ok()) {
    std::fprintf(stderr, "error: %s\n", flushed.message().c_str());
    return kExitExternal;
  }
  // The resources as they end up, in the order each was first written.
  std::string out;
  memory.ForEach([&](std::string_view, const store::Resource& resource) {
    out.append(resource.json).push_back('\n');
    if (out.size() > (1u << 20)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  });
  std::fwrite(out.data(), 1, out.size(), stdout);
  const pipeline::PipelineStats& stats = pipeline.stats();
  if (errors.to_file()) {
    std::fprintf(stderr,
                 "%lld measurements, %lld groups, observations %lld created %lld updated %lld unchanged, "
                 "%lld patients and %lld devices created, %lld failed groups, %lld bad lines\n",
                 static_cast<long long>(stats.measurements), static_cast<long long>(stats.groups),
                 static_cast<long long>(stats.created), static_cast<long long>(stats.updated),
                 static_cast<long long>(stats.unchanged), static_cast<long long>(stats.patients_created),
                 static_cast<long long>(stats.devices_created), static_cast<long long>(stats.failed_groups),
                 static_cast<long long>(bad_lines));
  }
  return stats.failed_groups > 0 || bad_lines > 0 ? kExitInvalid : kExitOk;
}

}  // namespace

Runner RegisterTransform(CLI::App& app) {
  auto flags = std::make_shared<TransformFlags>();
  app.add_option("--fhir-mapping", flags->fhir_mapping, "FHIR destination mapping (fhirmapping.json)")->required();
  app.add_option("--input", flags->input, "Measurements, NDJSON, one a line ('-': stdin)");
  app.add_option("--resolution", flags->resolution,
                 "Identity resolution: Create (default), Lookup, LookupWithEncounter");
  app.add_option("--store", flags->store,
                 "Embedded FHIR store directory: identities are resolved in it and the resources written to it");
  app.add_option("--errors", flags->errors, "Where error records go, NDJSON (default: stderr)");
  app.add_option("--now", flags->now, "Use this time as now (Observation.issued), for reproducible output");
  app.add_option("--device-system", flags->device_system,
                 "Identifier system of devices (iomt-fhir's DefaultDeviceIdentifierSystem; default none)");
  app.add_option("--batch-size", flags->batch_size,
                 "Measurements grouped together at most (default 100000); a later batch merges into the "
                 "Observations of an earlier one")
      ->check(CLI::PositiveNumber);
  app.footer(
      "Groups the measurements, resolves identities in memory (or in --store, writing to it) and prints every\n"
      "resource it writes (Patients, Devices, Observations), one a line, in the order each was first written. A group "
      "that\n"
      "fails gets one error record and the others go on. Exit 1 when any group or line failed.");
  return [flags]() { return Run(*flags); };
}

}  // namespace iomt::cli
