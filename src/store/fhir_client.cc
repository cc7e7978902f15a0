#include "store/fhir_client.h"

namespace iomt::store {

Result<std::vector<Result<Resource>>> FhirClient::PutMany(std::vector<PutRequest> requests) {
  std::vector<Result<Resource>> out;
  out.reserve(requests.size());
  for (PutRequest& r : requests) {
    Result<Resource> put = Put(r.type, r.id, std::move(r.json), r.IfMatch());
    // A server that cannot be reached fails the whole round trip.
    if (!put.ok() && put.status().code() == StatusCode::kUnavailable) return put.status();
    out.push_back(std::move(put));
  }
  return out;
}

Result<std::vector<Resource>> FhirClient::SearchByIdentifiers(std::string_view type, std::string_view system,
                                                              const std::vector<std::string>& values) {
  std::vector<Resource> out;
  for (const std::string& value : values) {
    IOMT_ASSIGN_OR_RETURN(std::vector<Resource> found, SearchByIdentifier(type, system, value, 2));
    for (Resource& r : found)
      out.push_back(std::move(r));
  }
  return out;
}

}  // namespace iomt::store
