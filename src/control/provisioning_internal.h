// What the provisioning API's two source files share (provisioning.cc:
// routing, reading, the running connectors; provisioning_write.cc: PUT and
// DELETE). Not for other folders.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "common/strings.h"
#include "control/provisioning.h"
#include "control/resource_id.h"
#include "server/http/http_server.h"

namespace iomt::control {

struct Provisioning::Request {
  const server::HttpRequest& http;
  ResourcePath path;
  std::string id;
};

inline server::HttpResponse Json(int status, std::string body) { return server::JsonBody(status, std::move(body)); }

inline server::HttpResponse Error(int status, std::string_view code, std::string_view message) {
  return server::JsonError(status, code, message);
}

inline std::string Quoted(std::string_view s) { return Cat({"\"", s, "\""}); }

// An If-Match value names `etag` ("*" names any; quotes and W/ ignored).
bool EtagMatches(std::string_view header, std::string_view etag);
// ARM's etags look like GUIDs: the time and a counter make one unique to
// this server.
std::string NewEtag(std::uint64_t counter);
// Where the service keeps a connector's queue and dead letters.
std::string ConnectorStateDir(const server::Service& service, std::string_view name);
// 404s: the resource's parent is missing; the resource is.
server::HttpResponse ParentNotFound(const ResourcePath& path);
server::HttpResponse ResourceNotFound(const ResourcePath& path);

}  // namespace iomt::control
