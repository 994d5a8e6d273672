// The one place that turns a Config into the stage's processors and task
// options. Used by replay and (issue 3) by the Kafka runtime alike, so both
// run exactly the same processors.
#pragma once

#include <memory>
#include <vector>

#include "config/config.h"
#include "engine/task.h"
#include "processors/processor.h"
#include "processors/sla/policy.h"

namespace cx::engine {

TaskOptions TaskOptionsFrom(const config::Config& config);
std::vector<std::unique_ptr<processors::Processor>> BuildCustomerProcessors(const config::Config& config);
// The SLA policies of the configuration, or the shipped defaults when the
// configuration names none.
std::vector<processors::Policy> SlaPolicies(const config::Config& config);

}  // namespace cx::engine
