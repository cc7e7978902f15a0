// `iomt serve`: the embedded FHIR store, the connectors and the HTTP server
// in one process (docs/http-api.md). Routes:
//   POST /connectors/{name}/messages            ingestion (202 once queued durably, 429 when full)
//   GET  /connectors, /connectors/{name}        status, counters, recent errors
//   GET  /connectors/{name}/deadletters         the dead letters; POST .../deadletters/replay
//   GET  /connectors/{name}/mappings            the mappings in use; POST .../mappings/reload
//   /fhir/...                                   the embedded store (FHIR R4 REST)
//   GET  /metrics, /healthz, /readyz
// Each route needs a role of the caller's credentials when the server has
// credentials configured (Access; docs/security.md); requests that change
// state or read dead letters, and refused credentials, go to the audit log.
// Thread-safe; Stop drains (SIGTERM).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/auth.h"
#include "common/mutex.h"
#include "common/status.h"
#include "server/audit_log.h"
#include "server/config.h"
#include "server/connector.h"
#include "server/http/bulk_export.h"
#include "server/http/http_server.h"
#include "server/http/subscriptions.h"
#include "server/metrics.h"
#include "store/embedded/embedded_store.h"

namespace iomt::server {

class Service;

// A part of the service that another folder provides (the provisioning API
// of control/): it lives as long as the service and is stopped first.
class ServiceComponent {
 public:
  virtual ~ServiceComponent() = default;
  virtual void Stop() = 0;
};

// What a route asks of a request's credentials when the server has any
// (auth.apiKeys, auth.jwt; docs/security.md "Roles"): nothing (the probes,
// the page's own files), or a role. Admin holds every role.
struct RouteAccess {
  bool open = false;
  auth::Role role = auth::Role::kAdmin;
};

class Service {
 public:
  // Called once the store and the configured connectors are open, before
  // the HTTP server listens: attaches components and their routes.
  using AttachFn = std::function<Status(Service& service)>;

  // Opens the store and every connector, starts their sources and the HTTP
  // server. Fails when the store, a connector's state, its FHIR service or
  // the listening address cannot be used (a connector with invalid mappings
  // starts paused instead).
  static Result<std::unique_ptr<Service>> Start(ServeConfig config, const AttachFn& attach = {});
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  [[nodiscard]] int port() const;
  // Reads the TLS certificate and key again (SIGHUP): new connections use
  // them; a bad file keeps the old ones and says why.
  Status ReloadTls();
  [[nodiscard]] const ServeConfig& config() const { return config_; }

  // Reloads every connector's mappings (SIGHUP); the problems, one a line.
  std::vector<std::string> ReloadAll();

  // Connectors come and go while the service runs (the provisioning API).
  // Adds one and starts it: kConflict when the name is taken (by a
  // connector of the configuration file too), else what Open and Start say.
  Status AddConnector(ConnectorConfig config) IOMT_EXCLUDES(connectors_mu_);
  // Stops one (its workers write what is queued for up to `drain`; the rest
  // stays in its queue) and forgets it; with `purge`, its state directory
  // (queue, dead letters) goes too. kNotFound when there is none.
  Status RemoveConnector(std::string_view name, std::chrono::milliseconds drain, bool purge)
      IOMT_EXCLUDES(connectors_mu_);
  // The connector of that name, kept alive for as long as the caller holds
  // it; null when there is none.
  std::shared_ptr<Connector> FindConnector(std::string_view name) const IOMT_EXCLUDES(connectors_mu_);
  [[nodiscard]] store::EmbeddedStore* store() const { return store_.get(); }
  [[nodiscard]] Metrics* metrics() { return &metrics_; }

  // Routes that a component serves (the provisioning API under
  // /subscriptions/, the console at / and under /console/), with their own
  // request body limit: set while attaching, before requests come. A route
  // is every path under `prefix`, or with kExact that one path only.
  enum class RouteMatch : std::uint8_t { kPrefix, kExact };
  using Access = RouteAccess;
  // A route with its own handler; unless said otherwise, only admin may
  // call it (what is forgotten stays closed).
  void SetExtraRoute(std::string prefix, std::size_t max_body_bytes,
                     std::function<HttpResponse(const HttpRequest&)> handler, RouteMatch match = RouteMatch::kPrefix,
                     Access access = {});

  // Every route the server answers, with what it needs: the table of
  // docs/security.md, and what the security test tries with every role.
  struct RouteInfo {
    std::string method;  // "GET", "POST", ... ("*": any)
    std::string path;    // "{name}" stands for a connector; a trailing '*' for any rest of the path
    Access access;
  };
  [[nodiscard]] std::vector<RouteInfo> Routes() const;
  void Attach(std::unique_ptr<ServiceComponent> component);
  // Stops taking requests and events, lets the connectors write what they
  // have queued for up to `drain` (the rest stays queued), closes the store.
  void Stop(std::chrono::milliseconds drain);

  // One request, as the HTTP server hands it over (public for tests).
  HttpResponse Handle(const HttpRequest& request);

 private:
  explicit Service(ServeConfig config) : config_(std::move(config)) {}
  // The route's need, and the connector it names (ingestion).
  struct Need {
    Access access;
    std::string connector;
    // A write that also reads (a Bundle with read entries or conditional
    // creates, a create with If-None-Exist: their answers carry stored
    // resources) needs fhir-read as well.
    bool also_fhir_read = false;
  };
  [[nodiscard]] Need NeedOf(const HttpRequest& request) const;
  // Who the request comes from; the refusal (401, 403) when its
  // credentials do not give it what the route needs.
  struct Caller {
    std::string name;
    std::string kind;
  };
  std::optional<HttpResponse> Authorize(const HttpRequest& request, const Need& need, Caller* caller) const;
  HttpResponse Dispatch(const HttpRequest& request);
  HttpResponse HandleConnector(const HttpRequest& request, std::string_view rest);
  HttpResponse Ready();
  // One log line per request at debug (method, path, status, time); a 5xx
  // (but the probes') at warn, with the FHIR path cut to its type.
  static void LogRequest(const HttpRequest& request, int status);
  // A snapshot of the connectors, for routes that go over all of them.
  std::vector<std::shared_ptr<Connector>> Connectors() const IOMT_EXCLUDES(connectors_mu_);

  ServeConfig config_;
  Metrics metrics_;
  std::unique_ptr<store::EmbeddedStore> store_;
  // After the store: destroyed first, its jobs stop reading it.
  std::unique_ptr<BulkExports> exports_;
  // After the store too: it stops watching the store before the store goes.
  std::unique_ptr<Subscriptions> subscriptions_;
  mutable Mutex connectors_mu_;
  std::map<std::string, std::shared_ptr<Connector>, std::less<>> connectors_ IOMT_GUARDED_BY(connectors_mu_);
  struct ExtraRoute {
    std::string prefix;
    std::size_t max_body_bytes;
    std::function<HttpResponse(const HttpRequest&)> handler;
    RouteMatch match;
    Access access;
    [[nodiscard]] bool Matches(std::string_view path) const;
  };
  std::unique_ptr<auth::Authenticator> auth_;  // null: no credentials configured, every route open
  std::unique_ptr<AuditLog> audit_;
  std::vector<ExtraRoute> extra_routes_;  // fixed once the HTTP server runs
  std::vector<std::unique_ptr<ServiceComponent>> components_;
  std::unique_ptr<HttpServer> http_;  // set once its threads run: handlers read port_ instead
  std::atomic<int> port_{0};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace iomt::server
