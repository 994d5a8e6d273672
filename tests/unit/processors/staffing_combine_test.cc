// Combining staffing facts (docs/staffing.md#combining): what a bucket's
// partial adds up to is what its facts one by one would have done at the
// queue stage, wherever the buckets are cut; buckets end at interval ends
// and provisional points, and go to the next stage stamped end - 1, before
// the watermark marker that lets it pass them.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "core/encoding.h"
#include "core/hash.h"
#include "engine/pipeline.h"
#include "engine/task.h"
#include "processors/staffing/facts.h"
#include "processors/staffing/staffing_source.h"
#include "tests/unit/test_util.h"

namespace cx::processors {
namespace {

constexpr DurationMs kThreshold = 20'000;

// The queue stage's view, as QueueStaffing::OnRepartitioned changes it
// (counters summed, stopped before started, clamps at zero).
struct QueueView {
  std::int64_t arrivals = 0, transfers_in = 0, answered = 0, within = 0, abandoned = 0, handled = 0;
  DurationMs wait_answered = 0, wait_abandoned = 0, handle = 0;
  std::int64_t waiting = 0, in_progress = 0, agents = 0, slots = 0;
  std::map<std::string, std::int64_t> waiting_since;

  void Apply(const StaffingPartial& p) {
    arrivals += p.arrivals;
    transfers_in += p.transfers_in;
    answered += p.answered;
    within += p.answered_within;
    abandoned += p.abandoned;
    handled += p.handled;
    wait_answered += p.wait_answered;
    wait_abandoned += p.wait_abandoned;
    handle += p.handle;
    for (const std::string& c : p.stopped) {
      if (waiting_since.erase(c) > 0) waiting = std::max<std::int64_t>(0, waiting - 1);
    }
    for (const auto& [c, at] : p.started) {
      waiting_since[c] = at.ms;
      ++waiting;
    }
    in_progress = std::max<std::int64_t>(0, in_progress + p.in_progress);
    agents = std::max<std::int64_t>(0, agents + p.agents);
    slots = std::max<std::int64_t>(0, slots + p.slots);
  }
  bool operator==(const QueueView&) const = default;
};

// A consistent history of one queue, as StaffingSource sends it: each
// conversation arrives (or is transferred in), may be answered, and ends
// (abandoned, closed or transferred out); agents come and go.
std::vector<std::pair<StaffingFact, Timestamp>> History(std::uint32_t seed, int conversations) {
  std::mt19937 rng(seed);
  std::vector<std::pair<StaffingFact, Timestamp>> out;
  struct Open {
    std::string id;
    bool answered = false;
    std::int64_t entered = 0;
  };
  std::vector<Open> open;
  int online = 0;
  std::int64_t t = 1'000'000;
  int next = 0;
  while (next < conversations || !open.empty()) {
    t += rng() % 5'000;
    StaffingFact f;
    const unsigned roll = rng() % 10;
    if ((roll < 4 || open.empty()) && next < conversations) {
      f.kind = StaffingFact::Kind::kArrival;
      f.conversation = "c" + std::to_string(next++);
      f.transfer = rng() % 4 == 0;
      f.answered = f.transfer && rng() % 2 == 0;
      open.push_back({f.conversation, f.answered, t});
    } else if (roll == 9) {
      f.kind = StaffingFact::Kind::kAgents;
      f.agents = online > 0 && rng() % 2 == 0 ? -1 : 1;
      f.slots = f.agents * 2;
      online += f.agents;
    } else {
      const std::size_t i = rng() % open.size();
      Open& c = open[i];
      f.conversation = c.id;
      if (!c.answered && rng() % 2 == 0) {
        f.kind = StaffingFact::Kind::kAnswer;
        f.duration = t - c.entered;
        c.answered = true;
      } else {
        const unsigned how = rng() % 3;
        f.kind = how == 0                  ? StaffingFact::Kind::kTransferOut
                 : how == 1 && !c.answered ? StaffingFact::Kind::kAbandon
                                           : StaffingFact::Kind::kClose;
        f.answered = c.answered;
        f.duration = t - c.entered;
        open.erase(open.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    out.emplace_back(std::move(f), Timestamp{t});
  }
  return out;
}

TEST(StaffingCombineTest, ABucketsSumIsItsFactsOneByOneWhereverTheBucketsAreCut) {
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    const auto history = History(seed, 60);
    QueueView one_by_one;
    for (const auto& [f, ts] : history) {
      StaffingPartial p;
      p.Add(f, ts, kThreshold);
      one_by_one.Apply(p);
    }
    std::mt19937 rng(seed * 7919);
    QueueView combined;
    StaffingPartial bucket;
    std::size_t facts = 0;
    for (const auto& [f, ts] : history) {
      bucket.Add(f, ts, kThreshold);
      if (rng() % 8 == 0) {  // cut here; through its bytes, as the next stage gets it
        std::string bytes;
        bucket.EncodeTo(bytes);
        StaffingPartial sent;
        ASSERT_TRUE(sent.Decode(bytes));
        facts += static_cast<std::size_t>(sent.facts);
        combined.Apply(sent);
        bucket = StaffingPartial{};
      }
    }
    facts += static_cast<std::size_t>(bucket.facts);
    combined.Apply(bucket);
    EXPECT_EQ(facts, history.size());
    EXPECT_TRUE(combined == one_by_one) << "seed " << seed;
    EXPECT_EQ(combined.waiting_since, one_by_one.waiting_since) << "seed " << seed;
  }
}

TEST(StaffingCombineTest, AConversationThatStartsAndStopsWaitingInOneBucketIsInNeitherList) {
  StaffingPartial p;
  StaffingFact f;
  f.kind = StaffingFact::Kind::kArrival;
  f.conversation = "a";
  p.Add(f, Timestamp{1000}, kThreshold);
  f.conversation = "b";
  p.Add(f, Timestamp{2000}, kThreshold);
  f.kind = StaffingFact::Kind::kAnswer;
  f.conversation = "a";
  f.duration = 15'000;
  p.Add(f, Timestamp{16'000}, kThreshold);
  f.kind = StaffingFact::Kind::kAbandon;
  f.conversation = "z";  // waiting since an earlier bucket
  f.duration = 60'000;
  p.Add(f, Timestamp{17'000}, kThreshold);
  EXPECT_EQ(p.started.size(), 1u);
  EXPECT_EQ(p.started.at("b"), Timestamp{2000});
  EXPECT_EQ(p.stopped, (std::vector<std::string>{"z"}));
  EXPECT_EQ(p.arrivals, 2);
  EXPECT_EQ(p.answered_within, 1);
  EXPECT_EQ(p.in_progress, 1);
  EXPECT_EQ(p.first, Timestamp{1000});
  EXPECT_EQ(p.last, Timestamp{17'000});
  EXPECT_EQ(p.facts, 4);
  // A single fact's bytes are not a partial's: the queue stage tells them apart.
  StaffingPartial not_one;
  EXPECT_FALSE(not_one.Decode(f.Encode()));
}

// Run mode, staffing.interval 15m and provisional_every 10m (both counted
// from the epoch, as the queue stage's points are): buckets end at :10,
// :15, :20, :30 ... and each goes, stamped end - 1, in the envelope that
// ends with the marker announcing a watermark past it.
TEST(StaffingCombineTest, BucketsEndAtIntervalEndsAndProvisionalPointsAndGoBeforeTheMarker) {
  config::Config c = cx::testing::Defaults();
  c.staffing.interval = 15 * 60'000;
  c.staffing.provisional_every = 10 * 60'000;
  engine::TaskOptions o = engine::TaskOptionsFrom(c);
  o.inputs = 2;
  o.repartition_input = 1;
  o.repartition_sources = 1;
  o.allowed_lateness = 0;
  o.repartition_step = 60 * 60'000;  // announced only when the test says so
  std::vector<std::unique_ptr<Processor>> ps;
  auto keeper = std::make_unique<ConversationKeeper>();  // last, as the pipeline wires it
  ps.push_back(
      std::make_unique<StaffingSource>(engine::StaffingSourceOptionsFrom(c, engine::Mode::kRun), *keeper));
  ps.push_back(std::move(keeper));
  auto store = state::NewMemoryStore();
  cx::testing::CollectingSink sink;
  engine::Task task(o, *store, sink, std::move(ps));
  ASSERT_TRUE(task.Open().ok());
  const Timestamp base = *ParseRfc3339("2026-11-23T10:00:00Z");
  int n = 0;
  for (int seconds : {6 * 60 + 30, 13 * 60, 14 * 60 + 30, 16 * 60}) {
    const std::string id = std::to_string(++n);
    const std::string line = R"({"event_id":"o)" + id + R"(","type":"conversation.opened","ts":")" +
                             FormatRfc3339(base + seconds * 1000LL) + R"(","customer_id":"c)" + id +
                             R"(","conversation_id":"v)" + id +
                             R"(","channel":"web","queue":"q","priority":"normal"})";
    engine::InputRecord r;
    r.value = line;
    r.source.offset = n;
    task.Process(r);
  }
  task.AnnounceWatermark();  // 10:16: the two buckets before it go
  task.AdvanceWatermark(base + 30 * 60'000);
  task.AnnounceWatermark();  // 10:30: the last one
  // (start, stamped time, arrivals) of each partial, and where the markers were.
  std::vector<std::string> seen;
  for (const auto& rec : sink.records) {
    if (rec.stream == Stream::kDlq) ADD_FAILURE() << *rec.value;
    if (rec.stream != Stream::kRepartition) continue;
    Reader env(*rec.value);
    ASSERT_EQ(env.Byte(), 'B');
    env.Varint();
    for (std::uint64_t k = env.Varint(); k > 0; --k) {
      const std::string_view one = env.String();
      Reader r(one);
      const char kind = static_cast<char>(r.Byte());
      r.Varint();  // source
      if (kind == 'W') {
        seen.push_back("marker " + FormatRfc3339(Timestamp{r.VarintSigned()}).substr(11, 5));
        continue;
      }
      ASSERT_EQ(kind, 'P');
      const Timestamp start{r.VarintSigned()}, ts{r.VarintSigned()};
      EXPECT_EQ(r.String(), "staffing");
      EXPECT_EQ(r.String(), "q");
      StaffingPartial p;
      ASSERT_TRUE(p.Decode(one.substr(one.size() - r.remaining())));
      seen.push_back(FormatRfc3339(start).substr(11, 5) + " " + FormatRfc3339(ts).substr(11, 12) + " " +
                     std::to_string(p.arrivals));
    }
  }
  // The first event's watermark was announced at once, before any bucket
  // had ended.
  EXPECT_EQ(seen, (std::vector<std::string>{"marker 10:06", "10:00 10:09:59.999 1", "10:10 10:14:59.999 2",
                                            "marker 10:16", "10:15 10:19:59.999 1", "marker 10:30"}));
}

}  // namespace
}  // namespace cx::processors
