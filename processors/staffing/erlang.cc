#include "processors/staffing/erlang.h"

#include <cmath>
#include <limits>

namespace cx::processors {

double ErlangB(int agents, double traffic) {
  if (agents <= 0) return 1.0;
  if (traffic <= 0) return 0.0;
  // B(0) = 1; B(n) = A B(n-1) / (n + A B(n-1)). Each step stays in [0, 1].
  double b = 1.0;
  for (int n = 1; n <= agents; ++n) b = traffic * b / (n + traffic * b);
  return b;
}

double ErlangC(int agents, double traffic) {
  if (traffic <= 0) return 0.0;
  if (agents <= traffic) return 1.0;
  const double b = ErlangB(agents, traffic);
  return agents * b / (agents - traffic * (1 - b));
}

ErlangCResult ErlangCFigures(int agents, double traffic, double aht_s, double threshold_s) {
  ErlangCResult r;
  if (agents <= 0) return r;
  r.occupancy = traffic / agents;
  if (agents <= traffic) {
    r.asa_s = std::numeric_limits<double>::infinity();
    return r;  // unstable: every contact waits, the queue grows
  }
  r.wait_probability = ErlangC(agents, traffic);
  r.service_level = 1 - r.wait_probability * std::exp(-(agents - traffic) * threshold_s / aht_s);
  r.asa_s = r.wait_probability * aht_s / (agents - traffic);
  return r;
}

std::optional<int> RequiredAgents(double traffic, double aht_s, const StaffingTarget& t, int max_agents) {
  if (!(traffic > 0) || !std::isfinite(traffic) || !(aht_s > 0)) return std::nullopt;
  // Start at the first count that can be stable and within the occupancy cap;
  // service level grows with every agent added, so the first count that meets
  // it is the answer.
  int n = static_cast<int>(std::floor(traffic)) + 1;
  if (t.max_occupancy > 0 && t.max_occupancy < 1) {
    n = std::max(n, static_cast<int>(std::ceil(traffic / t.max_occupancy - 1e-9)));
  }
  for (; n <= max_agents; ++n) {
    if (ErlangCFigures(n, traffic, aht_s, t.threshold_s).service_level >= t.service_level) return n;
  }
  return std::nullopt;
}

int ScheduledAgents(int raw, double shrinkage) {
  if (shrinkage <= 0) return raw;
  if (shrinkage >= 1) return std::numeric_limits<int>::max();
  return static_cast<int>(std::ceil(raw / (1 - shrinkage) - 1e-9));
}

}  // namespace cx::processors
