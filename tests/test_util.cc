#include "test_util.h"

#include "common/json/compare.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace iomt::testing {

TempDir::TempDir(bool created) {
  std::string pattern = (std::filesystem::temp_directory_path() / "iomt-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
  parent_ = pattern;
  path_ = parent_ + "/dir";
  if (created) std::filesystem::create_directory(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(parent_, ec);
}

std::string TempDir::File(std::string_view name) const {
  std::string out = path_;
  out.push_back('/');
  out.append(name);
  return out;
}

Tmpfs::Tmpfs(const std::string& size) {
  static std::atomic<int> counter{0};
  path_ = (std::filesystem::temp_directory_path() /
           ("iomt-tmpfs-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
              .string();
  std::filesystem::create_directories(path_);
  const std::string options = "size=" + size;
  if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
    why_ = std::string("mount -t tmpfs -o ") + options + " tmpfs " + path_ + ": " + std::strerror(errno);
  } else {
    mounted_ = true;
  }
}

Tmpfs::~Tmpfs() {
  if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

bool Tmpfs::Resize(const std::string& size) {
  const std::string options = "size=" + size;
  return ::mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT, options.c_str()) == 0;
}

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

std::string Incompressible(std::size_t n, std::uint32_t seed) {
  std::string out(n, 'A');
  std::uint32_t x = seed * 2654435761U + 1;
  for (char& c : out) {
    x ^= x << 13;  // xorshift32
    x ^= x >> 17;
    x ^= x << 5;
    // 64 symbols: 6 bits of 8, less than the quarter the store asks of
    // compression.
    c = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[x % 64];
  }
  return out;
}

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

std::string Str(const json::Value& obj, std::string_view key) {
  json::Value v;
  return obj.Find(key, &v) && v.is_string() ? std::string(v.string_value()) : std::string();
}

bool Bool(const json::Value& obj, std::string_view key) {
  json::Value v;
  return obj.Find(key, &v) && v.is_bool() && v.bool_value();
}

void ExpectMappingErrors(const std::vector<MappingError>& errors, const json::Value& file_case) {
  json::Value expected;
  if (!file_case.Find("errors", &expected)) {
    for (const MappingError& e : errors)
      ADD_FAILURE() << "unexpected: " << e.ToIomtFhirString();
    return;
  }
  std::size_t i = 0;
  for (json::Value e : expected.elements()) {
    if (i >= errors.size()) {
      ADD_FAILURE() << "missing error: " << Str(e, "contains");
      return;
    }
    EXPECT_NE(errors[i].message.find(Str(e, "contains")), std::string::npos)
        << errors[i].message << "\n  does not contain\n"
        << Str(e, "contains");
    json::Value line;
    if (e.Find("line", &line)) {
      EXPECT_EQ(errors[i].pos.line, line.int_value()) << errors[i].message;
    }
    ++i;
  }
  if (Bool(file_case, "exact")) {
    for (std::size_t j = i; j < errors.size(); ++j)
      ADD_FAILURE() << "unexpected: " << errors[j].message;
  }
}

bool JsonContains(const json::Value& actual, const json::Value& expected, std::string* where) {
  if (expected.is_object()) {
    if (!actual.is_object()) {
      *where = " (not an object)";
      return false;
    }
    for (auto [key, value] : expected.members()) {
      json::Value a;
      if (!actual.Find(key, &a)) {
        where->assign(".").append(key).append(" (missing)");
        return false;
      }
      if (!JsonContains(a, value, where)) {
        std::string prefix(".");
        prefix.append(key);
        where->insert(0, prefix);
        return false;
      }
    }
    return true;
  }
  if (expected.is_array()) {
    if (!actual.is_array() || actual.size() != expected.size()) {
      *where = " (array length " + std::to_string(actual.is_array() ? actual.size() : 0) + ", expected " +
               std::to_string(expected.size()) + ")";
      return false;
    }
    std::size_t i = 0;
    for (json::Value e : expected.elements()) {
      if (!JsonContains(actual.ElementAt(i), e, where)) {
        where->insert(0, "[" + std::to_string(i) + "]");
        return false;
      }
      ++i;
    }
    return true;
  }
  if (!json::DeepEquals(actual, expected)) {
    *where = " (differs)";
    return false;
  }
  return true;
}

}  // namespace iomt::testing
