// The FHIR R4 REST API of the embedded store, under /fhir of `iomt serve`
// (http-api.md "Embedded FHIR store"; docs/adr/0011-http-server.md).
//
// What it promises:
// - GET /fhir/metadata (a CapabilityStatement: FHIR 4.0.1, the search
//   parameters the store has, batch and transaction); GET|PUT|DELETE
//   /fhir/{type}/{id} with ETag W/"n", Last-Modified and If-Match;
//   GET .../{id}/_history[/{vid}], /fhir/{type}/_history, /fhir/_history;
//   POST /fhir/{type} with If-None-Exist;
//   PUT, DELETE and PATCH (JSON Patch) on /fhir/{type}?condition; PATCH
//   /fhir/{type}/{id}; If-None-Match (PUT: "*"; GET: 304); bulk export
//   ($export, bulk_export.h) when given a BulkExports;
//   GET /fhir/{type}?... and POST /fhir/{type}/_search (a form body) with
//   paging links both ways, _summary, _elements, _total, _include and
//   _revinclude (store/embedded/embedded_store.h); POST /fhir with a batch or
//   transaction Bundle; Prefer: return=minimal and handling=lenient.
// - JSON only: application/fhir+json or application/json (and
//   _format=json); another request Content-Type is 415, an Accept or
//   _format without JSON is 406.
// - Every failure is an OperationOutcome with store::HttpStatus's code
//   (404, 410, 400, 405, 409, 412, 415, 500, ...; store/rest_outcome.h).
// - Stateless and thread-safe as the store is: call it from any thread.
#pragma once

#include <string_view>

#include "server/http/http_server.h"
#include "store/embedded/embedded_store.h"

namespace iomt::server {

class BulkExports;
class Subscriptions;

// Answers a request whose path is "/fhir" or starts with "/fhir/" from
// `store`. `base_url` is the absolute URL of /fhir for links and Location
// (e.g. "http://127.0.0.1:8080/fhir"; the caller derives it from the Host
// header).
// An OperationOutcome of one issue ("login", "forbidden", "too-costly", ...)
// with that status: how /fhir answers what it refuses.
HttpResponse FhirOutcome(int status, std::string_view issue_code, std::string_view diagnostics);

// `exports`, when given, answers bulk export ($export: bulk_export.h);
// without, $export is 404. `subscriptions`, when given, serves the
// WebSocket of Subscriptions and checks the Subscriptions written
// (subscriptions.h); without, a Subscription is stored as any resource.
HttpResponse HandleFhirRequest(store::EmbeddedStore& store, const HttpRequest& request, std::string_view base_url,
                               BulkExports* exports = nullptr, Subscriptions* subscriptions = nullptr);

}  // namespace iomt::server
