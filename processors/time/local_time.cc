#include "processors/time/local_time.h"

namespace cx::processors {

int WeekdayIndex(cctz::civil_day d) {
  switch (cctz::get_weekday(d)) {
    case cctz::weekday::monday:
      return 0;
    case cctz::weekday::tuesday:
      return 1;
    case cctz::weekday::wednesday:
      return 2;
    case cctz::weekday::thursday:
      return 3;
    case cctz::weekday::friday:
      return 4;
    case cctz::weekday::saturday:
      return 5;
    case cctz::weekday::sunday:
      return 6;
  }
  return 0;
}

LocalTime LocalTimeOf(Timestamp t, const cctz::time_zone& tz) {
  const cctz::civil_second cs = cctz::convert(ToTimePoint(t), tz);
  LocalTime out;
  out.day = cctz::civil_day(cs);
  out.weekday = WeekdayIndex(out.day);
  // Sub-second part from the instant: zones' offsets are whole seconds.
  const DurationMs ms = ((t.ms % 1000) + 1000) % 1000;
  out.since_midnight = (cs.hour() * 3600LL + cs.minute() * 60LL + cs.second()) * 1000 + ms;
  return out;
}

}  // namespace cx::processors
