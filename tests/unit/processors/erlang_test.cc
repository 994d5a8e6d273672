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
