#include "store/rest_outcome.h"

#include "common/json/writer.h"

namespace iomt::store {

int HttpStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kNotFound: return status.detail() == "deleted" ? 410 : 404;
    case StatusCode::kConflict: return status.detail() == "precondition" ? 412 : 409;
    case StatusCode::kInvalidArgument:
      // A well-formed request the resource cannot take (a JSON Patch whose
      // path is not there, or whose test fails).
      if (status.detail() == "unprocessable") return 422;
      [[fallthrough]];
    case StatusCode::kSyntaxError:
    case StatusCode::kTypeError:
    case StatusCode::kOutOfRange: return 400;
    case StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

std::string OperationOutcome(const Status& status) {
  const int http = HttpStatus(status);
  const char* code = "exception";
  if (http == 404 || http == 410) code = "not-found";
  if (http == 409 || http == 412) code = "conflict";
  if (http == 400) code = status.code() == StatusCode::kOutOfRange ? "too-costly" : "invalid";
  if (http == 422) code = "processing";
  std::string out = R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":")";
  out.append(code).append(R"(","diagnostics":)");
  json::AppendQuoted(&out, status.message());
  out.append("}]}");
  return out;
}

}  // namespace iomt::store
