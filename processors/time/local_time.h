// Local wall time of an instant in a time zone (IANA, through cctz), for the
// processors that count days and hours as the people they serve do: business
// calendars (SLA) and the staffing forecast's days and slots. Pure functions.
#pragma once

#include <cctz/civil_time.h>
#include <cctz/time_zone.h>

#include <chrono>

#include "core/time.h"

namespace cx::processors {

inline std::chrono::system_clock::time_point ToTimePoint(Timestamp t) {
  using Clock = std::chrono::system_clock;
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(t.ms)));
}

inline Timestamp FromTimePoint(std::chrono::system_clock::time_point tp) {
  return {std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count()};
}

// Monday = 0 ... Sunday = 6.
int WeekdayIndex(cctz::civil_day d);

// Where an instant falls in its local day.
struct LocalTime {
  cctz::civil_day day;
  int weekday = 0;            // Monday = 0
  DurationMs since_midnight;  // wall-clock time of day, [0, 24h)
};
LocalTime LocalTimeOf(Timestamp t, const cctz::time_zone& tz);

}  // namespace cx::processors
