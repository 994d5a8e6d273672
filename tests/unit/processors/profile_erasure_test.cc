// customer.erased: no record, timer or count of the customer remains in the
// task's RocksDB state, a tombstone goes to the profile stream, and later
// events start a fresh profile.
#include <gtest/gtest.h>

#include <algorithm>

#include <filesystem>

#include "config/config.h"
#include "engine/pipeline.h"
#include "engine/task.h"
#include "tests/unit/test_util.h"

namespace cx::engine {
namespace {

using cx::testing::CollectingSink;

std::string Ev(int n, const std::string& type, const std::string& customer, const std::string& ts,
               const std::string& fields) {
  return R"({"event_id":"e)" + std::to_string(n) + R"(","type":")" + type + R"(","ts":"2026-11-23T)" + ts +
         R"(.000Z","customer_id":")" + customer + "\"" + fields + "}";
}

class ErasureTest : public ::testing::Test {
 protected:
  ErasureTest()
      : dir_(std::filesystem::temp_directory_path() / ("cx-erasure-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
    auto s = state::OpenRocksDbStore({dir_.string()});
    EXPECT_TRUE(s.ok());
    store_ = std::move(s).value();
    config::Config c = config::DefaultConfig();
    TaskOptions o = TaskOptionsFrom(c);
    o.inputs = 2;
    o.repartition_input = 1;
    o.repartition_sources = 1;
    task_ = std::make_unique<Task>(o, *store_, sink_, BuildCustomerProcessors(c, Mode::kReplay, 1));
    EXPECT_TRUE(task_->Open().ok());
  }
  ~ErasureTest() override {
    task_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Feed(const std::string& json) {
    InputRecord r;
    r.value = json;
    task_->Process(r);
    task_->Flush();  // applied as it arrives: these tests are about erasure
    // The repartition loop, as replay runs it.
    std::vector<std::string> loop;
    for (auto& rec : sink_.records)
      if (rec.stream == Stream::kRepartition && rec.value) loop.push_back(*rec.value);
    std::erase_if(sink_.records, [](const OutputRecord& rec) { return rec.stream == Stream::kRepartition; });
    for (const auto& v : loop) {
      InputRecord rr;
      rr.value = v;
      rr.input = 1;
      task_->Process(rr);
    }
    ASSERT_TRUE(task_->error().ok()) << task_->error().ToString();
  }
  // Every key and value of the store that mentions `s`.
  std::vector<std::string> Mentions(const std::string& s) {
    std::vector<std::string> out;
    EXPECT_TRUE(store_
                    ->Scan("", "\xff\xff",
                           [&](std::string_view k, std::string_view v) {
                             if (k.find(s) != std::string_view::npos || v.find(s) != std::string_view::npos)
                               out.emplace_back(k);
                             return true;
                           })
                    .ok());
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<state::Store> store_;
  CollectingSink sink_;
  std::unique_ptr<Task> task_;
};

TEST_F(ErasureTest, NothingOfTheCustomerRemainsAndATombstoneIsEmitted) {
  int n = 0;
  for (const std::string c : {"erase-me", "keep-me"}) {
    Feed(Ev(++n, "conversation.opened", c, "10:00:00",
            R"(,"conversation_id":"v-)" + c +
                R"(","channel":"web","queue":"q","priority":"normal","order_id":"o-)" + c + "\""));
    Feed(Ev(++n, "message.customer", c, "10:00:01",
            R"(,"conversation_id":"v-)" + c + R"(","sentiment":-0.9)"));
    Feed(Ev(++n, "order.created", c, "10:00:02",
            R"(,"order_id":"o-)" + c + R"(","amount":10,"currency":"CNY")"));
    Feed(Ev(++n, "order.paid", c, "10:00:03", R"(,"order_id":"o-)" + c + R"(","amount":10)"));
    Feed(Ev(++n, "aftersales.opened", c, "10:00:04",
            R"(,"case_id":"k-)" + c + R"(","order_id":"o-)" + c + R"(","kind":"complaint")"));
  }
  ASSERT_TRUE(task_->Commit().ok());
  ASSERT_FALSE(Mentions("erase-me").empty());  // clocks, timers, profile, staffing, dedup ring
  const auto open_before = Mentions("keep-me");

  Feed(Ev(++n, "customer.erased", "erase-me", "10:00:06", ""));
  ASSERT_TRUE(task_->Commit().ok());
  EXPECT_EQ(Mentions("erase-me"), std::vector<std::string>{}) << "state of an erased customer remains";
  EXPECT_EQ(Mentions("keep-me").size(), open_before.size()) << "another customer's state was touched";

  bool tombstone = false;
  for (const auto& r : sink_.records)
    if (r.stream == Stream::kProfiles && r.key == "erase-me" && !r.value) tombstone = true;
  EXPECT_TRUE(tombstone);

  // The open-clock counts no longer include the erased customer's clocks
  // (one customer's conversation and case remain open).
  OpenClockCounts open;
  ASSERT_TRUE(AddOpenSlaClocks(*task_, open).ok());
  EXPECT_EQ((open[{Metric::kFirstResponse, "q"}]), 1);
  EXPECT_EQ((open[{Metric::kAftersalesApproval, ""}]), 1);

  // Later events start a fresh profile, at version 1.
  sink_.records.clear();
  Feed(Ev(++n, "conversation.opened", "erase-me", "10:00:20",
          R"(,"conversation_id":"v2","channel":"web","queue":"q","priority":"normal")"));
  task_->AdvanceWatermark(*ParseRfc3339("2026-11-23T10:01:00Z"));
  std::string fresh;
  for (const auto& r : sink_.records)
    if (r.stream == Stream::kProfiles && r.key == "erase-me" && r.value) fresh = *r.value;
  EXPECT_EQ(CollectingSink::Field(fresh, "version"), "1");
  EXPECT_NE(fresh.find(R"("conversations_total":1)"), std::string::npos) << fresh;
}

// The profile is kept decoded between events and written back at commit
// (engine/state_cache.h): the API reads its latest value before the
// commit, an erasure before the commit leaves nothing in the store, and a
// task made anew over the store carries on from the committed profile.
TEST_F(ErasureTest, AProfileSavedSinceTheLastCommitIsReadableAndErasedWithoutReachingTheStore) {
  Feed(Ev(1, "order.created", "new", "10:00:00", R"(,"order_id":"o1","amount":10,"currency":"CNY")"));
  auto read = task_->ReadState("profile", "new", processors::ProfileProcessor::kRecordName);
  ASSERT_TRUE(read.ok());
  ASSERT_TRUE(read->has_value()) << "the saved profile is not visible before the commit";
  auto pending = store_->Get(engine::OwnerKey("new"));  // pending writes included
  ASSERT_TRUE(pending.ok());
  EXPECT_FALSE(pending->has_value()) << "written to the store before the commit";
  Feed(Ev(2, "customer.erased", "new", "10:00:01", ""));
  ASSERT_TRUE(task_->Commit().ok());
  EXPECT_EQ(Mentions("new"), std::vector<std::string>{});
  read = task_->ReadState("profile", "new", processors::ProfileProcessor::kRecordName);
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->has_value());

  Feed(Ev(3, "order.created", "kept", "10:00:02", R"(,"order_id":"o2","amount":10,"currency":"CNY")"));
  ASSERT_TRUE(task_->Commit().ok());
  auto committed = task_->ReadState("profile", "kept", processors::ProfileProcessor::kRecordName);
  ASSERT_TRUE(committed.ok() && committed->has_value());
  auto in_store = store_->Get(engine::OwnerKey("kept"));
  ASSERT_TRUE(in_store.ok() && in_store->has_value());
  engine::OwnerState kept;
  ASSERT_TRUE(engine::DecodeOwner(**in_store, kept).ok());
  auto kept_profile = std::find_if(kept.records.begin(), kept.records.end(),
                                   [](const engine::OwnerRecord& r) { return r.name == "profile/p"; });
  ASSERT_NE(kept_profile, kept.records.end());
  EXPECT_EQ(kept_profile->value, **committed);

  // A new task over the same store (a restart) decodes it and goes on.
  config::Config c = config::DefaultConfig();
  TaskOptions o = TaskOptionsFrom(c);
  o.inputs = 2;
  o.repartition_input = 1;
  o.repartition_sources = 1;
  task_ = std::make_unique<Task>(o, *store_, sink_, BuildCustomerProcessors(c, Mode::kReplay, 1));
  ASSERT_TRUE(task_->Open().ok());
  sink_.records.clear();
  Feed(Ev(4, "order.created", "kept", "10:00:03", R"(,"order_id":"o3","amount":10,"currency":"CNY")"));
  task_->AdvanceWatermark(*ParseRfc3339("2026-11-23T10:01:00Z"));
  std::string profile;
  for (const auto& r : sink_.records)
    if (r.stream == Stream::kProfiles && r.key == "kept" && r.value) profile = *r.value;
  EXPECT_NE(profile.find(R"("created":2)"), std::string::npos) << profile;
}

}  // namespace
}  // namespace cx::engine
