// Structural equality of Values (JMESPath's notion of equality).
#pragma once

#include "common/json/value.h"

namespace iomt::json {

// Numbers compare by value (1 == 1.0), strings by bytes, arrays by element,
// objects by their sets of members (order ignored), dates by instant.
bool DeepEquals(const Value& a, const Value& b);

}  // namespace iomt::json
