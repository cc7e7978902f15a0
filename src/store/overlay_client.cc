#include "store/overlay_client.h"

#include <algorithm>
#include <charconv>

#include "common/mutex.h"

namespace iomt::store {

Result<std::vector<Resource>> OverlayFhirClient::SearchByIdentifier(std::string_view type, std::string_view system,
                                                                    std::string_view value, std::size_t limit) {
  IOMT_ASSIGN_OR_RETURN(std::vector<Resource> found, overlay_.SearchByIdentifier(type, system, value, limit));
  for (Resource& r : found)
    FixVersion(type, &r);
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
  if (mine) {
    FixVersion(type, &*mine);
    return mine;
  }
  return below_->Read(type, id);
}

Result<Resource> OverlayFhirClient::Put(std::string_view type, std::string_view id, std::string json,
                                        std::optional<std::string_view> if_match) {
  // The version check is against whichever copy is current.
  IOMT_ASSIGN_OR_RETURN(std::optional<Resource> current, Read(type, id));
  if (if_match && (!current || current->version_id != *if_match)) {
    return Status(StatusCode::kConflict, std::string(type) + "/" + std::string(id) + " has changed");
  }
  // The next version: a number one higher when the store numbers them
  // (FHIR servers mostly do), else a new opaque one.
  std::string version = "1";
  if (current) {
    long n = 0;
    const std::string& v = current->version_id;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    version = ec == std::errc() && end == v.data() + v.size() ? std::to_string(n + 1) : v + ".1";
  }
  IOMT_ASSIGN_OR_RETURN(Resource written, overlay_.Put(type, id, std::move(json), std::nullopt));
  written.version_id = version;
  MutexLock lock(mu_);
  versions_[std::string(type) + "/" + std::string(id)] = version;
  return written;
}

void OverlayFhirClient::FixVersion(std::string_view type, Resource* r) const {
  std::string key(type);
  key.push_back('/');
  key.append(r->id);
  MutexLock lock(mu_);
  auto it = versions_.find(key);
  if (it != versions_.end()) r->version_id = it->second;
}

}  // namespace iomt::store
