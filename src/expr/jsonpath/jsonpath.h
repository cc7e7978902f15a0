// JSONPath as Newtonsoft.Json (Json.NET 13) evaluates it: the dialect of the
// device mappings written for Azure's IoT connector and microsoft/iomt-fhir.
//
// The dialect, quirks included (docs/jsonpath-dialect.md): `$` is optional;
// `$..[?(...)]` tests the starting node too; `@x` means `@.x`; unquoted names
// may contain `-` and most other characters; an existence test is true for
// null; filters with &&, ||, ==, !=, <, <=, >, >=, =~ /regex/flags and
// single-quoted strings; `&&`/`||` group to the right; names, indexes,
// slices, unions, wildcards, recursive descent; `[*]` only selects array
// elements and `.*` only object members. Regexes run on RE2 (linear time).
//
// A Path is parsed once and evaluated many times; it is immutable and may be
// used from several threads at once.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json/value.h"
#include "common/status.h"

namespace iomt::jsonpath {

// Errors: StatusCode::kSyntaxError for a path that does not parse (Json.NET
// throws JsonException while parsing; Status::position() points at the
// character). At evaluation, StatusCode::kEvaluationError with detail() naming
// the .NET exception Json.NET would throw: "JsonException" (e.g. "Path
// returned multiple tokens."), "ArgumentOutOfRangeException" (a negative
// array index), "FormatException" (comparing a non-numeric string with a
// number), "InvalidCastException".
class Path {
 public:
  ~Path();
  Path(Path&&) noexcept;
  Path& operator=(Path&&) noexcept;

  static Result<Path> Parse(std::string_view text);

  // Json.NET's SelectTokens: every match, in document order. `root` is the
  // token the path is evaluated on (it is also what `$` means in filters).
  Status SelectTokens(const json::Value& root, std::vector<json::Value>* out) const;
  // Calls `sink` for each match until it returns false. Allocation-free.
  Status ForEachToken(const json::Value& root, const std::function<bool(const json::Value&)>& sink) const;
  // Json.NET's SelectToken: the single match, or null when nothing matches;
  // an error "Path returned multiple tokens." when more than one does.
  Result<json::Value> SelectToken(const json::Value& root) const;
  // SelectToken that tells "no match" (nullopt) from a match that is JSON null.
  Result<std::optional<json::Value>> FindToken(const json::Value& root) const;
  // The same with an out-parameter: no Result to build on the hot path.
  Status FindToken(const json::Value& root, std::optional<json::Value>* out) const;
  // Whether anything matches (stops at the first match).
  Result<bool> Matches(const json::Value& root) const;

  [[nodiscard]] const std::string& text() const;

  // For a path of the form `$..[?(expr)]` (how device mappings find their
  // messages): member names of which at least one must occur somewhere in a
  // document for the path to match anything in it. Empty when the path has
  // another form or no such names exist. Lets a mapping skip, with one look
  // at a message's member names, the templates that cannot match it.
  [[nodiscard]] std::vector<std::string> RequiredMemberNames() const;

  // For a path of the form `$..[?(@a.b.c)]`, the member chain (a, b, c): the
  // path selects, in document order, every object where the chain exists.
  // Null for any other form. Lets several such paths share one walk.
  [[nodiscard]] const std::vector<const std::string*>* ExistsScanChain() const;

  struct Compiled;  // the parsed form (jsonpath.cc)

 private:
  explicit Path(std::unique_ptr<Compiled> compiled);
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace iomt::jsonpath
