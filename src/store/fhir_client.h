// The FHIR server as the connector uses it: search by identifier, read, and
// create-or-update with PUT. iomt-fhir needs nothing more (reference study,
// section 9), so neither does iomt. Implementations: the in-memory store
// (memory/), the embedded SQLite store and a remote FHIR R4 server over HTTP.
//
// Resources are JSON text. Methods are safe to call from several threads.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace iomt::store {

struct Resource {
  std::string id;
  std::string version_id;  // the server's meta.versionId: "1" after a create
  std::string json;
};

class FhirClient {
 public:
  virtual ~FhirClient() = default;

  // The resources of `type` that have an identifier matching `system` and
  // `value` as a FHIR token search does (`identifier=system|value`; an empty
  // system is `identifier=value`: any system). Paging is followed until
  // `limit` matches are found (iomt-fhir reads at most 2, to tell "one"
  // from "more than one"). Only resources of `type` are returned.
  virtual Result<std::vector<Resource>> SearchByIdentifier(std::string_view type, std::string_view system,
                                                           std::string_view value, std::size_t limit) = 0;

  // The current version of type/id, or nullopt when there is none.
  virtual Result<std::optional<Resource>> Read(std::string_view type, std::string_view id) = 0;

  // Creates or replaces type/id with `json` (whose "id" must be `id`). With
  // `if_match` the write happens only if the current version is that one
  // (HTTP If-Match: W/"version"); otherwise it fails with kConflict. Returns
  // the stored resource with its new version.
  virtual Result<Resource> Put(std::string_view type, std::string_view id, std::string json,
                               std::optional<std::string_view> if_match) = 0;
};

}  // namespace iomt::store
