// The input event contract (docs/events.md) as typed C++ values.
//
// Event is a flat value type: the envelope plus every payload field of every
// type, of which each type uses a few. A flat struct keeps decoding a single
// pass and lets processors read fields without a visitor; which fields a type
// carries, and which are required, is defined once in event_decoder.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.h"

namespace cx {

// The topic family an event belongs to. In replay the topic follows from the
// event type; in run mode it must match the topic the record came from.
// kRepartition: cxstream's own topic between stages, never events.
enum class TopicKind : std::uint8_t { kChat, kOrders, kAftersales, kAgents, kAnyCustomer, kRepartition };

enum class EventType : std::uint8_t {
  kConversationOpened,
  kMessageCustomer,
  kMessageAgent,
  kConversationAssigned,
  kConversationTransferred,
  kConversationStatus,
  kConversationAbandoned,
  kConversationClosed,
  kConversationRated,
  kOrderCreated,
  kOrderPaid,
  kOrderShipped,
  kOrderDelivered,
  kOrderCancelled,
  kAftersalesOpened,
  kAftersalesApproved,
  kAftersalesRejected,
  kAftersalesItemReceived,
  kAftersalesEscalated,
  kAftersalesClosed,
  kAftersalesReopened,
  kAftersalesRefunded,
  kAgentStatus,
  kCustomerErased,
};
inline constexpr int kEventTypeCount = static_cast<int>(EventType::kCustomerErased) + 1;

enum class Channel : std::uint8_t { kUnknown, kWeb, kApp, kWechat, kSocial, kPhone, kEmail };
enum class Priority : std::uint8_t { kLow, kNormal, kHigh, kUrgent };
enum class ConversationStatus : std::uint8_t { kOpen, kPending, kOnHold };
enum class CaseKind : std::uint8_t { kUnknown, kReturn, kExchange, kRefund, kRepair, kComplaint };
enum class AgentStatus : std::uint8_t { kOnline, kAway, kOffline };

std::string_view ToString(EventType t);
std::string_view ToString(Channel c);
std::string_view ToString(Priority p);
std::string_view ToString(ConversationStatus s);
std::string_view ToString(CaseKind k);
std::string_view ToString(AgentStatus s);
std::optional<EventType> ParseEventType(std::string_view s);
std::optional<Channel> ParseChannel(std::string_view s);
std::optional<Priority> ParsePriority(std::string_view s);
std::optional<ConversationStatus> ParseConversationStatus(std::string_view s);
std::optional<CaseKind> ParseCaseKind(std::string_view s);
std::optional<AgentStatus> ParseAgentStatus(std::string_view s);
TopicKind TopicOf(EventType t);

struct OrderItem {
  std::string sku;
  std::string category;
  std::int64_t qty = 1;
  double price = 0;
  friend bool operator==(const OrderItem&, const OrderItem&) = default;
};

struct Event {
  // Envelope.
  EventType type = EventType::kConversationOpened;
  std::string event_id;
  Timestamp ts;
  std::string customer_id;  // empty on agent.status
  std::string tenant;       // optional, empty when absent

  // Ids of the subject. Empty when the type does not carry them.
  std::string conversation_id;
  std::string order_id;
  std::string case_id;
  std::string agent_id;

  // Conversation fields.
  Channel channel = Channel::kUnknown;
  std::string queue;
  Priority priority = Priority::kNormal;
  std::string customer_tier;
  std::string topic;
  std::string text;
  std::optional<double> sentiment;  // -1..1
  bool is_public = true;            // message.agent `public`
  bool is_auto = false;             // message.agent `auto` (bot reply)
  ConversationStatus status = ConversationStatus::kOpen;
  std::string resolution;
  int csat = 0;  // 1..5 on conversation.rated
  std::string comment;

  // Orders and after-sales.
  std::optional<double> amount;
  std::string currency;
  std::vector<OrderItem> items;
  CaseKind kind = CaseKind::kUnknown;
  std::string reason;

  // Agents.
  AgentStatus agent_status = AgentStatus::kOffline;
  std::vector<std::string> queues;
  std::optional<int> max_concurrency;

  // The partitioning key of the event: agent_id on agent events, customer_id
  // otherwise.
  const std::string& key() const { return type == EventType::kAgentStatus ? agent_id : customer_id; }
  friend bool operator==(const Event&, const Event&) = default;
};

}  // namespace cx
