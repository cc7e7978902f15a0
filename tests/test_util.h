// Helpers shared by the tests: reading files, locating test data, and
// parsing JSON into values that outlive the call.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/json/document.h"
#include "common/json/value.h"

namespace iomt::testing {

// The project checkout, and ../shared (outside data that may be absent).
std::string SourcePath(std::string_view relative);
std::string SharedPath(std::string_view relative);
bool FileExists(const std::string& path);
std::string ReadFile(const std::string& path);

// Parses `text` and keeps the Document alive for the rest of the test
// program, so the returned Value stays valid. Fails the test on bad JSON.
json::Value ParseOrDie(std::string_view text, json::ParseOptions options = {});

}  // namespace iomt::testing
