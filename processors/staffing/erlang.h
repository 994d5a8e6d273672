// Erlang C staffing math (docs/staffing.md, staffing issue).
//
// Pure functions. Traffic is in Erlangs (arrival rate x average handle time).
// Erlang B is computed by its recursion, never through factorials, so it is
// exact and fast from 1 to 10,000 agents and thousands of Erlangs.
#pragma once

#include <optional>

namespace cx::processors {

// Probability that all `agents` servers are busy in a loss system (Erlang B).
double ErlangB(int agents, double traffic);

// Probability that an arriving contact waits (Erlang C); 1 when agents <= traffic.
double ErlangC(int agents, double traffic);

struct ErlangCResult {
  double wait_probability = 1;  // P(wait > 0)
  double service_level = 0;     // P(wait <= threshold)
  double asa_s = 0;             // average speed of answer, seconds (infinite when unstable)
  double occupancy = 1;         // traffic / agents
};

// The queue's figures with `agents` serving Poisson arrivals of `traffic`
// Erlangs, exponential handle times of mean `aht_s`, threshold `threshold_s`.
ErlangCResult ErlangCFigures(int agents, double traffic, double aht_s, double threshold_s);

struct StaffingTarget {
  double service_level = 0.8;  // fraction answered within threshold_s
  double threshold_s = 20;
  double max_occupancy = 1.0;  // (0, 1]
};

// The fewest agents meeting the service level with occupancy at most the
// maximum; nullopt when traffic is not positive and finite or no count up to
// `max_agents` suffices.
std::optional<int> RequiredAgents(double traffic, double aht_s, const StaffingTarget& target,
                                  int max_agents = 100'000);

// Agents to schedule so that `raw` are available after shrinkage
// (breaks, training, absence): ceil(raw / (1 - shrinkage)), shrinkage in [0, 1).
int ScheduledAgents(int raw, double shrinkage);

}  // namespace cx::processors
