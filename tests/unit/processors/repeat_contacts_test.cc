#include "processors/contacts/repeat_contacts.h"

#include <gtest/gtest.h>

namespace cx::processors {
namespace {

constexpr DurationMs kDay = 86'400'000;
constexpr DurationMs kWeek = 7 * kDay;

Timestamp Day(int d) { return Timestamp{*ParseRfc3339("2026-03-01T10:00:00Z")} + d * kDay; }

TEST(RecentContactsTest, AboutIsTheOrderElseTheTopicElseNothing) {
  Event e;
  e.order_id = "o1";
  e.topic = "delivery";
  EXPECT_EQ(RecentContacts::About(e), "order/o1");
  e.order_id.clear();
  EXPECT_EQ(RecentContacts::About(e), "topic/delivery");
  e.topic.clear();
  EXPECT_EQ(RecentContacts::About(e), "");
}

TEST(RecentContactsTest, ASecondContactAboutTheSameOrderWithinTheWindowRepeats) {
  RecentContacts c;
  EXPECT_EQ(c.Record("order/o1", Day(0), kWeek), 1);
  EXPECT_EQ(c.Record("order/o2", Day(1), kWeek), 1);   // another order
  EXPECT_EQ(c.Record("topic/o1", Day(1), kWeek), 1);   // a topic is not an order
  EXPECT_EQ(c.Record("order/o1", Day(3), kWeek), 2);   // repeats the first
  EXPECT_EQ(c.Record("order/o1", Day(7), kWeek), 3);   // the first is exactly 7 days back: still inside
  EXPECT_EQ(c.Record("order/o1", Day(12), kWeek), 2);  // only day 7 is within a week
}

// Regression (issue 15.4): a conversation about the same order eight months
// after the first raised repeat_contact and halved the customer's
// first-contact resolution.
TEST(RecentContactsTest, TheSameOrderEightMonthsLaterIsNotARepeat) {
  RecentContacts c;
  EXPECT_EQ(c.Record("order/o1", Day(0), kWeek), 1);
  EXPECT_EQ(c.Record("order/o1", Day(240), kWeek), 1);
  EXPECT_EQ(c.size(), 1u);  // the old contact is gone: past every window
}

TEST(RecentContactsTest, AContactAboutNothingIsNeverARepeatAndIsNotKept) {
  RecentContacts c;
  EXPECT_EQ(c.Record("", Day(0), kWeek), 1);
  EXPECT_EQ(c.Record("", Day(0) + 60'000, kWeek), 1);
  EXPECT_EQ(c.size(), 0u);
}

TEST(RecentContactsTest, BoundedAndRoundTrips) {
  RecentContacts c;
  for (int i = 0; i < 40; ++i) c.Record("topic/t" + std::to_string(i), Day(0) + i * 1000, kWeek);
  EXPECT_EQ(c.size(), RecentContacts::kMaxEntries);
  std::string bytes;
  c.EncodeTo(bytes);
  RecentContacts d;
  Reader r(bytes);
  ASSERT_TRUE(d.DecodeFrom(r));
  EXPECT_TRUE(r.done());
  EXPECT_EQ(d.size(), c.size());
  EXPECT_EQ(d.Record("topic/t39", Day(1), kWeek), 2);  // the newest were kept
  EXPECT_EQ(d.Record("topic/t0", Day(1), kWeek), 1);   // the oldest were dropped
}

}  // namespace
}  // namespace cx::processors
