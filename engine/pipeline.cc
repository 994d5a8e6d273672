#include "engine/pipeline.h"

#include "processors/sla/sla_processor.h"

namespace cx::engine {

TaskOptions TaskOptionsFrom(const config::Config& c) {
  TaskOptions o;
  o.limits.max_message_bytes = static_cast<std::size_t>(c.limits.max_message_bytes);
  o.limits.max_id_bytes = static_cast<std::size_t>(c.limits.max_id_bytes);
  o.limits.max_text_bytes = static_cast<std::size_t>(c.limits.max_text_bytes);
  o.allowed_lateness = c.time.allowed_lateness;
  o.max_future_skew = c.limits.max_future_skew;
  o.dedup_per_key = static_cast<std::size_t>(c.dedup.per_customer);
  return o;
}

std::vector<processors::Policy> SlaPolicies(const config::Config& c) {
  if (!c.sla.policies_given) return processors::DefaultPolicies();
  std::vector<processors::Policy> out;
  // Names were validated when the configuration was loaded.
  for (const auto& pc : c.sla.policies) {
    processors::Policy p;
    p.name = pc.name;
    for (const auto& v : pc.channels) p.channels.push_back(*ParseChannel(v));
    for (const auto& v : pc.priorities) p.priorities.push_back(*ParsePriority(v));
    for (const auto& v : pc.kinds) p.kinds.push_back(*ParseCaseKind(v));
    p.queues = pc.queues;
    p.customer_tiers = pc.customer_tiers;
    p.tenants = pc.tenants;
    for (const auto& [metric, targets] : pc.targets) {
      p.targets[static_cast<std::size_t>(*ParseMetric(metric))] = targets;
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<std::unique_ptr<processors::Processor>> BuildCustomerProcessors(const config::Config& c) {
  std::vector<std::unique_ptr<processors::Processor>> ps;
  processors::SlaOptions sla;
  sla.policies = SlaPolicies(c);
  sla.warning_fraction = c.sla.warning_fraction;
  ps.push_back(std::make_unique<processors::SlaProcessor>(sla));
  return ps;
}

}  // namespace cx::engine
