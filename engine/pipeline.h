// The one place that turns a Config into the stage's processors and task
// options. Used by replay and by the Kafka runtime alike, so both run
// exactly the same processors. The option structs of processors and tasks
// carry no defaults of their own: every default is in the option table
// (config/config.cc), and tests build options from config::DefaultConfig().
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "engine/task.h"
#include "processors/alerts/alert_processor.h"
#include "processors/processor.h"
#include "processors/profiles/profile_processor.h"
#include "processors/sla/policy.h"
#include "processors/sla/sla_processor.h"
#include "processors/staffing/queue_staffing.h"
#include "processors/staffing/staffing_source.h"

namespace cx::engine {

// replay: event time only, no provisional records; run: also the wall clock.
enum class Mode { kReplay, kRun };

TaskOptions TaskOptionsFrom(const config::Config& config);
// The processors of a task: SLA, staffing (its customer-stage half and the
// queue stage of the task's repartition partition), profiles, alerts.
// `stage_partitions`: how many queue-stage partitions share
// limits.max_queues (replay: 1).
std::vector<std::unique_ptr<processors::Processor>> BuildCustomerProcessors(const config::Config& config,
                                                                            Mode mode, int stage_partitions);
processors::QueueStaffingOptions QueueStaffingOptionsFrom(const config::Config& config, Mode mode,
                                                          int stage_partitions);
processors::ProfileOptions ProfileOptionsFrom(const config::Config& config);
processors::AlertOptions AlertOptionsFrom(const config::Config& config);
processors::StaffingSourceOptions StaffingSourceOptionsFrom(const config::Config& config, Mode mode);
// The SLA policies of the configuration (its own, or the shipped defaults).
std::vector<processors::Policy> SlaPolicies(const config::Config& config);
// The SLA engine's options: policies, business-hours calendars, warnings.
// The configuration was validated at load, so this cannot fail.
processors::SlaOptions SlaOptionsFrom(const config::Config& config);

// Open SLA clocks of one task by (metric, queue); orders and cases have an
// empty queue. Read from the task's state (see SlaProcessor::CountOpen).
using OpenClockCounts = std::map<std::pair<Metric, std::string>, std::int64_t>;
Status AddOpenSlaClocks(Task& task, OpenClockCounts& counts);

}  // namespace cx::engine
