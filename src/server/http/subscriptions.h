// FHIR R4 Subscriptions over the embedded store: a client stores a
// Subscription (criteria "Observation?code=8867-4", a channel) and is told
// when a write makes a resource match.
//
//   POST /fhir/Subscription  {"resourceType":"Subscription","status":"requested",
//       "criteria":"Observation?code=http://loinc.org|8867-4",
//       "channel":{"type":"rest-hook","endpoint":"https://app/hook",
//                  "payload":"application/fhir+json","header":["Authorization: Bearer x"]}}
//   -> the server sets it "active" (a new version), or "error" with `error`
//      saying why (an endpoint that kept failing, say).
//   rest-hook without payload: POST to the endpoint, no body; with payload:
//      PUT endpoint/{type}/{id} with the resource (FHIR R4's channel rules).
//   websocket: GET /fhir/websocket (the URL the CapabilityStatement gives),
//      send "bind {id}", get "bound {id}", then "ping {id}" at each write
//      that matches.
//
// How it stays off ingestion's path: the store copies the writes of the
// watched types only (the criteria's types; nothing when no Subscription is
// active) and hands them over after each commit (EmbeddedStore::
// WatchChanges); one thread of this class evaluates the criteria on the
// resources' JSON in memory (embedded::MakeCriteria: no store query, no
// store lock) and queues the deliveries; each rest-hook has its own
// delivery thread, so a slow endpoint delays only itself. Bounded queues:
// past them, notifications are dropped and counted (Counts), never the
// writes. A notification is about a committed write: rolled-back writes
// are never reported. Notifications of one commit are grouped: one ping
// (or one body-less POST) per subscription per commit; with a payload, one
// PUT per resource, its newest version.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "server/http/http_server.h"
#include "store/embedded/embedded_store.h"

namespace iomt::server {

struct SubscriptionOptions {
  // A rest-hook delivery's time limit, and attempts before the Subscription
  // is set to status "error" (its `error` saying why).
  int rest_hook_timeout_ms = 5'000;
  int rest_hook_attempts = 3;
  // Writes waiting to be matched (bytes of their JSON), and deliveries
  // waiting per rest-hook: beyond, dropped and counted.
  std::size_t max_queued_bytes = std::size_t{64} << 20;
  std::size_t max_queued_deliveries = 10'000;
  // URL prefixes a rest-hook endpoint must start with (empty: any http or
  // https URL).
  std::vector<std::string> allowed_endpoints;
};

class Subscriptions {
 public:
  struct Counts {
    std::int64_t active = 0;    // Subscriptions being served
    std::int64_t notified = 0;  // notifications sent (pings, POSTs, PUTs)
    std::int64_t failed = 0;    // rest-hook attempts that failed
    std::int64_t dropped = 0;   // writes or deliveries dropped at a full queue
  };

  // Serves the Subscriptions stored in `store` (those "requested" become
  // "active") and every one written from now on. `store` outlives this.
  static Result<std::unique_ptr<Subscriptions>> Start(store::EmbeddedStore* store, SubscriptionOptions options = {});
  ~Subscriptions();  // Stop()
  Subscriptions(const Subscriptions&) = delete;
  Subscriptions& operator=(const Subscriptions&) = delete;
  // Stops watching, closes the deliveries (what is queued is dropped).
  void Stop();

  // Whether a Subscription can be served: kInvalidArgument saying why not
  // (criteria this server cannot evaluate, a channel it does not have, an
  // endpoint outside allowed_endpoints).
  Status Check(std::string_view subscription_json);

  // For a request under /fhir (path parts after /fhir): the WebSocket
  // endpoint ("websocket"), and the check of a Subscription being created
  // or replaced (400 when Check refuses it); nullopt: not for this class.
  std::optional<HttpResponse> Handle(const HttpRequest& request, const std::vector<std::string>& parts);

  Counts counts();

 private:
  class Impl;
  explicit Subscriptions(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace iomt::server
