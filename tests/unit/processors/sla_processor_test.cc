#include "processors/sla/sla_processor.h"

#include <gtest/gtest.h>

#include "engine/task.h"
#include "tests/unit/test_util.h"

namespace cx::processors {
namespace {

using cx::testing::CollectingSink;

// Runs the SLA processor in a real task over an in-memory store. Times are
// seconds after 10:00:00Z; lateness is 5 s.
class SlaProcessorTest : public ::testing::Test {
 protected:
  SlaProcessorTest() : store_(state::NewMemoryStore()) {
    std::vector<std::unique_ptr<Processor>> ps;
    ps.push_back(std::make_unique<SlaProcessor>(SlaOptions{}));
    task_ = std::make_unique<engine::Task>(engine::TaskOptions{}, *store_, sink_, std::move(ps));
    EXPECT_TRUE(task_->Open().ok());
  }

  static std::string At(int s) {
    return FormatRfc3339(Timestamp{*ParseRfc3339("2026-11-23T10:00:00Z")} + s * 1000LL);
  }
  void Feed(std::string type, int at, std::string conv, std::string extra = "") {
    std::string json = R"({"event_id":"e)" + std::to_string(++n_) + R"(","type":")" + type + R"(","ts":")" + At(at) +
                       R"(","customer_id":"c1","conversation_id":")" + conv + "\"" + extra + "}";
    engine::InputRecord r;
    r.value = json;
    r.source.file = "t";
    r.source.line = n_;
    task_->Process(r);
    ASSERT_EQ(task_->stats().dead_lettered, 0u) << json;
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
  EXPECT_EQ(CollectingSink::Field(sink_.Values(Stream::kSla)[1], "breached"), "false");
  EXPECT_EQ(CollectingSink::Field(sink_.Values(Stream::kSla)[1], "elapsed_s"), "20");
}

TEST_F(SlaProcessorTest, NoReplyGivesWarningThenBreachAtTheDeadline) {
  Open(0, "v1");  // normal chat: 60 s, warning at 48 s
  Until(100);
  EXPECT_EQ(sink_.SlaEvents(), (std::vector<std::string>{"v1:activate", "v1:warning", "v1:breach"}));
  const auto sla = sink_.Values(Stream::kSla);
  EXPECT_EQ(CollectingSink::Field(sla[1], "ts"), "2026-11-23T10:00:48.000Z");
  EXPECT_EQ(CollectingSink::Field(sla[2], "ts"), "2026-11-23T10:01:00.000Z");
  EXPECT_EQ(CollectingSink::Field(sla[2], "deadline"), "2026-11-23T10:01:00.000Z");
}

TEST_F(SlaProcessorTest, ReplyAfterBreachFulfilsMarkedBreached) {
  Open(0, "v1");
  Feed("message.customer", 70, "v1");  // moves the watermark to 65 s: breach fires
  Reply(90, "v1");
  EXPECT_EQ(sink_.SlaEvents(), (std::vector<std::string>{"v1:activate", "v1:warning", "v1:breach", "v1:fulfill"}));
  EXPECT_EQ(CollectingSink::Field(sink_.Values(Stream::kSla)[3], "breached"), "true");
}

TEST_F(SlaProcessorTest, LateReplyWithinLatenessPreventsTheBreach) {
  Open(0, "v1");
  Feed("message.customer", 63, "v1");  // watermark 58 s: nothing due yet but the warning
  Reply(55, "v1");                     // arrives late, happened before the deadline
  Until(600);
  EXPECT_EQ(sink_.SlaEvents(), (std::vector<std::string>{"v1:activate", "v1:warning", "v1:fulfill"}));
  EXPECT_EQ(CollectingSink::Field(sink_.Values(Stream::kSla)[2], "breached"), "false");
}

TEST_F(SlaProcessorTest, ReplyAfterTheDeadlineBeforeTheTimerStillBreaches) {
  Open(0, "v1");
  Reply(62, "v1");  // watermark 57: the breach timer has not fired, but 62 > 60
  Until(600);
  EXPECT_EQ(sink_.SlaEvents(), (std::vector<std::string>{"v1:activate", "v1:warning", "v1:breach", "v1:fulfill"}));
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
  auto sla = sink_.Values(Stream::kSla);
  ASSERT_EQ(sla.size(), 4u);
  EXPECT_EQ(CollectingSink::Field(sla[0], "target_s"), "15");
  EXPECT_EQ(CollectingSink::Field(sla[1], "target_s"), "30");
  EXPECT_EQ(CollectingSink::Field(sla[1], "policy"), "default-chat-vip");
  EXPECT_EQ(CollectingSink::Field(sla[2], "target_s"), "28800");
  EXPECT_EQ(CollectingSink::Field(sla[3], "target_s"), "60");
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
