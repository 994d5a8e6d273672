// AlertProcessor details the replay scenario does not reach.
#include "processors/alerts/alert_processor.h"

#include <gtest/gtest.h>

#include "engine/task.h"
#include "tests/unit/test_util.h"

namespace cx::processors {
namespace {

using cx::testing::CollectingSink;

// Ids are any JSON string: one that needs escaping in JSON (a quote, a
// backslash) still finds its open alert when the conversation closes.
TEST(AlertProcessorTest, AnIdThatNeedsEscapingStillResolves) {
  auto store = state::NewMemoryStore();
  CollectingSink sink;
  std::vector<std::unique_ptr<Processor>> ps;
  ps.push_back(std::make_unique<AlertProcessor>(AlertOptions{}));
  engine::Task task(engine::TaskOptions{}, *store, sink, std::move(ps));
  ASSERT_TRUE(task.Open().ok());
  const std::string conv = R"(v\"1\\)";  // v"1\ once decoded
  int n = 0;
  for (const std::string& fields :
       {std::string(R"("type":"conversation.opened","ts":"2026-11-23T10:00:00Z","conversation_id":")") +
            conv + R"(","channel":"web","queue":"q","priority":"normal")",
        std::string(R"("type":"message.customer","ts":"2026-11-23T10:00:01Z","conversation_id":")") + conv +
            R"(","text":"I want to file a complaint")",
        std::string(R"("type":"conversation.closed","ts":"2026-11-23T10:00:02Z","conversation_id":")") +
            conv + R"(")"}) {
    engine::InputRecord r;
    const std::string json =
        R"({"event_id":"e)" + std::to_string(++n) + R"(","customer_id":"c1",)" + fields + "}";
    r.value = json;
    task.Process(r);
    ASSERT_EQ(task.stats().dead_lettered, 0u) << json;
  }
  std::vector<std::string> actions;
  for (const auto& v : sink.Values(Stream::kAlerts)) actions.push_back(CollectingSink::Field(v, "action"));
  EXPECT_EQ(actions, (std::vector<std::string>{"trigger", "resolve"}));
}

}  // namespace
}  // namespace cx::processors
