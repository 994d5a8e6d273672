// Erlang C and Erlang A staffing math (docs/staffing.md).
//
// Pure functions. Traffic is in Erlangs (arrival rate x average handle time).
// Erlang B is computed by its recursion, never through factorials, so it is
// exact and fast from 1 to 10,000 agents and thousands of Erlangs. Erlang A
// (M/M/n+M: exponential patience) is computed exactly from its birth-death
// chain in log space, truncated where the remaining probability is below
// 1e-15, and its service level by uniformization of the waiting customer's
// phases (no closed form with incomplete gamma functions to get wrong).
//
// "Agents" here are servers. Chat concurrency is applied by the caller
// (StaffingFor): an agent who handles c chats at once counts as c servers.
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

// Erlang A: Poisson arrivals, exponential handle times, exponential patience
// with mean `patience_s`; a contact still waiting when its patience runs out
// abandons.
struct ErlangAResult {
  double wait_probability = 1;     // P(an arrival finds every server busy)
  double service_level = 0;        // P(answered within threshold): abandoned contacts count as missed
  double abandon_probability = 1;  // P(abandon)
  double asa_s = 0;                // mean wait of all arrivals (answered or abandoned), seconds
  double occupancy = 1;            // answered load / servers
};
// nullopt when an argument is not positive and finite.
std::optional<ErlangAResult> ErlangAFigures(int agents, double arrivals_per_s, double aht_s,
                                            double patience_s, double threshold_s);
// The fewest servers meeting the target under Erlang A (service level and
// maximum occupancy), searched by bisection (both improve with every server).
std::optional<int> RequiredAgentsErlangA(double arrivals_per_s, double aht_s, double patience_s,
                                         const StaffingTarget& target, int max_agents = 100'000);

// Everything the staffing record and `cxstream staffing` report for one
// queue and interval (docs/staffing.md#model).
struct StaffingInput {
  double arrivals = 0;    // contacts in the interval (or forecast)
  double interval_s = 0;  // > 0
  double aht_s = 0;       // average handle time of one contact, > 0 when arrivals > 0
  StaffingTarget target;  // service level, threshold, maximum occupancy
  double shrinkage = 0;   // [0, 1)
  int concurrency = 1;    // contacts one agent handles at once (chat), >= 1
  double patience_s = 0;  // mean patience; 0: no Erlang A figures
};
struct StaffingModel {
  int raw_agents = 0;        // agents needed on the floor
  int scheduled_agents = 0;  // raw / (1 - shrinkage), rounded up
  double service_level = 1;
  double occupancy = 0;
  double wait_probability = 0;
  double asa_s = 0;
  double abandon_probability = 0;  // Erlang A only
};
struct StaffingResult {
  double traffic_erlangs = 0;
  std::optional<StaffingModel> erlang_c;  // nullopt: the target cannot be met
  std::optional<StaffingModel> erlang_a;  // nullopt: no patience, or the target cannot be met
};
// Chat concurrency: an agent handling c contacts at once is c servers, each
// with the observed handle time of one contact; raw agents = servers / c
// rounded up, and the figures are those of raw agents x c servers.
StaffingResult StaffingFor(const StaffingInput& in);

// Agents to schedule so that `raw` are available after shrinkage
// (breaks, training, absence): ceil(raw / (1 - shrinkage)), shrinkage in [0, 1).
int ScheduledAgents(int raw, double shrinkage);

}  // namespace cx::processors
