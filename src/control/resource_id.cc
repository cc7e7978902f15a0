#include "control/resource_id.h"

#include <vector>

#include "common/strings.h"
#include "common/url.h"

namespace iomt::control {

namespace {

constexpr std::string_view kProvider = "Microsoft.HealthcareApis";

bool Same(std::string_view a, std::string_view b) { return AsciiLower(a) == AsciiLower(b); }

// The segments of `path` between '/' (empty ones kept, so that "//" and a
// trailing '/' are refused rather than read as something else).
std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  for (;;) {
    const std::size_t slash = path.find('/');
    out.push_back(url::PercentDecode(path.substr(0, slash)));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

Status NotServed(std::string_view code, std::string message) {
  return NotFound(std::move(message)).WithDetail(std::string(code));
}

}  // namespace

std::string_view Segment(ResourceType type) {
  switch (type) {
    case ResourceType::kWorkspace: return "workspaces";
    case ResourceType::kFhirService: return "fhirservices";
    case ResourceType::kIotConnector: return "iotconnectors";
    case ResourceType::kFhirDestination: return "fhirdestinations";
  }
  return "workspaces";
}

std::optional<ResourceType> TypeOfSegment(std::string_view segment) {
  for (ResourceType t : {ResourceType::kWorkspace, ResourceType::kFhirService, ResourceType::kIotConnector,
                         ResourceType::kFhirDestination}) {
    if (Same(segment, Segment(t))) return t;
  }
  return std::nullopt;
}

std::string_view ArmType(ResourceType type) {
  switch (type) {
    case ResourceType::kWorkspace: return "Microsoft.HealthcareApis/workspaces";
    case ResourceType::kFhirService: return "Microsoft.HealthcareApis/workspaces/fhirservices";
    case ResourceType::kIotConnector: return "Microsoft.HealthcareApis/workspaces/iotconnectors";
    case ResourceType::kFhirDestination: return "Microsoft.HealthcareApis/workspaces/iotconnectors/fhirdestinations";
  }
  return "";
}

std::optional<ResourceType> ParentType(ResourceType type) {
  switch (type) {
    case ResourceType::kWorkspace: return std::nullopt;
    case ResourceType::kFhirService:
    case ResourceType::kIotConnector: return ResourceType::kWorkspace;
    case ResourceType::kFhirDestination: return ResourceType::kIotConnector;
  }
  return std::nullopt;
}

std::string ResourcePath::Id() const {
  std::string id = Cat({"/subscriptions/", subscription});
  if (resource_group.empty()) return Cat({id, "/providers/", kProvider, "/workspaces"});
  id.append(Cat({"/resourceGroups/", resource_group, "/providers/", kProvider, "/workspaces"}));
  if (type == ResourceType::kWorkspace && collection) return id;
  id.append(Cat({"/", workspace}));
  if (type == ResourceType::kWorkspace) return id;
  const bool connector_level = type == ResourceType::kIotConnector || type == ResourceType::kFhirDestination;
  id.append(connector_level ? "/iotconnectors" : "/fhirservices");
  if (collection && type != ResourceType::kFhirDestination) return id;
  id.append(Cat({"/", child}));
  if (type != ResourceType::kFhirDestination) return id;
  id.append("/fhirdestinations");
  if (collection) return id;
  return Cat({id, "/", destination});
}

std::string ResourcePath::ParentId() const {
  if (type == ResourceType::kWorkspace || resource_group.empty()) return "";
  ResourcePath parent = *this;
  parent.collection = false;
  parent.type = *ParentType(type);
  parent.destination.clear();
  if (parent.type == ResourceType::kWorkspace) parent.child.clear();
  return parent.Id();
}

const std::string& ResourcePath::Name() const {
  static const std::string kNone;
  if (collection) return kNone;
  switch (type) {
    case ResourceType::kWorkspace: return workspace;
    case ResourceType::kFhirService:
    case ResourceType::kIotConnector: return child;
    case ResourceType::kFhirDestination: return destination;
  }
  return kNone;
}

Result<ResourcePath> ParseResourcePath(std::string_view path) {
  const std::vector<std::string> s = Split(path);
  ResourcePath out;
  auto invalid_type = [](std::string_view type) {
    return NotServed("InvalidResourceType",
                     Cat({"The resource type '", type, "' could not be found in the namespace '", kProvider, "'."}));
  };
  // subscriptions/{sub}/providers/Microsoft.HealthcareApis/workspaces
  if (s.size() == 5 && Same(s[0], "subscriptions") && Same(s[2], "providers")) {
    if (!Same(s[3], kProvider)) {
      return NotServed("InvalidResourceNamespace", Cat({"The resource namespace '", s[3], "' is invalid."}));
    }
    if (!Same(s[4], "workspaces")) return invalid_type(s[4]);
    out.subscription = s[1];
    out.collection = true;
    if (out.subscription.empty()) return NotServed("NotFound", "The subscription id is missing.");
    return out;
  }
  if (s.size() < 7 || !Same(s[0], "subscriptions") || !Same(s[2], "resourceGroups") || !Same(s[4], "providers")) {
    return NotServed("NotFound", "The path is not a resource of the provisioning API.");
  }
  if (!Same(s[5], kProvider)) {
    return NotServed("InvalidResourceNamespace", Cat({"The resource namespace '", s[5], "' is invalid."}));
  }
  out.subscription = s[1];
  out.resource_group = s[3];
  if (out.subscription.empty() || out.resource_group.empty()) {
    return NotServed("NotFound", "The subscription id or resource group name is missing.");
  }
  if (!Same(s[6], "workspaces")) return invalid_type(s[6]);
  // workspaces[/{ws}[/{type}[/{name}[/fhirdestinations[/{name}]]]]]
  const std::size_t n = s.size();
  auto name_at = [&](std::size_t i) -> Result<std::string> {
    if (s[i].empty()) return NotServed("NotFound", "A resource name is empty.");
    return s[i];
  };
  if (n == 7) {
    out.collection = true;
    return out;
  }
  IOMT_ASSIGN_OR_RETURN(out.workspace, name_at(7));
  if (n == 8) return out;
  const std::optional<ResourceType> type = TypeOfSegment(s[8]);
  if (!type || (*type != ResourceType::kFhirService && *type != ResourceType::kIotConnector)) {
    return invalid_type(Cat({"workspaces/", s[8]}));
  }
  out.type = *type;
  if (n == 9) {
    out.collection = true;
    return out;
  }
  IOMT_ASSIGN_OR_RETURN(out.child, name_at(9));
  if (n == 10) return out;
  if (out.type != ResourceType::kIotConnector || !Same(s[10], "fhirdestinations") || n > 12) {
    return invalid_type(Cat({"workspaces/", s[8], "/", s[10]}));
  }
  out.type = ResourceType::kFhirDestination;
  if (n == 11) {
    out.collection = true;
    return out;
  }
  IOMT_ASSIGN_OR_RETURN(out.destination, name_at(11));
  return out;
}

bool ValidResourceName(std::string_view name) {
  if (name.size() < 3 || name.size() > 24) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  for (char c : name) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

std::optional<FhirServiceRef> ParseFhirServiceId(std::string_view id) {
  if (id.empty() || id.front() != '/') return std::nullopt;
  std::vector<std::string> s = Split(id);
  if (!s.empty() && s.back().empty()) s.pop_back();  // a trailing '/'
  for (const std::string& segment : s) {
    if (segment.empty()) return std::nullopt;
  }
  if (s.size() < 8 || !Same(s[0], "subscriptions") || !Same(s[2], "resourceGroups") || !Same(s[4], "providers") ||
      !Same(s[5], kProvider)) {
    return std::nullopt;
  }
  FhirServiceRef ref{s[1], s[3], "", ""};
  if (s.size() == 8 && Same(s[6], "services")) {
    ref.name = s[7];
    return ref;
  }
  if (s.size() == 10 && Same(s[6], "workspaces") && Same(s[8], "fhirservices")) {
    ref.workspace = s[7];
    ref.name = s[9];
    return ref;
  }
  return std::nullopt;
}

}  // namespace iomt::control
