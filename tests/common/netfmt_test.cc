#include "common/netfmt.h"

#include <gtest/gtest.h>

#include <limits>

namespace iomt::netfmt {
namespace {

// Expected strings are what .NET (Core 3.0+) prints for double.ToString(InvariantCulture).
TEST(NetFormat, DoublesPrintLikeDotNet) {
  EXPECT_EQ(FormatDouble(70.0), "70");
  EXPECT_EQ(FormatDouble(98.43639286275842), "98.43639286275842");
  EXPECT_EQ(FormatDouble(78 * 0.0254), "1.9811999999999999");
  EXPECT_EQ(FormatDouble(1.9304), "1.9304");
  EXPECT_EQ(FormatDouble(0.0001), "0.0001");
  EXPECT_EQ(FormatDouble(0.00001), "1E-05");
  EXPECT_EQ(FormatDouble(1.5e-7), "1.5E-07");
  EXPECT_EQ(FormatDouble(123456789012345.0), "123456789012345");
  EXPECT_EQ(FormatDouble(1e15), "1E+15");
  EXPECT_EQ(FormatDouble(1.5e20), "1.5E+20");
  EXPECT_EQ(FormatDouble(-60.0), "-60");
  EXPECT_EQ(FormatDouble(0.0), "0");
  EXPECT_EQ(FormatDouble(-0.0), "-0");
  EXPECT_EQ(FormatDouble(1e100), "1E+100");
  EXPECT_EQ(FormatDouble(12345678901234567.0), "12345678901234568");
  EXPECT_EQ(FormatDouble(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(FormatDouble(-std::numeric_limits<double>::infinity()), "-Infinity");
  EXPECT_EQ(FormatDouble(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

}  // namespace
}  // namespace iomt::netfmt
