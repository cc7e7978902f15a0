// The web console's files (web/), built by web/build.mjs into a generated
// source file that the binary carries: nothing is fetched at run time.
#pragma once

#include <string_view>
#include <vector>

namespace iomt::console {

struct Asset {
  std::string_view path;          // the URL path: "/", "/console/app.js", ...
  std::string_view file;          // its name in the build folder: "index.html", ...
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view body;
  std::string_view gzip_body;  // the same, gzipped (RFC 1952)
};

// Generated (BUILD/web/assets.cc).
const std::vector<Asset>& BuiltInAssets();

}  // namespace iomt::console
