// The compiled form of a JSONPath expression (private to expr/jsonpath).
//
// It mirrors the filter objects Json.NET builds (FieldFilter, ScanFilter,
// ArrayIndexFilter, QueryFilter, ...), because reproducing their exact
// behaviour is the point: a mapping must select the same tokens here as in
// Azure's IoT connector.
#pragma once

#include <re2/re2.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json/value.h"
#include "expr/jsonpath/jsonpath.h"

namespace iomt::jsonpath {

enum class StepType : std::uint8_t {
  kField,      // .name or ['name']; no name = .* (object members only)
  kFields,     // ['a','b']
  kScan,       // ..name; no name = ..* (the node itself and every descendant)
  kScans,      // ..['a','b']
  kIndex,      // [3]; no index = [*] (array elements only)
  kIndexes,    // [1,2]
  kSlice,      // [start:end:step]
  kQuery,      // [?(...)] over the children
  kQueryScan,  // ..[?(...)] over the node itself and every descendant
  kRoot,       // $ inside a filter
};

struct QueryExpr;

struct Step {
  StepType type = StepType::kField;
  std::optional<std::string> name;
  std::vector<std::string> names;
  std::optional<std::int32_t> index;
  std::vector<std::int32_t> indexes;
  std::optional<std::int32_t> start, end, step;
  std::unique_ptr<QueryExpr> query;
};

enum class QueryOp : std::uint8_t {
  kExists,
  kEquals,
  kStrictEquals,
  kNotEquals,
  kStrictNotEquals,
  kLess,
  kLessOrEqual,
  kGreater,
  kGreaterOrEqual,
  kRegex,
};

// One side of a comparison: a path from @ or $, or a literal value.
struct Operand {
  bool is_path = false;
  std::vector<Step> path;
  json::Value literal;  // strings point into Path::Compiled::strings
};

struct QueryExpr {
  enum class Kind : std::uint8_t { kAnd, kOr, kCompare } kind = Kind::kCompare;
  std::vector<std::unique_ptr<QueryExpr>> children;  // kAnd / kOr
  QueryOp op = QueryOp::kExists;
  Operand left, right;
  // A literal /regex/flags right side, compiled once when the path is parsed.
  std::unique_ptr<RE2> regex;
  // True when this expression is false for every JProperty token, which
  // lets `..[?(...)]` skip the property nodes Json.NET visits.
  bool never_matches_property = false;
  // True when this expression can only be true for an object (its left
  // path starts by selecting a member); `..[?(...)]` then visits objects only.
  bool only_objects = false;
  // `@a.b` alone: an existence test answered by member lookups.
  std::vector<const std::string*> exists_path;
};

struct Path::Compiled {
  std::string text;
  std::vector<Step> steps;
  std::deque<std::string> strings;  // storage for literal strings (stable addresses)
  // For paths made only of member names ($.Body.heartRate), the names: they
  // are answered by lookups alone, without the general evaluator.
  std::vector<const std::string*> member_chain;
  bool is_member_chain = false;
  // For `$..[?(@a.b)]` (a scan whose filter is an existence test of a member
  // chain), that filter: answered by a direct walk.
  const QueryExpr* scan_exists = nullptr;
};

}  // namespace iomt::jsonpath
