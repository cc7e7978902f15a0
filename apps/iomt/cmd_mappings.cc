// `iomt mappings export RESOURCE_URL --out DIR`: a provisioned connector's
// device mapping and FHIR destination mapping as the two files Azure's
// tools use (docs/cli.md, "Mappings and support"), each byte for byte as
// the server returns it, so that what was provisioned is what is exported.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "commands.h"
#include "management_client.h"

namespace iomt::cli {
namespace {

struct MappingsFlags {
  std::string url;
  std::string out;
  std::string token;
  std::string ca_file;
};

// Writes `text` and a newline to `path` (0644 less the umask: mappings are
// not PHI). False, with a message, when it cannot.
bool WriteMappingFile(const std::string& path, const std::string& text) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
  bool ok = file != nullptr && std::fwrite(text.data(), 1, text.size(), file.get()) == text.size() &&
            std::fputc('\n', file.get()) != EOF;
  ok = file != nullptr && std::fclose(file.release()) == 0 && ok;
  if (!ok) std::fprintf(stderr, "error: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
  return ok;
}

int Export(const MappingsFlags& flags) {
  auto url = ParseConnectorUrl(flags.url);
  if (!url.ok()) {
    std::fprintf(stderr, "error: %s\n", url.status().message().c_str());
    return kExitUsage;
  }
  ManagementClient client(flags.token, flags.ca_file);
  std::string warning;
  int exit_code = 0;
  std::optional<ConnectorSnapshot> snapshot = FetchConnectorForCommand(client, *url, &warning, &exit_code);
  if (!snapshot) return exit_code;
  // Only now: a failed GET leaves nothing behind.
  std::error_code ec;
  std::filesystem::create_directories(flags.out, ec);
  if (ec || !std::filesystem::is_directory(flags.out)) {
    std::fprintf(stderr, "error: --out %s: not a directory that can be created%s%s\n", flags.out.c_str(),
                 ec ? ": " : "", ec ? ec.message().c_str() : "");
    return kExitUsage;
  }

  const std::string device_path = (std::filesystem::path(flags.out) / "devicecontent.json").string();
  if (!WriteMappingFile(device_path, snapshot->device_mapping)) return kExitUsage;
  std::printf("%s\n", device_path.c_str());
  if (!snapshot->destination) {
    std::fprintf(stderr, "warning: %s: wrote devicecontent.json only, no fhirmapping.json\n", warning.c_str());
    return kExitInvalid;
  }
  const std::string fhir_path = (std::filesystem::path(flags.out) / "fhirmapping.json").string();
  if (!WriteMappingFile(fhir_path, snapshot->fhir_mapping)) return kExitUsage;
  std::printf("%s\n", fhir_path.c_str());
  return kExitOk;
}

}  // namespace

Runner RegisterMappings(CLI::App& app) {
  auto flags = std::make_shared<MappingsFlags>();
  app.require_subcommand(1);
  CLI::App* export_cmd = app.add_subcommand(
      "export", "Write a provisioned IoT connector's devicecontent.json and fhirmapping.json, as the server has them");
  export_cmd
      ->add_option("RESOURCE_URL", flags->url,
                   "The connector's URL on iomt serve: "
                   "http://HOST:PORT/subscriptions/S/resourceGroups/RG/providers/Microsoft.HealthcareApis/"
                   "workspaces/WS/iotconnectors/NAME[?api-version=...]")
      ->required();
  export_cmd->add_option("--out", flags->out, "Directory to write the two files into (created when missing)")
      ->required();
  export_cmd
      ->add_option("--token", flags->token,
                   "Bearer token for a server that wants one (or the environment's IOMT_TOKEN); never printed")
      ->envname("IOMT_TOKEN");
  export_cmd->add_option("--ca", flags->ca_file, "CA bundle (PEM) for an https server with a private CA");
  const char* exit_codes =
      "Exit codes: 0 both files written; 1 the server refused (no such connector, credentials) or the connector "
      "has no FHIR destination (devicecontent.json written alone); 2 usage (bad URL, --out not writable); 3 the "
      "server could not be reached or failed.";
  app.footer(exit_codes);
  export_cmd->footer(exit_codes);
  return [flags, export_cmd]() {
    if (export_cmd->parsed()) return Export(*flags);
    return static_cast<int>(kExitUsage);
  };
}

}  // namespace iomt::cli
