// BusinessCalendar: opening hours in a time zone, for SLA targets counted in
// business time (docs/sla.md#business-hours).
//
// Weekly opening intervals in local wall time plus holidays (whole local
// days closed). Time zones come from the IANA database through cctz, so a
// day of a daylight-saving change has its true length. Immutable after
// construction; safe to share between threads.
#pragma once

#include <cctz/civil_time.h>
#include <cctz/time_zone.h>

#include <array>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/time.h"

namespace cx::processors {

class BusinessCalendar {
 public:
  // Minutes after local midnight, [begin, end), begin < end <= 24 * 60.
  struct Interval {
    int begin_min;
    int end_min;
  };
  // Index 0 = Monday ... 6 = Sunday.
  using Week = std::array<std::vector<Interval>, 7>;

  // Fails when the week has no opening hours at all or an interval is bad.
  static Result<BusinessCalendar> Create(std::string name, cctz::time_zone tz, Week week,
                                         std::set<cctz::civil_day> holidays);

  const std::string& name() const { return name_; }

  // The instant at which `business` of open time has passed since `start`;
  // closed time is skipped. Timestamp::Max() if the calendar never opens
  // again within 400 days (holidays without end).
  Timestamp Add(Timestamp start, DurationMs business) const;
  // Open time between `from` and `to` (0 when to <= from).
  DurationMs Between(Timestamp from, Timestamp to) const;

 private:
  BusinessCalendar() = default;
  // Open intervals of one local day, as absolute instants.
  std::vector<std::pair<Timestamp, Timestamp>> OpenOn(cctz::civil_day day) const;
  cctz::civil_day DayOf(Timestamp t) const;

  std::string name_;
  cctz::time_zone tz_;
  Week week_;
  std::set<cctz::civil_day> holidays_;
};

}  // namespace cx::processors
