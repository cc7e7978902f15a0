// The provisioned resources, durable in one file of the store directory
// (DIR/provisioning.json, private to the service's user: it holds the FHIR
// services' secrets). Every change writes the whole file to a temporary one,
// syncs it and renames it over the old one, so that a crash (SIGKILL, power)
// leaves either the old state or the new one, never a mix; a change whose
// write fails is undone in memory too. Not thread-safe: the provisioning API
// serializes its requests.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "control/resource_id.h"

namespace iomt::control {

// ARM's provisioningState values that iomt uses.
inline constexpr std::string_view kCreating = "Creating";
inline constexpr std::string_view kSucceeded = "Succeeded";
inline constexpr std::string_view kFailed = "Failed";
inline constexpr std::string_view kDeleting = "Deleting";

struct ResourceRecord {
  std::string id;  // as first created (ids compare without case)
  ResourceType type = ResourceType::kWorkspace;
  std::string name;
  std::string location;
  std::string etag;
  std::string kind;               // a FHIR service's ("fhir-R4"); empty otherwise
  std::string tags;               // the JSON object as sent; empty: none
  std::string identity;           // the JSON object as sent; empty: none
  std::string properties = "{}";  // a JSON object: what was sent, without read-only members and secrets
  std::vector<std::pair<std::string, std::string>> secrets;  // write-only values (never returned)
  std::string state = std::string(kSucceeded);
  std::string error_code;  // why it Failed
  std::string error_message;
  std::string created_at;  // RFC 3339, UTC
  std::string modified_at;

  [[nodiscard]] std::string key() const;         // the id in lower case
  [[nodiscard]] std::string parent_key() const;  // the parent's key ("" for a workspace)
  [[nodiscard]] std::string_view Secret(std::string_view secret) const;
};

class Registry {
 public:
  // Reads the file, or starts empty when there is none. A file that cannot
  // be read is an error naming it and what to do.
  static Result<std::unique_ptr<Registry>> Open(std::string path);

  [[nodiscard]] const ResourceRecord* Find(std::string_view id) const;
  // The resources of `type` whose parent is `parent_id` (any case), by id;
  // a subscription's or resource group's workspaces when `parent_id` is
  // "/subscriptions/{sub}" or ".../resourceGroups/{rg}".
  [[nodiscard]] std::vector<const ResourceRecord*> Children(std::string_view parent_id, ResourceType type) const;
  [[nodiscard]] std::vector<const ResourceRecord*> All(ResourceType type) const;

  // Adds or replaces `record`, then saves; on a failed save nothing changed.
  Status Put(ResourceRecord record);
  // Removes these (ids, any case), then saves; on a failed save nothing changed.
  Status Erase(const std::vector<std::string>& ids);

  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  explicit Registry(std::string path) : path_(std::move(path)) {}
  Status Save() const;

  std::string path_;
  std::map<std::string, ResourceRecord> records_;  // by key
};

}  // namespace iomt::control
