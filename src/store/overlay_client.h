// A FHIR client that reads through to another and keeps its own writes in
// memory: a dry run against a real store. `iomt validate --sample --store`
// resolves identities in Create mode with it, so it can say "Patient and
// Device would be created" without writing anything.
#pragma once

#include <map>
#include <string>

#include "common/mutex.h"
#include "store/fhir_client.h"
#include "store/memory/memory_client.h"

namespace iomt::store {

class OverlayFhirClient : public FhirClient {
 public:
  explicit OverlayFhirClient(FhirClient* below) : below_(below) {}

  // What the overlay holds wins; the rest comes from below, minus what the
  // overlay replaced.
  Result<std::vector<Resource>> SearchByIdentifier(std::string_view type, std::string_view system,
                                                   std::string_view value, std::size_t limit) override;
  Result<std::optional<Resource>> Read(std::string_view type, std::string_view id) override;
  // Kept in the overlay; never reaches the store below.
  Result<Resource> Put(std::string_view type, std::string_view id, std::string json,
                       std::optional<std::string_view> if_match) override;

  [[nodiscard]] std::size_t writes() const { return overlay_.size(); }

 private:
  // The overlay's copies carry the version the store would have given them
  // (the store's version plus one per write), not the in-memory client's.
  void FixVersion(std::string_view type, Resource* r) const;

  FhirClient* below_;
  MemoryFhirClient overlay_;
  mutable Mutex mu_;
  std::map<std::string, std::string, std::less<>> versions_ IOMT_GUARDED_BY(mu_);  // "type/id" -> version
};

}  // namespace iomt::store
