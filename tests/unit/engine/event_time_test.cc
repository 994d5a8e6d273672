// Outputs are a function of event time only: replaying the same events with
// the watermark moving differently (a longer allowed lateness makes it lag
// further behind the events; a longer announcement step makes the queue
// stage's watermark move in bigger jumps) must give the same records.
// docs/runtime.md#repartitioning, docs/alerts.md#storms.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "engine/replay.h"
#include "tools/simulator.h"

namespace cx::engine {
namespace {

class EventTimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cx-event-time-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    // Four busy hours of a shop with too few agents: many SLA breaches,
    // many of them answered soon after, and storms.
    tools::SimOptions o;
    o.seed = 11;
    o.start = *ParseRfc3339("2026-11-23T00:00:00Z");
    o.duration = 4 * 3'600'000;
    o.customers = 2'000;
    o.agents = 20;
    o.daily_curve = false;
    tools::Simulator sim(o);
    std::ofstream f(dir_ / "in.ndjson");
    tools::SimRecord r;
    while (sim.Next(r)) f << r.value << '\n';
    until_ = o.start + o.duration + 3'600'000;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The records of one output stream after a replay with `yaml`, sorted (the
  // order of records of different keys may differ; the set may not).
  std::vector<std::string> Replay(const std::string& name, const std::string& yaml,
                                  const std::string& stream) {
    auto loaded = config::LoadConfigText(yaml, [](const char*) -> const char* { return nullptr; });
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].ToString());
    ReplayOptions ro;
    ro.inputs = {(dir_ / "in.ndjson").string()};
    ro.out_dir = (dir_ / name).string();
    ro.until = until_;
    if (!std::filesystem::exists(ro.out_dir)) {
      auto summary = RunReplay(loaded.config, ro);
      EXPECT_TRUE(summary.ok()) << summary.status().ToString();
    }
    std::vector<std::string> lines;
    std::ifstream in(dir_ / name / (stream + ".ndjson"));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    std::sort(lines.begin(), lines.end());
    return lines;
  }

  std::filesystem::path dir_;
  Timestamp until_;
};

// Regression (issue 16.1): the queue stage was handed every fact of a
// stage-watermark step before the step itself, so a breach and a resolve
// that came after its group wait met while the breach was still held, and
// neither went out. In run mode with a backlog the stage watermark lags far
// behind the facts and half the breach alerts were lost; in replay those
// answered 30 to 35 s after the deadline never paged. And events were
// applied as they arrived while timers waited for the watermark, so a
// warning carried the queue of a transfer that came after it.
TEST_F(EventTimeTest, OutputsDoNotDependOnHowTheWatermarkMoves) {
  const std::string base = "time:\n  allowed_lateness: 0s\nstaffing:\n  announce_every: 10ms\n";
  const auto want = Replay("base", base, "alerts");
  ASSERT_GT(want.size(), 100u);
  std::size_t breaches = 0, storms = 0;
  for (const auto& a : want) {
    breaches += a.find(R"("kind":"sla_breach")") != std::string::npos;
    storms += a.find(R"("kind":"queue_breach_storm")") != std::string::npos;
  }
  EXPECT_GT(breaches, 50u);
  EXPECT_GT(storms, 0u);
  for (const char* variant : {"time:\n  allowed_lateness: 5s\n", "time:\n  allowed_lateness: 2m\n",
                              "time:\n  allowed_lateness: 5s\nstaffing:\n  announce_every: 1m\n",
                              "time:\n  allowed_lateness: 10m\nstaffing:\n  announce_every: 1m\n"}) {
    // Every output stream, not only the alerts: the SLA records' labels,
    // the profiles and the staffing intervals are decided at timers too.
    for (const char* stream : {"alerts", "sla", "profiles", "staffing", "dlq"}) {
      SCOPED_TRACE(std::string(variant) + stream);
      const auto expected = Replay("base", base, stream);
      const auto got = Replay(std::to_string(std::hash<std::string>{}(variant)), variant, stream);
      EXPECT_EQ(got.size(), expected.size());
      std::vector<std::string> missing, extra;
      std::set_difference(expected.begin(), expected.end(), got.begin(), got.end(),
                          std::back_inserter(missing));
      std::set_difference(got.begin(), got.end(), expected.begin(), expected.end(),
                          std::back_inserter(extra));
      EXPECT_TRUE(missing.empty()) << missing.size() << " missing, first: " << missing.front();
      EXPECT_TRUE(extra.empty()) << extra.size() << " extra, first: " << extra.front();
    }
  }
}

// keep_state hands the replay's state to the caller (the command leaves it
// to the exit) and nothing else changes; without it nothing is kept.
TEST_F(EventTimeTest, AKeptStateChangesNoOutput) {
  auto loaded = config::LoadConfigText("{}", [](const char*) -> const char* { return nullptr; });
  ASSERT_TRUE(loaded.ok());
  std::vector<std::string> sla[2];
  for (int keep = 0; keep < 2; ++keep) {
    ReplayOptions ro;
    ro.inputs = {(dir_ / "in.ndjson").string()};
    ro.out_dir = (dir_ / ("keep" + std::to_string(keep))).string();
    ro.until = until_;
    ro.keep_state = keep == 1;
    auto summary = RunReplay(loaded.config, ro);
    ASSERT_TRUE(summary.ok()) << summary.status().ToString();
    EXPECT_EQ(summary->state != nullptr, keep == 1);
    std::ifstream in(std::filesystem::path(ro.out_dir) / "sla.ndjson");
    for (std::string line; std::getline(in, line);) sla[keep].push_back(line);
  }
  EXPECT_GT(sla[0].size(), 100u);
  EXPECT_EQ(sla[1], sla[0]);
}

}  // namespace
}  // namespace cx::engine
