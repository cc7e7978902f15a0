// A FHIR store that keeps resources in memory: for `iomt transform` (which
// resolves identities offline and writes nothing), for tests, and as the
// FhirClient of the benchmarks. Token search on `identifier` behaves as a
// FHIR server's does.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "store/fhir_client.h"

namespace iomt::store {

class MemoryFhirClient : public FhirClient {
 public:
  Result<std::vector<Resource>> SearchByIdentifier(std::string_view type, std::string_view system,
                                                   std::string_view value, std::size_t limit) override;
  Result<std::optional<Resource>> Read(std::string_view type, std::string_view id) override;
  Result<Resource> Put(std::string_view type, std::string_view id, std::string json,
                       std::optional<std::string_view> if_match) override;

  // Calls f(type, resource) for every resource, in the order each was first
  // written.
  void ForEach(const std::function<void(std::string_view type, const Resource&)>& f) const;
  [[nodiscard]] std::size_t size() const;

 private:
  struct Identifier {
    std::string system;
    std::string value;
  };
  struct Entry {
    std::string type;
    Resource resource;
    std::vector<Identifier> identifiers;
  };
  // Entries never move (a deque grows at its end), so the indexes hold
  // pointers. The indexes are keyed by a hash of (type, id) and of (type,
  // identifier value), so no key string is built per call; a lookup checks
  // the entries it finds.
  using Index = std::unordered_multimap<std::uint64_t, Entry*>;
  Entry* FindEntry(std::string_view type, std::string_view id) const IOMT_REQUIRES(mu_);
  static std::uint64_t Hash(std::string_view type, std::string_view key);

  mutable Mutex mu_;
  std::deque<Entry> entries_ IOMT_GUARDED_BY(mu_);
  Index by_id_ IOMT_GUARDED_BY(mu_);
  Index by_identifier_ IOMT_GUARDED_BY(mu_);
};

}  // namespace iomt::store
