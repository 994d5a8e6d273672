// The profile record's derived lists (docs/profiles.md): top categories and
// churn factors, in the order the contract gives, ties included.
#include "processors/profiles/profile_processor.h"

#include <gtest/gtest.h>

#include "engine/pipeline.h"
#include "engine/task.h"
#include "tests/unit/test_util.h"

namespace cx::processors {
namespace {

using cx::testing::CollectingSink;

class ProfileJsonTest : public ::testing::Test {
 protected:
  ProfileJsonTest() : store_(state::NewMemoryStore()) {
    std::vector<std::unique_ptr<Processor>> ps;
    auto keeper = std::make_unique<ConversationKeeper>();  // last, as the pipeline wires it
    ps.push_back(
        std::make_unique<ProfileProcessor>(engine::ProfileOptionsFrom(cx::testing::Defaults()), *keeper));
    ps.push_back(std::move(keeper));
    task_ = std::make_unique<engine::Task>(engine::TaskOptionsFrom(cx::testing::Defaults()), *store_, sink_,
                                           std::move(ps));
    EXPECT_TRUE(task_->Open().ok());
    task_->set_now(*ParseRfc3339("2027-01-01T00:00:00Z"));
  }
  void Raw(const std::string& type, const std::string& fields) {
    const std::string json = R"({"event_id":"e)" + std::to_string(++n_) + R"(","type":")" + type +
                             R"(","ts":"2026-11-23T10:00:00Z","customer_id":"c1")" + fields + "}";
    engine::InputRecord r;
    r.value = json;
    task_->Process(r);
    ASSERT_EQ(task_->stats().dead_lettered, 0u) << json << "\n" << ::testing::PrintToString(sink_.Values(Stream::kDlq));
  }
  // The one profile record, once its debounce has passed.
  std::string Profile() {
    task_->AdvanceWatermark(*ParseRfc3339("2026-11-23T11:00:00Z"));
    const auto values = sink_.Values(Stream::kProfiles);
    EXPECT_EQ(values.size(), 1u);
    return values.empty() ? std::string() : values.front();
  }
  static std::string Array(const std::string& json, const std::string& name) {
    const std::string pat = "\"" + name + "\":[";
    const auto at = json.find(pat);
    if (at == std::string::npos) return "<none>";
    return json.substr(at + pat.size() - 1, json.find(']', at) - at - pat.size() + 2);
  }

  CollectingSink sink_;
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<engine::Task> task_;
  int n_ = 0;
};

TEST_F(ProfileJsonTest, TopCategoriesAreTheLargestCountsWithTiesInCategoryOrder) {
  // Items per category: garden 3; apps, shoes, toys 2; beauty, books 1. Of
  // the three tied at 2, the first two in category order make the list.
  Raw("order.created", R"(,"order_id":"o1","amount":100,"currency":"CNY","items":[)"
                       R"({"sku":"s1","category":"toys","qty":2,"price":10},)"
                       R"({"sku":"s2","category":"beauty","qty":1,"price":10},)"
                       R"({"sku":"s3","category":"shoes","qty":2,"price":10},)"
                       R"({"sku":"s4","category":"garden","qty":3,"price":10},)"
                       R"({"sku":"s5","category":"books","qty":1,"price":10},)"
                       R"({"sku":"s6","category":"apps","qty":2,"price":10}])");
  EXPECT_EQ(Array(Profile(), "top_categories"), R"(["garden","apps","shoes"])");
}

TEST_F(ProfileJsonTest, FewerThanThreeCategoriesAreAllListed) {
  Raw("order.created", R"(,"order_id":"o1","amount":100,"currency":"CNY","items":[)"
                       R"({"sku":"s1","category":"toys","qty":1,"price":10},)"
                       R"({"sku":"s2","category":"beauty","qty":4,"price":10}])");
  EXPECT_EQ(Array(Profile(), "top_categories"), R"(["beauty","toys"])");
}

TEST_F(ProfileJsonTest, ChurnFactorsAreTheLargestContributionsFirst) {
  // A low rating (low_csat: 1.5 x 1) and a complaint (1.0 x 1/3) and no
  // order: low_csat first, then complaints_and_escalations.
  Raw("conversation.rated", R"(,"conversation_id":"v1","csat":1)");
  Raw("aftersales.opened", R"(,"case_id":"k1","kind":"complaint","order_id":"o1")");
  const std::string factors = Array(Profile(), "churn_factors");
  const auto low = factors.find("\"low_csat\""), complaints = factors.find("\"complaints_and_escalations\"");
  ASSERT_NE(low, std::string::npos) << factors;
  ASSERT_NE(complaints, std::string::npos) << factors;
  EXPECT_LT(low, complaints) << factors;
}

}  // namespace
}  // namespace cx::processors
