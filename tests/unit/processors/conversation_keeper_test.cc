// The shared conversation record: what a processor run before the keeper
// sees of a conversation while an event is handled (the record before the
// event), what the keeper makes of each chat event, and the record's codec
// across a restart.
#include "processors/conversations/conversation_keeper.h"

#include <gtest/gtest.h>

#include "engine/pipeline.h"
#include "engine/task.h"
#include "tests/unit/test_util.h"

namespace cx::processors {
namespace {

// A processor run before the keeper, as the readers are: notes what it
// sees of conversation v1 of customer c1 on each event.
class Reader final : public Processor {
 public:
  explicit Reader(ConversationKeeper& keeper) : keeper_(keeper) {}
  std::string_view name() const override { return "reader"; }
  void OnEvent(const Event& e, ProcessorContext& ctx) override {
    const OpenConversation* c = keeper_.Find(ctx, "c1", "v1");
    seen.push_back(c ? Describe(*c) : "none");
    const CustomerConversations* all = keeper_.Find(ctx, "c1");
    open.push_back(all ? all->all().size() : 0);
  }
  void OnTimer(Timestamp, std::string_view, std::string_view, ProcessorContext&) override {}

  static std::string Describe(const OpenConversation& c) {
    std::string s = std::string(c.queue.view()) + " from " + std::string(c.opening_queue.view()) +
                    " entered " + std::to_string(c.entered - c.opened);
    if (c.answered) s += " answered " + std::to_string(c.answered_at - c.opened);
    s += " " + std::string(ToString(c.channel)) + " " + std::string(ToString(c.priority)) + " " +
         std::string(c.tenant.view()) + " " + std::string(c.customer_tier.view());
    return s;
  }

  std::vector<std::string> seen;  // per event: v1 before it
  std::vector<std::size_t> open;  // per event: c1's open conversations before it

 private:
  ConversationKeeper& keeper_;
};

struct KeeperTask {
  KeeperTask() : store(state::NewMemoryStore()) { Start(); }
  void Start() {
    std::vector<std::unique_ptr<Processor>> ps;
    auto keeper = std::make_unique<ConversationKeeper>();
    auto r = std::make_unique<Reader>(*keeper);
    reader = r.get();
    ps.push_back(std::move(r));
    ps.push_back(std::move(keeper));  // last, as the pipeline wires it
    task = std::make_unique<engine::Task>(engine::TaskOptionsFrom(cx::testing::Defaults()), *store, sink,
                                          std::move(ps));
    ASSERT_TRUE(task->Open().ok());
  }
  // An event of c1 at second `s` after 10:00; `fields` after its type.
  void Feed(const std::string& type, int s, const std::string& fields = "") {
    engine::InputRecord r;
    const std::string json = R"({"event_id":"e)" + std::to_string(++n) + R"(","type":")" + type +
                             R"(","customer_id":"c1","ts":"2026-11-23T10:)" + (s < 600 ? "0" : "") +
                             std::to_string(s / 60) + ":" + (s % 60 < 10 ? "0" : "") +
                             std::to_string(s % 60) + R"(Z")" + fields + "}";
    r.value = json;
    task->Process(r);
    task->Flush();
    EXPECT_EQ(task->stats().dead_lettered, 0u) << json;
  }
  void Restart() {
    ASSERT_TRUE(task->Commit().ok());
    task.reset();
    Start();
  }

  std::unique_ptr<state::Store> store;
  cx::testing::CollectingSink sink;
  Reader* reader = nullptr;
  std::unique_ptr<engine::Task> task;
  int n = 0;
};

constexpr const char* kOpen =
    R"(,"conversation_id":"v1","channel":"app","queue":"billing","priority":"high","tenant":"shop-cn",)"
    R"("customer_tier":"vip")";

// Each reader sees the conversation as it was before the event: opened
// twice counts once, the first public human reply answers it, a transfer
// moves it (and keeps where it was opened), the close ends it.
TEST(ConversationKeeperTest, ReadersSeeTheRecordBeforeEachEvent) {
  KeeperTask t;
  t.Feed("conversation.opened", 0, kOpen);
  t.Feed("conversation.opened", 5, kOpen);  // again: the first counts
  t.Feed("message.agent", 10, R"(,"conversation_id":"v1","agent_id":"a1","public":false)");  // a note
  t.Feed("message.agent", 20, R"(,"conversation_id":"v1","agent_id":"bot","auto":true)");    // a bot
  t.Feed("message.agent", 30, R"(,"conversation_id":"v1","agent_id":"a1")");
  t.Feed("message.agent", 40, R"(,"conversation_id":"v1","agent_id":"a2")");  // answered already
  t.Feed("conversation.transferred", 50, R"(,"conversation_id":"v1","queue":"returns")");
  t.Feed("conversation.transferred", 60, R"(,"conversation_id":"v1","queue":"returns")");  // no move
  t.Feed("conversation.closed", 70, R"(,"conversation_id":"v1")");
  t.Feed("conversation.closed", 80, R"(,"conversation_id":"v1")");
  const std::string opened = "billing from billing entered 0 app high shop-cn vip";
  const std::string answered = "billing from billing entered 0 answered 30000 app high shop-cn vip";
  const std::string moved = "returns from billing entered 50000 answered 30000 app high shop-cn vip";
  EXPECT_EQ(t.reader->seen, (std::vector<std::string>{"none", opened, opened, opened, opened, answered,
                                                      answered, moved, moved, "none"}));
  EXPECT_EQ(t.reader->open, (std::vector<std::size_t>{0, 1, 1, 1, 1, 1, 1, 1, 1, 0}));
}

// A reply before the opening (in arrival order) answers nothing: the
// conversation is not open yet.
TEST(ConversationKeeperTest, AReplyBeforeTheOpeningDoesNotAnswer) {
  KeeperTask t;
  t.Feed("message.agent", 10, R"(,"conversation_id":"v1","agent_id":"a1")");
  t.Feed("conversation.opened", 0, kOpen);
  t.Feed("conversation.abandoned", 90, R"(,"conversation_id":"v1")");
  t.Feed("conversation.closed", 95, R"(,"conversation_id":"v1")");
  EXPECT_EQ(t.reader->seen,
            (std::vector<std::string>{"none", "none", "billing from billing entered 0 app high shop-cn vip",
                                      "none"}));
}

// The record survives a restart byte for byte (its codec), with several
// conversations of one customer, and an erasure drops it.
TEST(ConversationKeeperTest, SurvivesARestartAndGoesWithAnErasure) {
  KeeperTask t;
  t.Feed("conversation.opened", 0, kOpen);
  t.Feed("conversation.opened", 1,
         R"(,"conversation_id":"v0","channel":"web","queue":"sales","priority":"low")");
  t.Feed("message.agent", 30, R"(,"conversation_id":"v1","agent_id":"a1")");
  t.Feed("conversation.transferred", 50, R"(,"conversation_id":"v1","queue":"returns")");
  t.Restart();
  t.Feed("message.customer", 60, R"(,"conversation_id":"v1","text":"hi")");
  EXPECT_EQ(t.reader->seen.back(), "returns from billing entered 50000 answered 30000 app high shop-cn vip");
  EXPECT_EQ(t.reader->open.back(), 2u);
  t.Feed("customer.erased", 70);
  t.Feed("message.customer", 80, R"(,"conversation_id":"v1","text":"hi")");
  EXPECT_EQ(t.reader->seen.back(), "none");
  EXPECT_EQ(t.reader->open.back(), 0u);
}

}  // namespace
}  // namespace cx::processors
