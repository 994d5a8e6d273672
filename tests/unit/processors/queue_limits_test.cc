// What inputs can make the queue stage track (issue 16.3,
// docs/staffing.md#limits): at most limits.max_queues queues, the rest
// counted under `other`; a queue idle for limits.queue_idle_after stops
// producing records and frees its place. Through the real pipeline in
// replay, records read back from staffing.ndjson.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "config/config.h"
#include "engine/replay.h"
#include "tests/unit/test_util.h"

namespace cx::processors {
namespace {

using testing::CollectingSink;

struct Record {
  std::string id, queue, start;
  int arrivals = 0;
};

class QueueLimitsTest : public ::testing::Test {
 protected:
  // A conversation opened in `queue` at `at` (UTC, "10:00" on 2026-11-23)
  // and closed a minute later; in time order.
  void Conversation(const std::string& queue, const std::string& at) {
    const Timestamp t = *ParseRfc3339("2026-11-23T" + at + ":00Z");
    const std::string id = std::to_string(++n_);
    lines_ += R"({"event_id":"o)" + id + R"(","type":"conversation.opened","ts":")" + FormatRfc3339(t) +
              R"(","customer_id":"c)" + id + R"(","conversation_id":"v)" + id +
              R"(","channel":"web","queue":")" + queue + R"(","priority":"normal"})" + "\n";
    lines_ += R"({"event_id":"x)" + id + R"(","type":"conversation.closed","ts":")" +
              FormatRfc3339(t + 60'000) + R"(","customer_id":"c)" + id + R"(","conversation_id":"v)" + id +
              R"(","resolution":"done"})" + "\n";
  }

  // Replays what was written until `until` with `yaml`; the final records.
  std::vector<Record> Replay(const std::string& yaml, const std::string& until) {
    std::ofstream(dir_ / "in.ndjson") << lines_;
    auto loaded = config::LoadConfigText(yaml, [](const char*) -> const char* { return nullptr; });
    EXPECT_TRUE(loaded.ok());
    engine::ReplayOptions ro;
    ro.inputs = {(dir_ / "in.ndjson").string()};
    ro.out_dir = (dir_ / "out").string();
    ro.until = *ParseRfc3339("2026-11-23T" + until + ":00Z");
    auto summary = engine::RunReplay(loaded.config, ro);
    EXPECT_TRUE(summary.ok()) << summary.status().ToString();
    if (summary.ok()) overflows_ = summary->stats.queue_overflows;
    std::vector<Record> out;
    std::ifstream records(dir_ / "out" / "staffing.ndjson");
    for (std::string line; std::getline(records, line);) {
      out.push_back({CollectingSink::Field(line, "id"), CollectingSink::Field(line, "queue"),
                     CollectingSink::Field(line, "interval_start"),
                     std::stoi(CollectingSink::Field(line, "arrivals"))});
    }
    return out;
  }

  static std::map<std::string, int> ArrivalsByQueue(const std::vector<Record>& rs) {
    std::map<std::string, int> out;
    for (const Record& r : rs) out[r.queue] += r.arrivals;
    return out;
  }
  static std::vector<std::string> StartsOf(const std::vector<Record>& rs, const std::string& queue) {
    std::vector<std::string> out;
    for (const Record& r : rs)
      if (r.queue == queue) out.push_back(r.start.substr(11, 5));
    return out;
  }

  testing::TestDir dir_{"cx-queue-limits"};
  std::string lines_;
  int n_ = 0;
  std::uint64_t overflows_ = 0;
};

// Regression (issue 16.3): 20,000 distinct queue names made 20,000 staffing
// records a minute for ever. With limits.max_queues 3 and one queue named in
// the configuration, the named queue and the first two others seen are
// tracked; conversations of further queues still count, under `other`.
TEST_F(QueueLimitsTest, TracksAtMostMaxQueuesAndCountsTheRestUnderOther) {
  for (const char* q : {"a", "b", "c", "d", "vip", "c", "a", "e"})
    Conversation(q, "10:0" + std::to_string(n_));
  auto rs = Replay("limits:\n  max_queues: 3\nstaffing:\n  queues:\n    vip: {sl_target: 0.9}\n", "10:30");
  const auto arrivals = ArrivalsByQueue(rs);
  EXPECT_EQ(arrivals, (std::map<std::string, int>{{"a", 2}, {"b", 1}, {"vip", 1}, {"other", 4}}));
  // Every fact of c, d and e: an arrival and a close each.
  EXPECT_EQ(overflows_, 8u);
  // `other` is counted by each stage partition: its ids name the partition.
  for (const Record& r : rs) {
    if (r.queue == "other") {
      EXPECT_EQ(r.id.rfind("other/0/", 0), 0u) << r.id;
    }
  }
}

// A queue without a fact for limits.queue_idle_after stops producing
// records (those up to its idle time are written) and frees its place: a
// new queue is tracked from then on, and the idle one starts afresh when it
// comes back.
TEST_F(QueueLimitsTest, AnIdleQueueStopsAndFreesItsPlace) {
  Conversation("a", "10:00");  // last fact 10:01: idle at 11:01
  Conversation("b", "10:30");  // a holds the only place: other
  Conversation("b", "11:10");  // a is idle: b is tracked
  Conversation("a", "11:20");  // b holds the place: other
  Conversation("a", "12:20");  // b idle since 12:11: a again, afresh
  auto rs = Replay("limits:\n  max_queues: 1\n  queue_idle_after: 1h\n", "13:30");
  EXPECT_EQ(StartsOf(rs, "a"), (std::vector<std::string>{"10:00", "10:15", "10:30", "10:45", "12:15", "12:30",
                                                         "12:45", "13:00"}));
  EXPECT_EQ(StartsOf(rs, "b"), (std::vector<std::string>{"11:00", "11:15", "11:30", "11:45"}));
  const auto arrivals = ArrivalsByQueue(rs);
  EXPECT_EQ(arrivals.at("a"), 2);
  EXPECT_EQ(arrivals.at("b"), 1);
  EXPECT_EQ(arrivals.at("other"), 2);
  EXPECT_EQ(overflows_, 4u);
}

}  // namespace
}  // namespace cx::processors
