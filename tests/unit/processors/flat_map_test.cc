#include "processors/flat_map.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

namespace cx::processors {
namespace {

// State objects encode their maps in iteration order, so a FlatMap must
// order its keys as std::map<std::string> does (bytes compared unsigned),
// whatever the keys, and find what it holds.
TEST(FlatMapTest, OrdersAndFindsKeysAsAStdMap) {
  std::mt19937 rng(7);
  FlatMap<int> flat;
  std::map<std::string, int> reference;
  for (int i = 0; i < 2000; ++i) {
    std::string key(rng() % 20, '\0');
    for (char& c : key) c = static_cast<char>(rng() % 4 == 0 ? 0x80 + rng() % 0x80 : 'a' + rng() % 3);
    flat[key] += i;
    reference[key] += i;
  }
  ASSERT_EQ(flat.size(), reference.size());
  auto r = reference.begin();
  for (const auto& [key, value] : flat) {
    EXPECT_EQ(key, r->first);
    EXPECT_EQ(value, r->second);
    EXPECT_EQ(flat.find(key)->second, value);
    ++r;
  }
  EXPECT_EQ(flat.find("zzz-absent"), flat.end());
}

TEST(FlatMapTest, AnAbsentKeyGetsAValueInitialisedEntry) {
  FlatMap<std::string> m;
  EXPECT_EQ(m["b"], "");
  m["b"] = "x";
  m["a"];
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m.begin()->first, "a");
  EXPECT_EQ(m.find("b")->second, "x");
}

}  // namespace
}  // namespace cx::processors
