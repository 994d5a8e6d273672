#include "runtime/store_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

// A rebalance moves a partition between the processing threads of one
// worker (docs/runtime.md#threads); its store is open in one place at a time.
namespace cx::runtime {
namespace {

using std::chrono::milliseconds;

StorePool::Open Opener(int& opened) {
  return [&opened]() -> Result<std::unique_ptr<state::Store>> {
    ++opened;
    return state::NewMemoryStore();
  };
}

TEST(StorePoolTest, AStoreGivenBackIsTakenAgainWithoutBeingOpenedAgain) {
  StorePool pool;
  int opened = 0;
  auto first = pool.Take(3, Opener(opened), milliseconds(10));
  ASSERT_TRUE(first.ok());
  (*first)->Put("k", "v");
  state::Store* raw = first->get();
  pool.Give(3, std::move(first).value());
  EXPECT_EQ(pool.idle(), 1u);
  auto again = pool.Take(3, Opener(opened), milliseconds(10));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), raw);
  EXPECT_EQ(opened, 1);
  EXPECT_EQ(pool.idle(), 0u);
}

TEST(StorePoolTest, ATakeWaitsUntilTheThreadHoldingTheStoreGivesItBack) {
  StorePool pool;
  int opened = 0;
  auto held = pool.Take(1, Opener(opened), milliseconds(10));
  ASSERT_TRUE(held.ok());
  std::thread other([&] {
    std::this_thread::sleep_for(milliseconds(50));
    pool.Give(1, std::move(held).value());
  });
  int waited = 0;
  auto taken = pool.Take(1, Opener(opened), milliseconds(5000), [&] { ++waited; });
  other.join();
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_EQ(opened, 1);  // the same store, handed over
  EXPECT_GT(waited, 0);  // the waiting thread could let go of its own meanwhile
}

TEST(StorePoolTest, ATakeGivesUpAfterItsPatienceWithAClearError) {
  StorePool pool;
  int opened = 0;
  auto held = pool.Take(7, Opener(opened), milliseconds(10));
  ASSERT_TRUE(held.ok());
  auto taken = pool.Take(7, Opener(opened), milliseconds(60));
  ASSERT_FALSE(taken.ok());
  EXPECT_NE(taken.status().message().find("task 7"), std::string::npos) << taken.status().ToString();
}

TEST(StorePoolTest, AFailedOpenLeavesThePartitionFree) {
  StorePool pool;
  auto failed = pool.Take(
      2, []() -> Result<std::unique_ptr<state::Store>> { return Status::IoError("disk"); }, milliseconds(10));
  EXPECT_FALSE(failed.ok());
  int opened = 0;
  EXPECT_TRUE(pool.Take(2, Opener(opened), milliseconds(10)).ok());
}

TEST(StorePoolTest, StoresNotTakenAgainAreClosedAfterAWhile) {
  StorePool pool;
  int opened = 0;
  auto a = pool.Take(1, Opener(opened), milliseconds(10));
  ASSERT_TRUE(a.ok());
  pool.Give(1, std::move(a).value());
  pool.CloseIdle(std::chrono::hours(1));
  EXPECT_EQ(pool.idle(), 1u);  // too recent
  pool.CloseIdle(std::chrono::seconds(0));
  EXPECT_EQ(pool.idle(), 0u);
  EXPECT_TRUE(pool.Take(1, Opener(opened), milliseconds(10)).ok());
  EXPECT_EQ(opened, 2);  // opened anew
}

}  // namespace
}  // namespace cx::runtime
