// `iomt test`: runs mapping test cases (folders of mappings, input events and
// expected outputs; docs/mapping-tests.md) through the pipeline in memory
// and says, for each one that fails, which expected line of which file was
// not produced and how the nearest output differs. The cases themselves, the
// comparison and the reports are pipeline/test_cases.h; this file finds the
// paths, unpacks a .tar saved by the web console, and prints.
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "commands.h"
#include "pipeline/test_cases.h"

namespace iomt::cli {
namespace {

namespace fs = std::filesystem;

// A .tar saved by the console is small; one that unpacks to more than this
// is not a test case.
constexpr std::int64_t kMaxArchiveBytes = std::int64_t{256} << 20;

struct TestFlags {
  std::vector<std::string> paths;
  std::string junit;
  bool update = false;
  bool quiet = false;
};

bool IsArchive(const std::string& path) {
  auto ends = [&](std::string_view suffix) {
    return path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  std::error_code ec;
  return (ends(".tar") || ends(".tar.gz") || ends(".tgz")) && fs::is_regular_file(path, ec);
}

// A folder under the system's temporary folder, removed with everything in
// it when this goes out of scope.
class TempDir {
 public:
  TempDir() {
    std::error_code ec;
    std::string pattern = (fs::temp_directory_path(ec) / "iomt-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// True when an archive member's name stays inside the folder it is
// unpacked into.
bool SafeMemberName(const std::string& name) {
  if (name.empty() || name[0] == '/') return false;
  for (const fs::path& part : fs::path(name)) {
    if (part == "..") return false;
  }
  return true;
}

// Unpacks the regular files of `archive_path` into `dir`; false (and a
// message printed) when it cannot be read or is unsafe.
bool Unpack(const std::string& archive_path, const std::string& dir) {
  std::unique_ptr<archive, int (*)(archive*)> tar(archive_read_new(), &archive_read_free);
  archive_read_support_format_tar(tar.get());
  archive_read_support_filter_gzip(tar.get());
  if (archive_read_open_filename(tar.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    std::fprintf(stderr, "error: cannot read %s: %s\n", archive_path.c_str(), archive_error_string(tar.get()));
    return false;
  }
  std::int64_t total = 0;
  archive_entry* entry = nullptr;
  int rc = ARCHIVE_OK;
  while ((rc = archive_read_next_header(tar.get(), &entry)) == ARCHIVE_OK) {
    const char* raw_name = archive_entry_pathname(entry);
    const std::string name = raw_name != nullptr ? raw_name : "";
    if (archive_entry_filetype(entry) != AE_IFREG) continue;  // folders come from the files' paths
    if (!SafeMemberName(name)) {
      std::fprintf(stderr, "error: %s: the member %s would land outside the case folder\n", archive_path.c_str(),
                   name.c_str());
      return false;
    }
    total += archive_entry_size(entry);
    if (total > kMaxArchiveBytes) {
      std::fprintf(stderr, "error: %s: more than 256 MiB: not a test case\n", archive_path.c_str());
      return false;
    }
    const fs::path target = fs::path(dir) / name;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    if (ec || !out) {
      std::fprintf(stderr, "error: cannot unpack %s into %s\n", archive_path.c_str(), dir.c_str());
      return false;
    }
    char buffer[1 << 14];
    la_ssize_t n = 0;
    while ((n = archive_read_data(tar.get(), buffer, sizeof buffer)) > 0)
      out.write(buffer, n);
    if (n < 0 || !out) {
      std::fprintf(stderr, "error: cannot read %s: %s\n", archive_path.c_str(), archive_error_string(tar.get()));
      return false;
    }
  }
  if (rc != ARCHIVE_EOF) {
    std::fprintf(stderr, "error: cannot read %s: %s\n", archive_path.c_str(), archive_error_string(tar.get()));
    return false;
  }
  return true;
}

// A case to run and the name it is shown by (an unpacked archive's cases
// are shown as ARCHIVE:PATH-IN-IT).
struct FoundCase {
  std::string dir;
  std::string name;
};

void PrintFailure(const pipeline::CaseResult& r, const std::string& name) {
  std::printf("FAIL %s%s%s\n", name.c_str(), r.description.empty() ? "" : ": ", r.description.c_str());
  for (const std::string& line : pipeline::DescribeFailure(r))
    std::printf("%s\n", line.c_str());
}

int Run(const TestFlags& flags) {
  std::vector<std::string> paths = flags.paths;
  if (paths.empty()) paths.emplace_back(".");
  std::vector<std::unique_ptr<TempDir>> unpacked;
  std::vector<FoundCase> cases;
  std::set<std::string> seen;
  for (const std::string& path : paths) {
    std::vector<std::string> dirs;
    std::string root;  // the folder an archive was unpacked into
    if (IsArchive(path)) {
      if (flags.update) {
        std::fprintf(stderr, "error: --update cannot rewrite %s: unpack it (tar xf %s) and test the folder\n",
                     path.c_str(), path.c_str());
        return kExitUsage;
      }
      auto& tmp = unpacked.emplace_back(std::make_unique<TempDir>());
      if (tmp->path().empty()) {
        std::fprintf(stderr, "error: cannot create a temporary folder to unpack %s\n", path.c_str());
        return kExitUsage;
      }
      if (!Unpack(path, tmp->path())) return kExitUsage;
      root = tmp->path();
    }
    Status st = pipeline::FindCases(root.empty() ? path : root, &dirs);
    if (!st.ok()) {
      std::string message = st.message();
      if (!root.empty()) message = path + " holds no test case (a folder with input.ndjson or case.json)";
      std::fprintf(stderr, "error: %s\n", message.c_str());
      return kExitUsage;
    }
    for (const std::string& dir : dirs) {
      if (!seen.insert(dir).second) continue;
      std::string name = dir;
      if (!root.empty()) name = path + ":" + fs::path(dir).lexically_relative(root).string();
      cases.push_back(FoundCase{dir, name});
    }
  }

  pipeline::CaseRunner runner;
  std::vector<pipeline::CaseResult> results;
  results.reserve(cases.size());
  std::size_t passed = 0;
  std::size_t rewritten_files = 0;
  std::size_t rewritten_cases = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const FoundCase& c : cases) {
    pipeline::CaseResult r = runner.Run(c.dir);
    if (!r.passed() && flags.update && r.broken.empty()) {
      // Never silently: the differences first, then what was rewritten, then
      // the case again from its new files.
      PrintFailure(r, c.name);
      std::vector<std::string> written;
      Status st = pipeline::UpdateExpected(r, &written);
      if (!st.ok()) {
        std::fprintf(stderr, "error: %s\n", st.message().c_str());
        return kExitUsage;
      }
      for (const std::string& file : written)
        std::printf("  rewrote %s\n", (fs::path(c.dir) / file).string().c_str());
      rewritten_files += written.size();
      ++rewritten_cases;
      r = runner.Run(c.dir);
    }
    r.dir = c.name;
    if (r.passed()) {
      ++passed;
      if (!flags.quiet) std::printf("ok   %s\n", c.name.c_str());
      // The report needs only its name and time: memory stays bounded by
      // the failures, whatever the size of the suite.
      r.outputs = {};
    } else {
      PrintFailure(r, c.name);
    }
    results.push_back(std::move(r));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!flags.junit.empty()) {
    std::ofstream out(flags.junit, std::ios::binary | std::ios::trunc);
    out << pipeline::JunitXml(results, seconds);
    out.close();
    if (!out) {
      std::fprintf(stderr, "error: cannot write %s\n", flags.junit.c_str());
      return kExitUsage;
    }
  }
  if (flags.update && rewritten_cases > 0) {
    std::printf("rewrote %zu file%s of %zu case%s: review them with git diff\n", rewritten_files,
                rewritten_files == 1 ? "" : "s", rewritten_cases, rewritten_cases == 1 ? "" : "s");
  }
  const std::size_t failed = results.size() - passed;
  std::printf("%zu passed, %zu failed\n", passed, failed);
  return failed == 0 ? kExitOk : kExitInvalid;
}

}  // namespace

Runner RegisterTest(CLI::App& app) {
  auto flags = std::make_shared<TestFlags>();
  app.add_option("paths", flags->paths,
                 "Case folders, folders of cases (searched at any depth), a file in a case folder, or a .tar "
                 "saved by the web console (default: .)");
  app.add_option("--junit", flags->junit, "Also write a JUnit XML report to this file (for CI systems)");
  app.add_flag("--update", flags->update,
               "Rewrite the expected files of failing cases from what they give now (each rewritten file is "
               "named; review them with git diff)");
  app.add_flag("-q,--quiet", flags->quiet, "Print only the failing cases and the summary");
  app.footer(
      "A case is a folder: devicecontent.json, fhirmapping.json (optional), input.ndjson, and\n"
      "expected/measurements.ndjson, expected/resources.ndjson and/or expected/errors.ndjson, with options\n"
      "in case.json (docs/mapping-tests.md). Each runs as `iomt run` would, into a store in memory; the\n"
      "expected lines are compared as JSON, in any order, an expected object matching any object that has\n"
      "its members. Prints a diff for each failing case and `N passed, M failed` last.\n"
      "Exit 0: all passed; 1: some failed (or could not run); 2: usage, or a path that cannot be read.");
  return [flags]() { return Run(*flags); };
}

}  // namespace iomt::cli
