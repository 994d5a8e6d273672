// The staffing forecast over multi-day inputs (docs/staffing.md#forecast),
// through the real pipeline in replay: arrivals generated in code, the
// cx.staffing records read back.
#include <cctz/civil_time.h>
#include <cctz/time_zone.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>

#include "config/config.h"
#include "engine/replay.h"
#include "processors/time/local_time.h"
#include "tests/unit/test_util.h"

namespace cx::processors {
namespace {

using testing::CollectingSink;
constexpr DurationMs kSlot = 15 * 60'000;  // staffing.interval's default

// Arrivals in one local 15-minute slot: (local day, weekday Monday = 0,
// slot of the day).
using Traffic = std::function<int(cctz::civil_day, int, int)>;

struct Record {
  Timestamp start, end;
  std::string basis;
  int arrivals = 0;
  double forecast = 0;
};

class ForecastTest : public ::testing::Test {
 protected:
  // Replays the conversations of `traffic` over local days [first, last] in
  // `zone` (each opened at its slot's time and closed two minutes later) and
  // returns the final staffing records of queue "q".
  std::vector<Record> Replay(const std::string& zone, cctz::civil_day first, cctz::civil_day last,
                             const Traffic& traffic) {
    cctz::time_zone tz;
    EXPECT_TRUE(cctz::load_time_zone(zone, &tz));
    std::vector<std::pair<Timestamp, std::string>> events;  // in time order when written
    int n = 0;
    for (cctz::civil_day d = first; d <= last; ++d) {
      for (int slot = 0; slot < 96; ++slot) {
        const cctz::civil_second at = cctz::civil_second(d) + slot * 15 * 60;
        const int count = traffic(d, WeekdayIndex(d), slot);
        // Local times that do not exist (a spring-forward gap) carry none.
        if (count == 0 || tz.lookup(at).kind == cctz::time_zone::civil_lookup::SKIPPED) continue;
        const Timestamp start = FromTimePoint(tz.lookup(at).pre);
        for (int i = 0; i < count; ++i) {
          const Timestamp t = start + i * (kSlot / count);
          const std::string id = std::to_string(++n);
          events.emplace_back(t, R"({"event_id":"o)" + id + R"(","type":"conversation.opened","ts":")" +
                                     FormatRfc3339(t) + R"(","customer_id":"c)" + id +
                                     R"(","conversation_id":"v)" + id +
                                     R"(","channel":"web","queue":"q","priority":"normal"})");
          events.emplace_back(t + 120'000,
                              R"({"event_id":"x)" + id + R"(","type":"conversation.closed","ts":")" +
                                  FormatRfc3339(t + 120'000) + R"(","customer_id":"c)" + id +
                                  R"(","conversation_id":"v)" + id + R"(","resolution":"done"})");
        }
      }
    }
    std::stable_sort(events.begin(), events.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::ofstream in(dir_ / "in.ndjson");
    for (const auto& [t, line] : events) in << line << '\n';
    in.close();
    const Timestamp end = events.empty() ? Timestamp{} : events.back().first;
    auto loaded = config::LoadConfigText("staffing:\n  timezone: " + zone + "\n",
                                         [](const char*) -> const char* { return nullptr; });
    EXPECT_TRUE(loaded.ok());
    engine::ReplayOptions ro;
    ro.inputs = {(dir_ / "in.ndjson").string()};
    ro.out_dir = (dir_ / "out").string();
    ro.until = end + kDay;
    auto summary = engine::RunReplay(loaded.config, ro);
    EXPECT_TRUE(summary.ok()) << summary.status().ToString();
    EXPECT_EQ(summary->stats.dead_lettered, 0u);

    std::vector<Record> out;
    std::ifstream records(dir_ / "out" / "staffing.ndjson");
    for (std::string line; std::getline(records, line);) {
      if (CollectingSink::Field(line, "queue") != "q" ||
          CollectingSink::Field(line, "provisional") != "false")
        continue;
      out.push_back({*ParseRfc3339(CollectingSink::Field(line, "interval_start")),
                     *ParseRfc3339(CollectingSink::Field(line, "interval_end")),
                     CollectingSink::Field(line, "forecast_basis"),
                     std::stoi(CollectingSink::Field(line, "arrivals")),
                     std::stod(CollectingSink::Field(line, "forecast_arrivals"))});
    }
    return out;
  }

  // The record of the interval starting at `start`.
  static const Record& At(const std::vector<Record>& rs, Timestamp start) {
    for (const Record& r : rs)
      if (r.start == start) return r;
    ADD_FAILURE() << "no record starting at " << FormatRfc3339(start);
    static const Record none;
    return none;
  }
  static const Record& At(const std::vector<Record>& rs, const char* start) {
    return At(rs, *ParseRfc3339(start));
  }

  static constexpr DurationMs kDay = 86'400'000;
  testing::TestDir dir_{"cx-forecast"};
};

// Weekdays 10 arrivals per slot from 09:00 to 21:00, weekends 4; none at
// night.
int Usual(int weekday, int slot) {
  if (slot < 36 || slot >= 84) return 0;
  return weekday < 5 ? 10 : 4;
}

// Regression (issue 15.8): on a promotion day with five times the usual
// arrivals the forecast stayed at twice the history all day (the intraday
// correction was capped at 2), and the staffing signal at half what was
// needed. From the record that closes the fourth surge interval on, the
// forecast is at least 80% of the arrivals that follow.
TEST_F(ForecastTest, FollowsAFiveFoldSurgeWithinFourIntervals) {
  const cctz::civil_day surge(2026, 11, 11);  // a Wednesday, after 9 days of history
  auto rs = Replay("UTC", cctz::civil_day(2026, 11, 2), surge, [&](cctz::civil_day d, int weekday, int slot) {
    if (d == surge && slot >= 40 && slot < 84) return 50;  // from 10:00
    return Usual(weekday, slot);
  });
  // An ordinary Tuesday noon: its own weekday's level, about the usual 10.
  const Record& tuesday = At(rs, "2026-11-10T12:00:00Z");
  EXPECT_EQ(tuesday.basis, "weekday");
  EXPECT_NEAR(tuesday.forecast, 10, 1);
  // The surge: intervals 10:00, 10:15, 10:30 and 10:45 close; from the
  // record of 10:45 on, every forecast of a surge interval is >= 40.
  const cctz::time_zone utc = cctz::utc_time_zone();
  int checked = 0;
  for (int slot = 43; slot < 83; ++slot) {
    const auto start = FromTimePoint(cctz::convert(cctz::civil_second(surge) + slot * 15 * 60, utc));
    const Record& r = At(rs, start);
    const Record& next = At(rs, start + kSlot);
    SCOPED_TRACE(FormatRfc3339(start));
    EXPECT_EQ(next.arrivals, 50);
    EXPECT_GE(r.forecast, 0.8 * next.arrivals);
    EXPECT_LE(r.forecast, 1.2 * next.arrivals);
    ++checked;
  }
  EXPECT_EQ(checked, 40);
  // Before the fourth interval the correction is still catching up, but it
  // already exceeds the old cap of twice the level.
  EXPECT_GT(At(rs, "2026-11-11T10:15:00Z").forecast, 2 * 10);
}

// A Saturday is forecast from Saturdays once a week of history exists, not
// from the weekday-heavy average of every day.
TEST_F(ForecastTest, UsesTheSameWeekdayWhenHistoryHasIt) {
  auto rs = Replay("UTC", cctz::civil_day(2026, 11, 2), cctz::civil_day(2026, 11, 14),
                   [](cctz::civil_day, int weekday, int slot) { return Usual(weekday, slot); });
  const Record& saturday = At(rs, "2026-11-14T12:00:00Z");
  EXPECT_EQ(saturday.basis, "weekday");
  EXPECT_NEAR(saturday.forecast, 4, 0.5);
  // Monday morning after the weekend: Mondays' level, not Sundays' 4.
  // The first Saturday had no Saturday yet: the any-day level, corrected.
  EXPECT_EQ(At(rs, "2026-11-07T12:00:00Z").basis, "day");
  const Record& monday = At(rs, "2026-11-09T09:00:00Z");
  EXPECT_EQ(monday.basis, "weekday");
  EXPECT_NEAR(monday.forecast, 10, 1);
}

// Slots are the queue's local time: a peak at 09:00 in Berlin stays the 09:00
// slot when the clocks go back (25 Oct 2026), although it moves from 07:00 to
// 08:00 UTC.
TEST_F(ForecastTest, CountsSlotsInTheQueuesTimeZoneAcrossADaylightSavingChange) {
  auto rs = Replay("Europe/Berlin", cctz::civil_day(2026, 10, 19), cctz::civil_day(2026, 10, 26),
                   [](cctz::civil_day, int, int slot) {
                     if (slot == 36) return 30;               // 09:00-09:15 local
                     return slot >= 32 && slot < 48 ? 5 : 0;  // 08:00-12:00 local
                   });
  for (const char* before_peak : {"2026-10-25T07:45:00Z", "2026-10-26T07:45:00Z"}) {
    SCOPED_TRACE(before_peak);
    const Record& r = At(rs, before_peak);  // 08:45 CET: the next slot is the peak
    EXPECT_NEAR(r.forecast, 30, 3);
    EXPECT_EQ(At(rs, r.start + kSlot).arrivals, 30);
  }
  // 07:45 UTC was 09:45 in summer time: not the peak slot, then or now.
  const Record& summer = At(rs, "2026-10-24T07:45:00Z");  // 09:45 CEST, next 10:00
  EXPECT_NEAR(summer.forecast, 5, 1);
  EXPECT_NEAR(At(rs, "2026-10-24T06:45:00Z").forecast, 30, 3);  // 08:45 CEST
}

}  // namespace
}  // namespace cx::processors
