// Running the shares of one piece of work at once: a split store's parts,
// the Observation writer's lanes. Each share is a call of its own; the first
// share with work runs on the calling thread (so one share costs no thread),
// the others on threads of their own, and the call returns when every share
// has ended. A thread per share is cheap beside what a share does here (a
// commit, an fsync), so there is no pool to size or to shut down.
#pragma once

#include <cstddef>
#include <future>
#include <optional>
#include <vector>

namespace iomt {

// Calls run(k) for every k in [0, n) with has_work(k), at once as above.
// run(k) must only touch what belongs to share k (e.g. element k of a vector
// sized beforehand). An exception from a share is rethrown here, after every
// share has ended.
template <typename HasWork, typename Run>
void RunShares(std::size_t n, const HasWork& has_work, const Run& run) {
  std::vector<std::future<void>> others;
  std::optional<std::size_t> here;
  for (std::size_t k = 0; k < n; ++k) {
    if (!has_work(k)) continue;
    if (!here) {
      here = k;
      continue;
    }
    others.push_back(std::async(std::launch::async, [&run, k] { run(k); }));
  }
  // The others end before this returns even when this share throws: a
  // std::async future waits for its thread when it is destroyed.
  if (here) run(*here);
  for (std::future<void>& f : others)
    f.get();
}

}  // namespace iomt
