// How long to wait before trying again something that failed for a reason
// outside the data (the FHIR service away, a full disk): doubling from
// `first` up to `cap`, each wait drawn between half of it and all of it, so
// that many clients that failed together do not come back together.
#pragma once

#include <algorithm>
#include <chrono>
#include <random>

namespace iomt::pipeline {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds first, std::chrono::milliseconds cap)
      : first_(first), cap_(cap), rng_(std::random_device{}()) {}

  std::chrono::milliseconds Next() {
    next_ = next_.count() == 0 ? first_ : std::min(next_ * 2, cap_);
    std::uniform_int_distribution<std::int64_t> jitter(next_.count() / 2, next_.count());
    return std::chrono::milliseconds(jitter(rng_));
  }
  void Reset() { next_ = std::chrono::milliseconds(0); }

 private:
  std::chrono::milliseconds first_;
  std::chrono::milliseconds cap_;
  std::chrono::milliseconds next_{0};
  std::mt19937_64 rng_;
};

}  // namespace iomt::pipeline
