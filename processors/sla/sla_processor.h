// SlaProcessor: SLA clocks for conversations, orders and after-sales cases,
// with one timer per running clock (its warning point's, then its
// deadline's) (docs/sla.md).
//
// State per customer: one record (Customer) with its clocks (subject,
// metric) and its open conversations, cases and orders, holding what later
// events need (channel, queue, priority, tier, case kind, whether an agent
// has replied). No event
// scans other clocks; every deadline is a timer. What is emitted depends on
// event time only: an event past a warning point or deadline is preceded by
// the warning or breach that was due, even if its timer had not fired yet.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/sla_metric.h"
#include "core/time.h"
#include "processors/conversations/conversation_keeper.h"
#include "processors/flat_map.h"
#include "processors/processor.h"
#include "processors/sla/calendar.h"
#include "processors/sla/policy.h"
#include "processors/vocabulary.h"

namespace cx::processors {

// Built from the configuration by engine::SlaOptionsFrom; the defaults
// (policies included) are in config/config.cc, none here.
struct SlaOptions {
  std::vector<Policy> policies;
  // Fraction of the target at which a warning is emitted; 0 disables.
  double warning_fraction = 0;
  // Business-hours calendars by name, for policies with a `calendar`.
  std::map<std::string, BusinessCalendar, std::less<>> calendars;
};

class SlaProcessor final : public Processor {
 public:
  // `conversations`: the keeper of the task's conversations, which it runs
  // after this processor, and whose names (queues, tenants, tiers) the SLA
  // engine's records share.
  SlaProcessor(SlaOptions options, ConversationKeeper& conversations);

  std::string_view name() const override { return "sla"; }
  void OnEvent(const Event& event, ProcessorContext& ctx) override;
  void OnTimer(Timestamp when, std::string_view owner, std::string_view tag, ProcessorContext& ctx) override;
  // Writes the open-clock counts changed since the last commit.
  void BeforeCommit(ProcessorContext& ctx) override;

  struct Clock;
  struct Subject;
  // One customer's subjects and clocks: its one state record.
  struct Customer;

  // Open clocks per metric and queue are counted in state, so the count
  // follows its partition through restarts and rebalances: one record per
  // (metric, queue) with owner "" under names starting with this prefix.
  static constexpr std::string_view kOpenCountPrefix = "n/";
  // Reads one such record: false when `name` or `value` is not one.
  static bool ParseOpenCount(std::string_view name, std::string_view value, Metric& metric,
                             std::string& queue, std::int64_t& count);

 private:
  // Clock lifecycle.
  // True when a clock was started (none was running and a policy applies).
  bool Start(Metric m, const Subject& s, const Event& e, ProcessorContext& ctx);
  void Fulfill(Metric m, const Subject& s, const Event& e, ProcessorContext& ctx);
  void Cancel(Metric m, const Subject& s, const Event& e, ProcessorContext& ctx);
  // Fulfil or cancel: emits `what` after any warning or breach that was due.
  void End(Metric m, const Subject& s, const Event& e, std::string_view what, ProcessorContext& ctx);
  void Pause(Metric m, const Subject& s, const Event& e, ProcessorContext& ctx);
  void Resume(Metric m, const Subject& s, const Event& e, ProcessorContext& ctx);
  void Retarget(Metric m, const Subject& s, const Event& e, ProcessorContext& ctx);

  void OnConversation(const Event& e, ProcessorContext& ctx);
  void OnCase(const Event& e, ProcessorContext& ctx);
  void OnOrder(const Event& e, ProcessorContext& ctx);
  void Erase(ProcessorContext& ctx);

  // Deadline and warning point from start, target and time paused, counted
  // in the clock's calendar (business time) or in calendar time.
  void Schedule(Clock& c) const;
  DurationMs Elapsed(const Clock& c, Timestamp ts) const;
  // Gives the clock the applied policy's name, calendar and target.
  void Apply(const Applied& applied, Clock& c) const;
  const BusinessCalendar* CalendarOf(const Clock& c) const;

  // A clock's timer tag: `kind` ('w' warning, 'b' breach), then its key
  // (AppendClockKey), in tag_scratch_.
  const std::string& TimerTag(char kind, const Clock& c);
  // Adds `delta` to the open clocks of (m, queue), in open_counts_.
  void CountOpen(Metric m, std::string_view queue, int delta, ProcessorContext& ctx);
  // The record name of (m, queue)'s count, in count_scratch_.
  const std::string& OpenCountName(Metric m, std::string_view queue);

  void CatchUp(Clock& c, Timestamp t, ProcessorContext& ctx);
  void Emit(const Clock& c, std::string_view what, Timestamp ts, ProcessorContext& ctx);
  // The running clock's one timer (its warning point's, else its
  // deadline's): false when it has none.
  bool NextTimer(const Clock& c, Timestamp& when, char& kind) const;
  void SetTimers(const Clock& c, ProcessorContext& ctx);
  void CancelTimers(const Clock& c, ProcessorContext& ctx);
  // The customer's record during one OnEvent or OnTimer call (scope_).
  class Scope;

  const SlaOptions options_;
  ConversationKeeper& conversations_;
  // The names the customers' records repeat (queues, tenants, tiers,
  // policies, calendars), each held once: the conversations' keeper's,
  // so that a queue read from the shared record and one from a clock are
  // the same name; and each policy's name and calendar, interned when the
  // processor is made.
  Vocabulary& vocabulary_;
  std::vector<Name> policy_names_, policy_calendars_;
  // Scratch of Emit (the decision id) and CountOpen (the record name), kept
  // between calls so that building them allocates nothing. A processor
  // serves one task, on one thread; neither call reaches the other while
  // its scratch is in use.
  std::string id_scratch_, count_scratch_, tag_scratch_;
  // The open-clock counts changed since the last commit, per metric and
  // queue: what each record will hold (0: no record). Read from state on a
  // pair's first change in an interval and written back by BeforeCommit,
  // so that a clock's start or end is not a lookup of an owner "" record.
  std::array<FlatMap<std::int64_t>, kMetricCount> open_counts_;
  bool open_counts_changed_ = false;
  // The customer record of the call in progress (its Scope), nullptr
  // between calls.
  Scope* scope_ = nullptr;
};

}  // namespace cx::processors
