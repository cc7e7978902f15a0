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

// Whether `actual` has everything `expected` has: objects may have more
// members, arrays must have the same length, scalars must be equal (numbers
// by value). On a difference, *where gets the path of the first one.
bool JsonContains(const json::Value& actual, const json::Value& expected, std::string* where);

}  // namespace iomt::testing
