// StaffingSource: the customer-stage half of staffing (docs/staffing.md).
//
// Follows each conversation (queue, when it entered it, whether and when it
// was answered: the shared record, processors/conversations) and each agent
// (status, queues, concurrency), and sends what the queue stage counts as
// facts keyed by queue. Keeps one small record per agent; computes nothing
// per queue itself, so no worker's local view is ever reported.
#pragma once

#include <map>
#include <string>

#include "processors/conversations/conversation_keeper.h"
#include "processors/processor.h"
#include "processors/staffing/facts.h"

namespace cx::processors {

// Built from the configuration by engine::StaffingSourceOptionsFrom.
struct StaffingSourceOptions {
  // Handle time runs from the opening of the conversation (true) or from
  // the first agent reply (false), to its close.
  bool handle_time_from_open = false;
  // Buckets of the facts combined before they are sent (docs/staffing.md#
  // combining): they end at every staffing interval's end and, when
  // `provisional_every` > 0 (run mode), at every multiple of it as well, so
  // that the queue stage's provisional records see every finished bucket.
  DurationMs interval = 0;
  DurationMs provisional_every = 0;
  // Service-level thresholds: an answer within its queue's counts as
  // answered within (the queue stage's figure, summed here).
  DurationMs sl_threshold = 0;
  std::map<std::string, DurationMs, std::less<>> thresholds;  // overrides by queue name
};

class StaffingSource final : public Processor {
 public:
  // `conversations`: the keeper of the task's conversations, which it
  // runs after this processor.
  StaffingSource(StaffingSourceOptions options, ConversationKeeper& conversations)
      : options_(options), conversations_(conversations) {}

  std::string_view name() const override { return "staffing"; }
  void OnEvent(const Event& event, ProcessorContext& ctx) override;
  void OnTimer(Timestamp, std::string_view, std::string_view, ProcessorContext&) override {}
  // Sends the buckets that end at or before `wm`.
  void BeforeAnnounce(Timestamp wm, ProcessorContext& ctx) override;

  struct Buckets;

 private:
  void OnAgent(const Event& e, ProcessorContext& ctx);
  // Adds `f` about `queue` to its bucket (the time it would be sent at).
  void AddFact(ProcessorContext& ctx, std::string_view queue, const StaffingFact& f);
  Timestamp BucketStart(Timestamp t) const;
  Timestamp BucketEnd(Timestamp start) const;

  const StaffingSourceOptions options_;
  ConversationKeeper& conversations_;
};

}  // namespace cx::processors
