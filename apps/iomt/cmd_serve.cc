// `iomt serve`: the long-running service (cli.md, http-api.md). Connectors
// come from --config FILE or from the --connector flags (the settings and
// their flags: server/settings.h). SIGTERM and SIGINT drain and stop;
// SIGHUP reloads every connector's mapping files and the TLS certificate.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "common/log.h"
#include "console/console.h"
#include "control/provisioning.h"
#include "io.h"
#include "server/config.h"
#include "server/service.h"
#include "server/settings.h"
#include "version.h"

namespace iomt::cli {
namespace {

// The flags of the settings (server/settings.h) as CLI11 fills them: one
// slot per flag, a list for the repeatable ones.
struct FlagSlot {
  std::string_view flag;
  bool repeatable = false;
  std::string value;
  std::vector<std::string> values;
  CLI::Option* option = nullptr;
};

struct ServeFlags {
  std::string config;
  bool settings_table = false;
  std::deque<FlagSlot> slots;  // a deque: CLI11 keeps pointers to the values
};

std::string DirectoryOf(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

template <typename Config>
void AddSettingFlags(CLI::App& app, std::span<const server::SettingSpec<Config>> specs, ServeFlags* flags) {
  for (const server::SettingSpec<Config>& spec : specs) {
    if (spec.flag.empty()) continue;
    FlagSlot& slot = flags->slots.emplace_back();
    slot.flag = spec.flag;
    slot.repeatable = spec.type == server::SettingType::kStringList || spec.type == server::SettingType::kStringMap;
    slot.option = slot.repeatable ? app.add_option(std::string(spec.flag), slot.values, server::FlagHelp(spec))
                                  : app.add_option(std::string(spec.flag), slot.value, server::FlagHelp(spec));
    slot.option->type_name(server::FlagTypeName(spec));
  }
}

int Serve(const ServeFlags& flags) {
  if (flags.settings_table) {
    std::fputs(server::SettingsMarkdownTable().c_str(), stdout);
    return kExitOk;
  }
  server::ServeConfig config;
  if (!flags.config.empty()) {
    auto text = ReadWholeFile(flags.config);
    if (!text) {
      std::fprintf(stderr, "error: cannot read %s\n", flags.config.c_str());
      return kExitUsage;
    }
    server::ConfigLoadResult loaded = server::LoadServeConfig(*text, DirectoryOf(flags.config));
    if (!loaded.ok()) {
      for (const MappingError& e : loaded.errors)
        std::fprintf(stderr, "%s:%d:%d: error: %s\n", flags.config.c_str(), e.pos.line, e.pos.column,
                     e.message.c_str());
      return kExitInvalid;
    }
    config = std::move(loaded.config);
  }
  std::vector<server::FlagValue> given;
  for (const FlagSlot& slot : flags.slots) {
    if (slot.option->count() == 0) continue;
    if (!slot.repeatable) {
      given.push_back({slot.flag, slot.value});
      continue;
    }
    for (const std::string& v : slot.values)
      given.push_back({slot.flag, v});
  }
  if (Status st = server::ApplyServeFlags(given, &config); !st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return kExitUsage;
  }
  if (auto problems = server::CheckServeConfig(config); !problems.empty()) {
    for (const std::string& p : problems)
      std::fprintf(stderr, "error: %s\n", p.c_str());
    return kExitUsage;
  }
  // The log's settings were checked with the others (their choices): from
  // here on the service's words go through it.
  log::Options log_options;
  if (auto level = log::ParseLevel(config.log_level); level.ok()) log_options.level = *level;
  if (auto format = log::ParseFormat(config.log_format); format.ok()) log_options.format = *format;
  log::Configure(log_options);

  // The signals are taken by sigwait below, in this thread only: every
  // thread the service starts inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The provisioning API (control/) and the web console (console/) ride on
  // the service: the provisioned connectors start with the configured ones,
  // before the server listens.
  auto service = server::Service::Start(config, [](server::Service& s) -> Status {
    IOMT_RETURN_IF_ERROR(control::Provisioning::AttachTo(s));
    return console::AttachTo(s);
  });
  if (!service.ok()) {
    log::Error("did not start", {{"reason", service.status().message()}});
    return service.status().code() == StatusCode::kUnavailable ? kExitExternal : kExitUsage;
  }
  const char* scheme = config.tls.cert_file.empty() ? "http" : "https";
  std::printf("listening on %s://%s:%d\n", scheme, config.host.c_str(), (*service)->port());
  std::fflush(stdout);
  const std::string base =
      std::string(scheme).append("://").append(config.host).append(":").append(std::to_string((*service)->port()));
  log::Info("listening", {{"url", base}, {"version", IOMT_VERSION}, {"commit", BuildCommit()}});
  for (const server::ConnectorConfig& c : config.connectors) {
    log::Info("connector", {{log::kConnector, c.name},
                            {"url", std::string(base).append("/connectors/").append(c.name).append("/messages")}});
  }
  while (true) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal == SIGHUP) {
      auto problems = (*service)->ReloadAll();
      for (const std::string& p : problems)
        log::Error("reload failed, the previous mappings stay in use", {{"reason", p}});
      if (problems.empty()) log::Info("mappings reloaded");
      if (!config.tls.cert_file.empty()) {
        if (Status st = (*service)->ReloadTls(); !st.ok()) {
          log::Error("TLS reload failed, the previous certificate stays in use", {{"reason", st.message()}});
        } else {
          log::Info("TLS certificate reloaded");
        }
      }
      continue;
    }
    std::string drain;
    log::Info("stopping: writing what is queued", {log::Number("drain_seconds", config.drain_seconds, &drain)});
    (*service)->Stop(std::chrono::seconds(config.drain_seconds));
    log::Info("stopped");
    return kExitOk;
  }
}

}  // namespace

Runner RegisterServe(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  app.add_option("--config", flags->config,
                 "The configuration file (JSON; docs/configuration.md); flags replace its top-level settings, "
                 "--connector adds a connector");
  // Every other flag is a setting's: its name, help and default come from
  // the settings table, as the configuration file's keys do.
  AddSettingFlags(app, server::ServeSettings(), flags.get());
  AddSettingFlags(app, server::ConnectorSettings(), flags.get());
  // Hidden (an empty group): docs/configuration.md holds its output, and a
  // test checks that they agree.
  app.add_flag("--settings-table", flags->settings_table, "Print the settings as a Markdown table")->group("");
  return [flags] { return Serve(*flags); };
}

}  // namespace iomt::cli
