// Fuzzes the JMESPath compiler and interpreter (with the mapping functions).
// Input: an expression, a newline, then a JSON document.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/json/arena.h"
#include "common/json/document.h"
#include "common/json/writer.h"
#include "expr/jmespath/jmespath.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t newline = input.find('\n');
  std::string_view expr = input.substr(0, newline);
  std::string_view json = newline == std::string_view::npos ? std::string_view("{}") : input.substr(newline + 1);
  auto compiled = iomt::jmespath::Expression::Compile(expr);
  if (!compiled.ok()) return 0;
  iomt::json::Document doc;
  if (!doc.Parse(json).ok()) return 0;
  iomt::json::Arena arena;
  auto result = (*compiled)->Evaluate(doc.root(), &arena);
  if (result.ok()) {
    // Touch the whole result, so that a dangling value would be noticed.
    std::string text = iomt::json::ToJson(*result);
    (void)text;
  }
  return 0;
}
