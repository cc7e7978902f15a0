#include <string>
#include <string_view>

#include "auth/auth.h"
#include "common/status.h"
#include "common/strings.h"

namespace iomt::auth {

namespace {

constexpr std::string_view kIngestPrefix = "ingest:";

}  // namespace

Result<Grant> ParseGrant(std::string_view text) {
  if (text == "admin") return Grant{Role::kAdmin, {}};
  if (text == "ingest") return Grant{Role::kIngest, {}};
  if (text == "fhir-read") return Grant{Role::kFhirRead, {}};
  if (text == "fhir-write") return Grant{Role::kFhirWrite, {}};
  if (text == "metrics") return Grant{Role::kMetrics, {}};
  if (text.starts_with(kIngestPrefix)) {
    std::string_view connector = text.substr(kIngestPrefix.size());
    if (connector.empty()) return InvalidArgument("the grant 'ingest:' names no connector");
    return Grant{Role::kIngest, std::string(connector)};
  }
  return InvalidArgument(
      Cat({"'", text, "' is not a grant (admin, ingest, ingest:CONNECTOR, fhir-read, fhir-write, metrics)"}));
}

std::string GrantName(const Grant& g) {
  switch (g.role) {
    case Role::kAdmin: return "admin";
    case Role::kIngest: return g.connector.empty() ? "ingest" : Cat({kIngestPrefix, g.connector});
    case Role::kFhirRead: return "fhir-read";
    case Role::kFhirWrite: return "fhir-write";
    case Role::kMetrics: return "metrics";
  }
  return "unknown";
}

bool Principal::Has(Role role, std::string_view connector) const {
  for (const Grant& g : grants) {
    if (g.role == Role::kAdmin) return true;
    if (g.role != role) continue;
    if (role != Role::kIngest || g.connector.empty()) return true;
    if (!connector.empty() && g.connector == connector) return true;
  }
  return false;
}

}  // namespace iomt::auth
