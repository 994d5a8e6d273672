#include "core/event_decoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "engine/pipeline.h"
#include "tests/unit/test_util.h"

namespace cx {
namespace {

// The limits the shipped defaults give (limits.* in the option table).
const DecodeLimits kLimits = engine::TaskOptionsFrom(cx::testing::Defaults()).limits;

std::string Envelope(std::string_view type, std::string_view extra) {
  std::string s = R"({"event_id":"e1","type":")";
  s += type;
  s += R"(","ts":"2026-11-23T10:00:00.000+08:00","customer_id":"c1")";
  if (!extra.empty()) {
    s += ",";
    s += extra;
  }
  s += "}";
  return s;
}

struct Rejected {
  Rejection::Code code;
  std::string field;
};

Rejected Reject(EventDecoder& d, const std::string& json) {
  const Event* e = d.Decode(json);
  EXPECT_EQ(e, nullptr) << json;
  return {d.rejection().code, d.rejection().field};
}

TEST(EventDecoderTest, DecodesEveryTypeOfTheContract) {
  std::ifstream in(std::string(CX_SOURCE_DIR) + "/samples/all_types.ndjson");
  ASSERT_TRUE(in);
  EventDecoder d(kLimits);
  std::set<EventType> seen;
  std::string line;
  while (std::getline(in, line)) {
    const Event* e = d.Decode(line);
    ASSERT_NE(e, nullptr) << line << "\n" << d.rejection().ToString();
    seen.insert(e->type);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kEventTypeCount));
}

// The task decodes into the event of one applied before (DecodeInto):
// nothing of that one may show through, whatever came before and whether
// or not it was rejected.
TEST(EventDecoderTest, DecodingIntoAnEventThatHeldAnotherGivesWhatAFreshDecodeGives) {
  std::ifstream in(std::string(CX_SOURCE_DIR) + "/samples/all_types.ndjson");
  ASSERT_TRUE(in);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  lines.push_back(Envelope("conversation.opened", R"("conversation_id":"v1","channel":"fax")"));  // rejected
  ASSERT_GT(lines.size(), 10u);
  EventDecoder reused(kLimits);
  Event kept;
  for (int round = 0; round < 2; ++round) {
    for (const std::string& line : lines) {
      EventDecoder fresh(kLimits);
      const Event* want = fresh.Decode(line);
      const bool ok = reused.DecodeInto(line, kept);
      ASSERT_EQ(ok, want != nullptr) << line;
      if (ok) {
        EXPECT_TRUE(kept == *want) << line;
      }
    }
    std::reverse(lines.begin(), lines.end());
  }
}

TEST(EventDecoderTest, ConversationOpenedFields) {
  EventDecoder d(kLimits);
  const Event* e = d.Decode(Envelope(
      "conversation.opened",
      R"("conversation_id":"v1","channel":"wechat","queue":"q","priority":"urgent","customer_tier":"vip","tenant":"t1")"));
  ASSERT_NE(e, nullptr) << d.rejection().ToString();
  EXPECT_EQ(e->type, EventType::kConversationOpened);
  EXPECT_EQ(e->event_id, "e1");
  EXPECT_EQ(e->customer_id, "c1");
  EXPECT_EQ(e->tenant, "t1");
  EXPECT_EQ(e->channel, Channel::kWechat);
  EXPECT_EQ(e->priority, Priority::kUrgent);
  EXPECT_EQ(e->customer_tier, "vip");
  EXPECT_EQ(e->ts.ms, 1795399200000);
}

TEST(EventDecoderTest, AgentMessageDefaultsAndFlags) {
  EventDecoder d(kLimits);
  const Event* e = d.Decode(Envelope("message.agent", R"("conversation_id":"v1","agent_id":"a1")"));
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->is_public);
  EXPECT_FALSE(e->is_auto);
  e = d.Decode(
      Envelope("message.agent", R"("conversation_id":"v1","agent_id":"a1","public":false,"auto":true)"));
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->is_public);
  EXPECT_TRUE(e->is_auto);
  // The decoder reuses its event: a later message must not inherit flags.
  e = d.Decode(Envelope("message.agent", R"("conversation_id":"v1","agent_id":"a1")"));
  EXPECT_TRUE(e->is_public);
  EXPECT_FALSE(e->is_auto);
}

TEST(EventDecoderTest, AgentStatusNeedsNoCustomer) {
  EventDecoder d(kLimits);
  const Event* e = d.Decode(
      R"({"event_id":"e","type":"agent.status","ts":"2026-11-23T10:00:00Z","agent_id":"a1","status":"away","queues":["q1","q2"]})");
  ASSERT_NE(e, nullptr) << d.rejection().ToString();
  EXPECT_EQ(e->agent_status, AgentStatus::kAway);
  EXPECT_EQ(e->queues.size(), 2u);
  EXPECT_EQ(e->key(), "a1");
}

TEST(EventDecoderTest, UnknownFieldsAreIgnored) {
  EventDecoder d(kLimits);
  EXPECT_NE(d.Decode(Envelope("conversation.abandoned", R"("conversation_id":"v","future_field":{"x":[1]})")),
            nullptr);
}

TEST(EventDecoderTest, RejectsInvalidJson) {
  EventDecoder d(kLimits);
  EXPECT_EQ(Reject(d, "{\"event_id\":").code, Rejection::Code::kInvalidJson);
  EXPECT_EQ(Reject(d, "").code, Rejection::Code::kInvalidJson);
  EXPECT_EQ(Reject(d, "[1,2]").code, Rejection::Code::kNotAnObject);
  EXPECT_EQ(Reject(d, "{\"a\":\"\xff\"}").code, Rejection::Code::kInvalidJson);  // not UTF-8
}

TEST(EventDecoderTest, RejectsMissingFieldsNamingThem) {
  EventDecoder d(kLimits);
  auto r =
      Reject(d, Envelope("conversation.opened", R"("conversation_id":"v1","channel":"web","queue":"q")"));
  EXPECT_EQ(r.code, Rejection::Code::kMissingField);
  EXPECT_EQ(r.field, "priority");
  r = Reject(d, R"({"event_id":"e","type":"order.paid","customer_id":"c","order_id":"o","amount":1})");
  EXPECT_EQ(r.field, "ts");
  r = Reject(d, R"({"event_id":"e","ts":"2026-11-23T10:00:00Z","customer_id":"c"})");
  EXPECT_EQ(r.code, Rejection::Code::kMissingField);
  EXPECT_EQ(r.field, "type");
  r = Reject(d, R"({"type":"customer.erased","ts":"2026-11-23T10:00:00Z","customer_id":"c"})");
  EXPECT_EQ(r.field, "event_id");
}

TEST(EventDecoderTest, RejectsWrongTypes) {
  EventDecoder d(kLimits);
  auto r = Reject(d, Envelope("order.paid", R"("order_id":"o","amount":"12.5")"));
  EXPECT_EQ(r.code, Rejection::Code::kWrongType);
  EXPECT_EQ(r.field, "amount");
  r = Reject(d, Envelope("conversation.rated", R"("conversation_id":"v","csat":4.5)"));
  EXPECT_EQ(r.code, Rejection::Code::kWrongType);
  EXPECT_EQ(r.field, "csat");
  r = Reject(d, Envelope("message.agent", R"("conversation_id":"v","agent_id":"a","public":"yes")"));
  EXPECT_EQ(r.field, "public");
  r = Reject(d, R"({"event_id":1,"type":"customer.erased","ts":"2026-11-23T10:00:00Z","customer_id":"c"})");
  EXPECT_EQ(r.field, "event_id");
  r = Reject(d, R"({"event_id":"e","type":"customer.erased","ts":1795399200,"customer_id":"c"})");
  EXPECT_EQ(r.code, Rejection::Code::kWrongType);
  EXPECT_EQ(r.field, "ts");
}

TEST(EventDecoderTest, RejectsUnknownTypes) {
  EventDecoder d(kLimits);
  auto r = Reject(d, Envelope("conversation.teleported", ""));
  EXPECT_EQ(r.code, Rejection::Code::kUnknownType);
  EXPECT_EQ(r.field, "type");
}

TEST(EventDecoderTest, RejectsValuesOutOfRangeOrEnumeration) {
  EventDecoder d(kLimits);
  EXPECT_EQ(Reject(d, Envelope("conversation.rated", R"("conversation_id":"v","csat":6)")).code,
            Rejection::Code::kOutOfRange);
  EXPECT_EQ(Reject(d, Envelope("message.customer", R"("conversation_id":"v","sentiment":-1.5)")).code,
            Rejection::Code::kOutOfRange);
  EXPECT_EQ(Reject(d, Envelope("order.paid", R"("order_id":"o","amount":-3)")).code,
            Rejection::Code::kOutOfRange);
  auto r = Reject(d, Envelope("conversation.opened",
                              R"("conversation_id":"v","channel":"fax","queue":"q","priority":"normal")"));
  EXPECT_EQ(r.code, Rejection::Code::kOutOfRange);
  EXPECT_EQ(r.field, "channel");
  EXPECT_EQ(Reject(d, Envelope("conversation.status", R"("conversation_id":"v","status":"closed")")).field,
            "status");
  EXPECT_EQ(Reject(d, Envelope("conversation.abandoned", R"("conversation_id":"")")).code,
            Rejection::Code::kOutOfRange);
}

TEST(EventDecoderTest, NonFiniteNumbersNeverPass) {
  EventDecoder d(kLimits);
  // JSON has no NaN or Infinity; an overflowing literal is not a number either.
  EXPECT_EQ(d.Decode(Envelope("order.paid", R"("order_id":"o","amount":1e999)")), nullptr);
  EXPECT_EQ(d.Decode(Envelope("order.paid", R"("order_id":"o","amount":NaN)")), nullptr);
  EXPECT_EQ(Reject(d, Envelope("order.paid", R"("order_id":"o","amount":1e300)")).code,
            Rejection::Code::kOutOfRange);
}

TEST(EventDecoderTest, EnforcesLengthLimits) {
  DecodeLimits limits = kLimits;
  limits.max_id_bytes = 8;
  limits.max_text_bytes = 10;
  limits.max_message_bytes = 400;
  EventDecoder d(limits);
  auto r = Reject(d, Envelope("conversation.abandoned", R"("conversation_id":"123456789")"));
  EXPECT_EQ(r.code, Rejection::Code::kTooLong);
  EXPECT_EQ(r.field, "conversation_id");
  r = Reject(d, Envelope("message.customer", R"("conversation_id":"v","text":"01234567890")"));
  EXPECT_EQ(r.code, Rejection::Code::kTooLong);
  EXPECT_EQ(r.field, "text");
  EXPECT_EQ(Reject(d, Envelope("message.customer",
                               "\"conversation_id\":\"v\",\"x\":\"" + std::string(400, 'a') + "\""))
                .code,
            Rejection::Code::kTooLarge);
}

TEST(EventDecoderTest, RejectsDuplicateFields) {
  EventDecoder d(kLimits);
  auto r = Reject(d, Envelope("conversation.abandoned", R"("conversation_id":"v","conversation_id":"w")"));
  EXPECT_EQ(r.code, Rejection::Code::kDuplicateField);
}

TEST(EventDecoderTest, RejectsBadTimestampsWithTheReason) {
  EventDecoder d(kLimits);
  const Event* e =
      d.Decode(R"({"event_id":"e","type":"customer.erased","ts":"2026-11-23T10:00:00","customer_id":"c"})");
  ASSERT_EQ(e, nullptr);
  EXPECT_EQ(d.rejection().code, Rejection::Code::kBadTimestamp);
  EXPECT_NE(d.rejection().ToString().find("offset"), std::string::npos) << d.rejection().ToString();
}

TEST(EventDecoderTest, ItemsAreValidated) {
  EventDecoder d(kLimits);
  const Event* e = d.Decode(Envelope(
      "order.created",
      R"("order_id":"o","amount":10,"currency":"EUR","items":[{"sku":"s","category":"c","qty":2,"price":5}])"));
  ASSERT_NE(e, nullptr) << d.rejection().ToString();
  ASSERT_EQ(e->items.size(), 1u);
  EXPECT_EQ(e->items[0].qty, 2);
  EXPECT_EQ(Reject(d, Envelope("order.created",
                               R"("order_id":"o","amount":10,"currency":"EUR","items":[{"qty":0}])"))
                .code,
            Rejection::Code::kOutOfRange);
  EXPECT_EQ(
      Reject(d, Envelope("order.created", R"("order_id":"o","amount":10,"currency":"EUR","items":[3])")).code,
      Rejection::Code::kWrongType);
}

// Regression (issue 16.8): a field given twice inside an items element was
// accepted, although the contract says twice in any object is an error.
TEST(EventDecoderTest, AFieldTwiceInAnItemsElementIsRejected) {
  EventDecoder d(kLimits);
  const Rejected r = Reject(d, Envelope("order.created", R"("order_id":"o","amount":10,"currency":"EUR",)"
                                                         R"("items":[{"sku":"a","qty":1,"sku":"b"}])"));
  EXPECT_EQ(r.code, Rejection::Code::kDuplicateField);
  EXPECT_EQ(r.field, "items");
  EXPECT_NE(d.rejection().ToString().find("\"sku\""), std::string::npos) << d.rejection().ToString();
}

// Regression (issue 16.8): an id with a NUL was accepted and could never be
// queried (/v1/customers/ID%00evil answers for ID).
TEST(EventDecoderTest, IdsWithControlCharactersAreRejected) {
  EventDecoder d(kLimits);
  for (const char* id : {"c\\u0000evil", "c\\u001b[31m", "c\\u007f", "line\\nbreak"}) {
    SCOPED_TRACE(id);
    const std::string json =
        std::string(R"({"event_id":"e1","type":"customer.erased","ts":"2026-11-23T10:00:00Z",)") +
        R"("customer_id":")" + id + R"("})";
    EXPECT_EQ(Reject(d, json).code, Rejection::Code::kOutOfRange);
  }
  EXPECT_NE(d.Decode(R"({"event_id":"e1","type":"customer.erased","ts":"2026-11-23T10:00:00Z",)"
                     R"("customer_id":"客户-42 ü"})"),
            nullptr);
  // Eight bytes are checked at a time: a control character is found at any
  // place of a word or of the tail, and its neighbours (space, '~', bytes
  // from 0x80 up) never count.
  auto erased = [](const std::string& id) {
    return R"({"event_id":"e1","type":"customer.erased","ts":"2026-11-23T10:00:00Z","customer_id":")" + id +
           R"("})";
  };
  for (std::size_t at = 0; at < 19; ++at) {
    for (const char* bad : {"\\u0000", "\\u001f", "\\u007f", "\\u0001"}) {
      std::string id(19, 'x');
      id.replace(at, 1, bad);
      SCOPED_TRACE(id);
      EXPECT_EQ(Reject(d, erased(id)).code, Rejection::Code::kOutOfRange);
    }
    for (const char* fine : {" ", "~", "\\u0080", "é", "\\u00ff"}) {
      std::string id(19, 'x');
      id.replace(at, 1, fine);
      SCOPED_TRACE(id);
      EXPECT_NE(d.Decode(erased(id)), nullptr);
    }
  }
  // Ids shorter than a word are checked as one (their bytes and spaces).
  for (std::size_t len = 1; len <= 9; ++len) {
    for (std::size_t at = 0; at < len; ++at) {
      std::string id(len, 'x');
      id.replace(at, 1, "\\u0001");
      SCOPED_TRACE(id);
      EXPECT_EQ(Reject(d, erased(id)).code, Rejection::Code::kOutOfRange);
      id = std::string(len, 'x');
      id.replace(at, 1, "~");
      EXPECT_NE(d.Decode(erased(id)), nullptr);
    }
  }
}

}  // namespace
}  // namespace cx
