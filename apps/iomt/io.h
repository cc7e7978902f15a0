// File helpers shared by the subcommands.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

namespace iomt::cli {

// The whole file ('-' is stdin), or nullopt when it cannot be read.
std::optional<std::string> ReadWholeFile(const std::string& path);

// A file descriptor to read from ('-' is stdin), or -1.
int OpenForReading(const std::string& path);

// "stdin" for '-', else the path: for messages.
std::string DisplayName(const std::string& path);

}  // namespace iomt::cli
