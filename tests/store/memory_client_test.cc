#include "store/memory/memory_client.h"

#include <gtest/gtest.h>

namespace iomt::store {
namespace {

TEST(MemoryFhirClient, TokenSearchOnIdentifier) {
  MemoryFhirClient c;
  ASSERT_TRUE(c.Put("Patient", "a",
                    R"({"resourceType":"Patient","id":"a","identifier":[{"system":"s1","value":"p1"}]})", std::nullopt)
                  .ok());
  ASSERT_TRUE(
      c.Put("Patient", "b", R"({"resourceType":"Patient","id":"b","identifier":[{"value":"p1"}]})", std::nullopt).ok());
  ASSERT_TRUE(
      c.Put("Device", "d", R"({"resourceType":"Device","id":"d","identifier":[{"value":"p1"}]})", std::nullopt).ok());
  // No system: any system matches (identifier=p1); only Patients are returned.
  auto any = c.SearchByIdentifier("Patient", "", "p1", 10);
  ASSERT_TRUE(any.ok());
  ASSERT_EQ(any->size(), 2u);
  EXPECT_EQ((*any)[0].id, "a");
  EXPECT_EQ((*any)[1].id, "b");
  // With a system: only that system (identifier=s1|p1).
  auto s1 = c.SearchByIdentifier("Patient", "s1", "p1", 10);
  ASSERT_EQ(s1->size(), 1u);
  EXPECT_EQ((*s1)[0].id, "a");
  EXPECT_TRUE(c.SearchByIdentifier("Patient", "s2", "p1", 10)->empty());
  EXPECT_TRUE(c.SearchByIdentifier("Patient", "", "P1", 10)->empty());  // values are exact
  EXPECT_EQ(c.SearchByIdentifier("Patient", "", "p1", 1)->size(), 1u);  // the limit
}

TEST(MemoryFhirClient, VersionsAndIfMatch) {
  MemoryFhirClient c;
  auto v1 = c.Put("Device", "d", R"({"resourceType":"Device","id":"d","identifier":[{"value":"x"}]})", std::nullopt);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->version_id, "1");
  auto v2 = c.Put("Device", "d", R"({"resourceType":"Device","id":"d","identifier":[{"value":"y"}]})", "1");
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->version_id, "2");
  // A write based on an old version loses.
  auto stale = c.Put("Device", "d", R"({"resourceType":"Device","id":"d"})", "1");
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict);
  // The identifier index follows the current version.
  EXPECT_TRUE(c.SearchByIdentifier("Device", "", "x", 2)->empty());
  EXPECT_EQ(c.SearchByIdentifier("Device", "", "y", 2)->size(), 1u);
  auto read = c.Read("Device", "d");
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->version_id, "2");
  EXPECT_FALSE(c.Read("Device", "nope")->has_value());
  EXPECT_FALSE(c.Put("Device", "e", "not json", std::nullopt).ok());
}

}  // namespace
}  // namespace iomt::store

#include "fhir_client_contract.h"
#include "store/forwarding_client.h"
#include "store/overlay_client.h"

namespace iomt::store::testing {

// The overlay (validate's dry run) is a FhirClient like any other: over an
// empty store it must behave as one. (The contract's tests can be compiled
// into one file of a binary only, so its instances for the in-memory
// clients live here.)
class OverlayOverEmpty : public ForwardingFhirClient {
 public:
  OverlayOverEmpty() : ForwardingFhirClient(&overlay_) {}

 private:
  MemoryFhirClient below_;
  OverlayFhirClient overlay_{&below_};
};

INSTANTIATE_TEST_SUITE_P(Memory, FhirClientContract,
                         ::testing::Values(ClientFactory{"memory", [] { return std::make_unique<MemoryFhirClient>(); }},
                                           ClientFactory{"overlay",
                                                         [] { return std::make_unique<OverlayOverEmpty>(); }}));
}  // namespace iomt::store::testing
