// The resource ids of the provisioning API (docs/provisioning.md): Azure
// Resource Manager's paths for Microsoft.HealthcareApis workspaces, their
// FHIR services and IoT connectors, and a connector's FHIR destinations.
//
//   /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HealthcareApis
//     /workspaces/{ws}[/fhirservices/{fhir} | /iotconnectors/{c}[/fhirdestinations/{d}]]
//
// ARM compares ids without case; the segments that name types may come in
// any case, and so may names. The key of a resource is its id in lower case.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace iomt::control {

enum class ResourceType : std::uint8_t { kWorkspace, kFhirService, kIotConnector, kFhirDestination };

// "workspaces", "fhirservices", "iotconnectors", "fhirdestinations" (the
// path segment and the stored form).
std::string_view Segment(ResourceType type);
std::optional<ResourceType> TypeOfSegment(std::string_view segment);  // any case
// ARM's type: "Microsoft.HealthcareApis/workspaces/iotconnectors/fhirdestinations".
std::string_view ArmType(ResourceType type);
// The parent's type (a workspace has none: nullopt).
std::optional<ResourceType> ParentType(ResourceType type);

// A request path, parsed: one resource, or a collection of them (the last
// name empty). Names are as sent (percent-decoded).
struct ResourcePath {
  std::string subscription;
  std::string resource_group;  // empty: a subscription's list of workspaces
  std::string workspace;
  std::string child;        // a FHIR service or IoT connector
  std::string destination;  // a FHIR destination
  ResourceType type = ResourceType::kWorkspace;
  bool collection = false;

  // The id of the resource (of the collection: its parent's id plus the
  // segment), in the case it was sent.
  [[nodiscard]] std::string Id() const;
  // The id of the parent resource ("" for a workspace or a list of them).
  [[nodiscard]] std::string ParentId() const;
  // The name of the resource (empty for a collection).
  [[nodiscard]] const std::string& Name() const;
};

// Parses a path under /subscriptions/. Errors are the API's answers:
// kNotFound with the ARM code in the detail (InvalidResourceNamespace,
// InvalidResourceType) for paths that name nothing this API serves.
Result<ResourcePath> ParseResourcePath(std::string_view path);

// ARM's rule for the names of these resources: 3 to 24 lower-case letters,
// digits and hyphens, a letter or digit first and last
// (^[a-z0-9][a-z0-9-]{1,21}[a-z0-9]$).
bool ValidResourceName(std::string_view name);

// A fhirServiceResourceId, in the two forms Azure's troubleshooting guide
// gives:
//   /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HealthcareApis/services/{name}
//   /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HealthcareApis/workspaces/{ws}/fhirservices/{name}
struct FhirServiceRef {
  std::string subscription;
  std::string resource_group;
  std::string workspace;  // empty: the services/{name} form
  std::string name;
};
std::optional<FhirServiceRef> ParseFhirServiceId(std::string_view id);

}  // namespace iomt::control
