// Helpers shared by the tests: reading files, locating test data, and
// parsing JSON into values that outlive the call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <vector>

#include "common/json/document.h"
#include "common/json/strict_reader.h"
#include "common/json/value.h"

namespace iomt::testing {

// A fresh path under the system's temp directory, removed with all it holds
// at the end. It does not exist yet (a store or a queue is given it to
// create) unless `created`. Unique across processes (mkdtemp makes its
// parent), so tests may run in parallel.
class TempDir {
 public:
  explicit TempDir(bool created = false);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  // path()/name.
  [[nodiscard]] std::string File(std::string_view name) const;

 private:
  std::string parent_;
  std::string path_;
};

// A tmpfs of `size` (mount(8) syntax: "512k", "4m") on a fresh directory,
// unmounted and removed at the end: a small disk the failure tests fill.
// Mounting needs root; ok() is false, with why(), when it could not be.
class Tmpfs {
 public:
  explicit Tmpfs(const std::string& size);
  ~Tmpfs();
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;

  [[nodiscard]] bool ok() const { return mounted_; }
  [[nodiscard]] const std::string& why() const { return why_; }
  [[nodiscard]] const std::string& path() const { return path_; }
  // More (or less) room, keeping the files: space returns.
  bool Resize(const std::string& size);

 private:
  std::string path_;
  std::string why_;
  bool mounted_ = false;
};

// The project checkout, and ../shared (outside data that may be absent).
std::string SourcePath(std::string_view relative);
std::string SharedPath(std::string_view relative);
bool FileExists(const std::string& path);
std::string ReadFile(const std::string& path);

// `n` characters (letters, digits, - and _) that do not compress: filler for tests that need resources to
// take their size on disk (the embedded store compresses large JSON).
std::string Incompressible(std::size_t n, std::uint32_t seed = 1);

// Parses `text` and keeps the Document alive for the rest of the test
// program, so the returned Value stays valid. Fails the test on bad JSON.
json::Value ParseOrDie(std::string_view text, json::ParseOptions options = {});

// A member of a case object: its string (or ""), its boolean (or false).
std::string Str(const json::Value& obj, std::string_view key);
bool Bool(const json::Value& obj, std::string_view key);

// Checks the errors a mapping loaded with against a case of
// conformance/cases/*-mapping-files.json: "errors" (each by a substring of
// its message and optionally its line, in order) and "exact" (no others).
// Without "errors", any error is a failure.
void ExpectMappingErrors(const std::vector<MappingError>& errors, const json::Value& file_case);

// Whether `actual` has everything `expected` has: objects may have more
// members, arrays must have the same length, scalars must be equal (numbers
// by value). On a difference, *where gets the path of the first one.
bool JsonContains(const json::Value& actual, const json::Value& expected, std::string* where);

}  // namespace iomt::testing
