// `iomt normalize`: events in, measurements out, with a device mapping.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "common/datetime.h"
#include "io.h"
#include "mapping_report.h"
#include "pipeline/normalize_stream.h"

namespace iomt::cli {
namespace {

struct NormalizeFlags {
  std::string device_mapping;
  std::string input = "-";
  std::string envelope = "auto";
  std::string errors;
  std::string ingestion_time;
};

int Run(const NormalizeFlags& flags) {
  auto mode = ingest::ParseEnvelopeMode(flags.envelope);
  if (!mode.ok()) {
    std::fprintf(stderr, "error: --envelope: %s\n", mode.status().message().c_str());
    return kExitUsage;
  }
  pipeline::NormalizeStreamOptions options;
  options.envelope = *mode;
  if (!ParseTimeFlag("--ingestion-time", flags.ingestion_time, &options.ingestion_ticks)) return kExitUsage;
  auto mapping = LoadDeviceMappingOrReport(flags.device_mapping);
  if (!mapping.loaded) return mapping.exit_code;

  int fd = OpenForReading(flags.input);
  if (fd < 0) {
    std::fprintf(stderr, "error: cannot read %s\n", flags.input.c_str());
    return kExitUsage;
  }
  ErrorsOutput errors;
  if (!errors.Open(flags.errors)) return kExitUsage;
  ingest::LineReader reader(fd);
  pipeline::NormalizeStreamStats stats;
  Status st = pipeline::NormalizeStream(mapping.result.mapping, &reader, stdout, errors.get(), options, &stats);
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return kExitUsage;
  }
  if (errors.to_file()) {
    std::fprintf(stderr, "%lld events, %lld measurements, %lld failed, %lld unmatched\n",
                 static_cast<long long>(stats.events), static_cast<long long>(stats.measurements),
                 static_cast<long long>(stats.failed_events), static_cast<long long>(stats.warnings));
  }
  return stats.failed_events > 0 ? kExitInvalid : kExitOk;
}

}  // namespace

Runner RegisterNormalize(CLI::App& app) {
  auto flags = std::make_shared<NormalizeFlags>();
  app.add_option("--device-mapping", flags->device_mapping, "Device mapping (devicecontent.json)")->required();
  app.add_option("--input", flags->input, "Events, NDJSON, one a line ('-': stdin)");
  app.add_option("--envelope", flags->envelope, "How a line becomes an event: auto, event, wrap or none")
      ->check(CLI::IsMember({"auto", "event", "wrap", "none"}));
  app.add_option("--errors", flags->errors, "Where error records go, NDJSON (default: stderr)");
  app.add_option("--ingestion-time", flags->ingestion_time,
                 "Use this ingestion time for every event (reproducible output), e.g. 2019-01-01T00:00:00Z");
  app.footer(
      "Writes one measurement a line to stdout, in input order. An event that fails gets one error record\n"
      "and the next event is processed. Exit 1 when any event failed.");
  return [flags]() { return Run(*flags); };
}

}  // namespace iomt::cli
