// Repartitioning between stages (docs/runtime.md#repartitioning): records
// reach the next stage in event-time order, only once every upstream task has
// announced a watermark past them, exactly once, whatever the interleaving.
#include <gtest/gtest.h>

#include "core/encoding.h"
#include "core/hash.h"
#include "engine/pipeline.h"
#include "engine/task.h"
#include "tests/unit/test_util.h"

namespace cx::engine {
namespace {

using cx::testing::CollectingSink;

// Upstream: sends every event's id to the next stage under key "k".
class Sender final : public processors::Processor {
 public:
  std::string_view name() const override { return "send"; }
  void OnEvent(const Event& e, processors::ProcessorContext& ctx) override {
    ctx.Repartition("k", e.event_id);
  }
  void OnTimer(Timestamp, std::string_view, std::string_view, processors::ProcessorContext&) override {}
};

// Next stage: writes down what it receives from `from`, in order.
class Receiver final : public processors::Processor {
 public:
  explicit Receiver(std::vector<std::string>* log, std::string name = "receive", std::string from = "send")
      : log_(log), name_(std::move(name)), from_(std::move(from)) {}
  std::string_view name() const override { return name_; }
  std::string_view receives_from() const override { return from_; }
  void OnEvent(const Event&, processors::ProcessorContext&) override {}
  void OnTimer(Timestamp, std::string_view, std::string_view, processors::ProcessorContext&) override {}
  void OnRepartitioned(std::string_view key, Timestamp ts, std::string_view value,
                       processors::ProcessorContext&) override {
    log_->push_back(std::string(value) + "@" + std::to_string((ts.ms - kBase) / 1000));
  }
  static constexpr std::int64_t kBase = 1'795'428'000'000;  // 2026-11-23T10:00:00Z

 private:
  std::vector<std::string>* log_;
  std::string name_, from_;
};

constexpr int kSources = 2;
const int kTarget = static_cast<int>(StableHash64("k") % kSources);

std::string Ev(const std::string& id, int second) {
  return R"({"event_id":")" + id + R"(","type":"conversation.abandoned","ts":")" +
         FormatRfc3339(Timestamp{Receiver::kBase + second * 1000LL}) + R"(","customer_id":"c)" + id +
         R"(","conversation_id":"v"})";
}

TaskOptions Options(int source_id) {
  TaskOptions o = TaskOptionsFrom(cx::testing::Defaults());
  o.inputs = 2;
  o.repartition_input = 1;
  o.repartition_sources = kSources;
  o.source_id = source_id;
  o.allowed_lateness = 0;
  o.repartition_step = 1;
  return o;
}

// One upstream task over its own store; what it sends to partition kTarget.
class Upstream {
 public:
  explicit Upstream(int id, DurationMs announce_pace = 0) : store_(state::NewMemoryStore()) {
    std::vector<std::unique_ptr<processors::Processor>> ps;
    ps.push_back(std::make_unique<Sender>());
    TaskOptions o = Options(id);
    o.announce_pace = announce_pace;
    task_ = std::make_unique<Task>(o, *store_, sink_, std::move(ps));
    EXPECT_TRUE(task_->Open().ok());
  }
  // The wall clock (run mode) reads `ms`; the worker's tick.
  std::vector<std::string> Tick(std::int64_t ms) {
    task_->set_now(Timestamp{ms});
    task_->OnWallClock(Timestamp::Min(), {});
    return Take();
  }
  void SetNow(std::int64_t ms) { task_->set_now(Timestamp{ms}); }
  // Processes one event; returns what it sent to the target partition.
  std::vector<std::string> Send(const std::string& id, int second) {
    InputRecord r;
    const std::string v = Ev(id, second);
    r.value = v;
    r.source.offset = ++offset_;
    task_->Process(r);
    return Take();
  }
  std::vector<std::string> Advance(int second) {
    task_->AdvanceWatermark(Timestamp{Receiver::kBase + second * 1000LL});
    return Take();
  }
  // What the task has queued for the next stage goes now (as at a commit).
  std::vector<std::string> Checkpoint() {
    task_->Checkpoint();
    return Take();
  }
  // The Kafka records (envelopes) that carried what the last call returned.
  const std::vector<std::string>& envelopes() const { return envelopes_; }

 private:
  // The records inside the envelopes sent to the target partition: each is
  // also a Kafka record value the next stage accepts on its own (as a
  // version before envelopes sent it).
  std::vector<std::string> Take() {
    std::vector<std::string> out;
    envelopes_.clear();
    for (auto& rec : sink_.records) {
      if (rec.stream != Stream::kRepartition || rec.partition != kTarget) continue;
      const std::string& v = envelopes_.emplace_back(*rec.value);
      Reader r(v);
      EXPECT_EQ(r.Byte(), 'B');
      r.Varint();  // source
      for (std::uint64_t n = r.Varint(); n > 0 && r.ok(); --n) out.emplace_back(r.String());
      EXPECT_TRUE(r.ok() && r.done());
    }
    sink_.records.clear();
    return out;
  }
  std::unique_ptr<state::Store> store_;
  CollectingSink sink_;
  std::unique_ptr<Task> task_;
  std::int64_t offset_ = 0;
  std::vector<std::string> envelopes_;
};

class Downstream {
 public:
  Downstream() : store_(state::NewMemoryStore()) { Reopen(); }
  // A new task over the same store: as after a restart from committed state.
  void Reopen() {
    std::vector<std::unique_ptr<processors::Processor>> ps;
    ps.push_back(std::make_unique<Receiver>(&log));
    // Receives from a processor no upstream task runs: gets nothing.
    ps.push_back(std::make_unique<Receiver>(&other_log, "receive-other", "elsewhere"));
    task_ = std::make_unique<Task>(Options(kTarget), *store_, sink_, std::move(ps));
    ASSERT_TRUE(task_->Open().ok());
  }
  void Feed(const std::vector<std::string>& records) {
    for (const auto& v : records) {
      InputRecord r;
      r.value = v;
      r.input = 1;
      task_->Process(r);
      ASSERT_TRUE(task_->error().ok()) << task_->error().ToString();
    }
  }
  const TaskStats& stats() const { return task_->stats(); }
  Status Commit() { return task_->Commit(); }

  std::vector<std::string> log, other_log;

 private:
  std::unique_ptr<state::Store> store_;
  CollectingSink sink_;
  std::unique_ptr<Task> task_;
};

TEST(RepartitionTest, DeliversInEventTimeOrderOnceEveryUpstreamTaskHasPassed) {
  Upstream a(0), b(1);
  Downstream d;
  d.Feed(a.Send("a10", 10));
  d.Feed(a.Send("a20", 20));
  d.Feed(a.Advance(100));
  EXPECT_TRUE(d.log.empty()) << "source 1 has announced nothing yet";
  d.Feed(b.Send("b15", 15));
  // Source 1's watermark is 15: only what is before 15 may go.
  EXPECT_EQ(d.log, (std::vector<std::string>{"a10@10"}));
  d.Feed(b.Advance(100));
  EXPECT_EQ(d.log, (std::vector<std::string>{"a10@10", "b15@15", "a20@20"}));
}

TEST(RepartitionTest, TheOrderDoesNotDependOnHowTheInputsInterleave) {
  auto run = [](bool a_first) {
    Upstream a(0), b(1);
    Downstream d;
    std::vector<std::string> from_a = a.Send("a10", 10), from_b = b.Send("b10", 10);
    for (auto& x : a.Send("a12", 12)) from_a.push_back(x);
    for (auto& x : b.Send("b11", 11)) from_b.push_back(x);
    for (auto& x : a.Advance(50)) from_a.push_back(x);
    for (auto& x : b.Advance(50)) from_b.push_back(x);
    d.Feed(a_first ? from_a : from_b);
    d.Feed(a_first ? from_b : from_a);
    return d.log;
  };
  const std::vector<std::string> want = {"a10@10", "b10@10", "b11@11", "a12@12"};
  EXPECT_EQ(run(true), want);
  EXPECT_EQ(run(false), want);
}

// Transport: one Kafka record per partition and announcement (or commit)
// carries what the task sent there since, and the marker after it.
TEST(RepartitionTest, RecordsTravelInOneEnvelopePerPartitionAndAnnouncement) {
  Upstream a(0), b(1);
  Downstream d;
  const auto first = a.Send("a10", 10);  // the first watermark: announced at once
  ASSERT_EQ(first.size(), 2u) << "the fact, then the marker";
  EXPECT_EQ(first[1][0], 'W');
  const std::vector<std::string> first_envelopes = a.envelopes();
  EXPECT_EQ(first_envelopes.size(), 1u);
  EXPECT_TRUE(a.Send("a10b", 10).empty()) << "the watermark has not moved: the fact waits";
  const auto second = a.Send("a11", 11);
  ASSERT_EQ(second.size(), 3u) << "both facts, then the marker";
  EXPECT_EQ(second[2][0], 'W');
  const std::vector<std::string> second_envelopes = a.envelopes();
  EXPECT_EQ(second_envelopes.size(), 1u);
  d.Feed(first_envelopes);  // as Kafka carries them
  d.Feed(second_envelopes);
  d.Feed(a.Advance(30));
  d.Feed(b.Advance(30));
  EXPECT_EQ(d.log, (std::vector<std::string>{"a10@10", "a10b@10", "a11@11"}));
  // Between announcements, a checkpoint sends what is queued: it belongs to
  // the commit (at-least-once: produced before the offsets are).
  a.Send("a30", 30);
  const auto at_commit = a.Checkpoint();
  ASSERT_EQ(at_commit.size(), 1u);
  EXPECT_EQ(at_commit[0][0], 'S');
}

TEST(RepartitionTest, ACopySentAgainIsDeliveredOnce) {
  Upstream a(0), b(1);
  Downstream d;
  const auto first = a.Send("a10", 10);
  d.Feed(first);
  d.Feed(first);  // re-sent before delivery: the same key, held once
  d.Feed(a.Advance(30));
  d.Feed(b.Advance(30));
  EXPECT_EQ(d.log, (std::vector<std::string>{"a10@10"}));
  d.Feed(first);  // re-sent after delivery: recognised and dropped
  EXPECT_EQ(d.log, (std::vector<std::string>{"a10@10"}));
  EXPECT_EQ(d.stats().repartition_dropped, 1u);
}

TEST(RepartitionTest, HeldRecordsAndWatermarksSurviveARestart) {
  Upstream a(0), b(1);
  Downstream d;
  d.Feed(a.Send("a10", 10));
  d.Feed(a.Advance(30));
  ASSERT_TRUE(d.Commit().ok());
  d.Reopen();  // the held record and source 0's watermark come back from state
  d.Feed(b.Advance(30));
  EXPECT_EQ(d.log, (std::vector<std::string>{"a10@10"}));
}

TEST(RepartitionTest, ARecordGoesOnlyToTheProcessorsThatReceiveFromItsSender) {
  Upstream a(0), b(1);
  Downstream d;
  d.Feed(a.Send("a10", 10));
  d.Feed(a.Advance(30));
  d.Feed(b.Advance(30));
  EXPECT_EQ(d.log, (std::vector<std::string>{"a10@10"}));
  EXPECT_TRUE(d.other_log.empty());
}

// A fact as a version before senders were named wrote it: kind 'F', and no
// sender's name between its time and its key.
// Watermark announcements are as they were.
std::string WithoutSender(const std::string& v) {
  Reader r(v);
  if (r.Byte() != 'S') return v;
  r.Varint();        // source
  r.Varint();        // input
  r.VarintSigned();  // position
  r.Varint();        // sub
  r.VarintSigned();  // ts
  const std::size_t sender_at = v.size() - r.remaining();
  EXPECT_EQ(r.String(), "send");
  const std::size_t key_at = v.size() - r.remaining();
  return "F" + v.substr(1, sender_at - 1) + v.substr(key_at);
}

TEST(RepartitionTest, ARecordOfAnOlderVersionGoesToEveryProcessorAcrossARestart) {
  Upstream a(0), b(1);
  Downstream d;
  for (const std::string& v : a.Send("a10", 10)) d.Feed({WithoutSender(v)});
  ASSERT_EQ(d.log.size() + d.other_log.size(), 0u);
  d.Feed(a.Advance(30));
  ASSERT_TRUE(d.Commit().ok());
  d.Reopen();  // held in the store under a key without a sender
  d.Feed(b.Advance(30));
  EXPECT_EQ(d.log, (std::vector<std::string>{"a10@10"}));
  EXPECT_EQ(d.other_log, (std::vector<std::string>{"a10@10"}));
}

// Run mode on a backlog: event time runs far ahead of the wall clock, and a
// watermark announcement per announce_every of it would be N x N records
// per event-time second (issue 19).
TEST(RepartitionTest, ABacklogAnnouncesAtMostOncePerPaceOfWallClockTime) {
  auto markers = [](const std::vector<std::string>& records) {
    std::vector<std::string> out;
    for (const auto& v : records)
      if (!v.empty() && v[0] == 'W') out.push_back(v);
    return out;
  };
  const std::int64_t wall = 1'800'000'000'000;
  Upstream a(0, /*announce_pace=*/250), b(1, /*announce_pace=*/250);
  Downstream d;
  a.SetNow(wall);
  std::vector<std::string> sent;
  for (int second = 1; second <= 100; ++second)
    for (auto& x : a.Send("a" + std::to_string(second), second)) sent.push_back(x);
  // The first watermark goes at once; 99 more seconds of event time within
  // the same wall-clock instant send none.
  EXPECT_EQ(markers(sent).size(), 1u);
  EXPECT_TRUE(markers(a.Tick(wall + 249)).empty());
  // Once the pace allows, the tick announces what the events moved it to,
  // and the next stage delivers up to there.
  const auto late = a.Tick(wall + 250);
  ASSERT_EQ(markers(late).size(), 1u);
  EXPECT_TRUE(markers(a.Tick(wall + 600)).empty()) << "the watermark has not moved since";
  d.Feed(sent);
  d.Feed(late);
  d.Feed(b.Advance(1000));
  ASSERT_EQ(d.log.size(), 99u) << "event 100 is at the watermark, not before it";
  EXPECT_EQ(d.log.back(), "a99@99");
}

}  // namespace
}  // namespace cx::engine
