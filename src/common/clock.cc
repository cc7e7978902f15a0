#include "common/clock.h"

#include <chrono>

namespace iomt {

std::int64_t NowTicks() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count() / 100;
}

}  // namespace iomt
