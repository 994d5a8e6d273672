#include "engine/task.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/json_writer.h"
#include "engine/pipeline.h"
#include "tests/unit/test_util.h"

namespace cx::engine {
namespace {

using cx::testing::CollectingSink;

// A small real processor for the core: counts events per customer in state,
// and one minute after a customer's first event emits the count (a timer).
class CountingProcessor final : public processors::Processor {
 public:
  std::string_view name() const override { return "count"; }
  void OnEvent(const Event& e, processors::ProcessorContext& ctx) override {
    auto cur = ctx.Get(e.customer_id, "n");
    int n = cur ? std::stoi(*cur) : 0;
    if (n == 0) ctx.SetTimer(e.ts + 60'000, e.customer_id, "report");
    ctx.Put(e.customer_id, "n", std::to_string(n + 1));
  }
  void OnTimer(Timestamp when, std::string_view owner, std::string_view tag,
               processors::ProcessorContext& ctx) override {
    auto cur = ctx.Get(owner, "n");
    JsonWriter w;
    w.BeginObject()
        .Field("customer_id", owner)
        .Field("count", cur ? std::stoi(*cur) : 0)
        .TimeField("ts", when)
        .TimeField("watermark", ctx.watermark())
        .EndObject();
    ctx.Emit(Stream::kProfiles, owner, w.str());
  }
};

std::string Ev(std::string id, std::string customer, std::string ts) {
  return R"({"event_id":")" + id + R"(","type":"conversation.abandoned","ts":")" + ts +
         R"(","customer_id":")" + customer + R"(","conversation_id":"v"})";
}

class TaskTest : public ::testing::Test {
 protected:
  TaskTest() { Reset(); }
  void Reset(TaskOptions opts = TaskOptionsFrom(cx::testing::Defaults())) {
    store_ = state::NewMemoryStore();
    sink_ = CollectingSink();
    std::vector<std::unique_ptr<processors::Processor>> ps;
    ps.push_back(std::make_unique<CountingProcessor>());
    task_ = std::make_unique<Task>(opts, *store_, sink_, std::move(ps));
    ASSERT_TRUE(task_->Open().ok());
  }
  void Feed(const std::string& json, std::optional<TopicKind> topic = std::nullopt) {
    InputRecord r;
    r.value = json;
    r.source.file = "in.ndjson";
    r.source.line = ++line_;
    r.topic = topic;
    task_->Process(r);
  }

  std::unique_ptr<state::Store> store_;
  CollectingSink sink_;
  std::unique_ptr<Task> task_;
  int line_ = 0;
};

TEST_F(TaskTest, StateTimerAndOutputThroughTheCore) {
  Feed(Ev("e1", "c1", "2026-11-23T10:00:00Z"));
  Feed(Ev("e2", "c1", "2026-11-23T10:00:30Z"));
  Feed(Ev("e3", "c2", "2026-11-23T10:00:40Z"));
  EXPECT_TRUE(sink_.records.empty());            // watermark 10:00:35, timer at 10:01:00
  Feed(Ev("e4", "c2", "2026-11-23T10:01:05Z"));  // watermark 10:01:00: c1's timer fires
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(
      sink_.records[0].value,
      R"({"customer_id":"c1","count":2,"ts":"2026-11-23T10:01:00.000Z","watermark":"2026-11-23T10:01:00.000Z"})");
  task_->AdvanceWatermark(*ParseRfc3339("2026-11-23T10:01:40Z"));
  ASSERT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(CollectingSink::Field(*sink_.records[1].value, "count"), "2");
  EXPECT_EQ(task_->stats().timers_fired, 2u);
}

TEST_F(TaskTest, TimersFireBeforeTheEventThatMovesTheWatermarkPastThem) {
  Feed(Ev("e1", "c1", "2026-11-23T10:00:00Z"));
  // An event of c1 at 10:02: the 10:01 timer must report 1 (before this event), not 2.
  Feed(Ev("e2", "c1", "2026-11-23T10:02:00Z"));
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(CollectingSink::Field(*sink_.records[0].value, "count"), "1");
}

TEST_F(TaskTest, RepeatedEventIdIsAppliedOnceAndCounted) {
  Feed(Ev("e1", "c1", "2026-11-23T10:00:00Z"));
  Feed(Ev("e1", "c1", "2026-11-23T10:00:00Z"));
  Feed(Ev("e1", "c1", "2026-11-23T10:00:09Z"));  // same id, other content: still a repeat
  task_->Flush();
  EXPECT_EQ(task_->stats().applied, 1u);
  EXPECT_EQ(task_->stats().duplicates, 2u);
  EXPECT_EQ(task_->stats().dead_lettered, 0u);
  task_->AdvanceWatermark(*ParseRfc3339("2026-11-23T11:00:00Z"));
  EXPECT_EQ(CollectingSink::Field(*sink_.records.at(0).value, "count"), "1");
}

TEST_F(TaskTest, DedupMemoryIsBoundedPerCustomer) {
  TaskOptions o = TaskOptionsFrom(cx::testing::Defaults());
  o.dedup_per_key = 4;
  Reset(o);
  for (int i = 0; i < 6; ++i) Feed(Ev("e" + std::to_string(i), "c1", "2026-11-23T10:00:00Z"));
  task_->Flush();
  task_->Checkpoint();  // the ring is kept decoded until then
  auto stored = store_->Get(OwnerKey("c1"));
  ASSERT_TRUE(stored.ok() && stored->has_value());
  OwnerState owner;
  ASSERT_TRUE(DecodeOwner(**stored, owner).ok());
  auto ring = std::find_if(owner.records.begin(), owner.records.end(),
                           [](const OwnerRecord& r) { return r.name == "#dedup"; });
  ASSERT_NE(ring, owner.records.end());
  EXPECT_EQ(ring->value.size(), 8u + 4 * 8);     // head + 4 hashes, never more
  Feed(Ev("e5", "c1", "2026-11-23T10:00:00Z"));  // recent: caught
  task_->Flush();
  EXPECT_EQ(task_->stats().duplicates, 1u);
  Feed(Ev("e0", "c1", "2026-11-23T10:00:00Z"));  // evicted from the window: applied again
  task_->Flush();
  EXPECT_EQ(task_->stats().duplicates, 1u);
  EXPECT_EQ(task_->stats().applied, 7u);
}

TEST_F(TaskTest, FarFutureTimestampIsDeadLetteredAndDoesNotMoveTheWatermark) {
  task_->set_now(*ParseRfc3339("2026-11-23T10:00:00Z"));
  Feed(Ev("e1", "c1", "2026-11-23T10:00:00Z"));
  Timestamp before = task_->watermark();
  Feed(Ev("e2", "c1", "2026-11-23T10:10:00Z"));
  EXPECT_EQ(task_->watermark(), before);
  ASSERT_EQ(sink_.Values(Stream::kDlq).size(), 1u);
  const std::string dlq = sink_.Values(Stream::kDlq)[0];
  EXPECT_EQ(CollectingSink::Field(dlq, "code"), "future_timestamp");
  EXPECT_EQ(CollectingSink::Field(dlq, "line"), "2");
  Feed(Ev("e3", "c1", "2026-11-23T10:04:00Z"));  // within 5 min: fine
  task_->Flush();
  EXPECT_EQ(task_->stats().applied, 2u);
}

// Regression (issue 15.1): with the watermark as the reference, the first
// event after a quiet gap longer than the skew was rejected, and every later
// one with it, as the rejected event never moved the watermark.
TEST_F(TaskTest, AGapInTheDataNeverRejectsTheEventsAfterIt) {
  task_->set_now(*ParseRfc3339("2026-11-30T00:00:00Z"), Task::NowSource::kReplayStart);
  Feed(Ev("e1", "c1", "2026-11-23T18:00:00Z"));
  Feed(Ev("e2", "c1", "2026-11-24T08:00:00Z"));  // after a 14 h night
  Feed(Ev("e3", "c1", "2026-11-24T08:00:05Z"));
  Feed(Ev("e4", "c1", "2026-11-25T09:00:00Z"));
  task_->Flush();
  EXPECT_EQ(task_->stats().dead_lettered, 0u);
  EXPECT_EQ(task_->stats().applied, 4u);
  // Past the reference by more than the skew: rejected, and the next valid
  // event is still applied. The reason quotes no wall-clock time.
  Feed(Ev("e5", "c1", "2099-01-01T00:00:00Z"));
  Feed(Ev("e6", "c1", "2026-11-25T09:00:01Z"));
  task_->Flush();
  EXPECT_EQ(task_->stats().dead_lettered, 1u);
  EXPECT_EQ(task_->stats().applied, 5u);
  EXPECT_NE(CollectingSink::Field(sink_.Values(Stream::kDlq)[0], "reason")
                .find("ahead of the wall clock when the replay started"),
            std::string::npos);
}

TEST_F(TaskTest, LateEventsAreAppliedAndCounted) {
  Feed(Ev("e1", "c1", "2026-11-23T10:00:30Z"));
  EXPECT_EQ(task_->stats().applied, 0u);         // waits for the watermark (10:00:25)
  Feed(Ev("e2", "c2", "2026-11-23T10:00:00Z"));  // 30 s late, lateness 5 s: applied at once
  EXPECT_EQ(task_->stats().applied, 1u);
  EXPECT_EQ(task_->stats().late, 1u);
  task_->Flush();
  EXPECT_EQ(task_->stats().applied, 2u);
  EXPECT_EQ(task_->buffered(), 0u);
}

// Regression (issue 16.1): events were applied as they arrived and timers
// when the watermark passed them, so a timer saw every event of the
// lateness after its time: what it decided depended on how the watermark
// moved, and run and replay disagreed. Events now wait for the watermark.
TEST_F(TaskTest, EventsWithinTheLatenessAreAppliedInEventTimeOrderWithTheTimers) {
  Feed(Ev("e1", "c1", "2026-11-23T10:00:00Z"));  // c1's report timer: 10:01:00
  Feed(Ev("e2", "c1", "2026-11-23T10:01:02Z"));  // after the timer ...
  Feed(Ev("e3", "c1", "2026-11-23T10:00:59Z"));  // ... and one before it, arriving later
  EXPECT_TRUE(sink_.records.empty());            // watermark 10:00:57
  Feed(Ev("e4", "c2", "2026-11-23T10:01:30Z"));  // watermark 10:01:25
  ASSERT_EQ(sink_.records.size(), 1u);
  // e1 and e3 happened before 10:01:00, e2 after: the report counts 2
  // (applied as they arrived, it counted 3).
  EXPECT_EQ(CollectingSink::Field(*sink_.records[0].value, "count"), "2");
  EXPECT_EQ(task_->stats().applied, 3u);  // e4 waits
  EXPECT_EQ(task_->stats().late, 0u);
}

// An event at the same time as a timer is applied first (an answer at the
// deadline is in time).
TEST_F(TaskTest, AnEventAtATimersTimeComesBeforeIt) {
  Feed(Ev("e1", "c1", "2026-11-23T10:00:00Z"));
  Feed(Ev("e2", "c1", "2026-11-23T10:01:00Z"));
  task_->AdvanceWatermark(*ParseRfc3339("2026-11-23T10:02:00Z"));
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(CollectingSink::Field(*sink_.records[0].value, "count"), "2");
}

// What waits for the watermark is not in the state yet: a commit resumes
// each input at its earliest waiting event, and what is read again that was
// applied is recognised as a repeat.
TEST_F(TaskTest, ACommitResumesAtTheEarliestEventStillWaiting) {
  auto feed = [&](std::int64_t offset, const std::string& json) {
    InputRecord r;
    r.value = json;
    r.source.topic = "cx.chat";
    r.source.offset = offset;
    task_->Process(r);
  };
  feed(10, Ev("e1", "c1", "2026-11-23T10:00:00Z"));
  feed(11, Ev("e2", "c1", "2026-11-23T10:00:08Z"));  // watermark 10:00:03: e1 applied
  feed(12, Ev("e3", "c1", "2026-11-23T10:00:06Z"));
  EXPECT_EQ(task_->stats().applied, 1u);
  EXPECT_EQ(task_->ResumeOffset(0, 13), 11);         // e2 and e3 wait
  feed(13, Ev("e4", "c2", "2026-11-23T10:00:12Z"));  // watermark 10:00:07: e3 applied, e2 waits
  EXPECT_EQ(task_->ResumeOffset(0, 14), 11);
  ASSERT_TRUE(task_->Commit().ok());
  // After a restart from this state, offsets 11 to 13 are read again: e3
  // was applied and is a repeat, e2 and e4 are applied once.
  CollectingSink sink2;
  std::vector<std::unique_ptr<processors::Processor>> ps;
  ps.push_back(std::make_unique<CountingProcessor>());
  Task again(TaskOptionsFrom(cx::testing::Defaults()), *store_, sink2, std::move(ps));
  ASSERT_TRUE(again.Open().ok());
  for (auto [offset, json] :
       std::vector<std::pair<std::int64_t, std::string>>{{11, Ev("e2", "c1", "2026-11-23T10:00:08Z")},
                                                         {12, Ev("e3", "c1", "2026-11-23T10:00:06Z")},
                                                         {13, Ev("e4", "c2", "2026-11-23T10:00:12Z")}}) {
    InputRecord r;
    r.value = json;
    r.source.offset = offset;
    again.Process(r);
  }
  again.AdvanceWatermark(*ParseRfc3339("2026-11-23T10:05:00Z"));
  EXPECT_EQ(again.stats().applied, 2u);
  EXPECT_EQ(again.stats().duplicates, 1u);
  ASSERT_EQ(sink2.Values(Stream::kProfiles).size(), 2u);  // c1 (10:01:00) and c2 (10:01:12)
  EXPECT_EQ(CollectingSink::Field(sink2.Values(Stream::kProfiles)[0], "count"), "3");
  EXPECT_EQ(CollectingSink::Field(sink2.Values(Stream::kProfiles)[1], "count"), "1");
}

// Memory is bounded: past limits.max_buffered_events the oldest waiting
// event is applied at once.
TEST_F(TaskTest, TheReorderBufferIsBounded) {
  TaskOptions o = TaskOptionsFrom(cx::testing::Defaults());
  o.allowed_lateness = 3'600'000;
  o.max_buffered = 2;
  Reset(o);
  for (int i = 0; i < 5; ++i)
    Feed(Ev("e" + std::to_string(i), "c1", "2026-11-23T10:00:0" + std::to_string(i) + "Z"));
  EXPECT_EQ(task_->buffered(), 2u);
  EXPECT_EQ(task_->stats().applied, 3u);
  EXPECT_EQ(task_->stats().reorder_overflows, 3u);
}

TEST_F(TaskTest, EventOnTheWrongTopicIsDeadLettered) {
  Feed(
      R"({"event_id":"e","type":"order.paid","ts":"2026-11-23T10:00:00Z","customer_id":"c","order_id":"o","amount":1})",
      TopicKind::kChat);
  Feed(R"({"event_id":"f","type":"customer.erased","ts":"2026-11-23T10:00:00Z","customer_id":"c"})",
       TopicKind::kOrders);
  ASSERT_EQ(task_->stats().dead_lettered, 1u);
  EXPECT_EQ(CollectingSink::Field(sink_.Values(Stream::kDlq)[0], "code"), "wrong_topic");
}

TEST_F(TaskTest, WatermarkAndTimersSurviveReopenOfTheStore) {
  TaskOptions opts = TaskOptionsFrom(cx::testing::Defaults());
  Feed(Ev("e1", "c1", "2026-11-23T10:00:00Z"));
  task_->Flush();
  ASSERT_TRUE(task_->Commit().ok());
  Timestamp wm = task_->watermark();
  // A new task over the same store: as after a restart.
  CollectingSink sink2;
  std::vector<std::unique_ptr<processors::Processor>> ps;
  ps.push_back(std::make_unique<CountingProcessor>());
  Task again(opts, *store_, sink2, std::move(ps));
  ASSERT_TRUE(again.Open().ok());
  EXPECT_EQ(again.watermark(), wm);
  again.AdvanceWatermark(*ParseRfc3339("2026-11-23T10:05:00Z"));
  ASSERT_EQ(sink2.records.size(), 1u);
  EXPECT_EQ(CollectingSink::Field(*sink2.records[0].value, "count"), "1");
}

// A per-record processor (as the queue stage) that keeps a count per
// customer as an object, and counts its decodes.
struct Count final : processors::StateObject {
  std::int64_t n = 0;
  static inline int decodes = 0;
  static std::unique_ptr<processors::StateObject> DecodeObject(std::string_view in) {
    ++decodes;
    auto c = std::make_unique<Count>();
    c->n = std::stoll(std::string(in));
    return c;
  }
  void EncodeTo(std::string& out) const override { out += std::to_string(n); }
  std::size_t MemoryBytes() const override { return sizeof(Count); }
};
class PerRecordCounter final : public processors::Processor {
 public:
  std::string_view name() const override { return "per-record"; }
  StateLayout state_layout() const override { return StateLayout::kPerRecord; }
  void OnEvent(const Event& e, processors::ProcessorContext& ctx) override {
    Count* c = processors::FindObject<Count>(ctx, e.customer_id, "n");
    if (c == nullptr) c = processors::AddObject(ctx, e.customer_id, "n", std::make_unique<Count>());
    ++c->n;
    ctx.MarkChanged(*c);
  }
  void OnTimer(Timestamp, std::string_view, std::string_view, processors::ProcessorContext&) override {}
};

// Its objects are decoded once per commit interval, written back at the
// commit under their own keys, and read back by a task opened again.
TEST_F(TaskTest, PerRecordObjectsAreWrittenBackAtTheCommitAndReadAgain) {
  auto make = [&] {
    std::vector<std::unique_ptr<processors::Processor>> ps;
    ps.push_back(std::make_unique<PerRecordCounter>());
    auto t = std::make_unique<Task>(TaskOptionsFrom(cx::testing::Defaults()), *store_, sink_, std::move(ps));
    EXPECT_TRUE(t->Open().ok());
    return t;
  };
  task_ = make();
  Count::decodes = 0;
  auto event = [&](int i) {
    Feed(Ev("a" + std::to_string(i), "c1", "2026-11-23T10:00:0" + std::to_string(i) + "Z"));
  };
  for (int i = 0; i < 3; ++i) event(i);
  task_->Flush();
  ASSERT_TRUE(task_->Commit().ok());
  EXPECT_EQ(Count::decodes, 0);  // made, never read from the store
  std::string stored;
  ASSERT_TRUE(store_->Scan("K", "L", [&](std::string_view, std::string_view v) {
    stored.assign(v);
    return true;
  }).ok());
  EXPECT_EQ(stored, "3");

  task_ = make();
  for (int i = 3; i < 6; ++i) event(i);
  task_->Flush();
  ASSERT_TRUE(task_->Commit().ok());
  EXPECT_EQ(Count::decodes, 1);  // once in the interval, however many events
  ASSERT_TRUE(store_->Scan("K", "L", [&](std::string_view, std::string_view v) {
    stored.assign(v);
    return true;
  }).ok());
  EXPECT_EQ(stored, "6");
}

TEST(DeadLetterJsonTest, NamesSourceReasonAndKeepsTheOriginal) {
  RecordSource src;
  src.topic = "cx.chat";
  src.partition = 3;
  src.offset = 42;
  Rejection r{Rejection::Code::kMissingField, "queue", "required field is missing"};
  EXPECT_EQ(
      DeadLetterJson(src, r, "{\"a\":1}"),
      R"({"source":{"topic":"cx.chat","partition":3,"offset":42},"code":"missing_field","field":"queue",)"
      R"("reason":"field `queue`: required field is missing","value":"{\"a\":1}"})");
}

}  // namespace
}  // namespace cx::engine

namespace cx::engine {
namespace {

TEST(TaskNowTest, FutureCheckUsesNowWhenItIsAhead) {
  auto store = state::NewMemoryStore();
  cx::testing::CollectingSink sink;
  Task task(TaskOptionsFrom(cx::testing::Defaults()), *store, sink, {});
  ASSERT_TRUE(task.Open().ok());
  task.set_now(*ParseRfc3339("2026-11-23T12:00:00Z"));
  auto feed = [&](const std::string& ts, int line) {
    std::string json = R"({"event_id":"e)" + std::to_string(line) + R"(","type":"customer.erased","ts":")" +
                       ts + R"(","customer_id":"c"})";
    InputRecord r;
    r.value = json;
    r.source.file = "f";
    r.source.line = line;
    task.Process(r);
  };
  feed("2026-11-23T08:00:00Z", 1);
  feed("2026-11-23T11:00:00Z", 2);  // 3 h after the previous event: a gap, not the future
  feed("2026-11-23T12:04:00Z", 3);  // within the skew of now
  EXPECT_EQ(task.stats().dead_lettered, 0u);
  feed("2026-11-23T12:06:00Z", 4);  // beyond now + 5 min
  EXPECT_EQ(task.stats().dead_lettered, 1u);
  EXPECT_NE(sink.Values(Stream::kDlq)[0].find("ahead of the current time 2026-11-23T12:00:00.000Z"),
            std::string::npos);
}

}  // namespace
}  // namespace cx::engine

namespace cx::engine {
namespace {

// Two inputs (say chat and orders): the watermark is the minimum, and the
// wall clock only moves inputs that are caught up.
class MultiInputTaskTest : public ::testing::Test {
 protected:
  MultiInputTaskTest() : store_(state::NewMemoryStore()) {
    TaskOptions o = TaskOptionsFrom(cx::testing::Defaults());
    o.inputs = 2;
    task_ = std::make_unique<Task>(o, *store_, sink_, std::vector<std::unique_ptr<processors::Processor>>{});
    EXPECT_TRUE(task_->Open().ok());
  }
  void Feed(int input, const std::string& ts) {
    std::string json = R"({"event_id":"e)" + std::to_string(++n_) + R"(","type":"customer.erased","ts":")" +
                       ts + R"(","customer_id":"c"})";
    InputRecord r;
    r.value = json;
    r.input = input;
    r.source.topic = "t";
    task_->Process(r);
  }
  static Timestamp T(const char* s) { return *ParseRfc3339(s); }

  std::unique_ptr<state::Store> store_;
  cx::testing::CollectingSink sink_;
  std::unique_ptr<Task> task_;
  int n_ = 0;
};

TEST_F(MultiInputTaskTest, WatermarkIsTheMinimumOverInputs) {
  Feed(0, "2026-11-23T10:10:00Z");
  EXPECT_EQ(task_->watermark(), Timestamp::Min());  // input 1 has told us nothing yet
  Feed(1, "2026-11-23T10:00:00Z");
  EXPECT_EQ(task_->watermark(), T("2026-11-23T09:59:55Z"));
  Feed(1, "2026-11-23T10:03:00Z");
  EXPECT_EQ(task_->watermark(), T("2026-11-23T10:02:55Z"));
}

TEST_F(MultiInputTaskTest, WallClockMovesOnlyCaughtUpInputs) {
  Feed(0, "2026-11-23T10:00:00Z");
  Feed(1, "2026-11-23T10:00:00Z");
  // Input 1 still has a backlog: the wall clock may not move the watermark.
  task_->OnWallClock(T("2026-11-23T12:00:00Z"), {true, false});
  EXPECT_EQ(task_->watermark(), T("2026-11-23T09:59:55Z"));
  // Both caught up: the watermark follows the wall clock.
  task_->OnWallClock(T("2026-11-23T12:00:00Z"), {true, true});
  EXPECT_EQ(task_->watermark(), T("2026-11-23T12:00:00Z"));
  // And never goes back.
  task_->OnWallClock(T("2026-11-23T11:00:00Z"), {true, true});
  EXPECT_EQ(task_->watermark(), T("2026-11-23T12:00:00Z"));
}

TEST(ReadUptoAtCommitTest, IsKeptWhileATaskReadsAgainAndNeverLowered) {
  // Read up to 100 with an event from 40 still waiting: resume at 40, and
  // what is read again below 100 was read (and dead-lettered) before.
  EXPECT_EQ(ReadUptoAtCommit(-1, 40, 100), 100);
  // Started again at 40, committing at 70 while it reads those again: the
  // records from 70 to 99 were still dead-lettered before, so 100 stays
  // (lowered to 70, a restart would dead-letter them a second time).
  EXPECT_EQ(ReadUptoAtCommit(100, 60, 70), 100);
  EXPECT_EQ(ReadUptoAtCommit(100, 70, 70), 100);
  // Past it, with events waiting: moves on.
  EXPECT_EQ(ReadUptoAtCommit(100, 90, 130), 130);
  // Nothing waiting: nothing is read again, so nothing to keep.
  EXPECT_EQ(ReadUptoAtCommit(100, 150, 150), 100);
}

}  // namespace
}  // namespace cx::engine
