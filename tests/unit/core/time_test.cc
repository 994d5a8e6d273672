#include "core/time.h"

#include <gtest/gtest.h>

namespace cx {
namespace {

TEST(Rfc3339Test, ParsesUtcAndOffsets) {
  auto utc = ParseRfc3339("2026-11-23T02:00:00.000Z");
  ASSERT_TRUE(utc);
  EXPECT_EQ(utc->ms, 1795399200000);
  auto cst = ParseRfc3339("2026-11-23T10:00:00.000+08:00");
  ASSERT_TRUE(cst);
  EXPECT_EQ(cst->ms, utc->ms);
  auto west = ParseRfc3339("2026-11-22T21:00:00-05:00");
  ASSERT_TRUE(west);
  EXPECT_EQ(west->ms, utc->ms);
}

TEST(Rfc3339Test, FractionIsTruncatedToMilliseconds) {
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00.5Z")->ms, 500);
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00.123456789Z")->ms, 123);
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:01z")->ms, 1000);
}

TEST(Rfc3339Test, RejectsWhatIsNotRfc3339) {
  for (const char* bad :
       {"", "2026-11-23", "2026-11-23T10:00:00", "2026-11-23 10:00:00Z", "2026-02-30T10:00:00Z",
        "2026-13-01T10:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T10:00:60Z", "2026-11-23T10:00:00.Z",
        "2026-11-23T10:00:00+0800", "2026-11-23T10:00:00Zjunk", "2026-11-23T10:00:00.1234567890Z",
        "0000-01-01T00:00:00Z"}) {
    std::string why;
    EXPECT_FALSE(ParseRfc3339(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(Rfc3339Test, LeapDayIsAccepted) {
  EXPECT_TRUE(ParseRfc3339("2028-02-29T00:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("2027-02-29T00:00:00Z"));
}

TEST(Rfc3339Test, FormatRoundTrips) {
  for (std::int64_t ms : {0LL, 1795399200123LL, 951782400000LL /*2000-02-29*/, -1000LL}) {
    std::string s = FormatRfc3339(Timestamp{ms});
    auto back = ParseRfc3339(s);
    ASSERT_TRUE(back) << s;
    EXPECT_EQ(back->ms, ms) << s;
  }
  EXPECT_EQ(FormatRfc3339(Timestamp{1795399200123}), "2026-11-23T02:00:00.123Z");
}

// The date part is remembered from the last call: days written in any
// order, before 1970 too, each get their own.
TEST(Rfc3339Test, FormatsEveryDayWhateverCameBefore) {
  const char* const kTimes[] = {"2026-11-23T00:00:00.000Z", "2026-11-23T23:59:59.999Z", "2026-11-24T00:00:00.000Z",
                                "2026-11-23T12:34:56.789Z", "1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00.000Z",
                                "2024-02-29T08:00:00.001Z", "2024-02-29T08:00:00.001Z", "9999-12-31T23:59:59.999Z"};
  for (const char* text : kTimes) {
    auto t = ParseRfc3339(text);
    ASSERT_TRUE(t) << text;
    EXPECT_EQ(FormatRfc3339(*t), text);
  }
  for (std::int64_t ms = -3 * 86400000LL; ms < 3 * 86400000LL; ms += 86400000LL / 7 + 13) {
    const std::string text = FormatRfc3339(Timestamp{ms});
    EXPECT_EQ(ParseRfc3339(text), Timestamp{ms}) << text;
  }
}

// The parser remembers the last date it read: a bad date after a good one
// with the same first bytes, or a time on the remembered day that is bad
// elsewhere, is still refused; and before anything was read, ten bytes that
// are no date are no date.
TEST(Rfc3339Test, ParsingRemembersOnlyAGoodDate) {
  EXPECT_FALSE(ParseRfc3339(std::string(10, '\0') + "T00:00:00Z"));
  ASSERT_TRUE(ParseRfc3339("2026-11-23T10:00:00Z"));
  for (const char* bad : {"2026-11-23T24:00:00Z", "2026-11-23T10:00:00", "2026-11-23x10:00:00Z",
                          "2026-11-23T10:00:00.Z", "2026-11-2", "2026-11-23T10:00:00Zjunk"}) {
    std::string why;
    EXPECT_FALSE(ParseRfc3339(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
  EXPECT_FALSE(ParseRfc3339("2026-02-30T10:00:00Z"));
  EXPECT_EQ(ParseRfc3339("2026-11-23T10:00:00.5+08:00"), Timestamp{1795399200500});
  EXPECT_EQ(ParseRfc3339("2026-11-24T00:00:00Z"), Timestamp{1795392000000 + 86400000LL});
}

TEST(DurationTest, ParsesUnits) {
  EXPECT_EQ(ParseDuration("250ms"), 250);
  EXPECT_EQ(ParseDuration("5s"), 5000);
  EXPECT_EQ(ParseDuration("15m"), 900000);
  EXPECT_EQ(ParseDuration("8h"), 28800000);
  EXPECT_EQ(ParseDuration("7d"), 604800000);
  EXPECT_FALSE(ParseDuration("1000"));  // no unit: 1000 ms or 1000 s? refused
  EXPECT_FALSE(ParseDuration("5 s"));
  EXPECT_FALSE(ParseDuration("-5s"));
  EXPECT_FALSE(ParseDuration("s"));
  EXPECT_FALSE(ParseDuration("99999999999999999d"));
  EXPECT_EQ(FormatDuration(300000), "5m");
}

TEST(ManualClockTest, MovesOnlyWhenTold) {
  ManualClock clock(Timestamp{1000});
  EXPECT_EQ(clock.Now().ms, 1000);
  clock.Advance(500);
  EXPECT_EQ(clock.Now().ms, 1500);
}

}  // namespace
}  // namespace cx
