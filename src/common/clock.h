// The wall clock in datetime ticks (100 ns since the Unix epoch; see
// common/datetime.h): the unit of every time on the data path.
#pragma once

#include <cstdint>

namespace iomt {

// Now, in datetime ticks.
std::int64_t NowTicks();

}  // namespace iomt
