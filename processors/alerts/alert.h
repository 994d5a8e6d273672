// Alert: one action (trigger or resolve) on one condition, as written to the
// alert topic (docs/alerts.md). The envelope maps one to one onto PagerDuty
// Events v2 and the Alertmanager v2 API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/json_writer.h"
#include "core/time.h"

namespace cx::processors {

class ProcessorContext;

struct Alert {
  std::string dedup_key;  // stable: the same condition, the same key (<= 255 characters)
  std::string action;     // trigger | resolve; "tombstone" only between the stages (erasure)
  std::string severity;   // critical | error | warning | info
  std::string kind;
  std::string summary;  // one line, ids only
  Timestamp ts;
  // Labels (queue, channel, tenant...) and details, each as the members of
  // its JSON object, written once when added: "queue":"billing","tier":"vip".
  std::string labels, details;
  std::string queue;          // the queue label, for the runtime's metrics
  std::string grouped_under;  // the storm alert's dedup_key, when grouped

  // Adds a label/detail unless the value is empty.
  void Label(JsonKey k, std::string_view v);
  void DetailString(JsonKey k, std::string_view v);
  void DetailNumber(JsonKey k, double v);
  // A duration in milliseconds, as DetailNumber(k, ms / 1000.0) writes it.
  void DetailSeconds(JsonKey k, DurationMs ms);
  void DetailTime(JsonKey k, Timestamp t);

  std::string ToJson(std::string_view source) const;
  void WriteJson(std::string_view source, JsonWriter& w) const;
  // Emits it on the alert stream (key: dedup_key), tagged with kind, action,
  // severity and queue for the runtime's cxstream_alerts_total.
  void EmitTo(ProcessorContext& ctx, std::string_view source) const;
  std::string Encode() const;
  void EncodeTo(std::string& out) const;
  bool Decode(std::string_view in);
};

// A dedup key from its parts, "kind:part:part...", cut to 255 characters
// with a hash of the whole so that it stays unique.
std::string DedupKey(std::string_view kind, std::initializer_list<std::string_view> parts);
// The same into `out` (its room reused).
void DedupKeyTo(std::string& out, std::string_view kind, std::initializer_list<std::string_view> parts);

}  // namespace cx::processors
