#include "core/encoding.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace cx {
namespace {

// Held alert names order by these digits, staffing facts are known by them:
// 16 lower-case digits, most significant first, read back in either case.
TEST(HexTest, SixteenLowerCaseDigitsMostSignificantFirst) {
  std::string s = "x";
  PutHex64(s, 0x0123456789abcdefull);
  EXPECT_EQ(s, "x0123456789abcdef");
  EXPECT_EQ(GetHex64(s.data() + 1), 0x0123456789abcdefull);
  EXPECT_EQ(GetHex64("FEDCBA9876543210"), 0xfedcba9876543210ull);
  for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{1}, ~std::uint64_t{0}, std::uint64_t{1} << 63}) {
    std::string h;
    PutHex64(h, v);
    ASSERT_EQ(h.size(), 16u);
    EXPECT_EQ(GetHex64(h.data()), v) << h;
  }
  std::string a, b;  // text order is numeric order
  PutHex64(a, 0x00ff);
  PutHex64(b, 0x0100);
  EXPECT_LT(a, b);
}

}  // namespace
}  // namespace cx
