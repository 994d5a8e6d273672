#include "core/event.h"

#include <array>

namespace cx {
namespace {

template <typename E, size_t N>
std::optional<E> Lookup(const std::array<std::string_view, N>& names, std::string_view s, size_t first = 0) {
  for (size_t i = first; i < N; ++i) {
    if (names[i] == s) return static_cast<E>(i);
  }
  return std::nullopt;
}

constexpr std::array<std::string_view, kEventTypeCount> kEventTypeNames = {
    "conversation.opened",
    "message.customer",
    "message.agent",
    "conversation.assigned",
    "conversation.transferred",
    "conversation.status",
    "conversation.abandoned",
    "conversation.closed",
    "conversation.rated",
    "order.created",
    "order.paid",
    "order.shipped",
    "order.delivered",
    "order.cancelled",
    "aftersales.opened",
    "aftersales.approved",
    "aftersales.rejected",
    "aftersales.item_received",
    "aftersales.escalated",
    "aftersales.closed",
    "aftersales.reopened",
    "aftersales.refunded",
    "agent.status",
    "customer.erased",
};
constexpr std::array<std::string_view, 7> kChannelNames = {"unknown", "web",   "app",  "wechat",
                                                           "social",  "phone", "email"};
constexpr std::array<std::string_view, 4> kPriorityNames = {"low", "normal", "high", "urgent"};
constexpr std::array<std::string_view, 3> kStatusNames = {"open", "pending", "on_hold"};
constexpr std::array<std::string_view, 6> kKindNames = {"unknown", "return", "exchange",
                                                        "refund",  "repair", "complaint"};
constexpr std::array<std::string_view, 3> kAgentStatusNames = {"online", "away", "offline"};

}  // namespace

std::string_view ToString(EventType t) { return kEventTypeNames[static_cast<size_t>(t)]; }
std::string_view ToString(Channel c) { return kChannelNames[static_cast<size_t>(c)]; }
std::string_view ToString(Priority p) { return kPriorityNames[static_cast<size_t>(p)]; }
std::string_view ToString(ConversationStatus s) { return kStatusNames[static_cast<size_t>(s)]; }
std::string_view ToString(CaseKind k) { return kKindNames[static_cast<size_t>(k)]; }
std::string_view ToString(AgentStatus s) { return kAgentStatusNames[static_cast<size_t>(s)]; }

std::optional<EventType> ParseEventType(std::string_view s) { return Lookup<EventType>(kEventTypeNames, s); }
// "unknown" is an internal placeholder, never accepted on input.
std::optional<Channel> ParseChannel(std::string_view s) { return Lookup<Channel>(kChannelNames, s, 1); }
std::optional<Priority> ParsePriority(std::string_view s) { return Lookup<Priority>(kPriorityNames, s); }
std::optional<ConversationStatus> ParseConversationStatus(std::string_view s) {
  return Lookup<ConversationStatus>(kStatusNames, s);
}
std::optional<CaseKind> ParseCaseKind(std::string_view s) { return Lookup<CaseKind>(kKindNames, s, 1); }
std::optional<AgentStatus> ParseAgentStatus(std::string_view s) {
  return Lookup<AgentStatus>(kAgentStatusNames, s);
}

TopicKind TopicOf(EventType t) {
  if (t == EventType::kCustomerErased) return TopicKind::kAnyCustomer;
  if (t == EventType::kAgentStatus) return TopicKind::kAgents;
  if (t >= EventType::kAftersalesOpened) return TopicKind::kAftersales;
  if (t >= EventType::kOrderCreated) return TopicKind::kOrders;
  return TopicKind::kChat;
}

}  // namespace cx
