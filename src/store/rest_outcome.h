// A store's failure as the FHIR REST API answers it: the HTTP status and an
// OperationOutcome. The embedded store's Bundle responses
// (store/embedded/bundle.cc) and the FHIR API of `iomt serve`
// (server/http/fhir_api.cc) answer failures with these, so an entry of a
// batch and a request on its own fail alike.
//
// Besides the StatusCode, the store's Status::detail() decides three of them:
// - kNotFound with detail "deleted" (the resource was deleted: its history
//   remains) is 410 Gone; any other kNotFound is 404.
// - kConflict with detail "precondition" (If-Match names another version,
//   If-None-Exist matches more than one resource) is 412 Precondition
//   Failed; any other kConflict is 409.
// - kInvalidArgument with detail "unprocessable" (a JSON Patch that cannot
//   be applied to the resource) is 422 Unprocessable Entity; any other is 400.
#pragma once

#include <string>

#include "common/status.h"

namespace iomt::store {

// The HTTP status for a Status from the store (404, 410, 409, 412, 400, 422, 500).
int HttpStatus(const Status& status);
// An OperationOutcome resource (JSON) describing `status`.
std::string OperationOutcome(const Status& status);

}  // namespace iomt::store
