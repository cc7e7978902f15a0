#include "common/status.h"

#include <gtest/gtest.h>

namespace iomt {
namespace {

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(Status, CarriesCodeMessageDetailAndPosition) {
  Status s = SyntaxError("bad").WithDetail("syntax").WithPosition(4);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kSyntaxError);
  EXPECT_EQ(s.message(), "bad");
  EXPECT_EQ(s.detail(), "syntax");
  EXPECT_EQ(s.position(), 4);
  Status copy = s;
  EXPECT_EQ(copy.ToString(), "SyntaxError: bad");
  EXPECT_EQ(copy.position(), 4);
}

TEST(Result, HoldsValueOrStatus) {
  Result<int> good(3);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  Result<int> bad(OutOfRange("too deep"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace iomt
