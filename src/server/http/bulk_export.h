// FHIR Bulk Data export (the async pattern of the FHIR Bulk Data Access
// IG, as Azure's FHIR service offers it) over the embedded store:
//
//   GET /fhir/$export, /fhir/Patient/$export   (Prefer: respond-async;
//       _type=A,B; _since=instant; _outputFormat=ndjson)
//     -> 202, Content-Location: .../fhir/$export-status/{job}
//   GET .../$export-status/{job}
//     -> 202 + X-Progress while it runs; 200 + the manifest when done
//        ({transactionTime, request, requiresAccessToken, output: [{type,
//        url, count}], error: []}); 500 + OperationOutcome when it failed
//   DELETE .../$export-status/{job} -> 202: cancelled, its files removed
//   GET .../$export-file/{job}/{Type}.ndjson -> the file (fhir+ndjson)
//
// Each job reads one snapshot of the store on a thread of its own
// (EmbeddedStore::ExportSnapshot: writers go on) into DIR/{job}/ — files
// that hold PHI, so the directory is 0700 and the files 0600, as the
// store's. Jobs are kept in memory for 24 hours after they finish (the
// manifest's Expires), then removed with their files; a restart forgets
// them and removes their files (clients start again). Patient/$export is the Patient
// compartment as far as iomt's types go: the Patients, and the resources
// whose subject or patient is a Patient.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "server/http/http_server.h"
#include "store/embedded/embedded_store.h"

namespace iomt::server {

class BulkExports {
 public:
  // Files go under `dir` (created; what a previous run left is removed).
  BulkExports(store::EmbeddedStore* store, std::string dir);
  // Cancels the running jobs and waits for them.
  ~BulkExports();
  BulkExports(const BulkExports&) = delete;
  BulkExports& operator=(const BulkExports&) = delete;

  // The answer to a request under /fhir whose path parts (after /fhir) are
  // `parts` when it is about bulk export ($export, $export-status,
  // $export-file); nullopt otherwise.
  std::optional<HttpResponse> Handle(const HttpRequest& request, const std::vector<std::string>& parts,
                                     std::string_view query, std::string_view base_url);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iomt::server
