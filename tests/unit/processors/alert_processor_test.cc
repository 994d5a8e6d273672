// AlertProcessor details the replay scenario does not reach.
#include "processors/alerts/alert_processor.h"

#include <gtest/gtest.h>

#include "core/encoding.h"
#include "engine/pipeline.h"
#include "processors/alerts/alert.h"
#include "engine/state_cache.h"
#include "engine/task.h"
#include "tests/unit/test_util.h"

namespace cx::processors {
namespace {

using cx::testing::CollectingSink;

// A task with the alert processor alone, fed events of customer c1.
struct AlertTask {
  AlertTask() : store(state::NewMemoryStore()), task(NewTask()) { EXPECT_TRUE(task->Open().ok()); }
  // `fields`: the event's members after event_id and customer_id.
  void Feed(const std::string& fields) {
    engine::InputRecord r;
    const std::string json =
        R"({"event_id":"e)" + std::to_string(++n) + R"(","customer_id":"c1",)" + fields + "}";
    r.value = json;
    task->Process(r);
    task->Flush();  // applied as it arrives: these tests are about the processor, not ordering
    EXPECT_EQ(task->stats().dead_lettered, 0u) << json;
  }

  // Commits and opens another task over the same store, as after a restart.
  void Restart() {
    ASSERT_TRUE(task->Commit().ok());
    task.reset();
    task = NewTask();
    ASSERT_TRUE(task->Open().ok());
  }
  std::unique_ptr<engine::Task> NewTask() {
    std::vector<std::unique_ptr<Processor>> ps;
    // The conversations' keeper runs last, as the pipeline wires it.
    auto keeper = std::make_unique<ConversationKeeper>();
    ps.push_back(
        std::make_unique<AlertProcessor>(engine::AlertOptionsFrom(cx::testing::Defaults()), *keeper));
    ps.push_back(std::move(keeper));
    return std::make_unique<engine::Task>(engine::TaskOptionsFrom(cx::testing::Defaults()), *store, sink,
                                          std::move(ps));
  }
  // "<action> <dedup_key>" of each alert record, or "tombstone <key>".
  std::vector<std::string> Alerts() const {
    std::vector<std::string> out;
    for (const auto& r : sink.records) {
      if (r.stream != Stream::kAlerts) continue;
      out.push_back(r.value ? CollectingSink::Field(*r.value, "action") + " " + r.key : "tombstone " + r.key);
    }
    return out;
  }

  std::unique_ptr<state::Store> store;
  CollectingSink sink;
  std::unique_ptr<engine::Task> task;  // declared last: destroyed first
  int n = 0;
};

// An alert survives its codec byte for byte (it waits in state and crosses
// the repartition topic), and one written by format 1, where labels and
// details were pairs, reads as the same alert.
TEST(AlertTest, RoundTripsAndReadsFormatOne) {
  Alert a;
  a.dedup_key = "sla_breach:c1/v\"1/frt";
  a.action = "trigger";
  a.severity = "error";
  a.kind = "sla_breach";
  a.summary = "first_response breached";
  a.ts = Timestamp{1'763'892'000'000};
  a.Label("queue", "billing");
  a.Label("channel", "");  // empty: left out
  a.Label("tier", "v\"ip");
  a.DetailString("customer_id", "c1");
  a.DetailNumber("target_s", 60.5);
  a.DetailTime("deadline", Timestamp{1'763'892'060'500});
  const std::string json = a.ToJson("cxstream");
  EXPECT_EQ(json,
            R"({"dedup_key":"sla_breach:c1/v\"1/frt","action":"trigger","severity":"error","kind":"sla_breach",)"
            R"("summary":"first_response breached","source":"cxstream","ts":"2025-11-23T10:00:00.000Z",)"
            R"("labels":{"queue":"billing","tier":"v\"ip"},)"
            R"("details":{"customer_id":"c1","target_s":60.5,"deadline":"2025-11-23T10:01:00.500Z"}})");
  Alert b;
  ASSERT_TRUE(b.Decode(a.Encode()));
  EXPECT_EQ(b.ToJson("cxstream"), json);
  EXPECT_EQ(b.queue, "billing");

  std::string v1(1, '\x01');
  for (std::string_view s : {"sla_breach:c1/v\"1/frt", "trigger", "error", "sla_breach", "first_response breached", ""})
    PutString(v1, s);
  PutVarintSigned(v1, 1'763'892'000'000);
  PutVarint(v1, 2);
  for (std::string_view s : {"queue", "billing", "tier", "v\"ip"}) PutString(v1, s);
  PutVarint(v1, 3);
  for (std::string_view s : {"customer_id", "\"c1\"", "target_s", "60.5", "deadline", "\"2025-11-23T10:01:00.500Z\""})
    PutString(v1, s);
  Alert c;
  ASSERT_TRUE(c.Decode(v1));
  EXPECT_EQ(c.ToJson("cxstream"), json);
  EXPECT_EQ(c.queue, "billing");
  EXPECT_FALSE(c.Decode(std::string(1, '\x03')));  // a later format: refused, not misread
}

// Ids are any JSON string: one that needs escaping in JSON (a quote, a
// backslash) still finds its open alert when the conversation closes.
TEST(AlertProcessorTest, AnIdThatNeedsEscapingStillResolves) {
  AlertTask t;
  const std::string conv = R"(v\"1\\)";  // v"1\ once decoded
  t.Feed(R"("type":"conversation.opened","ts":"2026-11-23T10:00:00Z","conversation_id":")" + conv +
         R"(","channel":"web","queue":"q","priority":"normal")");
  t.Feed(R"("type":"message.customer","ts":"2026-11-23T10:00:01Z","conversation_id":")" + conv +
         R"(","text":"I want to file a complaint")");
  t.Feed(R"("type":"conversation.closed","ts":"2026-11-23T10:00:02Z","conversation_id":")" + conv + R"(")");
  std::vector<std::string> actions;
  for (const auto& v : t.sink.Values(Stream::kAlerts)) actions.push_back(CollectingSink::Field(v, "action"));
  EXPECT_EQ(actions, (std::vector<std::string>{"trigger", "resolve"}));
}

// The runtime counts alerts by kind, action, severity and queue from the
// record's tags (cxstream_alerts_total): they must match the record.
TEST(AlertProcessorTest, AlertsCarryTheirMetricTags) {
  AlertTask t;
  t.Feed(
      R"("type":"conversation.opened","ts":"2026-11-23T10:00:00Z","conversation_id":"v1","channel":"web","queue":"billing","priority":"normal")");
  t.Feed(R"("type":"message.customer","ts":"2026-11-23T10:00:01Z","conversation_id":"v1","sentiment":-0.9)");
  t.Feed(R"("type":"conversation.closed","ts":"2026-11-23T10:00:02Z","conversation_id":"v1")");
  std::vector<std::string> seen;
  for (const auto& rec : t.sink.records) {
    if (rec.stream != Stream::kAlerts) continue;
    EXPECT_EQ(rec.tags.kind, CollectingSink::Field(*rec.value, "kind"));
    EXPECT_EQ(rec.tags.severity, CollectingSink::Field(*rec.value, "severity"));
    EXPECT_EQ(rec.tags.queue, "billing");
    seen.push_back(rec.tags.kind + "/" + rec.tags.event);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"negative_sentiment/trigger", "negative_sentiment/resolve"}));
}

// An SLA warning's summary names the times as printf's %g would: whole
// seconds as integers (docs/alerts.md).
TEST(AlertProcessorTest, AnSlaWarningSummaryNamesElapsedAndTargetInSeconds) {
  auto store = state::NewMemoryStore();
  CollectingSink sink;
  const config::Config& c = cx::testing::Defaults();
  engine::Task task(engine::TaskOptionsFrom(c), *store, sink,
                    engine::BuildCustomerProcessors(c, engine::Mode::kReplay, 1));
  ASSERT_TRUE(task.Open().ok());
  engine::InputRecord r;
  const std::string open =
      R"({"event_id":"e1","type":"conversation.opened","ts":"2026-11-23T10:00:00Z","customer_id":"c1",)"
      R"("conversation_id":"v1","channel":"web","queue":"billing","priority":"normal"})";
  r.value = open;
  task.Process(r);
  task.AdvanceWatermark(*ParseRfc3339("2026-11-23T10:00:50Z"));  // past the warning (48 s), not the deadline
  ASSERT_TRUE(task.error().ok());
  std::vector<std::string> summaries;
  for (const auto& v : sink.Values(Stream::kAlerts)) summaries.push_back(CollectingSink::Field(v, "summary"));
  EXPECT_EQ(summaries, (std::vector<std::string>{"first_response of conversation v1 at 48 s of 60 s"}));
}

// Regression (issue 15.4): a conversation about the same order eight months
// after the first raised repeat_contact. A repeat is about the same order
// within contacts.repeat_window (7 days).
TEST(AlertProcessorTest, RepeatContactOnlyWithinTheWindow) {
  AlertTask t;
  auto open = [&](const std::string& ts, const std::string& conv) {
    t.Feed(R"("type":"conversation.opened","ts":")" + ts + R"(","conversation_id":")" + conv +
           R"(","channel":"web","queue":"q","priority":"normal","order_id":"o1")");
    t.Feed(R"("type":"conversation.closed","ts":")" + ts + R"(","conversation_id":")" + conv + R"(")");
  };
  open("2026-03-01T10:00:00Z", "v1");
  open("2026-11-01T10:00:00Z", "v2");  // eight months on: a first contact again
  EXPECT_TRUE(t.sink.Values(Stream::kAlerts).empty());
  open("2026-11-04T10:00:00Z", "v3");  // three days after v2: a repeat
  const auto alerts = t.sink.Values(Stream::kAlerts);
  ASSERT_EQ(alerts.size(), 2u);  // trigger, and resolve at the close
  EXPECT_EQ(CollectingSink::Field(alerts[0], "dedup_key"), "repeat_contact:c1:v3");
  EXPECT_EQ(CollectingSink::Field(alerts[0], "contacts_in_window"), "2");
}

// What the alerts keep of a customer is one record that a task opened again
// over the same store reads back whole: the open conversation (its queue
// and channel label the resolve), the open alert (not triggered twice), the
// recent contacts (the next contact about the order repeats) and every key
// sent (each ended by a tombstone when the customer is erased).
TEST(AlertProcessorTest, ACustomersAlertsAreOneRecordThatSurvivesARestart) {
  AlertTask t;
  t.Feed(R"("type":"conversation.opened","ts":"2026-11-23T10:00:00Z","conversation_id":"v1","channel":"app",)"
         R"("queue":"billing","priority":"normal","order_id":"o1")");
  t.Feed(R"("type":"message.customer","ts":"2026-11-23T10:00:01Z","conversation_id":"v1","sentiment":-0.9)");
  t.Feed(R"("type":"aftersales.opened","ts":"2026-11-23T10:00:02Z","case_id":"k1","order_id":"o1","kind":"refund")");
  t.Restart();
  auto stored = t.store->Get(engine::OwnerKey("c1"));
  ASSERT_TRUE(stored.ok() && stored.value());
  engine::OwnerState owner;
  ASSERT_TRUE(engine::DecodeOwner(*stored.value(), owner).ok());
  std::vector<std::string> names;
  for (const auto& r : owner.records)
    if (r.name.starts_with("alerts/")) names.push_back(r.name);
  EXPECT_EQ(names, std::vector<std::string>{"alerts/customer"});

  t.Feed(R"("type":"message.customer","ts":"2026-11-23T10:00:03Z","conversation_id":"v1","sentiment":-0.8)");
  t.Feed(R"("type":"conversation.closed","ts":"2026-11-23T10:00:04Z","conversation_id":"v1")");
  t.Feed(R"("type":"conversation.opened","ts":"2026-11-23T10:05:00Z","conversation_id":"v2","channel":"web",)"
         R"("queue":"billing","priority":"normal","order_id":"o1")");
  t.Feed(R"("type":"customer.erased","ts":"2026-11-23T10:06:00Z")");
  EXPECT_EQ(t.Alerts(), (std::vector<std::string>{
                            "trigger negative_sentiment:c1:v1", "resolve negative_sentiment:c1:v1",
                            "trigger repeat_contact:c1:v2", "resolve repeat_contact:c1:v2",
                            "tombstone negative_sentiment:c1:v1", "tombstone repeat_contact:c1:v2"}));
  const auto values = t.sink.Values(Stream::kAlerts);
  EXPECT_EQ(CollectingSink::Field(values[1], "queue"), "billing");
  EXPECT_EQ(CollectingSink::Field(values[1], "channel"), "app");
  EXPECT_EQ(CollectingSink::Field(values[2], "contacts_in_window"), "2");
}

// The queue stage's record per queue stays small however large the storm:
// a breach costs the same in a storm of ten or of ten thousand.
// Regression (issue 16.4): the storm record kept every breach of the window
// and was decoded and re-encoded on each breach (80,000 openings took 30 s,
// against 3.4 s for 20,000).
TEST(AlertQueueStageTest, TheStormRecordDoesNotGrowWithTheStorm) {
  auto store = state::NewMemoryStore();
  CollectingSink sink;
  const config::Config& c = cx::testing::Defaults();
  engine::TaskOptions o = engine::TaskOptionsFrom(c);
  o.inputs = 2;
  o.repartition_input = 1;
  o.repartition_sources = 1;
  engine::Task task(o, *store, sink, engine::BuildCustomerProcessors(c, engine::Mode::kReplay, 1));
  ASSERT_TRUE(task.Open().ok());
  auto storm_bytes = [&] {
    auto v = task.ReadState("alerts-queue", "billing", "storm");
    return v.ok() && v->has_value() ? (*v)->size() : 0;
  };
  const Timestamp start = *ParseRfc3339("2026-11-23T10:00:00Z");
  std::size_t at_100 = 0;
  for (int i = 0; i < 2000; ++i) {
    // One unanswered conversation a second: each breaches a minute later.
    engine::InputRecord r;
    const std::string json = R"({"event_id":"e)" + std::to_string(i) +
                             R"(","type":"conversation.opened","ts":")" + FormatRfc3339(start + i * 1000LL) +
                             R"(","customer_id":"c)" + std::to_string(i) + R"(","conversation_id":"v)" +
                             std::to_string(i) +
                             R"(","channel":"web","queue":"billing","priority":"normal"})";
    r.value = json;
    task.Process(r);
    std::vector<std::string> loop;
    for (auto& rec : sink.records)
      if (rec.stream == Stream::kRepartition && rec.value) loop.push_back(*rec.value);
    sink.records.clear();
    for (const auto& v : loop) {
      engine::InputRecord rr;
      rr.value = v;
      rr.input = 1;
      task.Process(rr);
    }
    ASSERT_TRUE(task.error().ok());
    if (i == 100) at_100 = storm_bytes();
  }
  EXPECT_GT(at_100, 0u);
  EXPECT_LT(storm_bytes(), 128u);  // ~600 breaches in the 10 min window: the old record held them all
  EXPECT_LE(storm_bytes(), at_100 + 8);
}

}  // namespace
}  // namespace cx::processors
