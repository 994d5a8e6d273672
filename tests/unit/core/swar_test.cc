#include "core/swar.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace cx::swar {
namespace {

int Sign(int x) { return (x > 0) - (x < 0); }

TEST(SwarCompareTest, OrdersAsStringViewCompare) {
  // Keys like the store's: a shared prefix, then bytes of any value
  // (above 0x7f too, where a signed char would order them wrong), of every
  // length around a word's.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255), len(0, 20), prefix(0, 12);
  for (int i = 0; i < 20000; ++i) {
    std::string a = std::string("Ocust-00").substr(0, static_cast<std::size_t>(prefix(rng) % 9));
    std::string b = a;
    for (int n = len(rng); n > 0; --n) a.push_back(static_cast<char>(byte(rng) % 4 == 0 ? 0xff : byte(rng)));
    for (int n = len(rng); n > 0; --n) b.push_back(static_cast<char>(byte(rng) % 4 == 0 ? 0xff : byte(rng)));
    if (i % 3 == 0) b = a.substr(0, a.size() / 2);  // one a prefix of the other
    ASSERT_EQ(Sign(Compare(a, b)), Sign(std::string_view(a).compare(b))) << i;
    ASSERT_EQ(Sign(Compare(b, a)), Sign(std::string_view(b).compare(a))) << i;
    ASSERT_EQ(Compare(a, a), 0);
  }
  EXPECT_LT(Compare("", "a"), 0);
  EXPECT_GT(Compare("abcdefgh\x80", "abcdefgh\x7f"), 0);
  EXPECT_LT(Compare("abcdefgh", "abcdefghi"), 0);
}

// Same is operator==: strings of every length around a word's that differ
// in one byte anywhere (the first, the middle, the last), or not at all.
TEST(SwarSameTest, SaysWhatOperatorEqualsSays) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> byte(0, 255);
  for (std::size_t n = 0; n <= 33; ++n) {
    for (int i = 0; i < 200; ++i) {
      std::string a;
      for (std::size_t k = 0; k < n; ++k) a.push_back(static_cast<char>(byte(rng)));
      std::string b = a;
      ASSERT_TRUE(Same(a, b)) << n;
      if (n == 0) continue;
      const std::size_t at = static_cast<std::size_t>(byte(rng)) % n;
      b[at] = static_cast<char>(b[at] ^ (1 + byte(rng) % 255));
      ASSERT_FALSE(Same(a, b)) << n << " at " << at;
      ASSERT_FALSE(Same(a, std::string_view(a).substr(0, n - 1))) << n;
    }
  }
  EXPECT_TRUE(Same("", ""));
  EXPECT_FALSE(Same("abc", "abcd"));
}

}  // namespace
}  // namespace cx::swar
