// JMESPath (https://jmespath.org/specification.html), compiled once and
// evaluated many times, with the functions that Azure's IoT connector adds
// for CalculatedContent mappings: add, subtract, multiply, divide, pow
// (Int64 arithmetic when both arguments are integers, double otherwise),
// insertString, fromUnixTimestamp and fromUnixTimestampMs (which return
// dates), and appendString from newer iomt-fhir releases. Semantics follow
// JmesPath.Net 1.0.205 as iomt-fhir uses it (docs/jmespath.md).
//
// Thread safety: a compiled Expression is immutable and may be evaluated from
// many threads at once, each with its own Arena.
//
// Limits, so that any expression on any input fails cleanly rather than
// exhausting the stack or memory: expressions longer than 64 KiB and nesting
// deeper than 256 levels are syntax errors; an evaluation that would allocate
// more than 256 MiB in the arena stops with StatusCode::kOutOfRange.
//
// Where iomt departs from JmesPath.Net on purpose (docs/jmespath.md and the
// comments in functions.cc): length() counts code points, ceil()/floor() give
// Int64 integers, sum() of integers is exact.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/json/arena.h"
#include "common/json/value.h"
#include "common/status.h"

namespace iomt::jmespath {

// Error kinds, as Status::detail(), named as the compliance suite names them:
//  at compile time (StatusCode::kSyntaxError): "syntax", "invalid-arity",
//    "unknown-function"; Status::position() is the offset in the expression;
//  at evaluation: "invalid-type" (StatusCode::kTypeError), "invalid-value",
//    and for the custom functions the .NET exception iomt-fhir would raise:
//    "DivideByZeroException", "OverflowException", "ArgumentOutOfRangeException"
//    (StatusCode::kEvaluationError).
class Expression {
 public:
  virtual ~Expression() = default;

  static Result<std::unique_ptr<const Expression>> Compile(std::string_view text);

  // Evaluates against `input`. Values built on the way (projections, objects,
  // strings) are allocated in `arena` and live as long as it does; the result
  // may also point into `input`'s document, and into this Expression's JSON
  // literals (keep the Expression alive while the result is used). On the
  // common paths (field access, the custom functions) nothing is allocated.
  virtual Result<json::Value> Evaluate(const json::Value& input, json::Arena* arena) const = 0;

  [[nodiscard]] virtual const std::string& text() const = 0;

  // Whether results are projections (`Body[?x]`, `a[*].b`, `a[]`, `a[0:2]`,
  // `x.*`, and pipes ending in one). A device mapping's type match takes each
  // element of a projection as a match, and any other result as one match;
  // a single-value field with a projection of several elements is an error
  // (JmesPath.Net's JmesPathArgument.IsProjection).
  [[nodiscard]] virtual bool IsProjection() const = 0;
};

}  // namespace iomt::jmespath
