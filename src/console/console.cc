#include "console/console.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
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

// Whether an Accept-Encoding header takes gzip: listed, and not with q=0.
bool AcceptsGzip(std::string_view header) {
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    const std::size_t semicolon = item.find(';');
    std::string_view coding = item.substr(0, semicolon);
    while (!coding.empty() && coding.front() == ' ')
      coding.remove_prefix(1);
    while (!coding.empty() && coding.back() == ' ')
      coding.remove_suffix(1);
    if (AsciiLower(coding) != "gzip") continue;
    if (semicolon == std::string_view::npos) return true;
    std::string params(item.substr(semicolon + 1));
    params.erase(std::remove(params.begin(), params.end(), ' '), params.end());
    return params != "q=0" && params != "q=0.0" && params != "q=0.00" && params != "q=0.000";
  }
  return false;
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
    // Most of the page is the script bundle, a third of its size gzipped.
    const bool gzip = AcceptsGzip(request.Header("accept-encoding").value_or(""));
    r.body = std::string(gzip ? asset->gzip_body : asset->body);
    if (gzip) r.headers.emplace_back("Content-Encoding", "gzip");
    r.headers.emplace_back("Vary", "Accept-Encoding");
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
  // The page's own files hold no data (the page asks the API for it, with
  // the user's credentials): anyone may load them.
  constexpr server::Service::Access kOpen{.open = true};
  service.SetExtraRoute("/", kPageBodyBytes, page, server::Service::RouteMatch::kExact, kOpen);
  service.SetExtraRoute("/index.html", kPageBodyBytes, page, server::Service::RouteMatch::kExact, kOpen);
  service.SetExtraRoute("/console/", kPageBodyBytes, page, server::Service::RouteMatch::kPrefix, kOpen);
  auto tools = std::make_shared<MappingTools>(&service);
  service.SetExtraRoute("/api/mappings/", kToolsBodyBytes,
                        [tools](const HttpRequest& request) { return tools->Handle(request); });
  return Status::Ok();
}

}  // namespace iomt::console
