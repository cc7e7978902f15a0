#include "server/service.h"

#include <sys/stat.h>

#include <filesystem>

#include <cctype>
#include <charconv>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string_view>

#include "common/json/document.h"
#include "common/json/writer.h"
#include "common/log.h"
#include "common/url.h"
#include "server/http/fhir_api.h"

namespace iomt::server {

namespace {

HttpResponse Json(int status, std::string body) { return JsonBody(status, std::move(body)); }

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

Result<std::unique_ptr<Service>> Service::Start(ServeConfig config, const AttachFn& attach) {
  std::unique_ptr<Service> service(new Service(std::move(config)));
  store::EmbeddedStoreOptions store_options;
  // Single writes (identity creates) are committed within this many ms.
  store_options.commit_interval_ms = 20;
  store_options.history_max_versions = service->config_.history_max_versions;
  store_options.history_max_age_ms = service->config_.history_max_age_hours * 3'600'000;
  auto store = store::EmbeddedStore::Open(service->config_.store, store_options);
  if (!store.ok()) return store.status();
  service->store_ = std::move(*store);
  // Bulk exports' files are patient data too (0700, like the connectors').
  service->exports_ = std::make_unique<BulkExports>(service->store_.get(), service->config_.store + "/exports");
  SubscriptionOptions subscription_options;
  subscription_options.allowed_endpoints = service->config_.subscription_endpoints;
  auto subscriptions = Subscriptions::Start(service->store_.get(), subscription_options);
  if (!subscriptions.ok()) return subscriptions.status();
  service->subscriptions_ = std::move(*subscriptions);
  // The connectors' queues and dead letters are patient data: the
  // directory is the service user's alone.
  ::mkdir((service->config_.store + "/connectors").c_str(), 0700);
  if (service->config_.auth.configured()) {
    auto options = AuthOptionsFor(service->config_.auth);
    if (!options.ok()) return options.status();
    auto authenticator = auth::Authenticator::Create(std::move(*options));
    if (!authenticator.ok()) return authenticator.status();
    service->auth_ = std::move(*authenticator);
  }
  const std::string audit_path =
      service->config_.audit_log.empty() ? service->config_.store + "/audit.log" : service->config_.audit_log;
  auto audit = AuditLog::Open(audit_path);
  if (!audit.ok()) return audit.status();
  service->audit_ = std::move(*audit);
  for (const ConnectorConfig& c : service->config_.connectors)
    IOMT_RETURN_IF_ERROR(service->AddConnector(c));
  if (attach) IOMT_RETURN_IF_ERROR(attach(*service));
  HttpServerOptions http_options;
  http_options.host = service->config_.host;
  http_options.port = service->config_.port;
  http_options.max_body_bytes = service->config_.max_body_bytes;
  http_options.max_connections = service->config_.max_connections;
  http_options.tls_cert_file = service->config_.tls.cert_file;
  http_options.tls_key_file = service->config_.tls.key_file;
  // What the server refuses by itself (413, 431, 408, ...) is answered in
  // the shape of the route: an OperationOutcome under /fhir.
  http_options.refusal = [](std::string_view target, int status, std::string_view code, std::string_view message) {
    if (target == "/fhir" || StartsWith(target, "/fhir/") || StartsWith(target, "/fhir?")) {
      return FhirOutcome(status, status == 413 ? "too-costly" : "invalid", message);
    }
    return JsonError(status, code, message);
  };
  Service* self = service.get();
  for (const ExtraRoute& route : service->extra_routes_)
    http_options.max_body_bytes = std::max(http_options.max_body_bytes, route.max_body_bytes);
  if (!service->extra_routes_.empty()) {
    http_options.body_limit = [self](std::string_view target) {
      // The target may carry a query.
      const std::string_view path = target.substr(0, target.find('?'));
      for (const ExtraRoute& route : self->extra_routes_) {
        if (route.Matches(path)) return route.max_body_bytes;
      }
      return self->config_.max_body_bytes;
    };
  }
  auto http = HttpServer::Start(http_options, [self](const HttpRequest& r) { return self->Handle(r); });
  if (!http.ok()) return http.status();
  // Requests may already be handled on the server's threads, which must not
  // read http_ while it is being set (a data race ThreadSanitizer found).
  service->port_ = (*http)->port();
  service->http_ = std::move(*http);
  return service;
}

Service::~Service() { Stop(std::chrono::milliseconds(0)); }

int Service::port() const { return port_.load(); }

Status Service::ReloadTls() {
  if (http_ == nullptr || config_.tls.cert_file.empty()) return Status::Ok();
  return http_->ReloadTls();
}

std::vector<std::string> Service::ReloadAll() {
  std::vector<std::string> problems;
  for (const std::shared_ptr<Connector>& connector : Connectors()) {
    if (Status st = connector->Reload(); !st.ok()) {
      problems.push_back("connector '" + connector->name() + "': " + st.message());
    }
  }
  return problems;
}

std::vector<std::shared_ptr<Connector>> Service::Connectors() const {
  MutexLock lock(connectors_mu_);
  std::vector<std::shared_ptr<Connector>> out;
  out.reserve(connectors_.size());
  for (const auto& [name, connector] : connectors_) {
    if (connector != nullptr) out.push_back(connector);  // (null: still opening)
  }
  return out;
}

std::shared_ptr<Connector> Service::FindConnector(std::string_view name) const {
  MutexLock lock(connectors_mu_);
  auto it = connectors_.find(name);
  return it == connectors_.end() ? nullptr : it->second;
}

Status Service::AddConnector(ConnectorConfig config) {
  if (!ValidConnectorName(config.name)) {
    return InvalidArgument("'" + config.name + "' is not a valid connector name");
  }
  const std::string name = config.name;
  {
    MutexLock lock(connectors_mu_);
    if (connectors_.count(name) > 0) return Conflict("there is already a connector named '" + name + "'");
    // Reserved while it opens, so that a second Add of the name fails.
    connectors_.emplace(name, nullptr);
  }
  auto forget = [&] {
    MutexLock lock(connectors_mu_);
    connectors_.erase(name);
  };
  ConnectorEnv env{config_.store + "/connectors/" + name, store_.get(), metrics_.ForConnector(name)};
  auto connector = Connector::Open(std::move(config), env);
  if (!connector.ok()) {
    forget();
    return Status(connector.status().code(), "connector '" + name + "': " + connector.status().message());
  }
  std::shared_ptr<Connector> shared(std::move(*connector));
  if (Status st = shared->Start(); !st.ok()) {
    forget();
    return Status(st.code(), "connector '" + name + "': " + st.message());
  }
  MutexLock lock(connectors_mu_);
  connectors_[name] = std::move(shared);
  return Status::Ok();
}

Status Service::RemoveConnector(std::string_view name, std::chrono::milliseconds drain, bool purge) {
  std::shared_ptr<Connector> connector;
  {
    MutexLock lock(connectors_mu_);
    auto it = connectors_.find(name);
    if (it == connectors_.end() || it->second == nullptr) {
      return NotFound("there is no connector named '" + std::string(name) + "'");
    }
    connector = std::move(it->second);
    connectors_.erase(it);
  }
  // Requests that hold it finish with it; its workers stop here.
  connector->Stop(drain);
  if (purge) {
    std::error_code ec;
    std::filesystem::remove_all(config_.store + "/connectors/" + std::string(name), ec);
    if (ec) return IoError("cannot remove the state of connector '" + std::string(name) + "': " + ec.message());
  }
  return Status::Ok();
}

void Service::SetExtraRoute(std::string prefix, std::size_t max_body_bytes,
                            std::function<HttpResponse(const HttpRequest&)> handler, RouteMatch match, Access access) {
  extra_routes_.push_back({std::move(prefix), max_body_bytes, std::move(handler), match, access});
}

namespace {

constexpr Service::Access kOpen{.open = true};
constexpr Service::Access Needs(auth::Role role) { return {.open = false, .role = role}; }

// The routes of the service itself (the components add theirs).
const Service::RouteInfo kOwnRoutes[] = {
    {"GET", "/healthz", kOpen},
    {"GET", "/readyz", kOpen},
    {"GET", "/metrics", Needs(auth::Role::kMetrics)},
    {"GET", "/fhir/metadata", kOpen},
    {"GET", "/fhir/*", Needs(auth::Role::kFhirRead)},
    {"POST", "/fhir/{type}/_search", Needs(auth::Role::kFhirRead)},
    {"POST", "/fhir/*", Needs(auth::Role::kFhirWrite)},
    {"PUT", "/fhir/*", Needs(auth::Role::kFhirWrite)},
    {"DELETE", "/fhir/*", Needs(auth::Role::kFhirWrite)},
    {"PATCH", "/fhir/*", Needs(auth::Role::kFhirWrite)},
    {"POST", "/connectors/{name}/messages", Needs(auth::Role::kIngest)},
    {"GET", "/connectors", Needs(auth::Role::kAdmin)},
    {"GET", "/connectors/{name}", Needs(auth::Role::kAdmin)},
    {"GET", "/connectors/{name}/deadletters", Needs(auth::Role::kAdmin)},
    {"POST", "/connectors/{name}/deadletters/replay", Needs(auth::Role::kAdmin)},
    {"GET", "/connectors/{name}/mappings", Needs(auth::Role::kAdmin)},
    {"POST", "/connectors/{name}/mappings/reload", Needs(auth::Role::kAdmin)},
};

bool IsFhirPath(std::string_view path) { return path == "/fhir" || StartsWith(path, "/fhir/"); }

// Whether a FHIR write would answer with stored resources the caller did not
// send: a create with If-None-Exist returns the match it found; a PATCH
// returns the stored resource patched; a conditional update, delete or
// patch (a query on the type) tells what its search matched; a Bundle
// posted to the base may hold reads (GET entries) and conditional creates.
// Such a request needs fhir-read too, or a write-only key could read the
// store through it. A body that does not parse reads nothing (the store
// refuses it).
bool FhirWriteReads(const HttpRequest& request) {
  if (request.Header("if-none-exist").has_value()) return true;
  // A Subscription is a standing read: its notifications (with a payload,
  // the resources themselves) go wherever its writer says.
  if (StartsWith(request.path, "/fhir/Subscription")) return true;
  if (request.method == "PATCH") return true;
  if ((request.method == "PUT" || request.method == "DELETE") && !request.query.empty()) {
    std::string_view rest = std::string_view{request.path}.substr(std::min<std::size_t>(request.path.size(), 6));
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (!rest.empty() && rest.find('/') == std::string_view::npos) return true;  // /fhir/{type}?condition
  }
  if (request.method != "POST" || (request.path != "/fhir" && request.path != "/fhir/")) return false;
  json::Document doc;
  if (!doc.Parse(request.body).ok()) return false;
  json::Value entries;
  if (!doc.root().is_object() || !doc.root().Find("entry", &entries) || !entries.is_array()) return false;
  for (json::Value entry : entries.elements()) {
    json::Value r;
    if (!entry.is_object() || !entry.Find("request", &r) || !r.is_object()) continue;
    json::Value method;
    json::Value condition;
    json::Value url;
    const bool read = r.Find("method", &method) && method.is_string() &&
                      (method.string_value() == "GET" || method.string_value() == "HEAD");
    const bool subscription = r.Find("url", &url) && url.is_string() && StartsWith(url.string_value(), "Subscription");
    if (read || subscription || r.Find("ifNoneExist", &condition)) return true;
  }
  return false;
}

// Whether a request is written to the audit log: what changes the
// service's state (provisioning, mappings, replays, FHIR deletes), what
// reads dead letters (whole device messages), and every refusal of
// credentials. Ingestion and FHIR reads and writes are the data path:
// their volume belongs in the metrics, not here.
bool Audited(const HttpRequest& request, int status) {
  if (status == 401 || status == 403) return true;
  const std::string_view path = request.path;
  if (IsFhirPath(path)) return request.method == "DELETE";
  if (StartsWith(path, "/connectors/")) {
    if (path.ends_with("/messages")) return false;
    return request.method != "GET" || path.ends_with("/deadletters");
  }
  return StartsWith(path, "/subscriptions/") && request.method != "GET";
}

}  // namespace

std::vector<Service::RouteInfo> Service::Routes() const {
  std::vector<RouteInfo> routes(std::begin(kOwnRoutes), std::end(kOwnRoutes));
  for (const ExtraRoute& route : extra_routes_) {
    routes.push_back({"*", route.match == RouteMatch::kPrefix ? route.prefix + "*" : route.prefix, route.access});
  }
  return routes;
}

Service::Need Service::NeedOf(const HttpRequest& request) const {
  const std::string_view path = request.path;
  if (path == "/healthz" || path == "/readyz") return {kOpen, {}};
  if (path == "/metrics") return {Needs(auth::Role::kMetrics), {}};
  if (IsFhirPath(path)) {
    // The CapabilityStatement tells a client how to talk to the server
    // (and how to authenticate): FHIR clients read it first.
    if (path == "/fhir/metadata" && request.method == "GET") return {kOpen, {}};
    if (request.method == "GET") return {Needs(auth::Role::kFhirRead), {}};
    // Cancelling a bulk export is the reader's own business.
    if (request.method == "DELETE" && StartsWith(path, "/fhir/$export-status/")) {
      return {Needs(auth::Role::kFhirRead), {}};
    }
    if (request.method == "POST" && path.ends_with("/_search")) return {Needs(auth::Role::kFhirRead), {}};
    return {Needs(auth::Role::kFhirWrite), {}, FhirWriteReads(request)};
  }
  if (StartsWith(path, "/connectors/") && path.ends_with("/messages")) {
    const std::string_view name = path.substr(12, path.size() - 12 - 9);
    if (!name.empty() && name.find('/') == std::string_view::npos) {
      return {Needs(auth::Role::kIngest), std::string(name)};
    }
  }
  for (const ExtraRoute& route : extra_routes_) {
    if (route.Matches(path)) return {route.access, {}};
  }
  return {Needs(auth::Role::kAdmin), {}};
}

std::optional<HttpResponse> Service::Authorize(const HttpRequest& request, const Need& need, Caller* caller) const {
  const bool fhir = IsFhirPath(request.path);
  auto refuse = [&](int status, std::string_view code, const std::string& message, std::string_view bearer_error) {
    HttpResponse r =
        fhir ? FhirOutcome(status, status == 401 ? "login" : "forbidden", message) : JsonError(status, code, message);
    if (status == 401) {
      std::string challenge = "Bearer realm=\"iomt\"";
      if (!bearer_error.empty()) challenge.append(", error=\"").append(bearer_error).append("\"");
      r.headers.emplace_back("WWW-Authenticate", std::move(challenge));
    }
    return r;
  };
  // A connector's own ingest keys (configured per connector) admit to its
  // ingestion, with or without the server's credentials.
  if (need.access.role == auth::Role::kIngest && !need.connector.empty()) {
    const std::shared_ptr<Connector> connector = FindConnector(need.connector);
    if (connector != nullptr && connector->HasIngestKeys()) {
      std::string key(request.Header("x-iomt-ingest-key").value_or(""));
      const std::string_view authorization = request.Header("authorization").value_or("");
      if (key.empty() && StartsWith(authorization, "Bearer ")) key = std::string(authorization.substr(7));
      if (!key.empty() && connector->Authorized(key)) {
        caller->name = need.connector;
        caller->kind = "ingest-key";
        return std::nullopt;
      }
      if (auth_ == nullptr) {
        return refuse(401, "Unauthorized",
                      "This connector needs an ingest key (header x-iomt-ingest-key or Authorization: Bearer).", "");
      }
    }
  }
  if (auth_ == nullptr) return std::nullopt;
  const auth::AuthResult result = auth_->Authenticate(request.Header("authorization"), request.Header("x-api-key"));
  switch (result.outcome) {
    case auth::AuthResult::Outcome::kNoCredentials:
      return refuse(401, "Unauthorized",
                    "This route needs credentials: an API key (X-Api-Key, or Authorization: Bearer KEY) or a bearer "
                    "token (docs/security.md).",
                    "");
    case auth::AuthResult::Outcome::kInvalid:
      caller->kind = "refused";
      caller->name = result.reason;
      return refuse(401, "Unauthorized", "The credentials were not accepted: " + result.reason + ".", "invalid_token");
    case auth::AuthResult::Outcome::kOk: break;
  }
  caller->name = result.principal.name;
  caller->kind = result.principal.kind;
  const bool reads_too = need.also_fhir_read && !result.principal.Has(auth::Role::kFhirRead);
  if (result.principal.Has(need.access.role, need.connector) && !reads_too) return std::nullopt;
  std::string role = reads_too ? "fhir-read (the request reads stored resources: a Bundle's GET entries, "
                                 "ifNoneExist or If-None-Exist)"
                               : auth::GrantName({need.access.role, need.connector});
  return refuse(403, "Forbidden",
                "'" + result.principal.name + "' lacks the role " + role + " that " + request.method + " " +
                    request.path + " needs.",
                "");
}

bool Service::ExtraRoute::Matches(std::string_view path) const {
  return match == RouteMatch::kExact ? path == prefix : StartsWith(path, prefix);
}

void Service::Attach(std::unique_ptr<ServiceComponent> component) { components_.push_back(std::move(component)); }

void Service::Stop(std::chrono::milliseconds drain) {
  if (stopped_.exchange(true)) return;
  // Ingestion first (its handlers finish and answer), then the components
  // (which may be removing connectors), the sources and workers, then the
  // store.
  if (http_) http_->Stop();
  for (const std::unique_ptr<ServiceComponent>& component : components_)
    component->Stop();
  for (const std::shared_ptr<Connector>& connector : Connectors())
    connector->Stop(drain);
  {
    MutexLock lock(connectors_mu_);
    connectors_.clear();
  }
  exports_.reset();        // its jobs read the store
  subscriptions_.reset();  // it watches the store
  store_.reset();
}

HttpResponse Service::Ready() {
  bool ready = true;
  std::string body = "{\"connectors\":{";
  bool first = true;
  for (const std::shared_ptr<Connector>& connector : Connectors()) {
    std::string why;
    const bool ok = connector->Ready(&why);
    ready = ready && ok;
    if (!first) body.push_back(',');
    first = false;
    json::AppendQuoted(&body, connector->name());
    body.append(ok ? ":{\"ready\":true" : ":{\"ready\":false,\"problem\":");
    if (!ok) json::AppendQuoted(&body, why);
    if (!connector->source_warning().empty()) {
      body.append(",\"warning\":");
      json::AppendQuoted(&body, connector->source_warning());
    }
    body.push_back('}');
  }
  body.append("},\"ready\":").append(ready ? "true" : "false").append("}");
  return Json(ready ? 200 : 503, std::move(body));
}

HttpResponse Service::Handle(const HttpRequest& request) {
  ++requests_;
  const Need need = NeedOf(request);
  Caller caller;
  std::optional<HttpResponse> refusal;
  if (!need.access.open) refusal = Authorize(request, need, &caller);
  HttpResponse response = refusal ? std::move(*refusal) : Dispatch(request);
  if (audit_ != nullptr && Audited(request, response.status)) {
    // A refused credential has no name to give: its reason goes in detail.
    const bool refused_credentials = caller.kind == "refused";
    const std::string_view name = caller.name;
    const std::string_view kind = caller.kind;
    audit_->Record({.who = refused_credentials ? std::string_view() : name,
                    .kind = refused_credentials ? std::string_view() : kind,
                    .method = request.method,
                    .path = request.path,
                    .status = response.status,
                    .peer = request.peer,
                    .detail = refused_credentials ? name : std::string_view()});
  }
  LogRequest(request, response.status);
  return response;
}

void Service::LogRequest(const HttpRequest& request, int status) {
  // /readyz answers 503 while a connector cannot take messages, every few
  // seconds under a probe: the connector's problem is logged once, where it
  // is recorded, not at each probe.
  const bool probe = request.path == "/healthz" || request.path == "/readyz";
  const bool failed = status >= 500 && !probe;
  const log::Level level = failed ? log::Level::kWarn : log::Level::kDebug;
  if (!log::Enabled(level)) return;
  std::string status_text;
  std::string ms;
  const auto took = std::chrono::steady_clock::now() - request.received;
  // A FHIR path names resources (/fhir/Patient/ID): below debug only its
  // route, since ids and queries can carry a patient's identifiers.
  std::string_view path = request.path;
  if (level != log::Level::kDebug && StartsWith(path, "/fhir/")) {
    const std::size_t type_end = path.find('/', 6);
    if (type_end != std::string_view::npos) path = path.substr(0, type_end);
  }
  std::vector<log::Field> fields = {
      {"method", request.method},
      {"path", path},
      log::Number("status", status, &status_text),
      log::Number("ms", std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), &ms),
      {"peer", request.peer}};
  if (auto id = request.Header("x-request-id"); id && !id->empty()) fields.push_back({log::kRequestId, *id});
  log::Write(level, failed ? "request failed" : "request", fields);
}

HttpResponse Service::Dispatch(const HttpRequest& request) {
  const std::string_view path = request.path;
  if (path == "/fhir" || StartsWith(path, "/fhir/")) {
    const std::string host(request.Header("host").value_or(config_.host + ":" + std::to_string(port())));
    return HandleFhirRequest(*store_, request, (request.tls ? "https://" : "http://") + host + "/fhir", exports_.get(),
                             subscriptions_.get());
  }
  if (path == "/healthz") return Json(200, "{\"status\":\"ok\"}");
  if (path == "/readyz") return Ready();
  if (path == "/metrics") {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    if (subscriptions_ != nullptr) {
      const Subscriptions::Counts c = subscriptions_->counts();
      metrics_.Subscriptions(c.active, c.notified, c.failed, c.dropped);
    }
    r.body = metrics_.Text();
    return r;
  }
  if (path == "/connectors" || path == "/connectors/") {
    if (request.method != "GET") return JsonError(405, "MethodNotAllowed", "Use GET.");
    std::string body = "{\"connectors\":[";
    bool first = true;
    for (const std::shared_ptr<Connector>& connector : Connectors()) {
      if (!first) body.push_back(',');
      first = false;
      body.append(connector->StatusJson());
    }
    body.append("]}");
    return Json(200, std::move(body));
  }
  if (StartsWith(path, "/connectors/")) return HandleConnector(request, path.substr(12));
  for (const ExtraRoute& route : extra_routes_) {
    if (route.Matches(path)) return route.handler(request);
  }
  return JsonError(404, "NotFound", "No route for " + request.method + " " + std::string(path) + ".");
}

namespace {

enum class BodyType : std::uint8_t { kJson, kNdjson, kUnsupported };

std::string_view TrimSpace(std::string_view s) {
  const std::size_t first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// What an ingestion body's Content-Type says it is. None is JSON (as before
// content types were checked); media types compare without case; a
// `+json` type (application/fhir+json) is JSON. Parameters other than
// charset are ignored; a charset must be UTF-8 (RFC 8259: JSON is UTF-8).
BodyType IngestBodyType(std::optional<std::string_view> header) {
  if (!header || TrimSpace(*header).empty()) return BodyType::kJson;
  std::string_view rest = *header;
  const std::size_t semicolon = rest.find(';');
  const std::string type = Lower(TrimSpace(rest.substr(0, semicolon)));
  rest = semicolon == std::string_view::npos ? std::string_view() : rest.substr(semicolon + 1);
  while (!rest.empty()) {
    const std::size_t next = rest.find(';');
    const std::string_view parameter = TrimSpace(rest.substr(0, next));
    rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
    const std::size_t equals = parameter.find('=');
    if (equals == std::string_view::npos || Lower(TrimSpace(parameter.substr(0, equals))) != "charset") continue;
    std::string_view charset = TrimSpace(parameter.substr(equals + 1));
    if (charset.size() >= 2 && charset.front() == '"' && charset.back() == '"')
      charset = charset.substr(1, charset.size() - 2);
    const std::string name = Lower(charset);
    if (name != "utf-8" && name != "utf8") return BodyType::kUnsupported;
  }
  if (type == "application/x-ndjson" || type == "application/ndjson") return BodyType::kNdjson;
  if (type == "application/json") return BodyType::kJson;
  if (type.starts_with("application/") && type.ends_with("+json") && type.size() > 17) return BodyType::kJson;
  return BodyType::kUnsupported;
}

}  // namespace

HttpResponse Service::HandleConnector(const HttpRequest& request, std::string_view rest) {
  const std::size_t slash = rest.find('/');
  const std::string_view name = rest.substr(0, slash);
  const std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash);
  const std::shared_ptr<Connector> held = FindConnector(name);
  if (held == nullptr) {
    return JsonError(404, "ConnectorNotFound", "There is no connector named '" + std::string(name) + "'.");
  }
  Connector& connector = *held;
  const std::string& method = request.method;
  auto only = [&](std::string_view allowed) -> std::optional<HttpResponse> {
    if (method == allowed) return std::nullopt;
    HttpResponse r = JsonError(405, "MethodNotAllowed", "Use " + std::string(allowed) + ".");
    r.headers.emplace_back("Allow", std::string(allowed));
    return r;
  };

  if (action == "/messages") {
    if (auto r = only("POST")) return *r;
    // (Its credentials were checked by Authorize, before.)
    // Checked before the body is looked at: text, XML or a form (curl's -d
    // without -H) would only be dead-lettered later, and the client never
    // learn it.
    const BodyType body_type = IngestBodyType(request.Header("content-type"));
    if (body_type == BodyType::kUnsupported) {
      HttpResponse r = JsonError(
          415, "UnsupportedMediaType",
          "The Content-Type '" + std::string(request.Header("content-type").value_or("")) +
              "' is not accepted: send one device message as application/json, or several, one a line, as "
              "application/x-ndjson (or application/ndjson), in UTF-8 (e.g. 'application/json; charset=utf-8').");
      r.headers.emplace_back("Accept-Post", "application/json, application/x-ndjson, application/ndjson");
      return r;
    }
    const bool ndjson = body_type == BodyType::kNdjson;
    std::vector<std::pair<std::string, std::string>> properties;
    for (const auto& [header, value] : request.headers) {
      if (StartsWith(header, "x-iomt-property-") && header.size() > 16)
        properties.emplace_back(header.substr(16), value);
    }
    std::string request_id(request.Header("x-request-id").value_or(""));
    if (request_id.empty()) request_id = "req-" + std::to_string(requests_.load());
    IngestOutcome outcome = connector.Ingest(request.body, ndjson, properties, request_id);
    if (outcome.status != 202) {
      HttpResponse r = JsonError(outcome.status, outcome.error_code, outcome.message);
      if (outcome.retry_after_seconds > 0)
        r.headers.emplace_back("Retry-After", std::to_string(outcome.retry_after_seconds));
      return r;
    }
    std::string body = "{\"accepted\":" + std::to_string(outcome.accepted) + ",\"requestId\":";
    json::AppendQuoted(&body, request_id);
    body.push_back('}');
    return Json(202, std::move(body));
  }
  if (action.empty() || action == "/") {
    if (auto r = only("GET")) return *r;
    return Json(200, connector.StatusJson());
  }
  if (action == "/deadletters") {
    if (auto r = only("GET")) return *r;
    std::size_t limit = 100;
    if (std::string l = url::QueryValue(request.query, "limit"); !l.empty()) {
      auto [p, ec] = std::from_chars(l.data(), l.data() + l.size(), limit);
      if (ec != std::errc() || p != l.data() + l.size()) {
        return JsonError(400, "InvalidParameter", "limit must be a whole number.");
      }
    }
    std::vector<std::string> records;
    std::int64_t total = 0;
    if (Status st = connector.DeadLetters(limit, &records, &total); !st.ok()) {
      return JsonError(500, "DeadLettersUnreadable", st.message());
    }
    if (url::QueryValue(request.query, "format") == "ndjson") {
      HttpResponse r;
      r.content_type = "application/x-ndjson";
      for (const std::string& line : records)
        r.body.append(line).push_back('\n');
      return r;
    }
    std::string body = "{\"total\":" + std::to_string(total) + ",\"deadLetters\":[";
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (i > 0) body.push_back(',');
      body.append(records[i]);
    }
    body.append("]}");
    return Json(200, std::move(body));
  }
  if (action == "/deadletters/replay") {
    if (auto r = only("POST")) return *r;
    auto replayed = connector.ReplayDeadLetters();
    if (!replayed.ok()) return JsonError(503, "ReplayFailed", replayed.status().message());
    return Json(202, "{\"replayed\":" + std::to_string(*replayed) + "}");
  }
  if (action == "/mappings") {
    if (auto r = only("GET")) return *r;
    return Json(200, connector.MappingsJson());
  }
  if (action == "/mappings/reload") {
    if (auto r = only("POST")) return *r;
    if (Status st = connector.Reload(); !st.ok()) return JsonError(400, "InvalidMapping", st.message());
    return Json(200, "{\"reloaded\":true}");
  }
  return JsonError(404, "NotFound", "No route for " + method + " " + request.path + ".");
}

}  // namespace iomt::server
