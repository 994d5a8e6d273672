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

std::vector<std::unique_ptr<processors::Processor>> BuildCustomerProcessors(const config::Config& c) {
  std::vector<std::unique_ptr<processors::Processor>> ps;
  processors::SlaOptions sla;  // the shipped default policies
  sla.warning_fraction = c.sla.warning_fraction;
  ps.push_back(std::make_unique<processors::SlaProcessor>(sla));
  return ps;
}

}  // namespace cx::engine
