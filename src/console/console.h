// The web console (docs/console.md): the page at GET / and its assets under
// /console/, and the mapping tools under /api/mappings/. Attached to the
// service like the provisioning API: routes only, no threads of its own.
#pragma once

#include <string>

#include "common/status.h"
#include "server/http/http_server.h"
#include "server/service.h"

namespace iomt::console {

// Registers the console's routes on `service` (an AttachFn step).
Status AttachTo(server::Service& service);

// GET of one of the console's files: the built-in copy, or with `dir` (the
// consoleDir setting, for developing the page) the file of that name read
// from `dir` at each request. With the page's security headers.
server::HttpResponse ServeAsset(const server::HttpRequest& request, const std::string& dir);

}  // namespace iomt::console
