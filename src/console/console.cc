#include "console/console.h"

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string_view>

#include "common/strings.h"
#include "console/assets.h"
#include "console/mapping_tools.h"

namespace iomt::console {

namespace {

using server::HttpRequest;
using server::HttpResponse;

// The page loads only its own files and talks only to this server: no
// inline script or style, no eval. (CodeMirror puts each editor in a shadow
// root and styles it with a constructed stylesheet, and uPlot sets styles
// through the DOM: neither needs 'unsafe-inline'; the browser tests fail on
// any violation.)
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

// The page's routes take GET only: a small body is plenty.
constexpr std::size_t kPageBodyBytes = std::size_t{64} << 10;

// Mapping texts and a test message: bodies up to 4 MiB (a message is at most
// 1 MiB, as an ingested one; the rest is room for the two mappings).
constexpr std::size_t kToolsBodyBytes = std::size_t{4} << 20;

void AddPageHeaders(HttpResponse* r) {
  r->headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
  r->headers.emplace_back("X-Content-Type-Options", "nosniff");
  r->headers.emplace_back("Referrer-Policy", "no-referrer");
  r->headers.emplace_back("X-Frame-Options", "DENY");
  // The files change with the binary; a browser asks again each time (the
  // bundle is small, and a stale page after an upgrade is worse).
  r->headers.emplace_back("Cache-Control", "no-cache");
}

const Asset* FindAsset(std::string_view path) {
  if (path == "/index.html") path = "/";
  for (const Asset& a : BuiltInAssets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

std::optional<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[65536];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  if (n < 0) return std::nullopt;
  return out;
}

}  // namespace

HttpResponse ServeAsset(const HttpRequest& request, const std::string& dir) {
  if (request.method != "GET") {
    HttpResponse r = server::JsonError(405, "MethodNotAllowed", "Use GET.");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  const Asset* asset = FindAsset(request.path);
  if (asset == nullptr) {
    return server::JsonError(404, "NotFound", "The console has no file " + request.path + ".");
  }
  HttpResponse r;
  r.content_type = std::string(asset->content_type);
  if (dir.empty()) {
    r.body = std::string(asset->body);
  } else {
    std::optional<std::string> body = ReadFile(dir + "/" + std::string(asset->file));
    if (!body) {
      return server::JsonError(404, "NotFound",
                               Cat({"consoleDir: cannot read ", dir, "/", asset->file, " (run web/build.mjs DIR)"}));
    }
    r.body = std::move(*body);
  }
  AddPageHeaders(&r);
  return r;
}

Status AttachTo(server::Service& service) {
  const std::string dir = service.config().console_dir;
  auto page = [dir](const HttpRequest& request) { return ServeAsset(request, dir); };
  service.SetExtraRoute("/", kPageBodyBytes, page, server::Service::RouteMatch::kExact);
  service.SetExtraRoute("/index.html", kPageBodyBytes, page, server::Service::RouteMatch::kExact);
  service.SetExtraRoute("/console/", kPageBodyBytes, page);
  auto tools = std::make_shared<MappingTools>(&service);
  service.SetExtraRoute("/api/mappings/", kToolsBodyBytes,
                        [tools](const HttpRequest& request) { return tools->Handle(request); });
  return Status::Ok();
}

}  // namespace iomt::console
