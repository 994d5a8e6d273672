#include "state/timers.h"

#include <gtest/gtest.h>

namespace cx::state {
namespace {

Timer T(std::int64_t when, std::string owner, std::string tag = "t") {
  return Timer{Timestamp{when}, "proc", std::move(owner), std::move(tag)};
}

TEST(TimerServiceTest, KeyRoundTripsAndOrdersByDeadline) {
  Timer t{Timestamp{-5}, "sla", "cust\0omer", "b/conv"};
  Timer back;
  ASSERT_TRUE(TimerService::DecodeKey(TimerService::EncodeKey(t), back));
  EXPECT_EQ(back, t);
  EXPECT_LT(TimerService::EncodeKey(T(-1, "z")), TimerService::EncodeKey(T(0, "a")));
  EXPECT_LT(TimerService::EncodeKey(T(255, "z")), TimerService::EncodeKey(T(256, "a")));
}

TEST(TimerServiceTest, FiresDueTimersInDeadlineOrderOnly) {
  auto store = NewMemoryStore();
  TimerService timers(*store);
  ASSERT_TRUE(timers.Load().ok());
  timers.Set(T(300, "c"));
  timers.Set(T(100, "a"));
  timers.Set(T(200, "b"));
  EXPECT_EQ(timers.next().ms, 100);
  std::vector<std::string> fired;
  ASSERT_TRUE(timers.FireDue(Timestamp{200}, [&](const Timer& t) { fired.push_back(t.owner); }).ok());
  EXPECT_EQ(fired, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(timers.next().ms, 300);
}

TEST(TimerServiceTest, CancelledTimersDoNotFire) {
  auto store = NewMemoryStore();
  TimerService timers(*store);
  ASSERT_TRUE(timers.Load().ok());
  timers.Set(T(100, "a"));
  timers.Set(T(150, "b"));
  timers.Cancel(T(100, "a"));
  std::vector<std::string> fired;
  ASSERT_TRUE(timers.FireDue(Timestamp{1000}, [&](const Timer& t) { fired.push_back(t.owner); }).ok());
  EXPECT_EQ(fired, (std::vector<std::string>{"b"}));
  EXPECT_EQ(timers.next(), Timestamp::Max());
}

TEST(TimerServiceTest, TimersSetWhileFiringFireInTheSameCallWhenDue) {
  auto store = NewMemoryStore();
  TimerService timers(*store);
  ASSERT_TRUE(timers.Load().ok());
  timers.Set(T(100, "a"));
  std::vector<std::string> fired;
  ASSERT_TRUE(timers
                  .FireDue(Timestamp{500},
                           [&](const Timer& t) {
                             fired.push_back(t.owner);
                             if (t.owner == "a") {
                               timers.Set(T(200, "b"));  // due: fires now
                               timers.Set(T(900, "c"));  // not due
                             }
                           })
                  .ok());
  EXPECT_EQ(fired, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(timers.next().ms, 900);
}

TEST(TimerServiceTest, LoadFindsPersistedTimers) {
  auto store = NewMemoryStore();
  {
    TimerService timers(*store);
    ASSERT_TRUE(timers.Load().ok());
    timers.Set(T(700, "x"));
    ASSERT_TRUE(store->Commit().ok());
  }
  TimerService again(*store);
  ASSERT_TRUE(again.Load().ok());
  EXPECT_EQ(again.next().ms, 700);
}

}  // namespace
}  // namespace cx::state
