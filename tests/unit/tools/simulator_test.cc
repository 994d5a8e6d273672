// The simulator against its configuration (docs/simulator.md): the same seed
// gives the same events, arrival rates as configured, abandonment rising with
// the wait, malformed records landing in the dead-letter output, and the
// whole event contract covered.
#include "tools/simulator.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "config/config.h"
#include "core/event_decoder.h"
#include "engine/pipeline.h"
#include "engine/replay.h"
#include "tests/unit/test_util.h"

namespace cx::tools {
namespace {

SimOptions Base() {
  SimOptions o;
  o.start = *ParseRfc3339("2026-11-23T00:00:00Z");
  return o;
}

std::vector<SimRecord> Generate(const SimOptions& o) {
  Simulator sim(o);
  std::vector<SimRecord> out;
  SimRecord r;
  while (sim.Next(r)) out.push_back(r);
  return out;
}

TEST(SimulatorTest, TheSameSeedGivesTheSameEvents) {
  SimOptions o = Base();
  o.duration = 2 * 3'600'000;
  o.malformed_share = 0.01;
  const auto a = Generate(o), b = Generate(o);
  ASSERT_GT(a.size(), 1000u);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i].value, b[i].value) << i;
  o.seed = 2;
  const auto c = Generate(o);
  EXPECT_NE(a[10].value, c[10].value);
}

TEST(SimulatorTest, RecordsAreValidEventsInTimeOrder) {
  SimOptions o = Base();
  o.duration = 6 * 3'600'000;
  EventDecoder decoder{engine::TaskOptionsFrom(cx::testing::Defaults()).limits};
  Timestamp last = Timestamp::Min();
  for (const SimRecord& r : Generate(o)) {
    ASSERT_FALSE(r.malformed);
    const Event* e = decoder.Decode(r.value);
    ASSERT_NE(e, nullptr) << r.value << ": " << decoder.rejection().ToString();
    EXPECT_GE(e->ts, last);
    EXPECT_EQ(e->ts, r.ts);
    last = e->ts;
  }
}

TEST(SimulatorTest, ArrivalsFollowTheConfiguredRate) {
  // 600 conversations an hour for 10 hours: 6,000 expected (Poisson: one
  // standard deviation is 1.3 %).
  SimOptions o = Base();
  o.daily_curve = false;
  o.duration = 10 * 3'600'000;
  o.queues = {{"q", 600}};
  o.agents = 300;
  o.orders_per_hour = 0;
  std::int64_t opened = 0;
  for (const SimRecord& r : Generate(o)) opened += r.type == "conversation.opened";
  EXPECT_NEAR(static_cast<double>(opened), 6000.0, 300.0);
}

TEST(SimulatorTest, TheDailyCurveShapesArrivals) {
  // Peaks at 11:00 and 20:30 UTC+8 (03:00 and 12:30 UTC), a trough at night.
  SimOptions o = Base();
  o.duration = 7 * 86'400'000LL;
  o.queues = {{"q", 100}};
  o.agents = 120;
  o.orders_per_hour = 0;
  std::map<int, int> by_hour;  // UTC+8
  for (const SimRecord& r : Generate(o))
    if (r.type == "conversation.opened") ++by_hour[static_cast<int>(((r.ts.ms / 3'600'000) + 8) % 24)];
  EXPECT_GT(by_hour[11], 3 * by_hour[4]);
  EXPECT_GT(by_hour[20], 3 * by_hour[4]);
  std::int64_t total = 0;
  for (const auto& [h, n] : by_hour) total += n;
  EXPECT_NEAR(static_cast<double>(total), 100.0 * 24 * 7, 100.0 * 24 * 7 * 0.05);  // the curve averages 1
}

TEST(SimulatorTest, AbandonmentRisesWithTheWait) {
  // The same demand with fewer agents: longer waits, more customers gone.
  double last_share = -1, last_wait = -1;
  for (int agents : {90, 36, 24, 18}) {
    SimOptions o = Base();
    o.daily_curve = false;
    o.duration = 12 * 3'600'000;
    o.agents = agents;
    std::map<std::string, Timestamp> opened;
    double waited = 0, answered = 0, abandoned = 0, total = 0;
    for (const SimRecord& r : Generate(o)) {
      const auto conv = r.value.find("\"conversation_id\":\"");
      if (conv == std::string::npos) continue;
      const std::string id = r.value.substr(conv + 19, r.value.find('"', conv + 19) - conv - 19);
      if (r.type == "conversation.opened") {
        opened[id] = r.ts;
        ++total;
      } else if (r.type == "conversation.assigned" && opened.count(id)) {
        waited += static_cast<double>(r.ts - opened[id]);
        ++answered;
      } else if (r.type == "conversation.abandoned") {
        ++abandoned;
      }
    }
    const double share = abandoned / total, mean_wait = waited / std::max(1.0, answered);
    EXPECT_GT(share, last_share) << agents << " agents";
    EXPECT_GT(mean_wait, last_wait) << agents << " agents";
    last_share = share;
    last_wait = mean_wait;
  }
  EXPECT_GT(last_share, 0.2);  // badly understaffed: many leave
}

TEST(SimulatorTest, MalformedRecordsLandInTheDeadLetterOutput) {
  SimOptions o = Base();
  o.duration = 4 * 3'600'000;
  o.malformed_share = 0.02;
  Simulator sim(o);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "cx-sim-test";
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(dir / "in.ndjson");
    SimRecord r;
    while (sim.Next(r)) f << r.value << "\n";
  }
  engine::ReplayOptions ro;
  ro.inputs = {(dir / "in.ndjson").string()};
  ro.out_dir = (dir / "out").string();
  ro.until = o.start + o.duration;
  auto summary = engine::RunReplay(config::DefaultConfig(), ro);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  const auto& c = sim.counts();
  EXPECT_EQ(summary->stats.dead_lettered, c.malformed);
  EXPECT_NEAR(static_cast<double>(c.malformed) / static_cast<double>(c.records), 0.02, 0.004);
  std::filesystem::remove_all(dir);
}

TEST(SimulatorTest, EveryEventTypeOfTheContractAppears) {
  SimOptions o = Base();
  o.duration = 5 * 86'400'000LL;
  o.erasure_per_hour = 1;
  std::set<std::string> types;
  for (const SimRecord& r : Generate(o)) types.insert(r.type);
  for (int t = 0; t < kEventTypeCount; ++t)
    EXPECT_TRUE(types.count(std::string(ToString(static_cast<EventType>(t)))))
        << ToString(static_cast<EventType>(t));
}

}  // namespace
}  // namespace cx::tools
