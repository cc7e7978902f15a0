// `iomt run`: the whole data flow on one input — normalize, group, resolve
// identities, build or merge Observations, write them — into the embedded
// store (default) or a remote FHIR server. Every event is carried through or
// dead-lettered; the run summary (formats.md) is printed last on stdout.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "common/datetime.h"
#include "destination.h"
#include "fhir/fhir_mapping.h"
#include "io.h"
#include "mapping_report.h"
#include "pipeline/pipeline.h"
#include "store/embedded/embedded_store.h"
#include "store/forwarding_client.h"

namespace iomt::cli {
namespace {

struct RunFlags {
  std::string device_mapping;
  std::string fhir_mapping;
  std::string input = "-";
  DestinationFlags destination;
  std::string resolution = "Create";
  std::string dead_letter = "dead-letters.ndjson";
  std::string envelope = "auto";
  std::string now;
  std::string ingestion_time;
  std::string device_system;
  std::size_t batch_events = 10'000;
  int fhir_patience_seconds = 60;
  std::string timings;
};

// True when both paths name the same existing file (a dead-letter file
// replayed into itself would read its own new records forever).
bool SameFile(const std::string& a, const std::string& b) {
  struct stat sa {};
  struct stat sb {};
  return a != "-" && ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

// The progress line on a terminal: rewritten in place after each batch.
class Progress {
 public:
  Progress() : enabled_(::isatty(STDERR_FILENO) == 1) {}
  void Update(const pipeline::PipelineStats& s) {
    if (!enabled_) return;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const std::int64_t written = s.created + s.updated;
    std::fprintf(stderr, "\r%lld events, %lld measurements, %lld observations written (%.0f/s), %lld dead-lettered ",
                 static_cast<long long>(s.events), static_cast<long long>(s.measurements),
                 static_cast<long long>(written), seconds > 0 ? static_cast<double>(written) / seconds : 0.0,
                 static_cast<long long>(s.dead_lettered));
    shown_ = true;
  }
  void Clear() {
    if (shown_) std::fputs("\r\033[K", stderr);
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// With --timings: the duration of each batch's write transaction (PutMany,
// committed before it returns) and of each Flush, for bench/e2e.sh.
class TimedClient : public store::ForwardingFhirClient {
 public:
  using ForwardingFhirClient::ForwardingFhirClient;
  Result<std::vector<Result<store::Resource>>> PutMany(std::vector<store::PutRequest> requests) override {
    auto start = std::chrono::steady_clock::now();
    auto result = below()->PutMany(std::move(requests));
    commits_ms.emplace_back("write", Ms(start));
    return result;
  }
  Status Flush() override {
    auto start = std::chrono::steady_clock::now();
    Status st = below()->Flush();
    commits_ms.emplace_back("flush", Ms(start));
    return st;
  }
  std::vector<std::pair<const char*, double>> commits_ms;

 private:
  static double Ms(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }
};

int Run(const RunFlags& flags) {
  auto mode = identity::ParseMode(flags.resolution);
  if (!mode.ok()) {
    std::fprintf(stderr, "error: --resolution: %s\n", mode.status().message().c_str());
    return kExitUsage;
  }
  auto envelope = ingest::ParseEnvelopeMode(flags.envelope);
  if (!envelope.ok()) {
    std::fprintf(stderr, "error: --envelope: %s\n", envelope.status().message().c_str());
    return kExitUsage;
  }
  pipeline::PipelineOptions options;
  options.resolver.mode = *mode;
  options.resolver.device_system = flags.device_system;
  options.envelope = *envelope;
  options.batch_events = flags.batch_events;
  if (!ParseTimeFlag("--now", flags.now, &options.now_ticks) ||
      !ParseTimeFlag("--ingestion-time", flags.ingestion_time, &options.ingestion_ticks)) {
    return kExitUsage;
  }
  if (SameFile(flags.input, flags.dead_letter)) {
    std::fprintf(stderr,
                 "error: --dead-letter %s is the input: a replay writes its dead letters to another file "
                 "(e.g. --dead-letter dead-letters-2.ndjson)\n",
                 flags.dead_letter.c_str());
    return kExitUsage;
  }

  // Both mappings are checked before anything is read or written.
  LoadedDeviceMapping device = LoadDeviceMappingOrReport(flags.device_mapping);
  if (!device.loaded) return device.exit_code;
  LoadedFhirMapping fhir_mapping = LoadFhirMappingOrReport(flags.fhir_mapping);
  if (!fhir_mapping.loaded) return fhir_mapping.exit_code;

  int fd = OpenForReading(flags.input);
  if (fd < 0) {
    std::fprintf(stderr, "error: cannot read %s\n", flags.input.c_str());
    return kExitUsage;
  }
  int exit_code = kExitOk;
  // Closed at the end (after the pipeline, declared below, that uses it):
  // everything is durable after each batch already, but a store left open
  // at exit has its checkpointer cut off mid-copy and its WAL left beside it.
  std::unique_ptr<Destination> kept = OpenDestination(flags.destination, "iomt-data", &exit_code);
  if (kept == nullptr) return exit_code;
  store::FhirClient* client = kept->client.get();
  std::unique_ptr<TimedClient> timed;
  if (!flags.timings.empty()) {
    timed = std::make_unique<TimedClient>(client);
    client = timed.get();
  }

  pipeline::DeadLetterFile dead_letters(flags.dead_letter);

  // Per batch: the writes are made durable, then the dead letters; only then
  // is the batch counted as done.
  options.commit = [&]() -> Status {
    IOMT_RETURN_IF_ERROR(client->Flush());
    return dead_letters.Sync();
  };
  Progress progress;
  options.on_batch = [&](const pipeline::PipelineStats& s) { progress.Update(s); };
  options.outage_patience = std::chrono::seconds(flags.fhir_patience_seconds);
  options.on_held = [&](const Status& why, std::chrono::milliseconds waited) {
    progress.Clear();
    std::fprintf(stderr, "the FHIR service cannot be used (%s): holding the batch, trying again (%lld s of %d s)\n",
                 why.message().c_str(), static_cast<long long>(waited.count() / 1000), flags.fhir_patience_seconds);
  };

  ingest::LineReader reader(fd);
  pipeline::Pipeline pipeline(&device.result.mapping, fhir_mapping.result.mapping, client, &dead_letters,
                              std::move(options));
  Status st = pipeline::RunStream(&reader, &pipeline);
  const pipeline::PipelineStats& summary = pipeline.stats();
  progress.Clear();
  std::printf("%s\n", pipeline::StatsJson(summary).c_str());
  std::fflush(stdout);
  if (!flags.timings.empty()) {
    if (std::FILE* f = std::fopen(flags.timings.c_str(), "w")) {
      for (const auto& [what, ms] : timed->commits_ms)
        std::fprintf(f, "%s %.3f\n", what, ms);
      // The embedded store's COMMITs alone (WAL write and fsync).
      if (auto* embedded = dynamic_cast<store::EmbeddedStore*>(kept->client.get())) {
        for (double ms : embedded->CommitMillis())
          std::fprintf(f, "commit %.3f\n", ms);
      }
      std::fclose(f);
    }
  }
  if (!st.ok()) {
    // Reading the input, writing dead letters or committing failed: what the
    // last batch wrote is not vouched for. Running the same input again is
    // safe (writes are idempotent).
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    std::fprintf(stderr, "the run stopped; run the same input again once this is fixed\n");
    return st.code() == StatusCode::kUnavailable ? kExitExternal : kExitUsage;
  }
  if (summary.dead_lettered > 0) {
    std::fprintf(stderr,
                 "%lld event%s dead-lettered to %s (once the cause is fixed: iomt run --input %s "
                 "--dead-letter ANOTHER_FILE ...)\n",
                 static_cast<long long>(summary.dead_lettered), summary.dead_lettered == 1 ? "" : "s",
                 dead_letters.path().c_str(), dead_letters.path().c_str());
  }
  if (summary.unavailable) {
    std::fprintf(stderr,
                 "the FHIR service could not be reached (%s); the events not attempted are in the dead-letter "
                 "file\n",
                 kept->name.c_str());
    return kExitExternal;
  }
  return summary.dead_lettered > 0 ? kExitInvalid : kExitOk;
}

}  // namespace

Runner RegisterRun(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  app.add_option("--device-mapping", flags->device_mapping, "Device mapping (devicecontent.json)")->required();
  app.add_option("--fhir-mapping", flags->fhir_mapping, "FHIR destination mapping (fhirmapping.json)")->required();
  app.add_option("--input", flags->input,
                 "Events, NDJSON, one a line ('-': stdin); a dead-letter file is replayed from its events");
  AddDestinationFlags(app, &flags->destination, "Embedded FHIR store directory (default ./iomt-data)");
  AddHistoryFlags(app, &flags->destination.history);
  app.add_option("--resolution", flags->resolution,
                 "Identity resolution: Create (default), Lookup, LookupWithEncounter");
  app.add_option("--dead-letter", flags->dead_letter,
                 "Where events that could not be carried through go, with their error (default "
                 "dead-letters.ndjson; appended to, created only when needed)");
  app.add_option("--envelope", flags->envelope, "How a line becomes an event: auto, event, wrap or none")
      ->check(CLI::IsMember({"auto", "event", "wrap", "none"}));
  app.add_option("--now", flags->now, "Use this time as now (Observation.issued), for reproducible output");
  app.add_option("--ingestion-time", flags->ingestion_time,
                 "Use this ingestion time for every event, e.g. 2019-01-01T00:00:00Z");
  app.add_option("--device-system", flags->device_system,
                 "Identifier system of devices (iomt-fhir's DefaultDeviceIdentifierSystem; default none)");
  app.add_option("--batch-size", flags->batch_events, "Events grouped and written together (default 10000)")
      ->check(CLI::PositiveNumber);
  app.add_option("--fhir-patience", flags->fhir_patience_seconds,
                 "Seconds a batch is held and tried again while the FHIR service (or the store) cannot be used, "
                 "before the run gives up and dead-letters the rest as not attempted (default 60; 0: at once)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--timings", flags->timings,
                 "Write the duration (ms) of each write transaction and flush, one a line (\"write 12.3\"), "
                 "to this file")
      ->group("");
  app.footer(
      "Prints the run summary (JSON) on stdout. Every event that was not carried through is in the\n"
      "dead-letter file with its error; events = carried + dead-lettered. Running the same input again\n"
      "changes nothing. Exit 0: all written; 1: some events dead-lettered; 3: the FHIR service failed.");
  return [flags]() { return Run(*flags); };
}

}  // namespace iomt::cli
