#include "core/hash.h"

#include <gtest/gtest.h>

namespace cx {
namespace {

// StableHash64 is persisted (state, partition choice of repartitioned
// records): its values must never change. These are those of the first
// release that wrote them.
TEST(StableHashTest, ValuesNeverChange) {
  EXPECT_EQ(StableHash64(""), 15503018906515740718ull);
  EXPECT_EQ(StableHash64("k"), 13098074211010441640ull);
  EXPECT_EQ(StableHash64("cust-42/conv-9"), 18202919895960931812ull);
}

TEST(StableHashTest, PartsHashAsTheirConcatenation) {
  EXPECT_EQ(StableHasher().Add("cust-42").Add("/").Add("conv-9").Finish(), StableHash64("cust-42/conv-9"));
  EXPECT_EQ(StableHasher().Add("").Add("k").Add("").Finish(), StableHash64("k"));
  EXPECT_EQ(StableHasher().Finish(), StableHash64(""));
}

}  // namespace
}  // namespace cx
