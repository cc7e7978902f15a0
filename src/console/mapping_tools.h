// The mapping tools of the HTTP API, which the console's editor calls as
// the user types: POST /api/mappings/validate (the report of `iomt validate
// --json`) and POST /api/mappings/test (what one message becomes, stage by
// stage, nothing written). The same library code as `iomt validate`
// (pipeline/samples.h); docs/console.md describes the answers.
#pragma once

#include "server/http/http_server.h"
#include "server/service.h"

namespace iomt::console {

class MappingTools {
 public:
  // The service's connectors and store are looked up per request, for
  // `connector` and `resolution`.
  explicit MappingTools(server::Service* service) : service_(service) {}
  server::HttpResponse Handle(const server::HttpRequest& request) const;

 private:
  server::HttpResponse Validate(const server::HttpRequest& request) const;
  server::HttpResponse Test(const server::HttpRequest& request) const;

  server::Service* service_;
};

}  // namespace iomt::console
