#include "core/encoding.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
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

// State records are written with a ByteWriter and read with a Reader, and
// records written before it came must read the same: it writes the bytes
// the Put functions write, whatever it was told to expect (growing past
// it), after what the string held, and leaves the string its exact size.
TEST(ByteWriterTest, WritesWhatThePutFunctionsWrite) {
  std::mt19937_64 rng(42);
  const std::uint64_t edges[] = {0, 1, 0x7f, 0x80, 0x3fff, 0x4000, std::numeric_limits<std::uint64_t>::max()};
  for (int round = 0; round < 200; ++round) {
    std::string put = "prefix", written = "prefix";
    {
      ByteWriter w(written, static_cast<std::size_t>(round % 4));  // 0 to 3: it must grow
      for (int op = 0; op < 40; ++op) {
        const std::uint64_t x = rng() % 3 == 0 ? edges[rng() % std::size(edges)] : rng() >> (rng() % 64);
        switch (rng() % 6) {
          case 0:
            put.push_back(static_cast<char>(x & 0xff));
            w.Byte(static_cast<std::uint8_t>(x & 0xff));
            break;
          case 1:
            PutVarint(put, x);
            w.Varint(x);
            break;
          case 2:
            PutVarintSigned(put, static_cast<std::int64_t>(x));
            w.VarintSigned(static_cast<std::int64_t>(x));
            break;
          case 3: {
            const std::string s(x % 300, static_cast<char>('a' + x % 26));
            PutString(put, s);
            w.String(s);
            break;
          }
          case 4:
            PutFixed64BE(put, x);
            w.Fixed64BE(x);
            break;
          default: {
            const double d = static_cast<double>(static_cast<std::int64_t>(x)) / 7.0;
            PutDouble(put, d);
            w.Double(d);
            break;
          }
        }
      }
    }
    ASSERT_EQ(written, put) << "round " << round;
  }
}

}  // namespace
}  // namespace cx
