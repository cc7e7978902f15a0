// Private to expr/jsonpath: text -> compiled steps.
#pragma once

#include <string_view>

#include "common/status.h"
#include "expr/jsonpath/jsonpath.h"

namespace iomt::jsonpath {

Status ParseInto(std::string_view text, Path::Compiled* out);

}  // namespace iomt::jsonpath
