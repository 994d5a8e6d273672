#include "processors/staffing/erlang.h"

#include <gtest/gtest.h>

#include <cmath>

namespace cx::processors {
namespace {

// The reference case of the staffing issue: 100 contacts in 30 min, AHT
// 180 s: 10 Erlangs. 80 % within 20 s.
constexpr double kTraffic = 100.0 * 180.0 / 1800.0;

TEST(ErlangTest, ReferenceCaseWithMaxOccupancy085) {
  StaffingTarget t{.service_level = 0.8, .threshold_s = 20, .max_occupancy = 0.85};
  auto raw = RequiredAgents(kTraffic, 180, t);
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(*raw, 14);
  EXPECT_EQ(ScheduledAgents(*raw, 0.3), 20);
  ErlangCResult r = ErlangCFigures(14, kTraffic, 180, 20);
  EXPECT_NEAR(r.service_level, 0.888, 0.001);
  EXPECT_NEAR(r.occupancy, 0.714, 0.001);
  EXPECT_NEAR(r.wait_probability, 0.174, 0.001);
  // 13 agents do not reach 80 %: that is why 14 are needed.
  EXPECT_LT(ErlangCFigures(13, kTraffic, 180, 20).service_level, 0.8);
}

TEST(ErlangTest, ReferenceCaseWithMaxOccupancy070) {
  StaffingTarget t{.service_level = 0.8, .threshold_s = 20, .max_occupancy = 0.70};
  auto raw = RequiredAgents(kTraffic, 180, t);
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(*raw, 15);  // 10 / 0.70 = 14.3: occupancy, not service level, decides
  EXPECT_EQ(ScheduledAgents(*raw, 0.3), 22);
}

TEST(ErlangTest, ErlangBMatchesTheDirectFormulaForSmallCases) {
  // B(2, 1) = (1/2) / (1 + 1 + 1/2) = 0.2
  EXPECT_NEAR(ErlangB(2, 1.0), 0.2, 1e-12);
  EXPECT_NEAR(ErlangB(1, 1.0), 0.5, 1e-12);
  EXPECT_EQ(ErlangB(0, 3.0), 1.0);
}

TEST(ErlangTest, UnstableQueuesNeedMoreAgentsThanTraffic) {
  ErlangCResult r = ErlangCFigures(10, 10.0, 180, 20);
  EXPECT_EQ(r.wait_probability, 1.0);
  EXPECT_EQ(r.service_level, 0.0);
  EXPECT_TRUE(std::isinf(r.asa_s));
}

TEST(ErlangTest, ServiceLevelRisesAsAgentsAreAdded) {
  double previous = 0;
  for (int n = 11; n < 40; ++n) {
    double sl = ErlangCFigures(n, kTraffic, 180, 20).service_level;
    EXPECT_GE(sl, previous) << n;
    previous = sl;
  }
}

TEST(ErlangTest, LargeQueuesHaveNoOverflow) {
  // 5,000 Erlangs: the recursion stays finite; about 5,000 + a few dozen agents.
  StaffingTarget t{.service_level = 0.8, .threshold_s = 20, .max_occupancy = 1.0};
  auto raw = RequiredAgents(5000.0, 300, t);
  ASSERT_TRUE(raw.has_value());
  EXPECT_GT(*raw, 5000);
  EXPECT_LT(*raw, 5100);
  double b = ErlangB(10'000, 5000.0);
  EXPECT_TRUE(std::isfinite(b));
  EXPECT_GE(b, 0.0);
  EXPECT_LE(b, 1.0);
}

TEST(ErlangTest, RejectsMeaninglessInput) {
  StaffingTarget t;
  EXPECT_FALSE(RequiredAgents(0, 180, t).has_value());
  EXPECT_FALSE(RequiredAgents(-1, 180, t).has_value());
  EXPECT_FALSE(RequiredAgents(10, 0, t).has_value());
  EXPECT_EQ(ScheduledAgents(14, 0), 14);
}

}  // namespace
}  // namespace cx::processors

namespace cx::processors {
namespace {

// M/M/1+M with patience equal to the handle time: the number in system is a
// birth-death chain with death rate k mu in every state, i.e. M/M/infinity,
// so it is Poisson(a): P(wait) = 1 - e^-a, E[queue] = a - (1 - e^-a).
TEST(ErlangATest, OneServerWithPatienceEqualToHandleTimeIsPoisson) {
  const double aht = 100, lambda = 0.015, a = lambda * aht;
  auto f = ErlangAFigures(1, lambda, aht, /*patience_s=*/aht, /*threshold_s=*/20);
  ASSERT_TRUE(f.has_value());
  EXPECT_NEAR(f->wait_probability, 1 - std::exp(-a), 1e-12);
  const double mean_queue = a - (1 - std::exp(-a));
  EXPECT_NEAR(f->abandon_probability, mean_queue / aht / lambda, 1e-12);
  EXPECT_NEAR(f->asa_s, mean_queue / lambda, 1e-9);
}

// An arrival that finds the one server busy and nobody waiting is answered
// at rate mu and abandons at rate theta: P(answered within t) =
// mu / (mu + theta) (1 - e^-(mu + theta) t). With patience = handle time the
// chain is Poisson(a); each further phase is checked through the total.
TEST(ErlangATest, ServiceLevelOfTheFirstWaitingPhase) {
  const double aht = 100, lambda = 1e-6, a = lambda * aht, t = 30;
  auto f = ErlangAFigures(1, lambda, aht, aht, t);
  ASSERT_TRUE(f.has_value());
  // With almost no traffic, P(k >= 2) is negligible (a^2/2 = 5e-9).
  const double p0 = std::exp(-a), p1 = a * std::exp(-a);
  const double mu = 1 / aht;
  EXPECT_NEAR(f->service_level, p0 + p1 * 0.5 * (1 - std::exp(-2 * mu * t)), 1e-8);
}

TEST(ErlangATest, ApproachesErlangCAsPatienceGrows) {
  const double lambda = 100.0 / 1800, aht = 180, a = lambda * aht;  // the reference case
  const ErlangCResult c = ErlangCFigures(14, a, aht, 20);
  auto patient = ErlangAFigures(14, lambda, aht, 1e6, 20);
  ASSERT_TRUE(patient.has_value());
  EXPECT_NEAR(patient->wait_probability, c.wait_probability, 1e-3);
  EXPECT_NEAR(patient->service_level, c.service_level, 1e-3);
  EXPECT_NEAR(patient->asa_s, c.asa_s, 0.05);
  EXPECT_LT(patient->abandon_probability, 1e-4);
  // Impatient customers: fewer wait long, more abandon.
  auto impatient = ErlangAFigures(14, lambda, aht, 60, 20);
  EXPECT_GT(impatient->abandon_probability, patient->abandon_probability);
  EXPECT_LT(impatient->asa_s, patient->asa_s);
  // Required agents: Erlang A never needs more than Erlang C here, and
  // converges to it.
  StaffingTarget target{0.8, 20, 1.0};
  EXPECT_EQ(RequiredAgentsErlangA(lambda, aht, 1e6, target), RequiredAgents(a, aht, target));
  EXPECT_LE(*RequiredAgentsErlangA(lambda, aht, 60, target), *RequiredAgents(a, aht, target));
}

TEST(ErlangATest, AbandonmentFallsAndServiceLevelRisesAsAgentsAreAdded) {
  const double lambda = 0.5, aht = 240, patience = 90;  // 120 Erlangs
  double last_ab = 1, last_sl = 0;
  for (int n = 80; n <= 160; n += 10) {
    auto f = ErlangAFigures(n, lambda, aht, patience, 20);
    ASSERT_TRUE(f.has_value());
    EXPECT_LT(f->abandon_probability, last_ab) << n;
    EXPECT_GT(f->service_level, last_sl) << n;
    last_ab = f->abandon_probability;
    last_sl = f->service_level;
  }
  // Overloaded (80 servers for 120 Erlangs): stable thanks to abandonment,
  // and about a third of the contacts must abandon.
  auto over = ErlangAFigures(80, lambda, aht, patience, 20);
  EXPECT_GT(over->abandon_probability, 1 - 80.0 / 120 - 0.01);
}

TEST(ErlangATest, LargeQueuesStayFinite) {
  // 5,000 Erlangs: required agents found, figures finite.
  const double aht = 300, lambda = 5000 / aht;
  auto n = RequiredAgentsErlangA(lambda, aht, 120, StaffingTarget{0.8, 20, 0.95});
  ASSERT_TRUE(n.has_value());
  EXPECT_GT(*n, 4900);
  EXPECT_LT(*n, 5400);
  auto f = ErlangAFigures(*n, lambda, aht, 120, 20);
  EXPECT_GE(f->service_level, 0.8);
  EXPECT_TRUE(std::isfinite(f->asa_s));
}

TEST(ErlangATest, RejectsMeaninglessInput) {
  EXPECT_FALSE(ErlangAFigures(0, 1, 1, 1, 1).has_value());
  EXPECT_FALSE(ErlangAFigures(1, 0, 1, 1, 1).has_value());
  EXPECT_FALSE(ErlangAFigures(1, 1, 1, 0, 1).has_value());
  EXPECT_FALSE(RequiredAgentsErlangA(std::nan(""), 1, 1, StaffingTarget{}).has_value());
}

}  // namespace
}  // namespace cx::processors

namespace cx::processors {
namespace {

// Against an independent discrete-event simulation (2,000,000 arrivals,
// FCFS, exponential patience: erlang_a_simulation.py beside this file): 12
// servers, 100 contacts in 30 min, AHT 180 s, patience 120 s, 20 s
// threshold. Simulated: service level 0.8264, abandonment 0.0615, wait
// probability 0.2791, mean wait 7.34 s.
TEST(ErlangATest, MatchesASimulationOfTheReferenceQueue) {
  auto f = ErlangAFigures(12, 100.0 / 1800, 180, 120, 20);
  ASSERT_TRUE(f.has_value());
  EXPECT_NEAR(f->service_level, 0.8264, 0.003);
  EXPECT_NEAR(f->abandon_probability, 0.0615, 0.002);
  EXPECT_NEAR(f->wait_probability, 0.2791, 0.003);
  EXPECT_NEAR(f->asa_s, 7.34, 0.15);
}

TEST(StaffingForTest, ConcurrencyDividesServersAmongAgentsAndShrinkageAddsToTheSchedule) {
  StaffingInput in;
  in.arrivals = 100;
  in.interval_s = 1800;
  in.aht_s = 180;
  in.target = {0.8, 20, 0.85};
  in.shrinkage = 0.3;
  StaffingResult one = StaffingFor(in);
  ASSERT_TRUE(one.erlang_c.has_value());
  EXPECT_EQ(one.erlang_c->raw_agents, 14);  // the reference
  EXPECT_EQ(one.erlang_c->scheduled_agents, 20);
  in.concurrency = 3;  // 14 servers = 5 agents of 3 chats (15 servers)
  StaffingResult three = StaffingFor(in);
  EXPECT_EQ(three.erlang_c->raw_agents, 5);
  EXPECT_EQ(three.erlang_c->scheduled_agents, 8);  // 5 / 0.7 = 7.14
  EXPECT_NEAR(three.erlang_c->occupancy, 10.0 / 15, 1e-9);
  EXPECT_FALSE(three.erlang_a.has_value());  // no patience given
  in.arrivals = 0;
  StaffingResult none = StaffingFor(in);
  EXPECT_EQ(none.erlang_c->raw_agents, 0);
  EXPECT_EQ(none.erlang_c->service_level, 1);
}

}  // namespace
}  // namespace cx::processors
