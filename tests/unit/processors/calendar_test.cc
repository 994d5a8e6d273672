#include "processors/sla/calendar.h"

#include <gtest/gtest.h>

namespace cx::processors {
namespace {

Timestamp T(const char* rfc3339) { return *ParseRfc3339(rfc3339); }
constexpr DurationMs kH = 3'600'000;

cctz::time_zone Zone(const char* name) {
  cctz::time_zone tz;
  EXPECT_TRUE(cctz::load_time_zone(name, &tz)) << name << " (is tzdata installed?)";
  return tz;
}

BusinessCalendar Weekdays(const char* zone, int open_h, int close_h,
                          std::set<cctz::civil_day> holidays = {}) {
  BusinessCalendar::Week week;
  for (int d = 0; d < 5; ++d) week[d] = {{open_h * 60, close_h * 60}};
  auto c = BusinessCalendar::Create("test", Zone(zone), week, std::move(holidays));
  EXPECT_TRUE(c.ok());
  return std::move(c).value();
}

BusinessCalendar AllDay(const char* zone) {
  BusinessCalendar::Week week;
  for (auto& d : week) d = {{0, 24 * 60}};
  return std::move(BusinessCalendar::Create("24x7", Zone(zone), week, {})).value();
}

TEST(BusinessCalendarTest, SkipsTheWeekend) {
  auto cn = Weekdays("Asia/Shanghai", 9, 18);
  // Friday 17:00 + 2 h of business time: 1 h on Friday, 1 h on Monday.
  EXPECT_EQ(cn.Add(T("2026-11-27T17:00:00+08:00"), 2 * kH), T("2026-11-30T10:00:00+08:00"));
  EXPECT_EQ(cn.Between(T("2026-11-27T17:00:00+08:00"), T("2026-11-30T10:00:00+08:00")), 2 * kH);
}

TEST(BusinessCalendarTest, StartingWhileClosedWaitsForTheOpening) {
  auto cn = Weekdays("Asia/Shanghai", 9, 18);
  EXPECT_EQ(cn.Add(T("2026-11-28T12:00:00+08:00"), kH), T("2026-11-30T10:00:00+08:00"));  // Saturday noon
  EXPECT_EQ(cn.Add(T("2026-11-30T07:00:00+08:00"), kH), T("2026-11-30T10:00:00+08:00"));  // before opening
  EXPECT_EQ(cn.Between(T("2026-11-28T00:00:00+08:00"), T("2026-11-29T23:59:59+08:00")), 0);
}

TEST(BusinessCalendarTest, SkipsHolidays) {
  auto cn = Weekdays("Asia/Shanghai", 9, 18, {cctz::civil_day(2026, 12, 25)});
  // Thursday 24 Dec 17:30 + 1 h: 30 min that day, Friday 25th closed, the
  // weekend closed, 30 min on Monday 28th.
  EXPECT_EQ(cn.Add(T("2026-12-24T17:30:00+08:00"), kH), T("2026-12-28T09:30:00+08:00"));
  EXPECT_EQ(cn.Between(T("2026-12-24T00:00:00+08:00"), T("2026-12-29T00:00:00+08:00")), 18 * kH);
}

TEST(BusinessCalendarTest, UsesTheZonesRealOffsetAcrossTheEndOfDaylightSaving) {
  // New York leaves daylight saving on Sunday 1 Nov 2026: Friday is UTC-4,
  // Monday UTC-5. Friday 16:00 EDT + 2 h: 1 h Friday, then Monday 09-10 EST.
  auto ny = Weekdays("America/New_York", 9, 17);
  EXPECT_EQ(ny.Add(T("2026-10-30T16:00:00-04:00"), 2 * kH), T("2026-11-02T10:00:00-05:00"));
  EXPECT_EQ(ny.Add(T("2026-10-30T16:00:00-04:00"), 2 * kH), T("2026-11-02T15:00:00Z"));
}

TEST(BusinessCalendarTest, DaylightSavingDaysHaveTheirTrueLength) {
  auto ny = AllDay("America/New_York");
  // Sunday 1 Nov 2026 has 25 hours, Sunday 8 Mar 2026 has 23.
  EXPECT_EQ(ny.Between(T("2026-10-31T00:00:00-04:00"), T("2026-11-02T00:00:00-05:00")), 49 * kH);
  EXPECT_EQ(ny.Between(T("2026-03-08T00:00:00-05:00"), T("2026-03-09T00:00:00-04:00")), 23 * kH);
  EXPECT_EQ(ny.Add(T("2026-10-31T00:00:00-04:00"), 48 * kH), T("2026-11-01T23:00:00-05:00"));
}

TEST(BusinessCalendarTest, AnOpeningInTheSkippedHourOpensAtTheChange) {
  BusinessCalendar::Week week;
  week[6] = {{150, 240}};  // Sunday 02:30-04:00 local
  auto c = std::move(BusinessCalendar::Create("odd", Zone("America/New_York"), week, {})).value();
  // 8 Mar 2026: 02:00 EST jumps to 03:00 EDT, so the window is 03:00-04:00 EDT.
  EXPECT_EQ(c.Between(T("2026-03-08T00:00:00-05:00"), T("2026-03-08T12:00:00-04:00")), kH);
}

TEST(BusinessCalendarTest, RejectsCalendarsThatNeverOpenOrOverlap) {
  BusinessCalendar::Week none;
  EXPECT_FALSE(BusinessCalendar::Create("x", Zone("UTC"), none, {}).ok());
  BusinessCalendar::Week overlap;
  overlap[0] = {{9 * 60, 12 * 60}, {11 * 60, 13 * 60}};
  EXPECT_FALSE(BusinessCalendar::Create("x", Zone("UTC"), overlap, {}).ok());
  BusinessCalendar::Week backwards;
  backwards[0] = {{18 * 60, 9 * 60}};
  EXPECT_FALSE(BusinessCalendar::Create("x", Zone("UTC"), backwards, {}).ok());
}

TEST(BusinessCalendarTest, AddAndBetweenAgree) {
  auto cn = Weekdays("Asia/Shanghai", 9, 18, {cctz::civil_day(2026, 12, 25)});
  Timestamp start = T("2026-12-20T22:13:00+08:00");
  for (DurationMs d : std::initializer_list<DurationMs>{0, 1000, kH, 9 * kH, 40 * kH, 200 * kH}) {
    Timestamp end = cn.Add(start, d);
    EXPECT_EQ(cn.Between(start, end), d) << d;
  }
}

}  // namespace
}  // namespace cx::processors
