#include "engine/pipeline.h"

#include <gtest/gtest.h>

namespace cx::engine {
namespace {

// The shipped configuration writes the default policies out; the two must
// never drift apart (the defaults themselves are in config.cc alone).
TEST(PipelineTest, ShippedPoliciesEqualTheBuiltInDefaults) {
  auto r = config::LoadConfigFile(std::string(CX_SOURCE_DIR) + "/config/cxstream.yaml",
                                  [](const char*) -> const char* { return nullptr; });
  ASSERT_TRUE(r.ok()) << r.errors[0].ToString();
  ASSERT_TRUE(r.config.sla.policies_given);
  std::vector<processors::Policy> shipped = SlaPolicies(r.config);
  std::vector<processors::Policy> builtin = SlaPolicies(config::DefaultConfig());
  ASSERT_EQ(shipped.size(), builtin.size());
  for (std::size_t i = 0; i < shipped.size(); ++i) {
    SCOPED_TRACE(builtin[i].name);
    EXPECT_EQ(shipped[i].name, builtin[i].name);
    EXPECT_EQ(shipped[i].channels, builtin[i].channels);
    EXPECT_EQ(shipped[i].queues, builtin[i].queues);
    EXPECT_EQ(shipped[i].priorities, builtin[i].priorities);
    EXPECT_EQ(shipped[i].customer_tiers, builtin[i].customer_tiers);
    EXPECT_EQ(shipped[i].tenants, builtin[i].tenants);
    EXPECT_EQ(shipped[i].kinds, builtin[i].kinds);
    EXPECT_EQ(shipped[i].targets, builtin[i].targets);
  }
}

TEST(PipelineTest, ConfiguredPoliciesReplaceTheDefaults) {
  auto r = config::LoadConfigText("sla:\n  policies:\n    - name: only\n      targets: {order_ship: 1h}\n",
                                  [](const char*) -> const char* { return nullptr; });
  ASSERT_TRUE(r.ok());
  auto ps = SlaPolicies(r.config);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].Target(Metric::kOrderShip, Priority::kLow), 3600000);
  EXPECT_FALSE(ps[0].Target(Metric::kFirstResponse, Priority::kNormal).has_value());
}

}  // namespace
}  // namespace cx::engine
