#include "test_util.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace iomt::testing {

std::string SourcePath(std::string_view relative) { return std::string(IOMT_SOURCE_DIR) + "/" + std::string(relative); }
// ../shared beside the checkout; else $IOMT_SHARED_DIR; else the workplace's /work/shared.
std::string SharedPath(std::string_view relative) {
  std::string candidates[] = {std::string(IOMT_SHARED_DIR),
                              std::getenv("IOMT_SHARED_DIR") ? std::getenv("IOMT_SHARED_DIR") : "", "/work/shared"};
  for (const std::string& dir : candidates) {
    if (!dir.empty() && std::ifstream(dir + "/" + std::string(relative)).good())
      return dir + "/" + std::string(relative);
  }
  return std::string(IOMT_SHARED_DIR) + "/" + std::string(relative);
}

bool FileExists(const std::string& path) { return std::ifstream(path).good(); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return {};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json::Value ParseOrDie(std::string_view text, json::ParseOptions options) {
  static std::vector<std::unique_ptr<json::Document>> keep;
  options.max_bytes = 1u << 30;
  auto doc = std::make_unique<json::Document>(options);
  Status st = doc->Parse(text);
  if (!st.ok()) {
    ADD_FAILURE() << "bad JSON in test: " << st.ToString() << "\n" << text.substr(0, 200);
    return {};
  }
  json::Value root = doc->root();
  keep.push_back(std::move(doc));
  return root;
}

}  // namespace iomt::testing
