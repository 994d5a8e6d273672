// SLA metrics and policies (docs/sla.md).
//
// A policy is a named set of conditions and targets. Policies are kept in an
// ordered list; for each clock, the first policy whose conditions all match
// the subject and which measures its kind of subject (conversation, order,
// case) applies as a whole: a metric it does not set is not measured.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/sla_metric.h"
#include "core/time.h"
#include "processors/vocabulary.h"

namespace cx::processors {

using cx::kMetricCount;
using cx::Metric;

enum class SubjectType : std::uint8_t { kConversation, kOrder, kCase };
std::string_view ToString(SubjectType t);
SubjectType SubjectOf(Metric m);

// What a policy's conditions are matched against.
struct SubjectAttributes {
  Channel channel = Channel::kUnknown;  // unknown: no channel (orders)
  Name queue;
  Priority priority = Priority::kNormal;
  Name customer_tier;
  Name tenant;
  CaseKind kind = CaseKind::kUnknown;
};

struct Policy {
  std::string name;
  // Conditions: each non-empty list must contain the subject's value.
  std::vector<Channel> channels;
  std::vector<std::string> queues;
  std::vector<Priority> priorities;
  std::vector<std::string> customer_tiers;
  std::vector<std::string> tenants;
  std::vector<CaseKind> kinds;
  // Targets per metric and priority (low, normal, high, urgent); nullopt:
  // this policy does not measure the metric.
  std::array<std::array<std::optional<DurationMs>, 4>, kMetricCount> targets{};
  // The business-hours calendar the targets count in (SlaOptions::calendars);
  // empty: calendar time.
  std::string calendar;

  bool Matches(const SubjectAttributes& s) const;
  // Whether the policy sets a target for any metric of subjects of type t.
  bool Measures(SubjectType t) const;
  std::optional<DurationMs> Target(Metric m, Priority p) const {
    return targets[static_cast<std::size_t>(m)][static_cast<std::size_t>(p)];
  }
  void SetTarget(Metric m, std::array<DurationMs, 4> per_priority);
  void SetTarget(Metric m, DurationMs all_priorities);
};

// The applicable policy and target, or nullopt when no policy measures it.
struct Applied {
  const Policy* policy;
  DurationMs target;
};
std::optional<Applied> FindPolicy(const std::vector<Policy>& policies, Metric m, const SubjectAttributes& s);

}  // namespace cx::processors
