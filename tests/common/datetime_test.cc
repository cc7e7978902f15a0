#include "common/datetime.h"

#include <gtest/gtest.h>

namespace iomt::datetime {
namespace {

std::int64_t Ticks(int y, int mo, int d, int h = 0, int mi = 0, int s = 0, std::int64_t frac = 0) {
  return ToTicks(Civil{y, mo, d, h, mi, s, frac});
}

TEST(DateTime, CivilRoundTrips) {
  EXPECT_EQ(Ticks(1970, 1, 1), 0);
  EXPECT_EQ(Ticks(1969, 12, 31, 23, 59, 59), -kTicksPerSecond);
  EXPECT_EQ(Ticks(1, 1, 1), kMinTicks);
  for (std::int64_t t : {std::int64_t{0}, Ticks(2019, 2, 1, 22, 46, 1, 8750000), kMinTicks, kMaxTicks,
                         Ticks(2000, 2, 29, 12), std::int64_t{-1}}) {
    EXPECT_EQ(ToTicks(FromTicks(t)), t);
  }
}

TEST(DateTime, RecognisesTheStringsJsonNetReadsAsDates) {
  std::int64_t t = 0;
  ASSERT_TRUE(ParseJsonNetDate("2019-02-01T22:46:01.875Z", &t));
  EXPECT_EQ(t, Ticks(2019, 2, 1, 22, 46, 1, 8750000));
  ASSERT_TRUE(ParseJsonNetDate("2019-01-30T22:45:02.6073744Z", &t));
  EXPECT_EQ(FormatIso(t), "2019-01-30T22:45:02.6073744Z");
  ASSERT_TRUE(ParseJsonNetDate("2023-10-09T19:18:23+00:00", &t));
  EXPECT_EQ(t, Ticks(2023, 10, 9, 19, 18, 23));
  ASSERT_TRUE(ParseJsonNetDate("2019-02-01T22:46:01+02:00", &t));
  EXPECT_EQ(t, Ticks(2019, 2, 1, 20, 46, 1));
  ASSERT_TRUE(ParseJsonNetDate("2019-02-01T22:46:01-0130", &t));
  EXPECT_EQ(t, Ticks(2019, 2, 2, 0, 16, 1));
  ASSERT_TRUE(ParseJsonNetDate("2019-02-01T22:46:01", &t));  // unspecified: taken as UTC
  EXPECT_EQ(t, Ticks(2019, 2, 1, 22, 46, 1));
  ASSERT_TRUE(ParseJsonNetDate("2019-02-01T24:00:00Z", &t));
  EXPECT_EQ(t, Ticks(2019, 2, 2));
  ASSERT_TRUE(ParseJsonNetDate("/Date(1626799080000)/", &t));
  EXPECT_EQ(t, Ticks(2021, 7, 20, 16, 38));
  ASSERT_TRUE(ParseJsonNetDate("/Date(-1000+0100)/", &t));
  EXPECT_EQ(t, -kTicksPerSecond);
}

TEST(DateTime, LeavesOtherStringsAsStrings) {
  std::int64_t t = 0;
  EXPECT_FALSE(ParseJsonNetDate("2019-02-01 22:46:01", &t));            // no T
  EXPECT_FALSE(ParseJsonNetDate("2019-02-01", &t));                     // too short
  EXPECT_FALSE(ParseJsonNetDate("2019-02-30T00:00:00Z", &t));           // no such day
  EXPECT_FALSE(ParseJsonNetDate("2019-02-01T22:46:01.Z", &t));          // empty fraction
  EXPECT_FALSE(ParseJsonNetDate("2019-02-01T22:46:01.12345678Z", &t));  // 8 digits
  EXPECT_FALSE(ParseJsonNetDate("2019-02-01T22:46:01Zx", &t));
  EXPECT_FALSE(ParseJsonNetDate("0000-01-01T00:00:00Z", &t));  // year 0
  EXPECT_FALSE(ParseJsonNetDate("hello", &t));
  EXPECT_FALSE(ParseJsonNetDate("/Date(abc)/", &t));
}

TEST(DateTime, FormatsLikeDotNet) {
  std::int64_t t = Ticks(2019, 2, 1, 22, 46, 1, 8750000);
  EXPECT_EQ(FormatGeneral(t), "02/01/2019 22:46:01");
  EXPECT_EQ(FormatIso(t), "2019-02-01T22:46:01.875Z");
  EXPECT_EQ(FormatIso(Ticks(2019, 2, 1)), "2019-02-01T00:00:00Z");
  EXPECT_EQ(FormatRoundTrip(Ticks(2019, 1, 1, 0, 59, 59, 9999999)), "2019-01-01T00:59:59.9999999Z");
  EXPECT_EQ(FormatRoundTrip(Ticks(2019, 1, 1)), "2019-01-01T00:00:00.0000000Z");
  EXPECT_EQ(FormatIso(-kTicksPerSecond), "1969-12-31T23:59:59Z");
}

}  // namespace
}  // namespace iomt::datetime

namespace iomt::datetime {
namespace {

TEST(DateTime, ParsesWhatDateTimeParseAcceptsFromDevices) {
  std::int64_t t = 0;
  const std::int64_t want = ToTicks(Civil{2019, 2, 1, 22, 46, 1, 0});
  for (const char* s :
       {"2019-02-01T22:46:01Z", "2019-02-01 22:46:01", "2019-02-01 22:46:01Z", " 2019-02-01T22:46:01 ",
        "02/01/2019 22:46:01", "2/1/2019 10:46:01 PM", "Fri, 01 Feb 2019 22:46:01 GMT", "01 Feb 2019 22:46:01",
        "2019-02-01T23:46:01+01:00", "2019-02-01 21:46:01 -01:00", "2019/02/01 22:46:01"}) {
    ASSERT_TRUE(ParseDateTime(s, &t)) << s;
    EXPECT_EQ(t, want) << s;
  }
  ASSERT_TRUE(ParseDateTime("2019-02-01", &t));
  EXPECT_EQ(t, ToTicks(Civil{2019, 2, 1}));
  ASSERT_TRUE(ParseDateTime("2019-02-01T22:46Z", &t));
  EXPECT_EQ(t, ToTicks(Civil{2019, 2, 1, 22, 46, 0}));
  ASSERT_TRUE(ParseDateTime("2019-02-01 22:46:01.123456789", &t));
  EXPECT_EQ(t, want + 1234567);
  for (const char* s : {"", "hello", "2019-13-01", "2019-02-30 00:00:00", "1626799080000", "12:00",
                        "2019-02-01 25:00:00", "2019-02-01T22:46:01 nonsense"}) {
    EXPECT_FALSE(ParseDateTime(s, &t)) << s;
  }
}

}  // namespace
}  // namespace iomt::datetime
