// `iomt serve`: the long-running service (cli.md, http-api.md). Connectors
// come from --config FILE or from the --connector flags. SIGTERM and SIGINT
// drain and stop; SIGHUP reloads every connector's mapping files.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <string>

#include "commands.h"
#include "io.h"
#include "server/config.h"
#include "server/service.h"

namespace iomt::cli {
namespace {

struct ServeFlags {
  std::string config;
  std::string listen;
  std::string store;
  int drain_seconds = 30;
  // One connector on the command line.
  std::string connector;
  std::string device_mapping;
  std::string fhir_mapping;
  std::string resolution = "Create";
  std::string fhir_url;
  std::string fhir_token;
  std::string kafka_brokers;
  std::string kafka_topic;
  std::string kafka_group;
  std::vector<std::string> kafka_properties;
  std::string mqtt_url;
  std::string mqtt_topic;
  int flush_window_ms = -1;
  std::size_t flush_max_events = 0;
  std::uint64_t queue_max_events = 0;
};

std::string DirectoryOf(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

int Serve(const ServeFlags& flags) {
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
  if (!flags.listen.empty()) {
    if (Status st = server::ParseListen(flags.listen, &config.host, &config.port); !st.ok()) {
      std::fprintf(stderr, "error: --listen: %s\n", st.message().c_str());
      return kExitUsage;
    }
  }
  if (!flags.store.empty()) config.store = flags.store;
  if (!flags.connector.empty()) {
    if (flags.device_mapping.empty() || flags.fhir_mapping.empty()) {
      std::fprintf(stderr, "error: --connector needs --device-mapping and --fhir-mapping\n");
      return kExitUsage;
    }
    server::ConnectorConfig& c = config.connectors.emplace_back();
    c.name = flags.connector;
    c.device_mapping = flags.device_mapping;
    c.fhir_mapping = flags.fhir_mapping;
    c.resolution = flags.resolution;
    c.fhir.url = flags.fhir_url;
    c.fhir.token = flags.fhir_token;
    if (flags.flush_window_ms >= 0) c.flush.window_ms = flags.flush_window_ms;
    if (flags.flush_max_events > 0) c.flush.max_events = flags.flush_max_events;
    if (flags.queue_max_events > 0) c.queue.max_events = flags.queue_max_events;
    if (!flags.kafka_brokers.empty() || !flags.kafka_topic.empty()) {
      server::KafkaConfig& k = c.kafka.emplace();
      k.brokers = flags.kafka_brokers;
      k.topic = flags.kafka_topic;
      k.group = flags.kafka_group.empty() ? "iomt" : flags.kafka_group;
      for (const std::string& p : flags.kafka_properties) {
        const std::size_t eq = p.find('=');
        if (eq == std::string::npos) {
          std::fprintf(stderr, "error: --kafka-property %s is not NAME=VALUE\n", p.c_str());
          return kExitUsage;
        }
        k.properties.emplace_back(p.substr(0, eq), p.substr(eq + 1));
      }
    }
    if (!flags.mqtt_url.empty() || !flags.mqtt_topic.empty()) {
      server::MqttConfig& m = c.mqtt.emplace();
      m.url = flags.mqtt_url;
      m.topic = flags.mqtt_topic;
    }
  } else if (!flags.device_mapping.empty() || !flags.fhir_mapping.empty() || !flags.kafka_brokers.empty() ||
             !flags.mqtt_url.empty()) {
    std::fprintf(stderr, "error: the connector flags need --connector NAME\n");
    return kExitUsage;
  }
  if (auto problems = server::CheckServeConfig(config); !problems.empty()) {
    for (const std::string& p : problems)
      std::fprintf(stderr, "error: %s\n", p.c_str());
    return kExitUsage;
  }

  // The signals are taken by sigwait below, in this thread only: every
  // thread the service starts inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto service = server::Service::Start(config);
  if (!service.ok()) {
    std::fprintf(stderr, "error: %s\n", service.status().message().c_str());
    return service.status().code() == StatusCode::kUnavailable ? kExitExternal : kExitUsage;
  }
  std::printf("listening on http://%s:%d\n", config.host.c_str(), (*service)->port());
  std::fflush(stdout);
  for (const server::ConnectorConfig& c : config.connectors) {
    std::fprintf(stderr, "connector %s: POST http://%s:%d/connectors/%s/messages\n", c.name.c_str(),
                 config.host.c_str(), (*service)->port(), c.name.c_str());
  }
  while (true) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal == SIGHUP) {
      auto problems = (*service)->ReloadAll();
      for (const std::string& p : problems)
        std::fprintf(stderr, "reload: %s (the previous mappings stay in use)\n", p.c_str());
      if (problems.empty()) std::fprintf(stderr, "reload: mappings reloaded\n");
      continue;
    }
    std::fprintf(stderr, "stopping: writing what is queued (up to %d s)\n", flags.drain_seconds);
    (*service)->Stop(std::chrono::seconds(flags.drain_seconds));
    std::fprintf(stderr, "stopped\n");
    return kExitOk;
  }
}

}  // namespace

Runner RegisterServe(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  app.add_option("--config", flags->config, "The configuration file (JSON; README, \"The service\")");
  app.add_option("--listen", flags->listen, "HOST:PORT to listen on (default 127.0.0.1:8080; port 0: any free one)");
  app.add_option("--store", flags->store, "The embedded FHIR store and the connectors' queues (default ./iomt-data)");
  app.add_option("--drain-seconds", flags->drain_seconds, "On SIGTERM, how long to write what is queued (default 30)");
  app.add_option("--connector", flags->connector, "Define one connector with this name (with the flags below)");
  app.add_option("--device-mapping", flags->device_mapping, "The connector's device mapping");
  app.add_option("--fhir-mapping", flags->fhir_mapping, "The connector's FHIR destination mapping");
  app.add_option("--resolution", flags->resolution, "Create (default), Lookup or LookupWithEncounter");
  app.add_option("--fhir-url", flags->fhir_url, "Write to this FHIR R4 server instead of the embedded store");
  app.add_option("--fhir-token", flags->fhir_token, "Bearer token for --fhir-url");
  app.add_option("--kafka-brokers", flags->kafka_brokers,
                 "Kafka bootstrap servers (Event Hubs: NS.servicebus.windows.net:9093)");
  app.add_option("--kafka-topic", flags->kafka_topic, "Kafka topic (Event Hubs: the event hub)");
  app.add_option("--kafka-group", flags->kafka_group, "Kafka consumer group (default iomt)");
  app.add_option("--kafka-property", flags->kafka_properties, "A librdkafka setting NAME=VALUE (repeatable)");
  app.add_option("--mqtt-url", flags->mqtt_url, "MQTT broker, mqtt://HOST:PORT");
  app.add_option("--mqtt-topic", flags->mqtt_topic, "MQTT topic filter to subscribe to");
  app.add_option("--flush-window-ms", flags->flush_window_ms,
                 "How long a batch waits for more events (default 0: written as soon as the worker is free)");
  app.add_option("--flush-max-events", flags->flush_max_events, "Events per batch at most (default 10000)");
  app.add_option("--queue-max-events", flags->queue_max_events,
                 "Events queued before ingestion answers 429 (default 1000000)");
  return [flags] { return Serve(*flags); };
}

}  // namespace iomt::cli
