// `cxstream staffing`: the Erlang C / Erlang A calculator on its own
// (docs/staffing.md#the-calculator). Prints one JSON object.
#pragma once

#include <optional>

namespace cx::tools {

struct StaffingCliOptions {
  double arrivals = 0;
  double interval_s = 1800;
  double aht_s = 0;
  double sl_target = 0.8;
  double sl_threshold_s = 20;
  double max_occupancy = 0.85;
  double shrinkage = 0;
  int concurrency = 1;
  std::optional<double> patience_s;
};

// Exit status: 0, or 1 when no staffing meets the target (the JSON says so).
int RunStaffing(const StaffingCliOptions& o);

}  // namespace cx::tools
