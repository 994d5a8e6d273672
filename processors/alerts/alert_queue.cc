// AlertQueueStage: SLA breach alerts of one queue, grouped into storms
// (docs/alerts.md#storms). Receives them in event-time order from every
// partition (engine repartitioning), so a storm is seen whole.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "core/encoding.h"
#include "processors/alerts/alert.h"
#include "processors/alerts/alert_processor.h"

namespace cx::processors {
namespace {

// Format 2 added the storm's open grouped breaches; format 1 decodes with
// none.
constexpr std::uint8_t kFormat = 2;
constexpr std::string_view kIndex = "q/";  // owner "": queues with held alerts or a storm

struct Storm {
  bool active = false;
  std::string key;                // the storm alert's dedup_key
  std::vector<Timestamp> recent;  // breaches within the window
  Timestamp last = Timestamp::Min();
  // Breaches grouped under the active storm and not resolved yet: the storm
  // stays open while any is (docs/alerts.md#storms), so no customer still
  // waiting is left without a page.
  std::int64_t open_grouped = 0;
  Timestamp last_cleared = Timestamp::Min();  // the latest resolve of a grouped breach

  std::string Encode() const {
    std::string v;
    v.push_back(static_cast<char>(kFormat));
    v.push_back(active ? 1 : 0);
    PutString(v, key);
    PutVarintSigned(v, last.ms);
    PutVarint(v, recent.size());
    for (Timestamp t : recent) PutVarintSigned(v, t.ms);
    PutVarintSigned(v, open_grouped);
    PutVarintSigned(v, last_cleared.ms);
    return v;
  }
  bool Decode(std::string_view in) {
    Reader r(in);
    const std::uint8_t format = r.Byte();
    if (format != 1 && format != kFormat) return false;
    active = r.Byte() != 0;
    key.assign(r.String());
    last.ms = r.VarintSigned();
    recent.clear();
    for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i)
      recent.push_back(Timestamp{r.VarintSigned()});
    if (format >= 2) {
      open_grouped = r.VarintSigned();
      last_cleared.ms = r.VarintSigned();
    }
    return r.ok() && r.done();
  }
};

// Records `a` as grouped under the active storm `s` (the caller stores s).
void Group(std::string_view queue, Alert& a, Storm& s, ProcessorContext& ctx) {
  a.grouped_under = s.key;
  ctx.Put(queue, "grouped/" + a.dedup_key, s.key);
  ++s.open_grouped;
}

// Names ordered by release time: 16 hex digits of the biased milliseconds.
std::string HeldName(Timestamp release, std::string_view dedup) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(static_cast<std::uint64_t>(release.ms) ^ (1ull << 63)));
  return "held/" + std::string(hex) + "/" + std::string(dedup);
}
Timestamp ReleaseOf(std::string_view held_name) {
  const std::string hex(held_name.substr(5, 16));
  return Timestamp{static_cast<std::int64_t>(std::strtoull(hex.c_str(), nullptr, 16) ^ (1ull << 63))};
}

std::string Minutes(DurationMs d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g min", static_cast<double>(d) / 60'000.0);
  return buf;
}

}  // namespace

void AlertQueueStage::OnRepartitioned(std::string_view queue, Timestamp ts, std::string_view value,
                                      ProcessorContext& ctx) {
  Alert a;
  if (!a.Decode(value)) return;
  if (a.action == "tombstone") {
    // The customer was erased; its resolve came first (the same origin,
    // in order). The key ends with a tombstone on the compacted topic.
    ctx.Delete(queue, "grouped/" + a.dedup_key);
    ctx.Emit(Stream::kAlerts, a.dedup_key, std::nullopt);
    return;
  }
  ctx.Put("", std::string(kIndex) + std::string(queue), "");
  if (a.action == "resolve") {
    // Still held: the condition cleared before anyone was paged; neither
    // the trigger nor the resolve goes out.
    if (auto held = ctx.Get(queue, "hidx/" + a.dedup_key)) {
      ctx.Delete(queue, *held);
      ctx.Delete(queue, "hidx/" + a.dedup_key);
      return;
    }
    if (auto storm = ctx.Get(queue, "grouped/" + a.dedup_key)) {
      a.grouped_under = *storm;
      ctx.Delete(queue, "grouped/" + a.dedup_key);
      Storm s;
      if (auto v = ctx.Get(queue, "storm"); v && s.Decode(*v) && s.active && s.key == *storm) {
        s.open_grouped = std::max<std::int64_t>(0, s.open_grouped - 1);
        s.last_cleared = std::max(s.last_cleared, a.ts);
        ctx.Put(queue, "storm", s.Encode());
      }
    }
    a.EmitTo(ctx, options_.source);
    return;
  }
  // A breach: it counts towards a storm of its queue.
  Storm s;
  if (auto v = ctx.Get(queue, "storm")) s.Decode(*v);
  std::erase_if(s.recent, [&](Timestamp t) { return ts - t >= options_.storm_window; });
  s.recent.push_back(ts);
  s.last = ts;
  const bool storms = options_.Enabled(AlertKind::kQueueBreachStorm);
  if (storms && !s.active && static_cast<int>(s.recent.size()) >= options_.storm_count) {
    s.active = true;
    s.key = DedupKey("queue_breach_storm", {queue, FormatRfc3339(s.recent.front())});
    Alert storm;
    storm.dedup_key = s.key;
    storm.action = "trigger";
    storm.kind = "queue_breach_storm";
    storm.severity = options_.SeverityOf(AlertKind::kQueueBreachStorm);
    storm.ts = ts;
    storm.summary = std::to_string(s.recent.size()) + " SLA breaches in queue " +
                    (queue.empty() ? std::string("(orders and cases)") : std::string(queue)) + " within " +
                    Minutes(options_.storm_window);
    storm.Label("queue", queue);
    storm.Label("kind", storm.kind);
    storm.Label("severity", storm.severity);
    storm.DetailNumber("breaches", static_cast<double>(s.recent.size()));
    storm.DetailNumber("window_s", static_cast<double>(options_.storm_window) / 1000.0);
    storm.DetailTime("first_breach", s.recent.front());
    storm.EmitTo(ctx, options_.source);
  }
  if (options_.group_wait <= 0) {
    if (s.active) Group(queue, a, s, ctx);
    ctx.Put(queue, "storm", s.Encode());
    a.EmitTo(ctx, options_.source);
    return;
  }
  ctx.Put(queue, "storm", s.Encode());
  const std::string held = HeldName(ts + options_.group_wait, a.dedup_key);
  ctx.Put(queue, held, a.Encode());
  ctx.Put(queue, "hidx/" + a.dedup_key, held);
}

void AlertQueueStage::OnStageWatermark(Timestamp wm, ProcessorContext& ctx) {
  std::vector<std::string> queues;
  ctx.ForEach("", kIndex,
              [&](std::string_view name, std::string_view) { queues.emplace_back(name.substr(2)); });
  for (const std::string& q : queues) Release(q, wm, ctx);
}

void AlertQueueStage::Release(std::string_view queue, Timestamp wm, ProcessorContext& ctx) {
  Storm s;
  if (auto v = ctx.Get(queue, "storm")) s.Decode(*v);
  std::vector<std::pair<std::string, std::string>> due;
  bool more = false;
  // Released names are deleted; start after the last release (an alert is
  // held until ts + group_wait >= every watermark already handled).
  const std::string from = ctx.Get(queue, "released").value_or(std::string());
  ctx.ForEach(
      queue, "held/",
      [&](std::string_view name, std::string_view v) {
        if (ReleaseOf(name) <= wm)
          due.emplace_back(name, v);
        else
          more = true;
      },
      from);
  if (!due.empty()) ctx.Put(queue, "released", HeldName(ReleaseOf(due.back().first), ""));
  for (const auto& [name, v] : due) {
    Alert a;
    ctx.Delete(queue, name);
    if (!a.Decode(v)) continue;
    ctx.Delete(queue, "hidx/" + a.dedup_key);
    // Grouped when its queue is in a storm as it goes out: the storm alert
    // pages, this one is recorded under it.
    if (s.active) Group(queue, a, s, ctx);
    a.EmitTo(ctx, options_.source);
  }
  if (s.active && !due.empty()) ctx.Put(queue, "storm", s.Encode());
  // A storm ends when its queue has had no breach for a whole window and
  // every breach grouped under it has been resolved (a customer still
  // waiting keeps the page open): at the later of the two.
  const Timestamp storm_end = std::max(s.last + options_.storm_window, s.last_cleared);
  if (s.active && s.open_grouped == 0 && wm >= storm_end) {
    Alert end;
    end.dedup_key = s.key;
    end.action = "resolve";
    end.kind = "queue_breach_storm";
    end.severity = options_.SeverityOf(AlertKind::kQueueBreachStorm);
    end.ts = storm_end;
    end.summary =
        "resolved: no SLA breach in queue " + std::string(queue) + " for " + Minutes(options_.storm_window);
    end.Label("queue", queue);
    end.Label("kind", end.kind);
    end.Label("severity", end.severity);
    end.EmitTo(ctx, options_.source);
    s = Storm{};
    ctx.Delete(queue, "storm");
  }
  if (!more && !s.active) ctx.Delete("", std::string(kIndex) + std::string(queue));
}

}  // namespace cx::processors
