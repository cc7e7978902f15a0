// A FhirClient that passes every call to another one: the base of clients
// that add something around a store (timing, recording what was written)
// and override only what they add to.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "store/fhir_client.h"

namespace iomt::store {

class ForwardingFhirClient : public FhirClient {
 public:
  explicit ForwardingFhirClient(FhirClient* below) : below_(below) {}

  Result<std::vector<Resource>> SearchByIdentifier(std::string_view type, std::string_view system,
                                                   std::string_view value, std::size_t limit) override {
    return below_->SearchByIdentifier(type, system, value, limit);
  }
  Result<std::optional<Resource>> Read(std::string_view type, std::string_view id) override {
    return below_->Read(type, id);
  }
  Result<Resource> Put(std::string_view type, std::string_view id, std::string json,
                       std::optional<std::string_view> if_match) override {
    return below_->Put(type, id, std::move(json), if_match);
  }
  Result<std::vector<Result<Resource>>> PutMany(std::vector<PutRequest> requests) override {
    return below_->PutMany(std::move(requests));
  }
  Result<std::vector<Resource>> SearchByIdentifiers(std::string_view type, std::string_view system,
                                                    const std::vector<std::string>& values) override {
    return below_->SearchByIdentifiers(type, system, values);
  }
  Status Flush() override { return below_->Flush(); }

 protected:
  [[nodiscard]] FhirClient* below() const { return below_; }

 private:
  FhirClient* below_;
};

}  // namespace iomt::store
