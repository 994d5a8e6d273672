#include "processors/sla/policy.h"

#include <algorithm>

namespace cx::processors {
namespace {

template <typename T>
bool In(const std::vector<T>& list, const T& v) {
  return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}

constexpr DurationMs kS = 1000, kM = 60 * kS, kH = 60 * kM, kD = 24 * kH;

}  // namespace

std::string_view ToString(SubjectType t) {
  switch (t) {
    case SubjectType::kConversation:
      return "conversation";
    case SubjectType::kOrder:
      return "order";
    case SubjectType::kCase:
      return "case";
  }
  return "";
}

SubjectType SubjectOf(Metric m) {
  switch (m) {
    case Metric::kFirstResponse:
    case Metric::kNextResponse:
    case Metric::kResolution:
      return SubjectType::kConversation;
    case Metric::kOrderShip:
    case Metric::kOrderDelivery:
      return SubjectType::kOrder;
    default:
      return SubjectType::kCase;
  }
}

bool Policy::Matches(const SubjectAttributes& s) const {
  return In(channels, s.channel) && In(queues, s.queue) && In(priorities, s.priority) &&
         In(customer_tiers, s.customer_tier) && In(tenants, s.tenant) && In(kinds, s.kind);
}

void Policy::SetTarget(Metric m, std::array<DurationMs, 4> per_priority) {
  for (std::size_t p = 0; p < 4; ++p) targets[static_cast<std::size_t>(m)][p] = per_priority[p];
}
void Policy::SetTarget(Metric m, DurationMs all) { SetTarget(m, {all, all, all, all}); }

bool Policy::Measures(SubjectType t) const {
  for (std::size_t m = 0; m < targets.size(); ++m) {
    if (SubjectOf(static_cast<Metric>(m)) != t) continue;
    for (const auto& target : targets[m])
      if (target) return true;
  }
  return false;
}

std::optional<Applied> FindPolicy(const std::vector<Policy>& policies, Metric m, const SubjectAttributes& s) {
  const SubjectType type = SubjectOf(m);
  for (const Policy& p : policies) {
    if (!p.Matches(s) || !p.Measures(type)) continue;
    // The first matching policy applies as a whole: a metric (or priority)
    // it does not set is not measured, and no later policy is consulted.
    if (auto t = p.Target(m, s.priority)) return Applied{&p, *t};
    return std::nullopt;
  }
  return std::nullopt;
}

std::vector<Policy> DefaultPolicies() {
  const std::vector<Channel> chat = {Channel::kWeb, Channel::kApp, Channel::kWechat, Channel::kSocial};
  std::vector<Policy> ps;

  // Chat: answers within a minute (30 s for VIPs), resolution in a working
  // day. Each policy sets every metric of a conversation it measures: the
  // first matching policy applies as a whole.
  const std::array<DurationMs, 4> chat_next = {240 * kS, 120 * kS, 60 * kS, 30 * kS};
  const std::array<DurationMs, 4> chat_resolution = {24 * kH, 8 * kH, 4 * kH, 1 * kH};
  Policy vip;
  vip.name = "default-chat-vip";
  vip.channels = chat;
  vip.customer_tiers = {"vip"};
  vip.SetTarget(Metric::kFirstResponse, {60 * kS, 30 * kS, 15 * kS, 7500});  // halved
  vip.SetTarget(Metric::kNextResponse, chat_next);
  vip.SetTarget(Metric::kResolution, chat_resolution);
  ps.push_back(vip);

  Policy c;
  c.name = "default-chat";
  c.channels = chat;
  c.SetTarget(Metric::kFirstResponse, {120 * kS, 60 * kS, 30 * kS, 15 * kS});
  c.SetTarget(Metric::kNextResponse, chat_next);
  c.SetTarget(Metric::kResolution, chat_resolution);
  ps.push_back(c);

  // Email: replies within a working day (an hour when urgent), resolution
  // in two days.
  Policy email;
  email.name = "default-email";
  email.channels = {Channel::kEmail};
  email.SetTarget(Metric::kFirstResponse, {24 * kH, 8 * kH, 4 * kH, 1 * kH});
  email.SetTarget(Metric::kNextResponse, {24 * kH, 8 * kH, 4 * kH, 1 * kH});
  email.SetTarget(Metric::kResolution, {72 * kH, 48 * kH, 24 * kH, 8 * kH});
  ps.push_back(email);

  // Phone: the call is answered within a minute; once answered the agent is
  // on the line, so there is no next response to wait for; resolution as
  // chat (a call-back closes it).
  Policy phone;
  phone.name = "default-phone";
  phone.channels = {Channel::kPhone};
  phone.SetTarget(Metric::kFirstResponse, {120 * kS, 60 * kS, 30 * kS, 20 * kS});
  phone.SetTarget(Metric::kResolution, chat_resolution);
  ps.push_back(phone);

  // Cases and orders (conversations on every channel are measured above).
  Policy as;
  as.name = "default";
  as.SetTarget(Metric::kAftersalesApproval, 24 * kH);
  as.SetTarget(Metric::kAftersalesRefund, 48 * kH);
  as.SetTarget(Metric::kAftersalesResolution, 7 * kD);
  as.SetTarget(Metric::kOrderShip, 48 * kH);
  as.SetTarget(Metric::kOrderDelivery, 7 * kD);
  ps.push_back(as);
  return ps;
}

}  // namespace cx::processors
