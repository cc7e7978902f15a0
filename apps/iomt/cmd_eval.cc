// `iomt eval`: try one mapping expression against one JSON document.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "common/json/arena.h"
#include "common/json/document.h"
#include "common/json/writer.h"
#include "expr/jmespath/jmespath.h"
#include "expr/jsonpath/jsonpath.h"
#include "io.h"

namespace iomt::cli {
namespace {

struct EvalFlags {
  // Optional, not empty-means-absent: '' is a JSONPath of its own (Json.NET's
  // SelectTokens("") is the root).
  std::optional<std::string> jsonpath;
  std::optional<std::string> jmespath;
  std::string file = "-";
  bool compact = false;
  bool single = false;
};

// "expression: message" followed by the expression and a caret under the
// offending character, like a compiler would show it.
void PrintExpressionError(const char* language, const std::string& expr, const Status& st) {
  std::fprintf(stderr, "error: invalid %s expression: %s\n", language, st.message().c_str());
  if (st.position() >= 0) {
    std::fprintf(stderr, "  %s\n  %s^\n", expr.c_str(),
                 std::string(static_cast<std::size_t>(st.position()), ' ').c_str());
  }
}

int Run(const EvalFlags& flags) {
  auto input = ReadWholeFile(flags.file);
  if (!input) {
    std::fprintf(stderr, "error: cannot read %s\n", flags.file.c_str());
    return kExitUsage;
  }
  std::string text = std::move(*input);
  // A UTF-8 byte-order mark is accepted, as for mapping files.
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
  json::Document doc;
  if (Status st = doc.Parse(text); !st.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", flags.file == "-" ? "stdin" : flags.file.c_str(), st.message().c_str());
    return kExitInvalid;
  }
  json::WriteOptions out_options{flags.compact ? 0 : 2};
  std::string out;
  if (flags.jsonpath) {
    auto path = jsonpath::Path::Parse(*flags.jsonpath);
    if (!path.ok()) {
      PrintExpressionError("JSONPath", *flags.jsonpath, path.status());
      return kExitInvalid;
    }
    if (flags.single) {
      auto token = path->SelectToken(doc.root());
      if (!token.ok()) {
        std::fprintf(stderr, "error: %s\n", token.status().message().c_str());
        return kExitInvalid;
      }
      json::AppendJson(&out, *token, out_options);
    } else {
      std::vector<json::Value> matches;
      if (Status st = path->SelectTokens(doc.root(), &matches); !st.ok()) {
        std::fprintf(stderr, "error: %s\n", st.message().c_str());
        return kExitInvalid;
      }
      json::AppendJson(&out, json::Value::Array(matches.data(), matches.size()), out_options);
    }
  } else {
    auto expr = jmespath::Expression::Compile(*flags.jmespath);
    if (!expr.ok()) {
      PrintExpressionError("JMESPath", *flags.jmespath, expr.status());
      return kExitInvalid;
    }
    json::Arena arena;
    auto result = (*expr)->Evaluate(doc.root(), &arena);
    if (!result.ok()) {
      std::fprintf(stderr, "error: %s\n", result.status().message().c_str());
      return kExitInvalid;
    }
    json::AppendJson(&out, *result, out_options);
  }
  out.push_back('\n');
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

}  // namespace

Runner RegisterEval(CLI::App& app) {
  auto flags = std::make_shared<EvalFlags>();
  auto* jp =
      app.add_option("--jsonpath", flags->jsonpath, "JSONPath expression, in the Json.NET dialect that mappings use");
  auto* jm = app.add_option("--jmespath", flags->jmespath,
                            "JMESPath expression, with the mapping functions (add, fromUnixTimestamp, ...)");
  jp->excludes(jm);
  app.add_option("file", flags->file, "JSON document to evaluate against ('-' or absent: stdin)");
  app.add_flag("-c,--compact", flags->compact, "Print compact JSON instead of indented");
  app.add_flag(
      "--single", flags->single,
      "JSONPath: evaluate as a single-value mapping field does (one token or null; an error when several match)");
  app.footer(
      "JSONPath prints the array of all matched tokens; JMESPath prints the result value.\n"
      "Example: iomt eval --jsonpath '$..[?(@heartrate)]' message.json");
  return [flags, &app]() {
    if (flags->jsonpath.has_value() == flags->jmespath.has_value()) {
      std::fprintf(stderr, "error: give exactly one of --jsonpath or --jmespath\n%s", app.help().c_str());
      return static_cast<int>(kExitUsage);
    }
    return Run(*flags);
  };
}

}  // namespace iomt::cli
