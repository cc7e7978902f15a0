// `iomt serve`: the embedded FHIR store, the connectors and the HTTP server
// in one process (docs/http-api.md). Routes:
//   POST /connectors/{name}/messages            ingestion (202 once queued durably, 429 when full)
//   GET  /connectors, /connectors/{name}        status, counters, recent errors
//   GET  /connectors/{name}/deadletters         the dead letters; POST .../deadletters/replay
//   GET  /connectors/{name}/mappings            the mappings in use; POST .../mappings/reload
//   /fhir/...                                   the embedded store (FHIR R4 REST)
//   GET  /metrics, /healthz, /readyz
// Thread-safe; Stop drains (SIGTERM).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/config.h"
#include "server/connector.h"
#include "server/http/http_server.h"
#include "server/metrics.h"
#include "store/embedded/embedded_store.h"

namespace iomt::server {

class Service {
 public:
  // Opens the store and every connector, starts their sources and the HTTP
  // server. Fails when the store, a connector's state, its FHIR service or
  // the listening address cannot be used (a connector with invalid mappings
  // starts paused instead).
  static Result<std::unique_ptr<Service>> Start(ServeConfig config);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  [[nodiscard]] int port() const;
  [[nodiscard]] const ServeConfig& config() const { return config_; }

  // Reloads every connector's mappings (SIGHUP); the problems, one a line.
  std::vector<std::string> ReloadAll();
  // Stops taking requests and events, lets the connectors write what they
  // have queued for up to `drain` (the rest stays queued), closes the store.
  void Stop(std::chrono::milliseconds drain);

  // One request, as the HTTP server hands it over (public for tests).
  HttpResponse Handle(const HttpRequest& request);

 private:
  explicit Service(ServeConfig config) : config_(std::move(config)) {}
  HttpResponse HandleConnector(const HttpRequest& request, std::string_view rest);
  HttpResponse Ready();

  ServeConfig config_;
  Metrics metrics_;
  std::unique_ptr<store::EmbeddedStore> store_;
  std::map<std::string, std::unique_ptr<Connector>, std::less<>> connectors_;
  std::unique_ptr<HttpServer> http_;  // set once its threads run: handlers read port_ instead
  std::atomic<int> port_{0};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace iomt::server
