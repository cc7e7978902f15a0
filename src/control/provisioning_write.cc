#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "common/clock.h"
#include "common/datetime.h"
#include "common/json/strict_reader.h"
#include "common/log.h"
#include "common/strings.h"
#include "control/arm_body.h"
#include "control/provisioning.h"
#include "control/provisioning_internal.h"
#include "pipeline/mappings.h"

namespace iomt::control {

using server::HttpResponse;

namespace {

// Azure's messages (its troubleshooting guide's provisioning tables), word for
// word: docs/provisioning.md.
constexpr std::string_view kConnectorQuota = "The maximum number of resource type iotconnectors has been reached.";
constexpr std::string_view kDestinationQuota =
    "The maximum number of resource type iotconnectors/destinations has been reached.";
constexpr std::string_view kBadNamespace = "fullyQualifiedEventHubNamespace is null, empty, or formatted incorrectly.";
constexpr std::string_view kAncestor =
    "Ancestor resources must be fully provisioned before a child resource can be provisioned.";
constexpr std::string_view kLocation =
    "Location property of child resources must match the Location property of parent resources.";
constexpr std::string_view kBadFhirServiceId = "The fhirServiceResourceId provided is invalid.";

constexpr std::string_view kResolutions[] = {"Create", "Lookup", "LookupWithEncounter"};

}  // namespace

HttpResponse Provisioning::Put(const Request& r) {
  const ResourceType type = r.path.type;
  const std::string& name = r.path.Name();
  if (!ValidResourceName(name)) {
    return Error(400, "InvalidResourceName",
                 Cat({"The resource name '", name,
                      "' is invalid: use 3 to 24 lower-case letters, digits and hyphens, starting and ending with a "
                      "letter or digit."}));
  }
  const ResourceRecord* existing = registry_->Find(r.id);
  auto read = ReadBody(type, r.http.body, existing);
  if (auto* e = std::get_if<ApiError>(&read)) return e->Response();
  Draft& draft = std::get<Draft>(read);

  const ResourceRecord* parent = nullptr;
  const ResourceRecord* workspace = nullptr;
  if (type != ResourceType::kWorkspace) {
    parent = registry_->Find(r.path.ParentId());
    if (parent == nullptr) return ParentNotFound(r.path);
    workspace = type == ResourceType::kFhirDestination ? registry_->Find(parent->parent_key()) : parent;
  }
  if (auto m = r.http.Header("if-match"); m && (existing == nullptr || !EtagMatches(*m, existing->etag))) {
    return Error(412, "PreconditionFailed", "The resource's etag does not match If-Match: it was changed since.");
  }
  if (auto m = r.http.Header("if-none-match"); m && *m == "*" && existing != nullptr) {
    return Error(412, "PreconditionFailed", "The resource exists (If-None-Match: *).");
  }
  for (const ResourceRecord* ancestor : {workspace, parent}) {
    if (ancestor != nullptr && ancestor->state != kSucceeded) return Error(409, "AncestorNotProvisioned", kAncestor);
  }
  if (existing != nullptr && existing->state == kDeleting) {
    return Error(409, "Conflict", "The resource is being deleted: send the request again once it is gone.");
  }
  ResourceRecord& record = draft.record;
  if (record.location.empty()) {
    return Error(400, "LocationRequired", "The location property is required for this definition.");
  }
  if (parent != nullptr && NormalizedLocation(record.location) != NormalizedLocation(parent->location)) {
    return Error(400, "LocationMismatch", kLocation);
  }
  if (existing != nullptr && NormalizedLocation(record.location) != NormalizedLocation(existing->location)) {
    return Error(409, "InvalidResourceLocation",
                 Cat({"The resource '", name, "' already exists in location '", existing->location,
                      "'; a resource of that name cannot be moved to location '", record.location, "'."}));
  }
  if (type == ResourceType::kIotConnector && existing == nullptr) {
    const std::string subscription = AsciiLower(Cat({"/subscriptions/", r.path.subscription, "/"}));
    int count = 0;
    for (const ResourceRecord* c : registry_->All(ResourceType::kIotConnector))
      count += c->key().compare(0, subscription.size(), subscription) == 0 ? 1 : 0;
    if (count >= service_->config().iot_connector_quota) return Error(409, "QuotaExceeded", kConnectorQuota);
  }
  if (type == ResourceType::kFhirDestination && existing == nullptr && DestinationOf(*parent) != nullptr) {
    return Error(409, "QuotaExceeded", kDestinationQuota);
  }

  switch (type) {
    case ResourceType::kWorkspace: break;
    case ResourceType::kIotConnector: {
      const ConnectorProps& c = draft.connector;
      if (!c.event_hub_namespace || !server::ValidEventHubNamespace(*c.event_hub_namespace)) {
        return Error(400, "InvalidEventHubNamespace", kBadNamespace);
      }
      if (c.event_hub.empty()) {
        return Error(400, "InvalidRequestContent",
                     "The property 'properties.ingestionEndpointConfiguration.eventHubName' is required.");
      }
      if (!c.device_mapping) {
        return Error(400, "InvalidDeviceMapping",
                     "Invalid deviceMapping mapping. Validation errors: properties.deviceMapping.content is required.");
      }
      const pipeline::MappingCheck check = pipeline::CheckMappings(c.device_mapping, std::nullopt);
      if (std::string message = check.InvalidMessage(pipeline::MappingFile::kDevice); !message.empty()) {
        return Error(400, "InvalidDeviceMapping", message);
      }
      // Connector names are the server's: they name /connectors/{name}/messages.
      for (const ResourceRecord* other : registry_->All(ResourceType::kIotConnector)) {
        if (other->key() != AsciiLower(r.id) && AsciiLower(other->name) == AsciiLower(name)) {
          return Error(409, "ConnectorNameInUse",
                       Cat({"An IoT connector named '", name, "' already exists on this server (", other->id,
                            "): connector names are unique per server, as they name the ingestion URL /connectors/",
                            name, "/messages."}));
        }
      }
      if (!Running(name) && service_->FindConnector(name) != nullptr) {
        return Error(409, "ConnectorNameInUse",
                     Cat({"A connector named '", name,
                          "' comes from the server's configuration: choose another name for the IoT connector."}));
      }
      break;
    }
    case ResourceType::kFhirDestination: {
      DestinationProps& d = draft.destination;
      if (d.resolution.empty()) {
        return Error(400, "InvalidRequestContent",
                     "The property 'properties.resourceIdentityResolutionType' is required: Create or Lookup.");
      }
      bool known = false;
      for (std::string_view choice : kResolutions) {
        if (json::EqualsIgnoreCase(choice, d.resolution)) {
          d.resolution = std::string(choice);
          known = true;
        }
      }
      if (!known) {
        return Error(400, "InvalidRequestContent",
                     Cat({"The property 'properties.resourceIdentityResolutionType' must be Create or Lookup, not '",
                          d.resolution, "'."}));
      }
      if (ResolveFhirService(d.fhir_service_id) == nullptr) {
        return Error(400, "InvalidFhirServiceResourceId", kBadFhirServiceId);
      }
      if (!d.fhir_mapping) {
        return Error(400, "InvalidFhirMapping",
                     "Invalid fhirMapping mapping. Validation errors: properties.fhirMapping.content is required.");
      }
      const pipeline::MappingCheck check = pipeline::CheckMappings(std::nullopt, d.fhir_mapping);
      if (std::string message = check.InvalidMessage(pipeline::MappingFile::kFhir); !message.empty()) {
        return Error(400, "InvalidFhirMapping", message);
      }
      break;
    }
    case ResourceType::kFhirService: {
      const FhirServiceProps& f = draft.fhir;
      if (!json::EqualsIgnoreCase(record.kind, "fhir-R4")) {
        return Error(400, "InvalidFhirServiceKind",
                     Cat({"iomt writes FHIR R4: the kind must be fhir-R4, not '", record.kind, "'."}));
      }
      record.kind = "fhir-R4";
      if (!f.url.empty() && f.url.rfind("http://", 0) != 0 && f.url.rfind("https://", 0) != 0) {
        return Error(400, "InvalidRequestContent",
                     "The property 'properties.url' must be the http:// or https:// base URL of a FHIR R4 server.");
      }
      const bool bearer = !record.Secret("bearerToken").empty();
      const bool oauth = !f.client_id.empty() || !f.token_url.empty();
      if ((bearer || oauth) && f.url.empty()) {
        return Error(
            400, "InvalidRequestContent",
            "The property 'properties.credentials' goes with 'properties.url' (the embedded store needs none).");
      }
      if (bearer && oauth) {
        return Error(
            400, "InvalidRequestContent",
            "The property 'properties.credentials' takes a bearerToken or OAuth2 client credentials, not both.");
      }
      if (oauth && (f.token_url.empty() || f.client_id.empty() || record.Secret("clientSecret").empty())) {
        return Error(
            400, "InvalidRequestContent",
            "OAuth2 client credentials need 'properties.credentials.tokenUrl', 'clientId' and 'clientSecret'.");
      }
      break;
    }
  }

  const std::string now = datetime::FormatIso(NowTicks());
  record.id = existing != nullptr ? existing->id : r.id;
  record.name = existing != nullptr ? existing->name : name;
  record.etag = NewEtag(++etag_counter_);
  record.created_at = existing != nullptr ? existing->created_at : now;
  record.modified_at = now;
  record.state = std::string(kSucceeded);
  const int status = existing != nullptr ? 200 : 201;
  const std::optional<ResourceRecord> before =
      existing != nullptr ? std::optional<ResourceRecord>(*existing) : std::nullopt;
  const std::string key = record.key();

  if (type == ResourceType::kFhirDestination) {
    // Saved as Creating first: a crash while the connector starts leaves a
    // record that the next start finishes.
    const bool start = before == std::nullopt || before->state != kSucceeded || !Running(parent->name);
    record.state = std::string(start ? kCreating : kSucceeded);
    if (Status st = registry_->Put(record); !st.ok()) return Error(500, "InternalServerError", st.message());
    if (start) {
      (void)Activate(*registry_->Find(key));
    } else if (Status st = ApplyToRunning(*before, record); !st.ok()) {
      (void)registry_->Put(*before);
      return Error(400, "InvalidFhirMapping", st.message());
    }
  } else {
    if (Status st = registry_->Put(record); !st.ok()) return Error(500, "InternalServerError", st.message());
    if (before && type == ResourceType::kIotConnector) {
      if (Status st = ApplyToRunning(*before, record); !st.ok()) {
        (void)registry_->Put(*before);
        return Error(400, "InvalidDeviceMapping", st.message());
      }
    }
    if (before && type == ResourceType::kFhirService) {
      // The connectors writing to it start again with its new address or credentials.
      std::vector<ResourceRecord> users;
      for (const ResourceRecord* d : registry_->All(ResourceType::kFhirDestination)) {
        if (ResolveFhirService(ReadDestinationProps(d->properties).fhir_service_id) == registry_->Find(key)) {
          users.push_back(*d);
        }
      }
      for (const ResourceRecord& d : users) {
        if (d.state != kDeleting) (void)Activate(d);
      }
    }
  }
  const ResourceRecord* saved = registry_->Find(key);
  HttpResponse out = Json(status, Render(*saved));
  out.headers.emplace_back("ETag", Quoted(saved->etag));
  return out;
}

HttpResponse Provisioning::Delete(const Request& r) {
  const ResourceRecord* record = registry_->Find(r.id);
  if (record == nullptr) {
    HttpResponse out = Json(204, "");
    out.content_type.clear();
    return out;
  }
  if (auto m = r.http.Header("if-match"); m && !EtagMatches(*m, record->etag)) {
    return Error(412, "PreconditionFailed", "The resource's etag does not match If-Match: it was changed since.");
  }
  if (record->state == kDeleting) return Json(202, "");
  // What goes: the resource and everything under it.
  const std::vector<const ResourceRecord*> doomed = Subtree(*record);
  // A FHIR service that a destination which stays writes to cannot go.
  for (const ResourceRecord* f : doomed) {
    if (f->type != ResourceType::kFhirService) continue;
    for (const ResourceRecord* d : registry_->All(ResourceType::kFhirDestination)) {
      const bool goes = std::find(doomed.begin(), doomed.end(), d) != doomed.end();
      if (!goes && ResolveFhirService(ReadDestinationProps(d->properties).fhir_service_id) == f) {
        return Error(409, "FhirServiceInUse",
                     Cat({"The FHIR service is used by the FHIR destination ", d->id,
                          ": delete the destination or point it at another FHIR service first."}));
      }
    }
  }
  Deletion deletion = DeletionOf(*record, doomed, *registry_);
  bool draining = false;
  for (const std::string& name : deletion.purge)
    draining = draining || Running(name);
  for (const std::string& name : deletion.keep)
    draining = draining || Running(name);
  if (!draining) {
    // Nothing runs: gone now (with the state an earlier start left).
    for (const std::string& name : deletion.purge) {
      if (service_->FindConnector(name) == nullptr) {
        std::error_code ec;
        std::filesystem::remove_all(ConnectorStateDir(*service_, name), ec);
      }
    }
    if (Status st = registry_->Erase(deletion.ids); !st.ok()) return Error(500, "InternalServerError", st.message());
    return Json(200, "");
  }
  // The connectors drain (up to the drain time) on a thread of their own;
  // meanwhile the resources read as Deleting, and a restart finishes it.
  for (const std::string& id : deletion.ids) {
    ResourceRecord marked = *registry_->Find(id);
    marked.state = std::string(kDeleting);
    if (Status st = registry_->Put(std::move(marked)); !st.ok()) {
      return Error(500, "InternalServerError", st.message());
    }
  }
  StartDeletion(std::move(deletion));
  HttpResponse out = Json(202, "");
  out.headers.emplace_back("Location", r.http.path);
  return out;
}

void Provisioning::StartDeletion(Deletion deletion) {
  deletions_.emplace_back([this, deletion = std::move(deletion)] { RunDeletion(deletion); });
}

void Provisioning::RunDeletion(const Deletion& deletion) {
  const std::chrono::milliseconds drain = std::chrono::seconds(service_->config().drain_seconds);
  for (const std::string& name : deletion.purge) {
    if (!service_->RemoveConnector(name, drain, true).ok()) {
      std::error_code ec;  // not running: its state may still be there
      std::filesystem::remove_all(ConnectorStateDir(*service_, name), ec);
    }
  }
  for (const std::string& name : deletion.keep)
    (void)service_->RemoveConnector(name, drain, false);
  MutexLock lock(mu_);
  for (const std::string& name : deletion.purge)
    running_.erase(name);
  for (const std::string& name : deletion.keep)
    running_.erase(name);
  if (Status st = registry_->Erase(deletion.ids); !st.ok()) {
    log::Error("a deletion could not be saved (it finishes at the next start)", {{"reason", st.message()}});
  }
}

}  // namespace iomt::control
