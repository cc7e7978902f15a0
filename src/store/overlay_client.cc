#include "store/overlay_client.h"

#include <algorithm>

namespace iomt::store {

Result<std::vector<Resource>> OverlayFhirClient::SearchByIdentifier(std::string_view type, std::string_view system,
                                                                    std::string_view value, std::size_t limit) {
  IOMT_ASSIGN_OR_RETURN(std::vector<Resource> found, overlay_.SearchByIdentifier(type, system, value, limit));
  if (found.size() >= limit) return found;
  IOMT_ASSIGN_OR_RETURN(std::vector<Resource> below, below_->SearchByIdentifier(type, system, value, limit));
  for (Resource& r : below) {
    if (found.size() >= limit) break;
    // A resource the overlay rewrote is represented by its overlay version
    // (which matched, or it would not be replaced silently here).
    IOMT_ASSIGN_OR_RETURN(std::optional<Resource> shadow, overlay_.Read(type, r.id));
    if (shadow) continue;
    found.push_back(std::move(r));
  }
  return found;
}

Result<std::optional<Resource>> OverlayFhirClient::Read(std::string_view type, std::string_view id) {
  IOMT_ASSIGN_OR_RETURN(std::optional<Resource> mine, overlay_.Read(type, id));
  if (mine) return mine;
  return below_->Read(type, id);
}

Result<Resource> OverlayFhirClient::Put(std::string_view type, std::string_view id, std::string json,
                                        std::optional<std::string_view> if_match) {
  // The version check is against whichever copy is current.
  IOMT_ASSIGN_OR_RETURN(std::optional<Resource> current, Read(type, id));
  if (if_match && (!current || current->version_id != *if_match)) {
    return Status(StatusCode::kConflict, std::string(type) + "/" + std::string(id) + " has changed");
  }
  return overlay_.Put(type, id, std::move(json), std::nullopt);
}

}  // namespace iomt::store
