// The provisioning API of `iomt serve` (docs/provisioning.md): workspaces,
// FHIR services, IoT connectors and FHIR destinations as Azure Resource
// Manager resources under /subscriptions/, validated before they are saved
// and refused with the messages of Azure's troubleshooting guide.
//
// The life of a provisioned connector: PUT of its workspace, of a FHIR
// service (the embedded store or a remote FHIR R4 server), of the IoT
// connector (device mapping, event hub), then of its FHIR destination (FHIR
// mapping, which FHIR service). Once the destination has Succeeded the
// connector runs in the service, at once (server::Service::AddConnector),
// and takes events over HTTP (properties.httpIngestionUrl) and, when the
// configuration maps its event hub namespace to a Kafka cluster, from its
// event hub. An update that validates swaps the mappings in the running
// connector (or restarts it, when its sources or FHIR service change); one
// that does not is refused and changes nothing. DELETE drains the connector
// (what cannot be written in the drain time stays queued until the deletion
// finishes, also across a restart).
//
// The resources and their states are durable (control/registry.h): a
// restart, or a SIGKILL in the middle of a request, comes back to them and
// starts the connectors again, and finishes the deletions under way.
//
// Requests are serialized (one at a time): concurrent PUTs of one resource
// are applied one after the other, and the store stays consistent.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "control/registry.h"
#include "server/http/http_server.h"
#include "server/service.h"

namespace iomt::control {

class Provisioning final : public server::ServiceComponent {
 public:
  // Opens the provisioned state in the service's store directory, starts
  // the connectors it describes, resumes the deletions under way, and
  // serves /subscriptions/ on the service. For Service::Start's attach.
  static Status AttachTo(server::Service& service);

  Provisioning(server::Service* service, std::unique_ptr<Registry> registry)
      : service_(service), registry_(std::move(registry)) {}
  ~Provisioning() override;
  Provisioning(const Provisioning&) = delete;
  Provisioning& operator=(const Provisioning&) = delete;

  server::HttpResponse Handle(const server::HttpRequest& request) IOMT_EXCLUDES(mu_);
  // Waits for the deletions under way (each bounded by the drain time).
  void Stop() override IOMT_EXCLUDES(mu_);

 private:
  struct Request;
  struct Deletion {
    std::vector<std::string> ids;    // erased when done
    std::vector<std::string> purge;  // connectors stopped, their state removed
    std::vector<std::string> keep;   // connectors stopped, their queue kept
  };

  Status Resume() IOMT_EXCLUDES(mu_);
  server::HttpResponse Get(const Request& r) IOMT_REQUIRES(mu_);
  server::HttpResponse List(const Request& r) IOMT_REQUIRES(mu_);
  server::HttpResponse Put(const Request& r) IOMT_REQUIRES(mu_);
  server::HttpResponse Delete(const Request& r) IOMT_REQUIRES(mu_);

  // The connector's running configuration from its records.
  Result<server::ConnectorConfig> ConfigFor(const ResourceRecord& connector, const ResourceRecord& destination) const
      IOMT_REQUIRES(mu_);
  // Starts the connector of `destination` (again, when it runs): Succeeded
  // or Failed, saved.
  Status Activate(const ResourceRecord& destination) IOMT_REQUIRES(mu_);
  // Applies a validated change of a connector or destination to the
  // running connector: new mappings swapped in, or a restart.
  Status ApplyToRunning(const ResourceRecord& before, const ResourceRecord& after) IOMT_REQUIRES(mu_);
  // `top` and everything under it: a workspace's FHIR services and
  // connectors, a connector's destination.
  std::vector<const ResourceRecord*> Subtree(const ResourceRecord& top) const IOMT_REQUIRES(mu_);
  // What deleting `doomed` (the subtree of `top`) erases and stops.
  static Deletion DeletionOf(const ResourceRecord& top, const std::vector<const ResourceRecord*>& doomed,
                             const Registry& registry);
  void StartDeletion(Deletion deletion) IOMT_REQUIRES(mu_);
  void RunDeletion(const Deletion& deletion) IOMT_EXCLUDES(mu_);
  bool Running(const std::string& connector_name) const IOMT_REQUIRES(mu_);
  const ResourceRecord* DestinationOf(const ResourceRecord& connector) const IOMT_REQUIRES(mu_);
  const ResourceRecord* ResolveFhirService(std::string_view fhir_service_id) const IOMT_REQUIRES(mu_);
  std::string Render(const ResourceRecord& record) const IOMT_REQUIRES(mu_);

  server::Service* service_;
  mutable Mutex mu_;
  std::unique_ptr<Registry> registry_ IOMT_GUARDED_BY(mu_);
  std::set<std::string> running_ IOMT_GUARDED_BY(mu_);  // connector names this API started
  std::vector<std::thread> deletions_ IOMT_GUARDED_BY(mu_);
  std::uint64_t etag_counter_ IOMT_GUARDED_BY(mu_) = 0;
};

}  // namespace iomt::control
