#include "control/provisioning.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "common/clock.h"
#include "common/datetime.h"
#include "common/json/strict_reader.h"
#include "common/json/writer.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/url.h"
#include "control/arm_body.h"
#include "control/provisioning_internal.h"
#include "pipeline/mappings.h"

namespace iomt::control {

using server::HttpRequest;
using server::HttpResponse;

namespace {

constexpr int kDefaultPage = 100;
constexpr int kMaxPage = 1000;

// A query parameter whose name starts with '$' (sent as is or as %24).
std::string DollarParam(std::string_view query, std::string_view name) {
  std::string value = url::QueryValue(query, Cat({"$", name}));
  return value.empty() ? url::QueryValue(query, Cat({"%24", name})) : value;
}

int ParseCount(const std::string& text, int fallback) {
  if (text.empty() || text.size() > 9) return fallback;
  int n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return fallback;
    n = n * 10 + (c - '0');
  }
  return n;
}

}  // namespace

// An If-Match value names `etag` ("*" names any; quotes and W/ ignored).
bool EtagMatches(std::string_view header, std::string_view etag) {
  std::size_t start = 0;
  while (start <= header.size()) {
    std::size_t comma = header.find(',', start);
    std::string_view item = header.substr(start, comma == std::string_view::npos ? header.npos : comma - start);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    if (item.substr(0, 2) == "W/") item.remove_prefix(2);
    if (item.size() >= 2 && item.front() == '"' && item.back() == '"') item = item.substr(1, item.size() - 2);
    if (item == "*" || item == etag) return true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

// ARM's etags look like GUIDs: the time and a counter make one unique to
// this server.
std::string NewEtag(std::uint64_t counter) {
  const auto ticks = static_cast<unsigned long long>(NowTicks());
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%08llx-0000-0000-%04llx-%012llx", (ticks >> 48) & 0xffffffffULL,
                static_cast<unsigned long long>(counter & 0xffff), ticks & 0xffffffffffffULL);
  return buffer;
}

std::string ConnectorStateDir(const server::Service& service, std::string_view name) {
  return Cat({service.config().store, "/connectors/", name});
}

HttpResponse ParentNotFound(const ResourcePath& path) {
  const std::string& parent = path.type == ResourceType::kFhirDestination ? path.child : path.workspace;
  return Error(
      404, "ParentResourceNotFound",
      Cat({"Can not perform requested operation on nested resource. Parent resource '", parent, "' not found."}));
}

HttpResponse ResourceNotFound(const ResourcePath& path) {
  std::string names = path.workspace;
  if (!path.child.empty()) {
    names.append(Cat({path.type == ResourceType::kFhirService ? "/fhirservices/" : "/iotconnectors/", path.child}));
  }
  if (!path.destination.empty()) names.append(Cat({"/fhirdestinations/", path.destination}));
  return Error(404, "ResourceNotFound",
               Cat({"The Resource 'Microsoft.HealthcareApis/workspaces/", names, "' under resource group '",
                    path.resource_group, "' was not found."}));
}

Status Provisioning::AttachTo(server::Service& service) {
  IOMT_ASSIGN_OR_RETURN(std::unique_ptr<Registry> registry,
                        Registry::Open(service.config().store + "/provisioning.json"));
  auto provisioning = std::make_unique<Provisioning>(&service, std::move(registry));
  IOMT_RETURN_IF_ERROR(provisioning->Resume());
  Provisioning* self = provisioning.get();
  // Bodies up to 4 MiB are read, so that those over the API's 1 MiB get its
  // 400 rather than the transport's 413.
  service.SetExtraRoute("/subscriptions/", 4 * kMaxRequestBytes,
                        [self](const HttpRequest& request) { return self->Handle(request); });
  service.Attach(std::move(provisioning));
  return Status::Ok();
}

Provisioning::~Provisioning() { Stop(); }

void Provisioning::Stop() {
  std::vector<std::thread> threads;
  {
    MutexLock lock(mu_);
    threads.swap(deletions_);
  }
  for (std::thread& t : threads)
    t.join();
}

HttpResponse Provisioning::Handle(const HttpRequest& http) {
  auto path = ParseResourcePath(http.path);
  if (!path.ok()) return Error(404, path.status().detail(), path.status().message());
  Request r{http, *path, path->Id()};
  MutexLock lock(mu_);
  if (http.method == "GET") return r.path.collection ? List(r) : Get(r);
  if (r.path.collection) {
    HttpResponse out = Error(405, "MethodNotAllowed", "A collection is read with GET; PUT and DELETE take a resource.");
    out.headers.emplace_back("Allow", "GET");
    return out;
  }
  if (http.method == "PUT") return Put(r);
  if (http.method == "DELETE") return Delete(r);
  HttpResponse out =
      Error(405, "MethodNotAllowed", Cat({"The method ", http.method, " is not supported: use GET, PUT or DELETE."}));
  out.headers.emplace_back("Allow", "GET, PUT, DELETE");
  return out;
}

// ---- reading ----

std::string Provisioning::Render(const ResourceRecord& record) const {
  std::string out = "{\"id\":";
  json::AppendQuoted(&out, record.id);
  out.append(",\"name\":");
  json::AppendQuoted(&out, record.name);
  out.append(",\"type\":");
  json::AppendQuoted(&out, ArmType(record.type));
  out.append(",\"location\":");
  json::AppendQuoted(&out, record.location);
  out.append(",\"etag\":");
  json::AppendQuoted(&out, record.etag);
  if (!record.kind.empty()) {
    out.append(",\"kind\":");
    json::AppendQuoted(&out, record.kind);
  }
  if (!record.tags.empty()) out.append(",\"tags\":").append(record.tags);
  if (!record.identity.empty()) out.append(",\"identity\":").append(record.identity);
  out.append(",\"properties\":{\"provisioningState\":");
  json::AppendQuoted(&out, record.state);
  if (!record.error_code.empty()) {
    out.append(",\"provisioningError\":{\"code\":");
    json::AppendQuoted(&out, record.error_code);
    out.append(",\"message\":");
    json::AppendQuoted(&out, record.error_message);
    out.append("}");
  }
  // The stored members as they were sent (an object's inside, after '{').
  std::string_view inner = record.properties;
  if (inner.size() >= 2) inner = inner.substr(1, inner.size() - 2);
  while (!inner.empty() &&
         (inner.front() == ' ' || inner.front() == '\n' || inner.front() == '\r' || inner.front() == '\t')) {
    inner.remove_prefix(1);
  }
  if (!inner.empty()) out.append(",").append(inner);
  if (record.type == ResourceType::kIotConnector) {
    out.append(",\"httpIngestionUrl\":");
    json::AppendQuoted(&out, Cat({"/connectors/", record.name, "/messages"}));
  }
  out.append("},\"systemData\":{\"createdAt\":");
  json::AppendQuoted(&out, record.created_at);
  out.append(",\"lastModifiedAt\":");
  json::AppendQuoted(&out, record.modified_at);
  out.append("}}");
  return out;
}

HttpResponse Provisioning::Get(const Request& r) {
  const ResourceRecord* record = registry_->Find(r.id);
  if (record == nullptr) {
    const std::string parent = r.path.ParentId();
    return !parent.empty() && registry_->Find(parent) == nullptr ? ParentNotFound(r.path) : ResourceNotFound(r.path);
  }
  HttpResponse out = Json(200, Render(*record));
  out.headers.emplace_back("ETag", Quoted(record->etag));
  return out;
}

HttpResponse Provisioning::List(const Request& r) {
  std::vector<const ResourceRecord*> items;
  if (r.path.type == ResourceType::kWorkspace) {
    // A subscription's or a resource group's workspaces.
    std::string scope = Cat({"/subscriptions/", r.path.subscription});
    if (!r.path.resource_group.empty()) scope.append(Cat({"/resourceGroups/", r.path.resource_group}));
    items = registry_->Children(scope, ResourceType::kWorkspace);
  } else {
    const std::string parent = r.path.ParentId();
    if (registry_->Find(parent) == nullptr) return ParentNotFound(r.path);
    items = registry_->Children(parent, r.path.type);
  }
  const int top = std::clamp(ParseCount(DollarParam(r.http.query, "top"), kDefaultPage), 1, kMaxPage);
  const int skip = ParseCount(DollarParam(r.http.query, "skipToken"), 0);
  std::string out = "{\"value\":[";
  const std::size_t end = std::min(items.size(), static_cast<std::size_t>(skip) + static_cast<std::size_t>(top));
  for (std::size_t i = static_cast<std::size_t>(skip); i < end; ++i) {
    if (i > static_cast<std::size_t>(skip)) out.push_back(',');
    out.append(Render(*items[i]));
  }
  out.push_back(']');
  if (end < items.size()) {
    // An absolute URL, as ARM gives it, on the host the client used.
    const std::string host(r.http.Header("host").value_or("127.0.0.1"));
    std::string next = Cat({"http://", host, r.http.path, "?"});
    const std::string version = url::QueryValue(r.http.query, "api-version");
    if (!version.empty()) next.append(Cat({"api-version=", version, "&"}));
    next.append(Cat({"$skipToken=", std::to_string(end), "&$top=", std::to_string(top)}));
    out.append(",\"nextLink\":");
    json::AppendQuoted(&out, next);
  }
  out.push_back('}');
  return Json(200, std::move(out));
}

// ---- the connectors the API runs ----

bool Provisioning::Running(const std::string& connector_name) const { return running_.count(connector_name) > 0; }

const ResourceRecord* Provisioning::DestinationOf(const ResourceRecord& connector) const {
  std::vector<const ResourceRecord*> d = registry_->Children(connector.id, ResourceType::kFhirDestination);
  return d.empty() ? nullptr : d.front();
}

const ResourceRecord* Provisioning::ResolveFhirService(std::string_view fhir_service_id) const {
  const std::optional<FhirServiceRef> ref = ParseFhirServiceId(fhir_service_id);
  if (!ref) return nullptr;
  if (!ref->workspace.empty()) {
    const ResourceRecord* r = registry_->Find(
        Cat({"/subscriptions/", ref->subscription, "/resourceGroups/", ref->resource_group,
             "/providers/Microsoft.HealthcareApis/workspaces/", ref->workspace, "/fhirservices/", ref->name}));
    return r != nullptr && r->type == ResourceType::kFhirService ? r : nullptr;
  }
  // .../services/{name}: the one FHIR service of that name in the resource
  // group (Azure API for FHIR's form; iomt's FHIR services live in
  // workspaces).
  const std::string scope =
      AsciiLower(Cat({"/subscriptions/", ref->subscription, "/resourceGroups/", ref->resource_group, "/"}));
  const ResourceRecord* found = nullptr;
  for (const ResourceRecord* r : registry_->All(ResourceType::kFhirService)) {
    if (r->key().compare(0, scope.size(), scope) != 0 || AsciiLower(r->name) != AsciiLower(ref->name)) continue;
    if (found != nullptr) return nullptr;  // two of that name: the id does not say which
    found = r;
  }
  return found;
}

Result<server::ConnectorConfig> Provisioning::ConfigFor(const ResourceRecord& connector,
                                                        const ResourceRecord& destination) const {
  const ConnectorProps cp = ReadConnectorProps(connector.properties);
  const DestinationProps dp = ReadDestinationProps(destination.properties);
  const ResourceRecord* fhir = ResolveFhirService(dp.fhir_service_id);
  if (fhir == nullptr) return InvalidArgument(Cat({"the FHIR service ", dp.fhir_service_id, " is not there"}));
  server::ConnectorConfig c;
  c.name = connector.name;
  c.device_mapping_text = cp.device_mapping.value_or("");
  c.fhir_mapping_text = dp.fhir_mapping.value_or("");
  c.resolution = dp.resolution;
  const FhirServiceProps fp = ReadFhirServiceProps(fhir->properties);
  c.fhir.url = fp.url;
  c.fhir.token = std::string(fhir->Secret("bearerToken"));
  if (!fp.client_id.empty()) {
    c.fhir.oauth_token_url = fp.token_url;
    c.fhir.oauth_client_id = fp.client_id;
    c.fhir.oauth_client_secret = std::string(fhir->Secret("clientSecret"));
    c.fhir.oauth_scope = fp.scope;
  }
  const std::string ns = AsciiLower(cp.event_hub_namespace.value_or(""));
  for (const server::EventHubNamespaceConfig& entry : service_->config().event_hub_namespaces) {
    if (AsciiLower(entry.name) == ns) c.kafka = server::KafkaConfigFor(entry, cp.event_hub, cp.consumer_group);
  }
  if (!c.kafka) {
    static constexpr std::string_view kHttpOnly =
        "' is not configured on this server (eventHubNamespaces in its configuration): the connector takes its "
        "events over HTTP only, at /connectors/";
    c.source_warning =
        Cat({"the event hub namespace '", cp.event_hub_namespace.value_or(""), kHttpOnly, connector.name, "/messages"});
  }
  return c;
}

Status Provisioning::Activate(const ResourceRecord& destination) {
  const ResourceRecord* connector = registry_->Find(destination.parent_key());
  Status st = connector == nullptr ? NotFound("the IoT connector is not there") : Status::Ok();
  if (st.ok()) {
    auto config = ConfigFor(*connector, destination);
    st = config.status();
    if (st.ok()) {
      if (Running(connector->name)) {
        (void)service_->RemoveConnector(connector->name, std::chrono::milliseconds(0), false);
        running_.erase(connector->name);
      }
      st = service_->AddConnector(std::move(*config));
      if (st.ok()) running_.insert(connector->name);
    }
  }
  ResourceRecord updated = destination;
  if (updated.state != kDeleting) updated.state = std::string(st.ok() ? kSucceeded : kFailed);
  updated.error_code = st.ok() ? "" : "ConnectorNotStarted";
  updated.error_message = st.ok() ? "" : st.message();
  IOMT_RETURN_IF_ERROR(registry_->Put(std::move(updated)));
  return st;
}

Status Provisioning::ApplyToRunning(const ResourceRecord& before, const ResourceRecord& after) {
  const bool is_connector = after.type == ResourceType::kIotConnector;
  const ResourceRecord* connector = is_connector ? &after : registry_->Find(after.parent_key());
  if (connector == nullptr || !Running(connector->name)) return Status::Ok();
  std::shared_ptr<server::Connector> running = service_->FindConnector(connector->name);
  if (running == nullptr) return Status::Ok();
  if (is_connector) {
    const ConnectorProps was = ReadConnectorProps(before.properties);
    const ConnectorProps now = ReadConnectorProps(after.properties);
    const ResourceRecord* destination = DestinationOf(after);
    if (destination == nullptr) return Status::Ok();
    if (AsciiLower(was.event_hub_namespace.value_or("")) != AsciiLower(now.event_hub_namespace.value_or("")) ||
        was.event_hub != now.event_hub || was.consumer_group != now.consumer_group) {
      return Activate(*destination);  // the sources change: a restart (the queue stays)
    }
    if (was.device_mapping == now.device_mapping) return Status::Ok();
    return running->ReplaceMappings(now.device_mapping.value_or(""),
                                    ReadDestinationProps(destination->properties).fhir_mapping.value_or(""));
  }
  const DestinationProps was = ReadDestinationProps(before.properties);
  const DestinationProps now = ReadDestinationProps(after.properties);
  if (was.resolution != now.resolution ||
      ResolveFhirService(was.fhir_service_id) != ResolveFhirService(now.fhir_service_id)) {
    return Activate(after);
  }
  if (was.fhir_mapping == now.fhir_mapping) return Status::Ok();
  return running->ReplaceMappings(ReadConnectorProps(connector->properties).device_mapping.value_or(""),
                                  now.fhir_mapping.value_or(""));
}

// ---- writing ----

std::vector<const ResourceRecord*> Provisioning::Subtree(const ResourceRecord& top) const {
  std::vector<const ResourceRecord*> out{&top};
  if (top.type == ResourceType::kWorkspace) {
    for (ResourceType t : {ResourceType::kFhirService, ResourceType::kIotConnector}) {
      for (const ResourceRecord* child : registry_->Children(top.id, t))
        out.push_back(child);
    }
  }
  for (std::size_t i = 0, n = out.size(); i < n; ++i) {
    if (out[i]->type != ResourceType::kIotConnector) continue;
    if (const ResourceRecord* destination = DestinationOf(*out[i])) out.push_back(destination);
  }
  return out;
}

Provisioning::Deletion Provisioning::DeletionOf(const ResourceRecord& top,
                                                const std::vector<const ResourceRecord*>& doomed,
                                                const Registry& registry) {
  Deletion deletion;
  for (const ResourceRecord* r : doomed) {
    deletion.ids.push_back(r->id);
    // A connector that goes is stopped and its state removed; one that only
    // loses its destination stops and keeps its queue.
    if (r->type == ResourceType::kIotConnector) deletion.purge.push_back(r->name);
    if (r->type == ResourceType::kFhirDestination && top.type == ResourceType::kFhirDestination) {
      if (const ResourceRecord* c = registry.Find(r->parent_key())) deletion.keep.push_back(c->name);
    }
  }
  return deletion;
}

Status Provisioning::Resume() {
  MutexLock lock(mu_);
  // Deletions under way at the last stop, from the top: a workspace's takes
  // its connectors and destinations, a connector's its destination.
  std::vector<Deletion> deletions;
  std::set<std::string> in_deletion;
  for (ResourceType t : {ResourceType::kWorkspace, ResourceType::kIotConnector, ResourceType::kFhirDestination,
                         ResourceType::kFhirService}) {
    for (const ResourceRecord* r : registry_->All(t)) {
      if (r->state != kDeleting || in_deletion.count(r->key()) > 0) continue;
      const std::vector<const ResourceRecord*> doomed = Subtree(*r);
      for (const ResourceRecord* x : doomed)
        in_deletion.insert(x->key());
      Deletion d = DeletionOf(*r, doomed, *registry_);
      deletions.push_back(std::move(d));
    }
  }
  // Resources whose creation a crash interrupted were valid when saved.
  for (ResourceType t : {ResourceType::kWorkspace, ResourceType::kFhirService, ResourceType::kIotConnector}) {
    for (const ResourceRecord* r : registry_->All(t)) {
      if (r->state != kCreating) continue;
      ResourceRecord done = *r;
      done.state = std::string(kSucceeded);
      IOMT_RETURN_IF_ERROR(registry_->Put(std::move(done)));
    }
  }
  // The connectors run again (those being deleted too, to drain); a failed
  // start is tried again (its FHIR service may be back).
  std::vector<ResourceRecord> destinations;
  for (const ResourceRecord* d : registry_->All(ResourceType::kFhirDestination))
    destinations.push_back(*d);
  for (const ResourceRecord& d : destinations) {
    if (Status st = Activate(d); !st.ok()) {
      log::Error("a provisioned connector did not start", {{"resource", d.id}, {"reason", st.message()}});
    }
  }
  for (Deletion& d : deletions)
    StartDeletion(std::move(d));
  return Status::Ok();
}

}  // namespace iomt::control
