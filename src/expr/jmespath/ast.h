// The compiled form of a JMESPath expression: an immutable tree of Nodes that
// the interpreter walks. Private to src/expr/jmespath.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/json/value.h"

namespace iomt::jmespath::internal {

// Nesting of the expression (parser recursion and tree depth). The
// interpreter recurses at most once per tree level, so this also bounds the
// evaluation stack.
inline constexpr int kMaxNesting = 256;
// Longer expressions are refused before lexing.
inline constexpr std::size_t kMaxExpressionBytes = std::size_t{64} * 1024;
// What one evaluation may allocate in the caller's arena. Expressions like
// `[@,@][] | [@,@][] | ...` or nested join/to_string double their output at
// every step; without a budget a short expression could exhaust memory.
inline constexpr std::size_t kMaxEvaluationBytes = std::size_t{256} << 20;

enum class NodeType : std::uint8_t {
  kIdentity,    // @ (also the implicit right side of a projection)
  kField,       // name
  kIndex,       // [index] applied to the current value
  kSlice,       // [start:stop:step] applied to the current value
  kChain,       // children evaluated in turn, each on the previous result (a.b.c, a | b)
  kProjection,  // lhs evaluated, then rhs applied to each element (nulls dropped)
  kLiteral,     // `json` or 'raw'
  kMultiList,   // [a, b]
  kMultiHash,   // {k: a, l: b}
  kNot,         // !lhs
  kAnd,         // children: a && b && c
  kOr,          // children: a || b || c
  kCompare,     // lhs op rhs
  kFunction,    // name(children...)
  kExpRef,      // &lhs (only as a function argument)
};

enum class ProjectionKind : std::uint8_t {
  kList,     // a[*], slices: over the elements of an array
  kObject,   // a.*, *: over the values of an object
  kFlatten,  // a[]: over the elements of an array, nested arrays merged one level
  kFilter,   // a[?condition]: over the elements for which condition is truthy
};

enum class CompareOp : std::uint8_t { kEq, kNe, kLt, kLte, kGt, kGte };

enum class FunctionId : std::uint8_t {
  kAbs,
  kAvg,
  kCeil,
  kContains,
  kEndsWith,
  kFloor,
  kJoin,
  kKeys,
  kLength,
  kMap,
  kMax,
  kMaxBy,
  kMerge,
  kMin,
  kMinBy,
  kNotNull,
  kReverse,
  kSort,
  kSortBy,
  kStartsWith,
  kSum,
  kToArray,
  kToString,
  kToNumber,
  kType,
  kValues,
  // The functions Microsoft.Health.Expressions registers for iomt-fhir.
  kAdd,
  kSubtract,
  kMultiply,
  kDivide,
  kPow,
  kInsertString,
  kAppendString,
  kFromUnixTimestamp,
  kFromUnixTimestampMs,
};

struct FunctionInfo {
  std::string_view name;
  FunctionId id;
  int min_args;
  int max_args;  // -1: variadic
};

// The function called `name`, or nullptr.
const FunctionInfo* LookupFunction(std::string_view name);

struct Node {
  NodeType type = NodeType::kIdentity;
  ProjectionKind projection = ProjectionKind::kList;
  CompareOp op = CompareOp::kEq;
  FunctionId function = FunctionId::kAbs;
  std::uint8_t slice_given = 0;  // bit i set: slice[i] was written (start, stop, step)
  std::uint16_t depth = 1;       // height of the subtree rooted here
  std::uint32_t position = 0;    // byte offset in the expression, for messages
  std::string_view name;         // kField, kFunction
  json::Value literal;           // kLiteral
  std::int64_t index = 0;        // kIndex
  std::int64_t slice[3] = {0, 0, 0};
  const Node* lhs = nullptr;           // kProjection base, kCompare, kNot, kExpRef
  const Node* rhs = nullptr;           // kProjection (per element), kCompare
  const Node* condition = nullptr;     // kProjection kFilter
  std::vector<const Node*> children;   // kChain, kMultiList, kMultiHash values, kAnd, kOr, kFunction args
  std::vector<std::string_view> keys;  // kMultiHash
};

}  // namespace iomt::jmespath::internal
