#include "processors/sla/policy.h"

#include <algorithm>

namespace cx::processors {
namespace {

template <typename T>
bool In(const std::vector<T>& list, const T& v) {
  return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}
bool In(const std::vector<std::string>& list, const Name& v) {
  return list.empty() || std::find(list.begin(), list.end(), v.view()) != list.end();
}

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

}  // namespace cx::processors
