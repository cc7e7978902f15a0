#include "common/decimal.h"

#include <gtest/gtest.h>

namespace iomt::decimal {
namespace {

std::string Parse(std::string_view s) {
  std::string out;
  return ParseNumber(s, &out) ? out : "<error>";
}

TEST(Decimal, ParsesWhatDecimalParseAcceptsWithNumberStyleNumber) {
  EXPECT_EQ(Parse("22.4"), "22.4");
  EXPECT_EQ(Parse("78"), "78");
  EXPECT_EQ(Parse("70.0"), "70.0");  // the scale is kept, as .NET keeps it
  EXPECT_EQ(Parse("  -1.50 "), "-1.50");
  EXPECT_EQ(Parse("+3"), "3");
  EXPECT_EQ(Parse("3-"), "-3");  // AllowTrailingSign
  EXPECT_EQ(Parse("3 -"), "-3");
  EXPECT_EQ(Parse("1,234.5"), "1234.5");  // AllowThousands
  EXPECT_EQ(Parse("1,,2"), "12");
  EXPECT_EQ(Parse(".5"), "0.5");
  EXPECT_EQ(Parse("5."), "5");
  EXPECT_EQ(Parse("007"), "7");
  EXPECT_EQ(Parse("-0.00"), "0.00");
  EXPECT_EQ(Parse("\t12\r\n"), "12");
}

TEST(Decimal, RejectsWhatDecimalParseRejects) {
  for (std::string_view s : {"", " ", "NaN", "Infinity", "1e3", "1E-2", "0x10", "(5)", "$5", "+-5", "-5-", ",5",
                             "1.2.3", "--1", "5 5", "abc", "."}) {
    EXPECT_EQ(Parse(s), "<error>") << s;
  }
}

TEST(Decimal, KeepsToTheDecimalRange) {
  EXPECT_EQ(Parse("79228162514264337593543950335"), "79228162514264337593543950335");
  EXPECT_EQ(Parse("79228162514264337593543950336"), "<error>");
  EXPECT_EQ(Parse("-79228162514264337593543950335"), "-79228162514264337593543950335");
  // More digits than fit: the scale shrinks, rounding half to even.
  EXPECT_EQ(Parse("1.00000000000000000000000000005"), "1.0000000000000000000000000000");
  EXPECT_EQ(Parse("1.00000000000000000000000000015"), "1.0000000000000000000000000002");
  EXPECT_EQ(Parse("0.00000000000000000000000000001"), "0.0000000000000000000000000000");
}

TEST(Decimal, ConvertsJsonNumbers) {
  std::string out;
  ASSERT_TRUE(FromJsonNumber("1000", &out));
  EXPECT_EQ(out, "1000");
  ASSERT_TRUE(FromJsonNumber("1000.0", &out));
  EXPECT_EQ(out, "1000.0");
  ASSERT_TRUE(FromJsonNumber("1e3", &out));
  EXPECT_EQ(out, "1000");
  ASSERT_TRUE(FromJsonNumber("1.5E-3", &out));
  EXPECT_EQ(out, "0.0015");
  ASSERT_TRUE(FromJsonNumber("-2.50e1", &out));
  EXPECT_EQ(out, "-25");
  EXPECT_FALSE(FromJsonNumber("1e40", &out));
}

TEST(Decimal, ScalesToIntegers) {
  long long v = 0;
  ASSERT_TRUE(ToScaledInt("1000", 4, &v));
  EXPECT_EQ(v, 10'000'000);
  ASSERT_TRUE(ToScaledInt("0.5", 4, &v));
  EXPECT_EQ(v, 5000);
  ASSERT_TRUE(ToScaledInt("0.00005", 4, &v));
  EXPECT_EQ(v, 1);  // half away from zero
  ASSERT_TRUE(ToScaledInt("-1.25", 1, &v));
  EXPECT_EQ(v, -13);
  EXPECT_FALSE(ToScaledInt("79228162514264337593543950335", 4, &v));
}

}  // namespace
}  // namespace iomt::decimal
