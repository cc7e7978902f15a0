#include "expr/jmespath/jmespath.h"

namespace iomt::jmespath {
Result<std::unique_ptr<const Expression>> Expression::Compile(std::string_view) {
  return Status(StatusCode::kInternal, "JMESPath is not implemented yet");
}
}  // namespace iomt::jmespath
