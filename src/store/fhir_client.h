// The FHIR server as the connector uses it: search by identifier, read, and
// create-or-update with PUT. iomt-fhir needs nothing more, so
// neither does iomt. Implementations: the in-memory store
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

struct PutRequest {
  std::string type;
  std::string id;
  std::string json;
  std::optional<std::string> if_match;  // the version the write is based on

  // `if_match` as Put takes it.
  [[nodiscard]] std::optional<std::string_view> IfMatch() const {
    std::optional<std::string_view> view;
    if (if_match) view = *if_match;
    return view;
  }
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

  // Several writes in one round trip (a FHIR `batch`): one result per
  // request, in order, each succeeding or failing on its own (kConflict for
  // a lost If-Match). The outer Result fails only when the round trip as a
  // whole did (the server could not be reached). When it returns, the
  // successful writes are durable. The default makes one Put each.
  virtual Result<std::vector<Result<Resource>>> PutMany(std::vector<PutRequest> requests);

  // The resources of `type` with an identifier `system|value` for any of
  // `values` (one search: `identifier=s|a,s|b,...`), in no particular order.
  // The default makes one SearchByIdentifier each.
  virtual Result<std::vector<Resource>> SearchByIdentifiers(std::string_view type, std::string_view system,
                                                            const std::vector<std::string>& values);

  // Makes every write that has returned durable. A store may hold single
  // Puts (a created Patient or Device) in an open transaction and commit them
  // with the next PutMany or here: `iomt run` calls Flush before it reports a
  // batch as written. A crash before then loses nothing that was reported,
  // and a rerun recreates the same resources (their ids are deterministic).
  virtual Status Flush() { return Status::Ok(); }

  // Lanes: a client that takes writes on several writers at once (the split
  // store: a writer a file, docs/adr/0029-store-split.md) offers more than
  // one. A caller with many writes may deal them by LaneOf(type, id) and
  // write each lane's share through Lane(k), the lanes on threads of their
  // own at once (one thread at a time in each). A lane reads what the whole
  // client holds, another lane's writes once they are committed (so an
  // Observation is best written by one lane only, always the same). A lane
  // has one lane, itself. Default: one lane, this client.
  [[nodiscard]] virtual std::size_t lanes() const { return 1; }
  [[nodiscard]] virtual std::size_t LaneOf(std::string_view /*type*/, std::string_view /*id*/) const { return 0; }
  virtual FhirClient* Lane(std::size_t /*k*/) { return this; }
};

}  // namespace iomt::store
