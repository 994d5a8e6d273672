// SlaProcessor: SLA clocks per subject, with a timer per deadline.
//
// This first version implements the conversation `first_response` metric of
// docs/sla.md with the shipped default targets; policies, business hours and
// the other metrics build on the same clock record (issue: SLA engine).
//
// State: one small record per open clock (key "fr/<conversation_id>"),
// holding start, target, deadline and what has been emitted; two timers per
// running clock (warning, breach). No event scans other clocks.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/time.h"
#include "processors/processor.h"

namespace cx::processors {

// First-response targets, per priority (low, normal, high, urgent).
struct FirstResponseTargets {
  std::array<DurationMs, 4> chat = {120'000, 60'000, 30'000, 15'000};  // web, app, wechat, social
  std::array<DurationMs, 4> email = {28'800'000, 28'800'000, 28'800'000, 28'800'000};
  std::array<DurationMs, 4> phone = {60'000, 60'000, 60'000, 60'000};
  // `customer_tier: vip` divides chat targets by this.
  std::int64_t vip_divisor = 2;
};

struct SlaOptions {
  FirstResponseTargets first_response;
  // Fraction of the target at which a warning is emitted; 0 disables.
  double warning_fraction = 0.8;
};

class SlaProcessor final : public Processor {
 public:
  explicit SlaProcessor(SlaOptions options) : options_(options) {}

  std::string_view name() const override { return "sla"; }
  void OnEvent(const Event& event, ProcessorContext& ctx) override;
  void OnTimer(Timestamp when, std::string_view owner, std::string_view tag,
               ProcessorContext& ctx) override;

 private:
  struct Clock;

  void Open(const Event& e, ProcessorContext& ctx);
  void AgentReply(const Event& e, ProcessorContext& ctx);
  void End(const Event& e, ProcessorContext& ctx);
  void Fulfill(Clock& c, const Event& e, ProcessorContext& ctx);
  // Emits the warning and breach that were due at or before `t` and not yet
  // emitted. Called before any event changes a running clock, so what is
  // emitted depends on event time only, never on how far the watermark had
  // got when the event arrived (replay and run agree).
  void CatchUp(Clock& c, Timestamp t, ProcessorContext& ctx);
  Timestamp WarningAt(const Clock& c) const;
  void EmitRecord(const Clock& c, std::string_view what, Timestamp ts, ProcessorContext& ctx);
  void SetTimers(const Clock& c, ProcessorContext& ctx);
  void CancelTimers(const Clock& c, ProcessorContext& ctx);
  DurationMs TargetFor(const Event& opened, std::string& policy) const;

  const SlaOptions options_;
};

}  // namespace cx::processors
