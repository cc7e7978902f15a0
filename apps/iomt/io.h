// File helpers shared by the subcommands.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

namespace iomt::cli {

// The whole file ('-' is stdin), or nullopt when it cannot be read.
std::optional<std::string> ReadWholeFile(const std::string& path);

// A file descriptor to read from ('-' is stdin), or -1.
int OpenForReading(const std::string& path);

// Where error records go: `path`, or stderr when it is empty or '-'.
class ErrorsOutput {
 public:
  // False (and a message printed) when the file cannot be created.
  bool Open(const std::string& path);
  [[nodiscard]] std::FILE* get() const { return file_ ? file_.get() : stderr; }
  // True when the records go to a file (so stderr is free for a summary).
  [[nodiscard]] bool to_file() const { return file_ != nullptr; }

 private:
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_{nullptr, &std::fclose};
};

// A date-time flag (`--now`, `--ingestion-time`) as ticks into `*out`;
// nothing when `text` is empty. False (and a message naming `flag`) when it
// is not a date-time.
bool ParseTimeFlag(const std::string& flag, const std::string& text, std::optional<std::int64_t>* out);

// "stdin" for '-', else the path: for messages.
std::string DisplayName(const std::string& path);

}  // namespace iomt::cli
