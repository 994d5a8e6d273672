#include "processors/sla/calendar.h"

#include <algorithm>

#include "processors/time/local_time.h"

namespace cx::processors {
namespace {

// A calendar with opening hours is open at least once a week; a year of
// holidays in a row is the most the search crosses before giving up.
constexpr int kMaxDaysSearched = 400;

}  // namespace

Result<BusinessCalendar> BusinessCalendar::Create(std::string name, cctz::time_zone tz, Week week,
                                                  std::set<cctz::civil_day> holidays) {
  bool any = false;
  for (auto& day : week) {
    std::sort(day.begin(), day.end(),
              [](const Interval& a, const Interval& b) { return a.begin_min < b.begin_min; });
    for (std::size_t i = 0; i < day.size(); ++i) {
      const Interval& iv = day[i];
      if (iv.begin_min < 0 || iv.end_min > 24 * 60 || iv.begin_min >= iv.end_min) {
        return Status::InvalidArgument("calendar " + name +
                                       ": an interval must be within one day, start before end");
      }
      if (i > 0 && day[i - 1].end_min > iv.begin_min) {
        return Status::InvalidArgument("calendar " + name + ": intervals of one day overlap");
      }
      any = true;
    }
  }
  if (!any) return Status::InvalidArgument("calendar " + name + " has no opening hours");
  BusinessCalendar c;
  c.name_ = std::move(name);
  c.tz_ = tz;
  c.week_ = std::move(week);
  c.holidays_ = std::move(holidays);
  return c;
}

cctz::civil_day BusinessCalendar::DayOf(Timestamp t) const {
  return cctz::civil_day(cctz::convert(ToTimePoint(t), tz_));
}

std::vector<std::pair<Timestamp, Timestamp>> BusinessCalendar::OpenOn(cctz::civil_day day) const {
  std::vector<std::pair<Timestamp, Timestamp>> out;
  if (holidays_.count(day)) return out;
  for (const Interval& iv : week_[static_cast<std::size_t>(WeekdayIndex(day))]) {
    // Local wall times to instants. A wall time skipped by a daylight-saving
    // change maps to the instant of the change (cctz's `trans`), so an
    // opening at 02:30 on the spring-forward night opens at 03:00.
    auto at = [&](int minutes) {
      cctz::civil_second cs = cctz::civil_second(day) + minutes * 60;
      const auto lookup = tz_.lookup(cs);
      return FromTimePoint(lookup.kind == cctz::time_zone::civil_lookup::SKIPPED ? lookup.trans : lookup.pre);
    };
    Timestamp b = at(iv.begin_min), e = at(iv.end_min);
    if (b < e) out.emplace_back(b, e);
  }
  return out;
}

Timestamp BusinessCalendar::Add(Timestamp start, DurationMs business) const {
  DurationMs left = std::max<DurationMs>(0, business);
  cctz::civil_day day = DayOf(start);
  for (int i = 0; i < kMaxDaysSearched; ++i, ++day) {
    for (const auto& [b, e] : OpenOn(day)) {
      if (e <= start) continue;
      Timestamp from = std::max(b, start);
      DurationMs open = e - from;
      if (left <= open) return from + left;
      left -= open;
    }
  }
  return Timestamp::Max();  // no opening within the search horizon
}

DurationMs BusinessCalendar::Between(Timestamp from, Timestamp to) const {
  if (to <= from) return 0;
  DurationMs total = 0;
  cctz::civil_day day = DayOf(from);
  const cctz::civil_day last = DayOf(to);
  for (; day <= last; ++day) {
    for (const auto& [b, e] : OpenOn(day)) {
      Timestamp lo = std::max(b, from), hi = std::min(e, to);
      if (lo < hi) total += hi - lo;
    }
  }
  return total;
}

}  // namespace cx::processors
