#include "processors/alerts/sentiment.h"

#include <gtest/gtest.h>

namespace cx::processors {
namespace {

const std::vector<std::string> kKeywords = {"投诉", "差评", "12315", "complaint", "lawyer", "chargeback"};

Negativity Judge(std::optional<double> score, std::string_view text) {
  return JudgeMessage(score, text, -0.5, kKeywords);
}

// Regression (issue 15.7): a glowing message with a positive score raised
// negative_sentiment because the keyword match ignored the score and the
// negations.
TEST(SentimentTest, AnExplicitScoreDecidesWhateverTheKeywords) {
  const std::string_view praise = "No complaints at all, great service! 不会投诉的,给好评";
  EXPECT_EQ(Judge(0.9, praise), Negativity::kNone);
  EXPECT_EQ(Judge(0.9, "I will call my lawyer"), Negativity::kNone);
  EXPECT_EQ(Judge(-0.8, "thanks"), Negativity::kScore);
  EXPECT_EQ(Judge(-0.5, "fine"), Negativity::kNone);  // below, not at, the threshold
}

TEST(SentimentTest, WithoutAScoreANegatedKeywordDoesNotCount) {
  EXPECT_EQ(Judge(std::nullopt, "No complaints at all, great service! 不会投诉的,给好评"), Negativity::kNone);
  EXPECT_EQ(Judge(std::nullopt, "不会投诉"), Negativity::kNone);
  EXPECT_EQ(Judge(std::nullopt, "没有投诉"), Negativity::kNone);
  EXPECT_EQ(Judge(std::nullopt, "别给差评"), Negativity::kNone);
  EXPECT_EQ(Judge(std::nullopt, "无投诉"), Negativity::kNone);
  EXPECT_EQ(Judge(std::nullopt, "I have never needed a lawyer"), Negativity::kNone);
  EXPECT_EQ(Judge(std::nullopt, "I won't file a complaint"), Negativity::kNone);
  EXPECT_EQ(Judge(std::nullopt, "Not a COMPLAINT, just a question"), Negativity::kNone);
}

TEST(SentimentTest, WithoutAScoreAPlainKeywordCounts) {
  EXPECT_EQ(Judge(std::nullopt, "我要投诉"), Negativity::kKeyword);
  EXPECT_EQ(Judge(std::nullopt, "I am filing a complaint"), Negativity::kKeyword);
  EXPECT_EQ(Judge(std::nullopt, "Chargeback NOW"), Negativity::kKeyword);
  EXPECT_EQ(Judge(std::nullopt, "打12315"), Negativity::kKeyword);
  EXPECT_EQ(Judge(std::nullopt, ""), Negativity::kNone);
}

TEST(SentimentTest, ANegationOnlyReachesWithinItsClauseAndFourWords) {
  // The negation belongs to another clause.
  EXPECT_EQ(Judge(std::nullopt, "not happy, complaint filed"), Negativity::kKeyword);
  EXPECT_EQ(Judge(std::nullopt, "不满意，我要投诉"), Negativity::kKeyword);
  EXPECT_EQ(Judge(std::nullopt, "不行。投诉"), Negativity::kKeyword);
  // Too far back.
  EXPECT_EQ(Judge(std::nullopt, "no this is the worst service, lawyer"), Negativity::kKeyword);
  EXPECT_EQ(Judge(std::nullopt, "not one two three four complaint"), Negativity::kKeyword);
  EXPECT_EQ(Judge(std::nullopt, "not one two three complaint"), Negativity::kNone);
  // One negated occurrence and one plain one: the plain one counts.
  EXPECT_EQ(Judge(std::nullopt, "no complaint before; now a complaint"), Negativity::kKeyword);
}

TEST(SentimentTest, NegatedBeforeReadsCodePointsNotBytes) {
  const std::string_view text = "我不想投诉";
  EXPECT_TRUE(NegatedBefore(text, text.find("投诉")));
  EXPECT_FALSE(NegatedBefore(text, text.find("不")));
  EXPECT_FALSE(NegatedBefore(text, 0));
}

}  // namespace
}  // namespace cx::processors
