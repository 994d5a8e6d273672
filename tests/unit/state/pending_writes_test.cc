#include "state/pending_writes.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

namespace cx::state {
namespace {

std::vector<std::string> Keys(const PendingWrites& w) {
  std::vector<std::string> out;
  for (const auto& [k, v] : w.ordered()) out.push_back(k + "=" + (v ? *v : "<deleted>"));
  return out;
}

TEST(PendingWritesTest, TheLastWriteOfAKeyWinsAndKeysStayInOrder) {
  PendingWrites w;
  w.Put("b", "1");
  w.Put("a", "2");
  w.Put("b", "3");
  w.Delete("a");
  w.Put("c", "4");
  EXPECT_EQ(Keys(w), (std::vector<std::string>{"a=<deleted>", "b=3", "c=4"}));
  ASSERT_NE(w.Find("b"), nullptr);
  EXPECT_EQ(*w.Find("b"), "3");
  ASSERT_NE(w.Find("a"), nullptr);
  EXPECT_FALSE(w.Find("a")->has_value());  // deleted: known absent, not "ask the store"
  EXPECT_EQ(w.Find("d"), nullptr);
}

TEST(PendingWritesTest, BytesFollowTheFinalValuesNotEveryWrite) {
  PendingWrites w;
  w.Put("k", std::string(1000, 'x'));
  const std::size_t one = w.bytes();
  for (int i = 0; i < 100; ++i) w.Put("k", std::string(1000, 'y'));
  EXPECT_EQ(w.bytes(), one);
  w.Put("k", "short");
  EXPECT_EQ(w.bytes(), one - 995);
  w.Clear();
  EXPECT_EQ(w.bytes(), 0u);
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.Find("k"), nullptr);
}

// The index views the map's keys: many inserts (rehashing the index, and
// rebalancing the tree) must leave every key findable.
TEST(PendingWritesTest, EveryKeyStaysFindableAcrossRehashes) {
  PendingWrites w;
  for (int i = 0; i < 20000; ++i) w.Put("key-" + std::to_string(i), std::to_string(i));
  for (int i = 0; i < 20000; i += 7) {
    const auto* v = w.Find("key-" + std::to_string(i));
    ASSERT_NE(v, nullptr) << i;
    EXPECT_EQ(**v, std::to_string(i));
  }
  EXPECT_EQ(w.size(), 20000u);
}

// The order is RocksDB's bytewise order (bytes compared unsigned, a prefix
// first), whatever the keys: long shared prefixes, bytes above 0x7f, NULs.
TEST(PendingWritesTest, KeysInRocksDbsByteOrder) {
  std::mt19937 rng(5);
  PendingWrites w;
  std::set<std::string> reference;  // std::string orders bytes as unsigned (char_traits<char>::lt)
  for (int i = 0; i < 5000; ++i) {
    std::string key = i % 2 ? "r/alert_queue/billing/held/" : "";
    for (std::size_t n = rng() % 12; n > 0; --n)
      key.push_back(static_cast<char>(rng() % 4 == 0 ? rng() % 256 : 'a' + rng() % 3));
    w.Put(key, "v");
    reference.insert(key);
  }
  ASSERT_EQ(w.size(), reference.size());
  auto r = reference.begin();
  for (const auto& [k, v] : w.ordered()) EXPECT_EQ(k, *r++);
  // Overwrites and deletes keep the value's room and the bytes right.
  w.Put(*reference.begin(), std::string(64, 'x'));
  w.Delete(*reference.rbegin());
  EXPECT_EQ(**w.Find(*reference.begin()), std::string(64, 'x'));
  EXPECT_FALSE(w.Find(*reference.rbegin())->has_value());
}

}  // namespace
}  // namespace cx::state
