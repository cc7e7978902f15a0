// What `iomt --version`, a support bundle and the service's first log line
// say: the release (IOMT_VERSION, the project's version in CMakeLists.txt)
// and the git commit the binary was built from (cmake/build_commit.cmake
// writes it at each build).
#pragma once

#include <string>

namespace iomt::cli {

const char* BuildCommit();

// "iomt 0.1.0 (commit 1a2b3c4d5e6f)": scripts read the second word.
inline std::string VersionLine() {
  return std::string("iomt ").append(IOMT_VERSION).append(" (commit ").append(BuildCommit()).append(")");
}

}  // namespace iomt::cli
