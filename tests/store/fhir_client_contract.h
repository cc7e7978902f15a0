// What every FhirClient must do, whatever is behind it: the in-memory store,
// the embedded SQLite store, a remote FHIR R4 server. An implementation's
// test instantiates the suite with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(Embedded, FhirClientContract,
//                            ::testing::Values(ClientFactory{"embedded", [] { return MakeClient(); }}));
//
// Each test gets a fresh client from the factory and uses its own ids and
// identifier values (a random suffix), so that a shared server may hold
// other tests' resources. Version ids are opaque (servers use numbers or
// UUIDs): only their changing is checked.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <random>
#include <string>

#include "common/json/document.h"
#include "store/fhir_client.h"

namespace iomt::store::testing {

struct ClientFactory {
  std::string name;
  std::function<std::unique_ptr<FhirClient>()> make;
};
inline std::ostream& operator<<(std::ostream& os, const ClientFactory& f) { return os << f.name; }

class FhirClientContract : public ::testing::TestWithParam<ClientFactory> {
 protected:
  void SetUp() override {
    client_ = GetParam().make();
    ASSERT_NE(client_, nullptr);
    std::random_device rd;
    suffix_ = std::to_string(rd()) + std::to_string(rd());
  }
  // An id unique to this test run (FHIR ids: [A-Za-z0-9-.]{1,64}).
  std::string Id(const std::string& name) const { return name + "-" + suffix_; }

  static std::string Patient(const std::string& id, const std::string& system, const std::string& value) {
    return R"({"resourceType":"Patient","id":")" + id + R"(","identifier":[{)" +
           (system.empty() ? "" : R"("system":")" + system + R"(",)") + R"("value":")" + value + R"("}]})";
  }
  static std::string Device(const std::string& id, const std::string& value, const std::string& patient_id) {
    return R"({"resourceType":"Device","id":")" + id + R"(","identifier":[{"value":")" + value +
           R"("}],"patient":{"reference":"Patient/)" + patient_id + R"("}})";
  }
  // The value of a top-level string member of a resource's JSON.
  static std::string Member(const std::string& json, std::string_view key) {
    json::Document doc;
    if (!doc.Parse(json).ok()) return "<bad json>";
    json::Value v;
    return doc.root().Find(key, &v) && v.is_string() ? std::string(v.string_value()) : "";
  }

  std::unique_ptr<FhirClient> client_;
  std::string suffix_;
};

TEST_P(FhirClientContract, PutCreatesAndUpdatesWithVersions) {
  const std::string id = Id("p");
  auto created = client_->Put("Patient", id, Patient(id, "", "v-" + id), std::nullopt);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->id, id);
  EXPECT_FALSE(created->version_id.empty());
  EXPECT_EQ(Member(created->json, "resourceType"), "Patient");
  auto read = client_->Read("Patient", id);
  ASSERT_TRUE(read.ok() && read->has_value()) << read.status().ToString();
  EXPECT_EQ((*read)->version_id, created->version_id);
  auto updated = client_->Put("Patient", id, Patient(id, "", "w-" + id), created->version_id);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_NE(updated->version_id, created->version_id);
  // A write based on the old version loses.
  auto stale = client_->Put("Patient", id, Patient(id, "", "x-" + id), created->version_id);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict) << stale.status().ToString();
  auto after = client_->Read("Patient", id);
  ASSERT_TRUE(after.ok() && after->has_value());
  EXPECT_NE((*after)->json.find("w-" + id), std::string::npos);
}

TEST_P(FhirClientContract, ReadOfNothingIsEmpty) {
  auto read = client_->Read("Patient", Id("absent"));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_FALSE(read->has_value());
}

TEST_P(FhirClientContract, TokenSearchOnIdentifier) {
  const std::string value = "shared-" + suffix_;
  ASSERT_TRUE(client_->Put("Patient", Id("a"), Patient(Id("a"), "urn:s1", value), std::nullopt).ok());
  ASSERT_TRUE(client_->Put("Patient", Id("b"), Patient(Id("b"), "", value), std::nullopt).ok());
  ASSERT_TRUE(client_->Put("Device", Id("d"), Device(Id("d"), value, Id("a")), std::nullopt).ok());
  auto any = client_->SearchByIdentifier("Patient", "", value, 10);  // identifier=value: any system
  ASSERT_TRUE(any.ok()) << any.status().ToString();
  EXPECT_EQ(any->size(), 2u);
  for (const Resource& r : *any)
    EXPECT_EQ(Member(r.json, "resourceType"), "Patient");
  auto s1 = client_->SearchByIdentifier("Patient", "urn:s1", value, 10);  // identifier=s1|value
  ASSERT_TRUE(s1.ok());
  ASSERT_EQ(s1->size(), 1u);
  EXPECT_EQ((*s1)[0].id, Id("a"));
  EXPECT_TRUE(client_->SearchByIdentifier("Patient", "urn:s2", value, 10)->empty());
  EXPECT_EQ(client_->SearchByIdentifier("Patient", "", value, 1)->size(), 1u);  // the limit
  auto devices = client_->SearchByIdentifier("Device", "", value, 10);
  ASSERT_TRUE(devices.ok());
  ASSERT_EQ(devices->size(), 1u);
  EXPECT_NE((*devices)[0].json.find("Patient/" + Id("a")), std::string::npos);
}

TEST_P(FhirClientContract, SearchFollowsUpdates) {
  const std::string id = Id("moving");
  auto v1 = client_->Put("Patient", id, Patient(id, "", "old-" + suffix_), std::nullopt);
  ASSERT_TRUE(v1.ok());
  ASSERT_TRUE(client_->Put("Patient", id, Patient(id, "", "new-" + suffix_), v1->version_id).ok());
  EXPECT_TRUE(client_->SearchByIdentifier("Patient", "", "old-" + suffix_, 2)->empty());
  EXPECT_EQ(client_->SearchByIdentifier("Patient", "", "new-" + suffix_, 2)->size(), 1u);
}

TEST_P(FhirClientContract, PutManyAnswersEachWrite) {
  const std::string a = Id("ma"), b = Id("mb");
  auto first = client_->Put("Patient", b, Patient(b, "", "mb-" + suffix_), std::nullopt);
  ASSERT_TRUE(first.ok());
  std::vector<PutRequest> requests;
  requests.push_back({"Patient", a, Patient(a, "", "ma-" + suffix_), std::nullopt});
  requests.push_back({"Patient", b, Patient(b, "", "mb2-" + suffix_), std::string("not-the-version")});
  requests.push_back({"Device", Id("md"), Device(Id("md"), "md-" + suffix_, a), std::nullopt});
  auto results = client_->PutMany(std::move(requests));
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 3u);
  EXPECT_TRUE((*results)[0].ok()) << (*results)[0].status().ToString();
  ASSERT_FALSE((*results)[1].ok());
  EXPECT_EQ((*results)[1].status().code(), StatusCode::kConflict);
  EXPECT_TRUE((*results)[2].ok()) << (*results)[2].status().ToString();
  EXPECT_TRUE(client_->Read("Patient", a)->has_value());
  EXPECT_TRUE(client_->Read("Device", Id("md"))->has_value());
  EXPECT_NE((*client_->Read("Patient", b))->json.find("mb-" + suffix_), std::string::npos);
}

TEST_P(FhirClientContract, SearchByManyIdentifiers) {
  std::vector<std::string> values;
  for (int i = 0; i < 5; ++i) {
    std::string id = Id("many" + std::to_string(i));
    values.push_back("many-" + std::to_string(i) + "-" + suffix_);
    ASSERT_TRUE(client_->Put("Patient", id, Patient(id, "urn:many", values.back()), std::nullopt).ok());
  }
  values.push_back("none-" + suffix_);
  auto found = client_->SearchByIdentifiers("Patient", "urn:many", values);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->size(), 5u);
}

}  // namespace iomt::store::testing
