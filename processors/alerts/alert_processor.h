// Alerts (docs/alerts.md): the customer-stage half decides per customer and
// subject (SLA breaches and warnings, VIP waiting, repeat contacts, low CSAT,
// negative sentiment, overdue and escalated after-sales cases); the queue
// stage groups SLA breaches of one queue into storms. One trigger per open
// condition and one resolve when it clears: each open alert is a small
// record in state, so a trigger is never repeated while it is open.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "processors/alerts/alert.h"
#include "processors/conversations/conversation_keeper.h"
#include "processors/processor.h"

namespace cx::processors {

enum class AlertKind : std::uint8_t {
  kSlaBreach,
  kSlaWarning,
  kVipWaiting,
  kRepeatContact,
  kLowCsat,
  kNegativeSentiment,
  kAftersalesOverdue,
  kEscalation,
  kQueueBreachStorm,
};
inline constexpr int kAlertKindCount = 9;
std::string_view ToString(AlertKind k);

// Built from the configuration by engine::AlertOptionsFrom; the defaults
// are in the option table (config/config.cc), none here.
struct AlertOptions {
  // Per kind (AlertKind order); nullopt: the kind is off.
  std::array<std::optional<Severity>, kAlertKindCount> severity{};
  std::string source;                     // the `source` of every alert
  DurationMs vip_wait = 0;                // a VIP waiting this long for a first reply
  std::string vip_tier;                   // the customer_tier of a VIP
  int repeat_count = 0;                   // the Nth contact about one order or topic ...
  DurationMs repeat_window = 0;           // ... within this window (RecentContacts)
  int low_csat = 0;                       // CSAT at or below
  DurationMs low_csat_resolve_after = 0;  // resolves by itself after
  double negative_sentiment = 0;          // sentiment below
  std::vector<std::string> keywords;      // escalation keywords, ASCII lower-cased
  DurationMs aftersales_overdue = 0;      // a case open this long
  int storm_count = 0;                    // breaches in one queue ...
  DurationMs storm_window = 0;            // ... within this window make a storm
  DurationMs group_wait = 0;              // breach alerts wait this long to be grouped

  bool Enabled(AlertKind k) const { return severity[static_cast<std::size_t>(k)].has_value(); }
  // The severity's name; "off" only for a resolve of an alert whose kind was
  // turned off since it triggered.
  std::string SeverityOf(AlertKind k) const {
    const auto& s = severity[static_cast<std::size_t>(k)];
    return std::string(s ? ToString(*s) : "off");
  }
};

class AlertProcessor final : public Processor {
 public:
  // `conversations`: the keeper of the task's conversations, which it runs
  // after this processor.
  AlertProcessor(AlertOptions options, ConversationKeeper& conversations)
      : options_(std::move(options)), conversations_(conversations) {}

  std::string_view name() const override { return "alerts"; }
  void OnEvent(const Event& event, ProcessorContext& ctx) override;
  void OnTimer(Timestamp when, std::string_view owner, std::string_view tag, ProcessorContext& ctx) override;
  void OnSignal(const Signal& signal, ProcessorContext& ctx) override;

 private:
  // A customer's record (its cases, recent contacts, open and sent alerts),
  // and the handle on it while one call is handled.
  struct CustomerAlerts;
  class Scope;
  struct OpenAlert;

  // Triggers unless already open. `alert` names the condition (dedup_key);
  // `subject_id`: the conversation or case the alert is about (its open
  // alerts are found by it when the subject ends); via: through the queue
  // stage of `via_queue` (SLA breaches), else straight to the topic.
  void Trigger(Scope& scope, std::string_view subject_id, Alert alert, AlertKind kind,
               std::string_view via_queue = {}, bool via = false) const;
  // Resolves the open alert `name` ("<subject>/<dedup_key>"), if open.
  void Resolve(Scope& scope, std::string_view name, Timestamp ts) const;
  // Resolves the open alerts of `subject` (those `resolves` accepts by name,
  // or all), in name order.
  void ResolveSubject(Scope& scope, std::string_view subject, Timestamp ts,
                      bool (*resolves)(std::string_view name) = nullptr) const;
  // Sends the resolve of an open alert taken out of the record.
  void SendResolve(OpenAlert open, Timestamp ts, ProcessorContext& ctx) const;
  bool Enabled(AlertKind k) const { return options_.Enabled(k); }
  bool IsVip(std::string_view customer_tier) const {
    return !customer_tier.empty() && customer_tier == options_.vip_tier;
  }

  const AlertOptions options_;
  ConversationKeeper& conversations_;
  std::string key_scratch_, name_scratch_;  // OnSignal's dedup key and open-alert name
};

// The queue stage: SLA breach alerts of one queue, held `group_wait` so that
// a storm (storm_count breaches within storm_window) pages once. What it
// emits depends on event time only, not on how the stage watermark moves.
struct QueueAlerts;
class AlertQueueStage final : public Processor {
 public:
  explicit AlertQueueStage(AlertOptions options) : options_(std::move(options)) {}

  std::string_view name() const override { return "alerts-queue"; }
  std::string_view receives_from() const override { return "alerts"; }
  // A queue holds every alert it groups or holds back: one key each.
  StateLayout state_layout() const override { return StateLayout::kPerRecord; }
  void OnEvent(const Event&, ProcessorContext&) override {}
  void OnTimer(Timestamp, std::string_view, std::string_view, ProcessorContext&) override {}
  void OnRepartitioned(std::string_view key, Timestamp ts, std::string_view value,
                       ProcessorContext& ctx) override;
  void OnStageWatermark(Timestamp wm, ProcessorContext& ctx) override;

 private:
  // Releases the held breaches due at or before `up_to` and resolves a
  // storm that ended by then, in time order; true when `s` changed.
  bool Advance(std::string_view queue, Timestamp up_to, QueueAlerts& s, ProcessorContext& ctx);
  void StartStorm(std::string_view queue, Timestamp ts, QueueAlerts& s, ProcessorContext& ctx);
  bool EndStormIfDue(std::string_view queue, Timestamp at, QueueAlerts& s, ProcessorContext& ctx);
  // The storm alert's envelope (without summary and details).
  Alert StormAlert(std::string_view queue, const std::string& key, std::string_view action, Timestamp ts) const;

  const AlertOptions options_;
  // The alert of the fact being handled and of the held one being released
  // (Advance, within it): decoded into strings kept between calls.
  Alert fact_, released_;
};

}  // namespace cx::processors
