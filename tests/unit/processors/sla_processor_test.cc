#include "processors/sla/sla_processor.h"

#include <gtest/gtest.h>

#include "engine/pipeline.h"
#include "engine/state_cache.h"
#include "engine/task.h"
#include "tests/unit/test_util.h"

namespace cx::processors {
namespace {

using cx::testing::CollectingSink;

// The SLA engine and the conversations' keeper it reads, run after it as
// the pipeline wires them.
std::vector<std::unique_ptr<Processor>> SlaProcessors(SlaOptions o) {
  std::vector<std::unique_ptr<Processor>> ps;
  auto keeper = std::make_unique<ConversationKeeper>();
  ps.push_back(std::make_unique<SlaProcessor>(std::move(o), *keeper));
  ps.push_back(std::move(keeper));
  return ps;
}

// Runs the SLA processor in a real task over an in-memory store. Times are
// seconds after 10:00:00Z; lateness is 5 s.
class SlaProcessorTest : public ::testing::Test {
 protected:
  SlaProcessorTest() : store_(state::NewMemoryStore()) { NewTask(); }
  // A task over the store (after a commit: as after a restart).
  void NewTask() {
    std::vector<std::unique_ptr<Processor>> ps =
        SlaProcessors(engine::SlaOptionsFrom(cx::testing::Defaults()));
    task_ = std::make_unique<engine::Task>(engine::TaskOptionsFrom(cx::testing::Defaults()), *store_, sink_,
                                           std::move(ps));
    EXPECT_TRUE(task_->Open().ok());
    // "Now" is after every test event (as --until in a replay of history),
    // so events hours apart are not taken for the future.
    task_->set_now(*ParseRfc3339("2027-01-01T00:00:00Z"));
  }

  static std::string At(int s) {
    return FormatRfc3339(Timestamp{*ParseRfc3339("2026-11-23T10:00:00Z")} + s * 1000LL);
  }
  // An event of customer c1 with the given type, time and further fields.
  void Raw(std::string type, int at, std::string fields) {
    std::string json = R"({"event_id":"e)" + std::to_string(++n_) + R"(","type":")" + type + R"(","ts":")" +
                       At(at) + R"(","customer_id":"c1")" + fields + "}";
    engine::InputRecord r;
    r.value = json;
    r.source.file = "t";
    r.source.line = n_;
    task_->Process(r);
    // Applied as it arrives (the watermark stays where the events put it):
    // these tests are about the SLA rules, the task's ordering is TaskTest's.
    task_->Flush();
    ASSERT_EQ(task_->stats().dead_lettered, 0u) << json;
  }
  void Feed(std::string type, int at, std::string conv, std::string extra = "") {
    Raw(type, at, R"(,"conversation_id":")" + conv + "\"" + extra);
  }
  void Open(int at, std::string conv, std::string priority = "normal", std::string channel = "web",
            std::string extra = "") {
    Feed("conversation.opened", at, conv,
         R"(,"channel":")" + channel + R"(","queue":"q1","priority":")" + priority + "\"" + extra);
  }
  void Reply(int at, std::string conv, std::string extra = "") {
    Feed("message.agent", at, conv, R"(,"agent_id":"a1")" + extra);
  }
  void Until(int at) { task_->AdvanceWatermark(*ParseRfc3339(At(at))); }
  // Every clock activated so far has ended (the open-clock counts are empty).
  void ExpectNoOpenClocks() {
    engine::OpenClockCounts open;
    ASSERT_TRUE(engine::AddOpenSlaClocks(*task_, open).ok());
    EXPECT_TRUE(open.empty());
  }

  std::unique_ptr<state::Store> store_;
  CollectingSink sink_;
  std::unique_ptr<engine::Task> task_;
  int n_ = 0;
};

TEST_F(SlaProcessorTest, ReplyInTimeFulfilsWithoutBreach) {
  Open(0, "v1");
  Reply(20, "v1");
  Until(600);
  EXPECT_EQ(sink_.SlaEvents(), (std::vector<std::string>{"v1:activate", "v1:fulfill"}));
  EXPECT_EQ(CollectingSink::Field(sink_.Sla("first_response", "fulfill")[0], "breached"), "false");
  EXPECT_EQ(CollectingSink::Field(sink_.Sla("first_response", "fulfill")[0], "elapsed_s"), "20");
}

TEST_F(SlaProcessorTest, NoReplyGivesWarningThenBreachAtTheDeadline) {
  Open(0, "v1");  // normal chat: 60 s, warning at 48 s
  Until(100);
  EXPECT_EQ(sink_.SlaEvents(), (std::vector<std::string>{"v1:activate", "v1:warning", "v1:breach"}));
  EXPECT_EQ(CollectingSink::Field(sink_.Sla("first_response", "warning")[0], "ts"),
            "2026-11-23T10:00:48.000Z");
  const auto breach = sink_.Sla("first_response", "breach")[0];
  EXPECT_EQ(CollectingSink::Field(breach, "ts"), "2026-11-23T10:01:00.000Z");
  EXPECT_EQ(CollectingSink::Field(breach, "deadline"), "2026-11-23T10:01:00.000Z");
}

// One timer per running clock: the warning point's, then, once the warning
// has fired, the deadline's; none once it breached or ended.
TEST_F(SlaProcessorTest, ARunningClockHoldsOneTimerAtATime) {
  Open(0, "v1");  // first response: 60 s, warning at 48 s
  const std::int64_t after_open = task_->pending_timers();
  Until(50);  // the warning fires; the deadline's timer replaces its
  EXPECT_EQ(sink_.SlaEvents(), (std::vector<std::string>{"v1:activate", "v1:warning"}));
  EXPECT_EQ(task_->pending_timers(), after_open);
  Until(61);  // the breach: no timer left for that clock
  EXPECT_EQ(sink_.Sla("first_response", "breach").size(), 1u);
  EXPECT_EQ(task_->pending_timers(), after_open - 1);
  Reply(62, "v1");
  EXPECT_EQ(task_->pending_timers(), after_open - 1);
}

TEST_F(SlaProcessorTest, ReplyAfterBreachFulfilsMarkedBreached) {
  Open(0, "v1");
  Feed("message.customer", 70, "v1");  // moves the watermark to 65 s: breach fires
  Reply(90, "v1");
  EXPECT_EQ(sink_.SlaEvents(),
            (std::vector<std::string>{"v1:activate", "v1:warning", "v1:breach", "v1:fulfill"}));
  EXPECT_EQ(CollectingSink::Field(sink_.Sla("first_response", "fulfill")[0], "breached"), "true");
}

TEST_F(SlaProcessorTest, LateReplyWithinLatenessPreventsTheBreach) {
  Open(0, "v1");
  Feed("message.customer", 63, "v1");  // watermark 58 s: nothing due yet but the warning
  Reply(55, "v1");                     // arrives late, happened before the deadline
  Until(600);
  EXPECT_EQ(sink_.SlaEvents(), (std::vector<std::string>{"v1:activate", "v1:warning", "v1:fulfill"}));
  EXPECT_EQ(CollectingSink::Field(sink_.Sla("first_response", "fulfill")[0], "breached"), "false");
}

TEST_F(SlaProcessorTest, ReplyAfterTheDeadlineBeforeTheTimerStillBreaches) {
  Open(0, "v1");
  Reply(62, "v1");  // watermark 57: the breach timer has not fired, but 62 > 60
  Until(600);
  EXPECT_EQ(sink_.SlaEvents(),
            (std::vector<std::string>{"v1:activate", "v1:warning", "v1:breach", "v1:fulfill"}));
}

TEST_F(SlaProcessorTest, BotRepliesAndInternalNotesDoNotCount) {
  Open(0, "v1");
  Reply(5, "v1", R"(,"auto":true)");
  Reply(6, "v1", R"(,"public":false)");
  Until(100);
  EXPECT_EQ(sink_.SlaEvents(), (std::vector<std::string>{"v1:activate", "v1:warning", "v1:breach"}));
}

TEST_F(SlaProcessorTest, AbandonCancelsAndStopsTheTimers) {
  Open(0, "v1");
  Feed("conversation.abandoned", 30, "v1");
  Until(600);
  EXPECT_EQ(sink_.SlaEvents(), (std::vector<std::string>{"v1:activate", "v1:cancel"}));
}

TEST_F(SlaProcessorTest, TargetsFollowChannelPriorityAndVipTier) {
  Open(0, "urgent", "urgent");
  Open(0, "vip", "normal", "app", R"(,"customer_tier":"vip")");
  Open(0, "mail", "normal", "email");
  Open(0, "call", "low", "phone");
  auto sla = sink_.Sla("first_response", "activate");
  ASSERT_EQ(sla.size(), 4u);
  EXPECT_EQ(CollectingSink::Field(sla[0], "target_s"), "15");
  EXPECT_EQ(CollectingSink::Field(sla[1], "target_s"), "30");
  EXPECT_EQ(CollectingSink::Field(sla[1], "policy"), "default-chat-vip");
  EXPECT_EQ(CollectingSink::Field(sla[2], "target_s"), "28800");
  EXPECT_EQ(CollectingSink::Field(sla[3], "target_s"), "120");  // phone, low
}

// Regression (issue 15.3): the email policy set only first_response, so an
// email follow-up fell through to the chat-like default and breached 120 s
// after the customer wrote. The first matching policy applies as a whole.
TEST_F(SlaProcessorTest, EmailFollowUpIsMeasuredByTheEmailPolicyNotTheChatDefault) {
  Open(0, "mail", "normal", "email");
  Reply(3600, "mail");
  Feed("message.customer", 3700, "mail");
  Reply(3700 + 3600, "mail");  // an hour later: well inside 8 h
  Until(3700 + 4 * 3600);
  auto next = sink_.Sla("next_response", "activate");
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(CollectingSink::Field(next[0], "policy"), "default-email");
  EXPECT_EQ(CollectingSink::Field(next[0], "target_s"), "28800");
  EXPECT_TRUE(sink_.Sla("next_response", "breach").empty());
  EXPECT_EQ(CollectingSink::Field(sink_.Sla("resolution", "activate")[0], "target_s"), "172800");
}

TEST_F(SlaProcessorTest, APolicyAppliesAsAWholeAndDoesNotFallThroughPerMetric) {
  SlaOptions o = engine::SlaOptionsFrom(cx::testing::Defaults());
  Policy first;  // no conditions: matches every subject
  first.name = "first-response-only";
  first.SetTarget(Metric::kFirstResponse, 30'000);
  Policy rest;
  rest.name = "rest";
  rest.SetTarget(Metric::kFirstResponse, 60'000);
  rest.SetTarget(Metric::kResolution, 3'600'000);
  rest.SetTarget(Metric::kOrderShip, 3'600'000);
  o.policies = {first, rest};
  std::vector<std::unique_ptr<Processor>> ps = SlaProcessors(o);
  task_ = std::make_unique<engine::Task>(engine::TaskOptionsFrom(cx::testing::Defaults()), *store_, sink_,
                                         std::move(ps));
  ASSERT_TRUE(task_->Open().ok());
  Open(0, "v1");
  Raw("order.paid", 0, R"(,"order_id":"o1","amount":10)");
  // The first policy measures conversations: its first response only; the
  // resolution target of "rest" does not apply.
  EXPECT_EQ(sink_.SlaEvents("first_response"), (std::vector<std::string>{"v1:activate"}));
  EXPECT_EQ(CollectingSink::Field(sink_.Sla("first_response", "activate")[0], "policy"),
            "first-response-only");
  EXPECT_TRUE(sink_.SlaEvents("resolution").empty());
  // It measures no orders, so the order goes on to "rest".
  EXPECT_EQ(CollectingSink::Field(sink_.Sla("order_ship", "activate")[0], "policy"), "rest");
}

TEST_F(SlaProcessorTest, ReplyBeforeOpenInArrivalOrderIsMatched) {
  Reply(10, "v1");
  Open(0, "v1");
  Until(600);
  EXPECT_EQ(sink_.SlaEvents(), (std::vector<std::string>{"v1:activate", "v1:fulfill"}));
}

TEST_F(SlaProcessorTest, SecondReplyDoesNothing) {
  Open(0, "v1");
  Reply(10, "v1");
  Reply(20, "v1");
  Until(600);
  EXPECT_EQ(sink_.SlaEvents(), (std::vector<std::string>{"v1:activate", "v1:fulfill"}));
}

}  // namespace
}  // namespace cx::processors

namespace cx::processors {
namespace {

using cx::testing::CollectingSink;

// Events of any type, for metrics beyond first_response. Times are seconds
// after 2026-11-23T10:00:00Z.
class SlaMetricsTest : public SlaProcessorTest {
 protected:
  std::string F(const std::string& metric, const std::string& event, const std::string& field, int i = 0) {
    auto v = sink_.Sla(metric, event);
    return static_cast<int>(v.size()) > i ? CollectingSink::Field(v[i], field) : "<none>";
  }
};

TEST_F(SlaMetricsTest, NextResponseStartsAtTheCustomerAfterAnAgentReplyAndDoesNotRestart) {
  Open(0, "v1");
  Feed("message.customer", 2, "v1");  // before any reply: first_response's
  Reply(10, "v1");
  Feed("message.customer", 20, "v1");  // starts next_response (normal: 120 s)
  Feed("message.customer", 30, "v1");  // does not restart it
  Reply(50, "v1");
  Feed("message.customer", 60, "v1");  // a second wait
  Until(400);
  EXPECT_EQ(
      sink_.SlaEvents("next_response"),
      (std::vector<std::string>{"v1:activate", "v1:fulfill", "v1:activate", "v1:warning", "v1:breach"}));
  EXPECT_EQ(F("next_response", "activate", "target_s"), "120");
  EXPECT_EQ(F("next_response", "fulfill", "elapsed_s"), "30");
  EXPECT_EQ(F("next_response", "breach", "ts"), "2026-11-23T10:03:00.000Z");
  EXPECT_EQ(F("next_response", "breach", "id"), "c1/v1/next_response#2/breach");
}

TEST_F(SlaMetricsTest, ResolutionPausesWhilePendingAndTheDeadlineMovesByThePause) {
  Open(0, "v1", "urgent");  // resolution urgent: 1 h
  Raw("conversation.status", 600, R"(,"conversation_id":"v1","status":"pending")");
  Feed("message.customer", 2400, "v1");  // the customer answered: resumes after 30 min paused
  Raw("conversation.closed", 4800, R"(,"conversation_id":"v1")");  // 50 min of clock time
  Until(9000);
  EXPECT_EQ(sink_.SlaEvents("resolution"),
            (std::vector<std::string>{"v1:activate", "v1:pause", "v1:resume", "v1:warning", "v1:fulfill"}));
  EXPECT_EQ(F("resolution", "pause", "elapsed_s"), "600");
  EXPECT_EQ(F("resolution", "resume", "deadline"), "2026-11-23T11:30:00.000Z");  // 11:00 + 30 min
  EXPECT_EQ(F("resolution", "warning", "ts"), "2026-11-23T11:18:00.000Z");       // 48 min of clock time
  EXPECT_EQ(F("resolution", "fulfill", "elapsed_s"), "3000");                    // 4800 - 1800 paused
  EXPECT_EQ(F("resolution", "fulfill", "breached"), "false");
}

TEST_F(SlaMetricsTest, StatusOpenOrOnHoldResumes) {
  Open(0, "v1", "urgent");
  Raw("conversation.status", 100, R"(,"conversation_id":"v1","status":"pending")");
  Raw("conversation.status", 200, R"(,"conversation_id":"v1","status":"on_hold")");
  EXPECT_EQ(sink_.SlaEvents("resolution"),
            (std::vector<std::string>{"v1:activate", "v1:pause", "v1:resume"}));
}

TEST_F(SlaMetricsTest, TransferKeepsElapsedTimeAndTakesTheNewTarget) {
  SlaOptions o = engine::SlaOptionsFrom(cx::testing::Defaults());
  Policy vipq;
  vipq.name = "vip-queue";
  vipq.queues = {"vipdesk"};
  vipq.SetTarget(Metric::kFirstResponse, 20'000);
  o.policies.insert(o.policies.begin(), vipq);
  std::vector<std::unique_ptr<Processor>> ps = SlaProcessors(o);
  store_ = state::NewMemoryStore();
  sink_ = CollectingSink();
  task_ = std::make_unique<engine::Task>(engine::TaskOptionsFrom(cx::testing::Defaults()), *store_, sink_,
                                         std::move(ps));
  ASSERT_TRUE(task_->Open().ok());
  task_->set_now(*ParseRfc3339("2027-01-01T00:00:00Z"));
  Open(0, "v1");                                                                        // 60 s in q1
  Raw("conversation.transferred", 30, R"(,"conversation_id":"v1","queue":"vipdesk")");  // now 20 s: overdue
  Until(100);
  EXPECT_EQ(sink_.SlaEvents(), (std::vector<std::string>{"v1:activate", "v1:warning", "v1:breach"}));
  EXPECT_EQ(F("first_response", "breach", "ts"), "2026-11-23T10:00:20.000Z");
  EXPECT_EQ(F("first_response", "breach", "policy"), "vip-queue");
  EXPECT_EQ(F("first_response", "breach", "queue"), "vipdesk");
}

// The customer's SLA record (its subjects and clocks, running and paused,
// cycles, placeholders) written at a commit and read back by a new task
// over the same store gives the same decisions as a task that never
// stopped.
TEST_F(SlaMetricsTest, TheCustomerRecordReadBackDecidesAsTheOneInMemory) {
  auto run = [&](bool restart) -> std::vector<std::string> {
    store_ = state::NewMemoryStore();
    sink_ = CollectingSink();
    auto start = [&] {
      std::vector<std::unique_ptr<Processor>> ps =
          SlaProcessors(engine::SlaOptionsFrom(cx::testing::Defaults()));
      task_ = std::make_unique<engine::Task>(engine::TaskOptionsFrom(cx::testing::Defaults()), *store_, sink_,
                                             std::move(ps));
      ASSERT_TRUE(task_->Open().ok());
      task_->set_now(*ParseRfc3339("2027-01-01T00:00:00Z"));
    };
    start();
    Open(0, "v1");
    Reply(10, "v1");
    Feed("message.customer", 20, "v1");  // next_response, cycle 2
    Raw("conversation.status", 25, R"(,"conversation_id":"v1","status":"pending")");  // resolution paused
    Reply(30, "v2");                     // before v2 opens: a placeholder
    Raw("aftersales.opened", 31, R"(,"case_id":"k1","order_id":"o1","kind":"refund")");
    Raw("order.paid", 32, R"(,"order_id":"o1","amount":10)");
    if (restart) {
      EXPECT_TRUE(task_->Commit().ok());
      start();  // the state now comes from the store's bytes
    }
    Open(29, "v2");  // the placeholder's reply (at 30) answers it
    Raw("conversation.status", 40, R"(,"conversation_id":"v1","status":"open")");
    // An open conversation's attributes come from the shared record once
    // read back: a wait started now is of the channel it was opened on, and
    // after the transfer of its queue.
    Reply(41, "v1");
    Feed("message.customer", 42, "v1");  // next_response, cycle 3
    Raw("conversation.transferred", 45, R"(,"conversation_id":"v1","queue":"returns")");
    Raw("aftersales.approved", 50, R"(,"case_id":"k1")");
    Raw("order.shipped", 60, R"(,"order_id":"o1")");
    Until(100000);
    return sink_.Values(Stream::kSla);
  };
  const std::vector<std::string> kept = run(false), restored = run(true);
  EXPECT_EQ(restored, kept);
  EXPECT_GT(kept.size(), 12u);
  EXPECT_EQ(F("first_response", "fulfill", "subject_id", 1), "v2");
  EXPECT_EQ(F("next_response", "breach", "subject_id"), "v1");
  EXPECT_EQ(F("next_response", "breach", "queue"), "returns");
  EXPECT_EQ(F("next_response", "breach", "channel"), "web");
  EXPECT_EQ(F("next_response", "activate", "channel", 1), "web");
}

TEST_F(SlaMetricsTest, AbandonAfterTheDeadlineIsPrecededByTheBreach) {
  Open(0, "v1");
  Feed("conversation.abandoned", 62, "v1");  // watermark 57: the timers had not fired
  Until(600);
  EXPECT_EQ(sink_.SlaEvents(),
            (std::vector<std::string>{"v1:activate", "v1:warning", "v1:breach", "v1:cancel"}));
  EXPECT_EQ(sink_.SlaEvents("resolution"), (std::vector<std::string>{"v1:activate", "v1:cancel"}));
}

TEST_F(SlaMetricsTest, ReturnIsRefundedFromItemReceivedARefundCaseFromApproval) {
  Raw("aftersales.opened", 0, R"(,"case_id":"k1","order_id":"o1","kind":"return")");
  Raw("aftersales.opened", 0, R"(,"case_id":"k2","order_id":"o2","kind":"refund")");
  Raw("aftersales.approved", 3600, R"(,"case_id":"k1")");
  Raw("aftersales.approved", 3600, R"(,"case_id":"k2")");
  Raw("aftersales.item_received", 7200, R"(,"case_id":"k1")");
  Raw("aftersales.refunded", 10800, R"(,"case_id":"k1","amount":10)");
  Raw("aftersales.refunded", 10800, R"(,"case_id":"k2","amount":10)");
  EXPECT_EQ(sink_.SlaEvents("aftersales_approval"),
            (std::vector<std::string>{"k1:activate", "k2:activate", "k1:fulfill", "k2:fulfill"}));
  EXPECT_EQ(sink_.SlaEvents("aftersales_refund"),
            (std::vector<std::string>{"k2:activate", "k1:activate", "k1:fulfill", "k2:fulfill"}));
  auto refunds = sink_.Sla("aftersales_refund", "fulfill");
  EXPECT_EQ(CollectingSink::Field(refunds[0], "elapsed_s"), "3600");  // k1: from item_received
  EXPECT_EQ(CollectingSink::Field(refunds[1], "elapsed_s"), "7200");  // k2: from approval
  EXPECT_EQ(CollectingSink::Field(refunds[0], "kind"), "return");
  EXPECT_EQ(F("aftersales_approval", "activate", "target_s"), "86400");
}

TEST_F(SlaMetricsTest, RejectedCaseHasNoRefundClockAndReopenStartsANewResolution) {
  Raw("aftersales.opened", 0, R"(,"case_id":"k1","order_id":"o1","kind":"complaint")");
  Raw("aftersales.rejected", 60, R"(,"case_id":"k1")");
  Raw("aftersales.closed", 120, R"(,"case_id":"k1")");
  Raw("aftersales.reopened", 600, R"(,"case_id":"k1")");
  Raw("aftersales.closed", 900, R"(,"case_id":"k1")");
  EXPECT_TRUE(sink_.SlaEvents("aftersales_refund").empty());
  EXPECT_EQ(sink_.SlaEvents("aftersales_resolution"),
            (std::vector<std::string>{"k1:activate", "k1:fulfill", "k1:activate", "k1:fulfill"}));
  EXPECT_EQ(F("aftersales_resolution", "fulfill", "id", 1), "c1/k1/aftersales_resolution#2/fulfill");
  EXPECT_EQ(F("aftersales_resolution", "fulfill", "elapsed_s", 1), "300");
}

// Regression (issue 15.2): an approved exchange closed without a refund
// warned, breached and paged on aftersales_refund. Only cases that owe a
// refund have the clock: refund and return always, other kinds with an
// amount on the opening.
TEST_F(SlaMetricsTest, OnlyCasesThatOweARefundHaveARefundClock) {
  Raw("aftersales.opened", 0, R"(,"case_id":"ex","order_id":"o1","kind":"exchange")");
  Raw("aftersales.opened", 0, R"(,"case_id":"rp","order_id":"o2","kind":"repair")");
  Raw("aftersales.opened", 0, R"(,"case_id":"cp","order_id":"o3","kind":"complaint","amount":25)");
  Raw("aftersales.opened", 0, R"(,"case_id":"cz","order_id":"o4","kind":"complaint","amount":0)");
  for (const char* k : {"ex", "rp", "cp", "cz"})
    Raw("aftersales.approved", 60, std::string(R"(,"case_id":")") + k + "\"");
  for (const char* k : {"ex", "rp", "cz"})
    Raw("aftersales.closed", 3600, std::string(R"(,"case_id":")") + k + "\"");
  Until(400'000);  // past every 48 h deadline
  EXPECT_EQ(sink_.SlaEvents("aftersales_refund"),
            (std::vector<std::string>{"cp:activate", "cp:warning", "cp:breach"}));
}

// Regression (issue 15.5): reopened on a case that was still open replaced
// its running resolution clock, which then never ended.
TEST_F(SlaMetricsTest, ReopenedWhileStillOpenLeavesNoClockBehind) {
  Raw("aftersales.opened", 0, R"(,"case_id":"k1","order_id":"o1","kind":"repair")");
  Raw("aftersales.reopened", 600, R"(,"case_id":"k1")");
  Raw("aftersales.closed", 900, R"(,"case_id":"k1")");
  EXPECT_EQ(sink_.SlaEvents("aftersales_resolution"),
            (std::vector<std::string>{"k1:activate", "k1:fulfill"}));
  EXPECT_EQ(F("aftersales_resolution", "fulfill", "elapsed_s"), "900");
  ExpectNoOpenClocks();
}

TEST_F(SlaMetricsTest, DeliveredWithoutShippedEndsTheShipClockAndPaidAfterShippedStartsNone) {
  Raw("order.paid", 0, R"(,"order_id":"o1","amount":10)");
  Raw("order.delivered", 7200, R"(,"order_id":"o1")");
  Raw("order.shipped", 0, R"(,"order_id":"o2")");
  Raw("order.paid", 10, R"(,"order_id":"o2","amount":10)");  // after shipped, in arrival order
  Raw("order.delivered", 3600, R"(,"order_id":"o2")");
  EXPECT_EQ(sink_.SlaEvents("order_ship"), (std::vector<std::string>{"o1:activate", "o1:fulfill"}));
  EXPECT_EQ(F("order_ship", "fulfill", "elapsed_s"), "7200");
  ExpectNoOpenClocks();
}

TEST_F(SlaMetricsTest, OrderShipThenDeliveryAndCancellation) {
  Raw("order.paid", 0, R"(,"order_id":"o1","amount":10)");
  Raw("order.shipped", 3600, R"(,"order_id":"o1")");
  Raw("order.delivered", 90000, R"(,"order_id":"o1")");
  Raw("order.paid", 0, R"(,"order_id":"o2","amount":10)");
  Raw("order.cancelled", 100, R"(,"order_id":"o2")");
  EXPECT_EQ(sink_.SlaEvents("order_ship"),
            (std::vector<std::string>{"o1:activate", "o1:fulfill", "o2:activate", "o2:cancel"}));
  EXPECT_EQ(sink_.SlaEvents("order_delivery"), (std::vector<std::string>{"o1:activate", "o1:fulfill"}));
  EXPECT_EQ(F("order_ship", "activate", "target_s"), "172800");
  EXPECT_EQ(F("order_delivery", "fulfill", "elapsed_s"), "86400");
  EXPECT_EQ(F("order_ship", "activate", "subject_type"), "order");
}

TEST_F(SlaMetricsTest, LateShipmentBreachesAtTheDeadline) {
  Raw("order.paid", 0, R"(,"order_id":"o1","amount":10)");
  Raw("order.shipped", 200000, R"(,"order_id":"o1")");  // 48 h = 172800 s
  EXPECT_EQ(sink_.SlaEvents("order_ship"),
            (std::vector<std::string>{"o1:activate", "o1:warning", "o1:breach", "o1:fulfill"}));
  EXPECT_EQ(F("order_ship", "breach", "ts"), "2026-11-25T10:00:00.000Z");
  EXPECT_EQ(F("order_ship", "fulfill", "breached"), "true");
}

}  // namespace
}  // namespace cx::processors

namespace cx::processors {
namespace {

// Open clocks per (metric, queue) are counted in memory between commits and
// written back at commit: what a reader sees is the same before a commit,
// after it and after a restart, and a queue whose clocks all ended keeps no
// record.
TEST_F(SlaProcessorTest, OpenClockCountsReadTheSameBeforeAndAfterACommit) {
  auto counts = [&] {
    engine::OpenClockCounts open;
    EXPECT_TRUE(engine::AddOpenSlaClocks(*task_, open).ok());
    std::vector<std::string> out;
    for (const auto& [key, n] : open)
      out.push_back(std::string(ToString(key.first)) + "/" + key.second + "=" + std::to_string(n));
    return out;
  };
  auto restart = [&] {
    ASSERT_TRUE(task_->Commit().ok());
    NewTask();
  };
  Open(0, "v1");
  Open(1, "v2");
  const std::vector<std::string> two = {"first_response/q1=2", "resolution/q1=2"};
  EXPECT_EQ(counts(), two);  // not committed yet
  ASSERT_TRUE(task_->Commit().ok());
  EXPECT_EQ(counts(), two);
  Reply(10, "v1");
  EXPECT_EQ(counts(), (std::vector<std::string>{"first_response/q1=1", "resolution/q1=2"}));
  restart();
  EXPECT_EQ(counts(), (std::vector<std::string>{"first_response/q1=1", "resolution/q1=2"}));
  Reply(11, "v2");
  Feed("conversation.closed", 20, "v1");
  Feed("conversation.closed", 21, "v2");
  EXPECT_TRUE(counts().empty());
  restart();
  EXPECT_TRUE(counts().empty());
  std::optional<std::string> none;
  auto left = task_->ReadState("sla", "", std::string(SlaProcessor::kOpenCountPrefix) + "first_response/q1");
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(*left, none);
}

// Regression: the next-response wait count was kept in a record of its own
// that outlived the conversation, one leaked record per conversation.
TEST_F(SlaProcessorTest, ClosedConversationLeavesNoStateBehind) {
  Open(0, "v1");
  Reply(10, "v1");
  Feed("message.customer", 20, "v1");
  Reply(30, "v1");
  Feed("message.customer", 40, "v1");
  Reply(50, "v1");
  Feed("conversation.closed", 60, "v1");
  ASSERT_TRUE(task_->Commit().ok());
  // Every owner's record: what is left of it but the dedup ring, timers included.
  std::vector<std::string> left;
  ASSERT_TRUE(store_
                  ->Scan("O", "P",
                         [&](std::string_view k, std::string_view v) {
                           engine::OwnerState owner;
                           EXPECT_TRUE(engine::DecodeOwner(v, owner).ok());
                           for (const auto& r : owner.records)
                             if (r.name != "#dedup") left.push_back(std::string(k) + " " + r.name);
                           for (const auto& t : owner.timers) left.push_back(std::string(k) + " timer " + t.tag);
                           return true;
                         })
                  .ok());
  EXPECT_TRUE(left.empty()) << left.size() << " keys left, first: " << left[0];
  EXPECT_EQ(sink_.SlaEvents("next_response"),
            (std::vector<std::string>{"v1:activate", "v1:fulfill", "v1:activate", "v1:fulfill"}));
  EXPECT_EQ(CollectingSink::Field(sink_.Sla("next_response", "fulfill")[1], "id"),
            "c1/v1/next_response#2/fulfill");
}

}  // namespace
}  // namespace cx::processors
