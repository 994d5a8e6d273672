// QueueStaffing: the queue-stage half of staffing (docs/staffing.md).
//
// Receives the customer stage's facts for the queues its partition owns, in
// event-time order and exactly once (engine repartitioning), counts them per
// queue and interval, and when an interval closes in event time emits one
// staffing record: the interval's figures, the state of the queue at its
// end, a forecast of the next interval and the agents needed (Erlang C and
// Erlang A, with chat concurrency and shrinkage). In run mode it also emits
// a provisional record for the open interval every `provisional_every`.
#pragma once

#include <cctz/time_zone.h>

#include <map>
#include <optional>
#include <set>
#include <string>

#include "processors/processor.h"
#include "processors/staffing/facts.h"

namespace cx::processors {

// The service-level target and staffing assumptions of one queue.
struct QueueTarget {
  double sl_target = 0;
  DurationMs sl_threshold = 0;
  double max_occupancy = 0;
  double shrinkage = 0;
  int concurrency = 0;
  cctz::time_zone zone;  // days, weekdays and slots of the forecast
};

// Built from the configuration by engine::QueueStaffingOptionsFrom; the
// defaults are in the option table (config/config.cc), none here.
struct QueueStaffingOptions {
  DurationMs interval = 0;           // divides a day
  DurationMs provisional_every = 0;  // 0: none (replay)
  double forecast_alpha = 0;         // smoothing of the levels (per slot, per weekday and slot)
  double intraday_alpha = 0;         // smoothing of the intraday correction
  QueueTarget defaults;
  std::map<std::string, QueueTarget, std::less<>> queues;  // overrides by queue name
  // Bounds on what inputs can create (docs/staffing.md#limits): the queues
  // the configuration names are always tracked; of the others this stage
  // task tracks at most `max_unnamed` at once, and counts the facts of
  // further ones under `other`. A queue without a fact for `idle_after`
  // (event time) stops and leaves the state.
  std::set<std::string, std::less<>> named;
  std::int64_t max_unnamed = 0;
  DurationMs idle_after = 0;
};

class QueueStaffing final : public Processor {
 public:
  explicit QueueStaffing(QueueStaffingOptions options) : options_(std::move(options)) {}

  std::string_view name() const override { return "staffing-queue"; }
  std::string_view receives_from() const override { return "staffing"; }
  // A queue holds every conversation waiting in it: one key each.
  StateLayout state_layout() const override { return StateLayout::kPerRecord; }
  void OnEvent(const Event&, ProcessorContext&) override {}
  void OnTimer(Timestamp, std::string_view, std::string_view, ProcessorContext&) override {}
  void OnRepartitioned(std::string_view key, Timestamp ts, std::string_view value,
                       ProcessorContext& ctx) override;
  void OnStageWatermark(Timestamp wm, ProcessorContext& ctx) override;

  struct Stats;
  struct Forecast;

 private:
  // The queue `facts` facts from `ts` on are counted under (`queue`, or
  // `other` when no more queues may be tracked), with its state loaded or
  // started.
  std::string_view Track(std::string_view queue, Timestamp ts, std::int64_t facts, Stats*& s,
                         ProcessorContext& ctx);
  // The state of a tracked queue; one idle at `t` is retired first
  // (nullptr, as for a queue not tracked).
  Stats* Load(std::string_view queue, Timestamp t, ProcessorContext& ctx);
  // Whether a queue not tracked yet may be, at `ts`: retires the queues
  // idle by then when the budget is full.
  bool Admit(std::string_view queue, Timestamp ts, ProcessorContext& ctx);
  // Emits the records up to the queue's idle time and forgets it.
  void Retire(std::string_view queue, Stats& s, ProcessorContext& ctx);
  bool Counted(std::string_view queue) const;  // against max_unnamed
  const QueueTarget& TargetOf(std::string_view queue) const;
  Timestamp IntervalStart(Timestamp t) const;
  // Closes every interval of `queue` that ends at or before `t`.
  // `oldest`: the arrival of the queue's longest-waiting conversation
  // (Timestamp::Max() when none), read from its waiting set by the first
  // record that needs it and kept for the next ones: the set does not change
  // while records are emitted, and a closed day of intervals would otherwise
  // scan it once per interval.
  void CloseUpTo(std::string_view queue, Stats& s, Timestamp t, std::optional<Timestamp>& oldest,
                 ProcessorContext& ctx);
  void EmitRecord(std::string_view queue, const Stats& s, Timestamp as_of, bool provisional,
                  std::optional<Timestamp>& oldest, ProcessorContext& ctx);

  const QueueStaffingOptions options_;
  // Scratch of OnRepartitioned (the fact and its waiting record's name),
  // kept from record to record so that reading one allocates nothing. A
  // processor serves one task, on one thread.
  StaffingFact fact_;
  StaffingPartial partial_;
  std::string waiting_key_;
};

}  // namespace cx::processors
