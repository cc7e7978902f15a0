// Fuzzes the JSONPath parser and evaluator. Input: a path, a newline, then a
// JSON document. Any input must be either refused with a Status or
// evaluated; a crash, leak, hang or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/json/document.h"
#include "expr/jsonpath/jsonpath.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t newline = input.find('\n');
  std::string_view expr = input.substr(0, newline);
  std::string_view json = newline == std::string_view::npos ? std::string_view("{}") : input.substr(newline + 1);
  auto path = iomt::jsonpath::Path::Parse(expr);
  if (!path.ok()) return 0;
  iomt::json::Document doc;
  if (!doc.Parse(json).ok()) return 0;
  std::vector<iomt::json::Value> out;
  (void)path->SelectTokens(doc.root(), &out);
  (void)path->SelectToken(doc.root());
  (void)path->Matches(doc.root());
  return 0;
}
