// The error catalogue: every entry documented (docs/errors.md), with a cause
// and a fix; typed names carried by Status.
#include "common/errors.h"

#include <gtest/gtest.h>

#include "common/status.h"
#include "test_util.h"

namespace iomt {
namespace {

constexpr int kEntries = static_cast<int>(ErrorName::kEventSource) + 1;

TEST(ErrorCatalogue, EveryEntryIsDocumentedWithItsLabels) {
  const std::string doc = testing::ReadFile(testing::SourcePath("docs/errors.md"));
  for (int i = 0; i < kEntries; ++i) {
    const ErrorInfo& info = Describe(static_cast<ErrorName>(i));
    const std::string row = "| " + std::string(info.name) + " | ";
    const std::size_t at = doc.find(row);
    ASSERT_NE(at, std::string::npos) << info.name << " is not in docs/errors.md";
    const std::string line = doc.substr(at, doc.find('\n', at) - at);
    EXPECT_NE(line.find(std::string(ToString(info.type))), std::string::npos) << line;
    EXPECT_NE(line.find(std::string(ToString(info.severity))), std::string::npos) << line;
    EXPECT_NE(line.find(std::string(ToString(info.stage))), std::string::npos) << line;
  }
}

TEST(ErrorCatalogue, EveryEntryHasACauseAndAFix) {
  for (int i = 0; i < kEntries; ++i) {
    const ErrorAdvice advice = AdviceFor(static_cast<ErrorName>(i));
    EXPECT_FALSE(advice.cause.empty()) << i;
    EXPECT_FALSE(advice.fix.empty()) << i;
  }
}

TEST(ErrorCatalogue, AReasonSelectsItsOwnAdvice) {
  const ErrorAdvice unset = AdviceFor(ErrorName::kPatientNotFound, kReasonDevicePatientUnset);
  const ErrorAdvice general = AdviceFor(ErrorName::kPatientNotFound);
  EXPECT_NE(unset.cause, general.cause);
  EXPECT_NE(std::string(unset.cause).find("Device.patient reference isn't set"), std::string::npos);
  EXPECT_EQ(AdviceFor(ErrorName::kPatientNotFound, "unknown reason").cause, general.cause);
}

TEST(ErrorCatalogue, FillAdviceNamesTheIdentifierAndTheDestination) {
  const ErrorAdvice advice = AdviceFor(ErrorName::kDeviceNotFound);
  const std::string fix = FillAdvice(advice.fix, "sys|dev-1", "embedded store ./data");
  EXPECT_NE(fix.find("sys|dev-1"), std::string::npos) << fix;
  EXPECT_NE(fix.find("embedded store ./data"), std::string::npos) << fix;
  EXPECT_EQ(fix.find('{'), std::string::npos) << fix;
}

TEST(ErrorCatalogue, AStatusCarriesItsEntryTyped) {
  Status st = NotFound("no such device").WithError(ErrorName::kDeviceNotFound).WithDetail("why");
  ASSERT_TRUE(st.error().has_value());
  EXPECT_EQ(*st.error(), ErrorName::kDeviceNotFound);
  EXPECT_EQ(st.error_name(), "DeviceNotFoundException");
  EXPECT_EQ(st.detail(), "why");
  Status copy = st;
  EXPECT_EQ(copy.error_name(), "DeviceNotFoundException");
  EXPECT_TRUE(Internal("x").error_name().empty());
  EXPECT_FALSE(Status::Ok().error().has_value());
}

}  // namespace
}  // namespace iomt
