// A FHIR store that keeps resources in memory: for `iomt transform` (which
// resolves identities offline and writes nothing), for tests, and as the
// FhirClient of the benchmarks. Token search on `identifier` behaves as a
// FHIR server's does.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/fhir_client.h"

namespace iomt::store {

class MemoryFhirClient : public FhirClient {
 public:
  Result<std::vector<Resource>> SearchByIdentifier(std::string_view type, std::string_view system,
                                                   std::string_view value, std::size_t limit) override;
  Result<std::optional<Resource>> Read(std::string_view type, std::string_view id) override;
  Result<Resource> Put(std::string_view type, std::string_view id, std::string json,
                       std::optional<std::string_view> if_match) override;

  // Every resource, as (type, resource), in the order each was first written.
  [[nodiscard]] std::vector<std::pair<std::string, Resource>> All() const;
  [[nodiscard]] std::size_t size() const;

 private:
  struct Identifier {
    std::string system;
    std::string value;
  };
  struct Entry {
    Resource resource;
    std::vector<Identifier> identifiers;
    std::size_t order = 0;
  };
  // "type/id" -> entry.
  std::unordered_map<std::string, Entry> resources_;
  // "type|identifier value" -> "type/id" of the resources that have it.
  std::unordered_multimap<std::string, std::string> by_identifier_;
  std::size_t next_order_ = 0;
  mutable std::mutex mu_;
};

}  // namespace iomt::store
