#include "store/overlay_client.h"

#include <gtest/gtest.h>

#include "store/memory/memory_client.h"

namespace iomt::store {
namespace {

constexpr const char* kPatientA = R"({"resourceType":"Patient","id":"a","identifier":[{"value":"p1"}]})";

TEST(OverlayFhirClient, ReadsThroughAndNeverWritesBelow) {
  MemoryFhirClient below;
  ASSERT_TRUE(below.Put("Patient", "a", kPatientA, std::nullopt).ok());
  OverlayFhirClient overlay(&below);
  auto read = overlay.Read("Patient", "a");
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->version_id, "1");

  // An update based on the store's version lands in the overlay only.
  auto put = overlay.Put("Patient", "a", R"({"resourceType":"Patient","id":"a","identifier":[{"value":"p2"}]})", "1");
  ASSERT_TRUE(put.ok()) << put.status().message();
  EXPECT_EQ(below.Read("Patient", "a")->value().version_id, "1");
  EXPECT_EQ(below.size(), 1u);
  EXPECT_EQ(overlay.writes(), 1u);

  // The overlay's copy hides the store's: searching for the old identifier
  // finds nothing, the new one finds the overlay's copy once.
  EXPECT_TRUE(overlay.SearchByIdentifier("Patient", "", "p1", 2)->empty());
  EXPECT_EQ(overlay.SearchByIdentifier("Patient", "", "p2", 2)->size(), 1u);

  // A write based on a stale version is refused as the store would refuse it.
  auto stale = overlay.Put("Patient", "a", kPatientA, "1");
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict);

  // New resources are visible to later reads through the overlay only.
  ASSERT_TRUE(overlay.Put("Device", "d", R"({"resourceType":"Device","id":"d"})", std::nullopt).ok());
  EXPECT_TRUE(overlay.Read("Device", "d")->has_value());
  EXPECT_FALSE(below.Read("Device", "d")->has_value());
}

}  // namespace
}  // namespace iomt::store
