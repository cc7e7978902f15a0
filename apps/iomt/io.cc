#include "io.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "common/datetime.h"

namespace iomt::cli {

std::optional<std::string> ReadWholeFile(const std::string& path) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

int OpenForReading(const std::string& path) {
  if (path == "-") return STDIN_FILENO;
  return ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
}

std::string DisplayName(const std::string& path) { return path == "-" ? "stdin" : path; }

bool ErrorsOutput::Open(const std::string& path) {
  if (path.empty() || path == "-") return true;
  file_.reset(std::fopen(path.c_str(), "w"));
  if (!file_) std::fprintf(stderr, "error: cannot write %s\n", path.c_str());
  return file_ != nullptr;
}

bool ParseTimeFlag(const std::string& flag, const std::string& text, std::optional<std::int64_t>* out) {
  if (text.empty()) return true;
  std::int64_t ticks = 0;
  if (!datetime::ParseDateTime(text, &ticks)) {
    std::fprintf(stderr, "error: %s: not a date-time: %s\n", flag.c_str(), text.c_str());
    return false;
  }
  *out = ticks;
  return true;
}

}  // namespace iomt::cli
