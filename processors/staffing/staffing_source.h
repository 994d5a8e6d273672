// StaffingSource: the customer-stage half of staffing (docs/staffing.md).
//
// Follows each conversation (queue, when it entered it, whether and when it
// was answered) and each agent (status, queues, concurrency), and sends what
// the queue stage counts as facts keyed by queue. Keeps one small record per
// open conversation and one per agent; computes nothing per queue itself, so
// no worker's local view is ever reported.
#pragma once

#include "processors/processor.h"

namespace cx::processors {

// Built from the configuration by engine::StaffingSourceOptionsFrom.
struct StaffingSourceOptions {
  // Handle time runs from the opening of the conversation (true) or from
  // the first agent reply (false), to its close.
  bool handle_time_from_open = false;
};

class StaffingSource final : public Processor {
 public:
  explicit StaffingSource(StaffingSourceOptions options) : options_(options) {}

  std::string_view name() const override { return "staffing"; }
  void OnEvent(const Event& event, ProcessorContext& ctx) override;
  void OnTimer(Timestamp, std::string_view, std::string_view, ProcessorContext&) override {}

 private:
  void OnAgent(const Event& e, ProcessorContext& ctx);

  const StaffingSourceOptions options_;
};

}  // namespace cx::processors
