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

// Format 2 added the storm's open grouped breaches, format 3 the earliest
// release of a held breach, format 4 the last release (where format 3 kept
// it in a record of its own, "released"); older formats decode with none
// grouped and an unknown release (the held breaches are looked at on the
// next step).
constexpr std::uint8_t kFormat = 4;
constexpr std::string_view kIndex = "q/";  // owner "": queues with held alerts or a storm

}  // namespace

// What the stage keeps per queue (record "storm"): the storm, and when the
// next held breach is due. Small and of fixed size whatever the storm's
// size: the breaches of the window are kept only while fewer than
// storm_count of them make no storm yet. Kept decoded between the records
// of a commit interval (FindObject), written once when the task commits.
struct QueueAlerts final : StateObject {
  bool active = false;
  std::string key;                    // the active storm alert's dedup_key
  std::vector<Timestamp> recent;      // no storm active: breaches within the window (< storm_count)
  Timestamp last = Timestamp::Min();  // the latest breach
  // Breaches grouped under the active storm and not resolved yet: the storm
  // stays open while any is (docs/alerts.md#storms), so no customer still
  // waiting is left without a page.
  std::int64_t open_grouped = 0;
  Timestamp last_cleared = Timestamp::Min();  // the latest resolve of a grouped breach
  // The earliest release time of a held breach: Max when none is held, Min
  // when unknown (decoded from an older format).
  Timestamp next_release = Timestamp::Max();
  // The held name of the last breach released (its release time and an
  // empty dedup key): a scan for the next due starts after it, not among
  // the tombstones of those released before. Empty: none yet.
  std::string released;

  // Nothing to keep. Once a breach has been released the record stays, as
  // where releases are up to keeps later scans off the tombstones.
  bool Empty() const {
    return !active && recent.empty() && next_release == Timestamp::Max() && released.empty();
  }
  void EndStorm() {
    active = false;
    key.clear();
    recent.clear();
    open_grouped = 0;
    last_cleared = Timestamp::Min();
  }
  void EncodeTo(std::string& v) const override {
    v.push_back(static_cast<char>(kFormat));
    v.push_back(active ? 1 : 0);
    PutString(v, key);
    PutVarintSigned(v, last.ms);
    PutVarint(v, recent.size());
    for (Timestamp t : recent) PutVarintSigned(v, t.ms);
    PutVarintSigned(v, open_grouped);
    PutVarintSigned(v, last_cleared.ms);
    PutVarintSigned(v, next_release.ms);
    PutString(v, released);
  }
  std::size_t MemoryBytes() const override {
    return sizeof(QueueAlerts) + HeapBytes(key) + HeapBytes(released) + recent.capacity() * sizeof(Timestamp);
  }
  static std::unique_ptr<StateObject> DecodeObject(std::string_view in) {
    auto s = std::make_unique<QueueAlerts>();
    if (!s->Decode(in)) return nullptr;
    return s;
  }
  bool Decode(std::string_view in) {
    Reader r(in);
    const std::uint8_t format = r.Byte();
    if (format < 1 || format > kFormat) return false;
    active = r.Byte() != 0;
    key.assign(r.String());
    last.ms = r.VarintSigned();
    recent.clear();
    for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i)
      recent.push_back(Timestamp{r.VarintSigned()});
    if (active) recent.clear();  // formats 1 and 2 kept them during a storm too
    open_grouped = format >= 2 ? r.VarintSigned() : 0;
    last_cleared.ms = format >= 2 ? r.VarintSigned() : Timestamp::Min().ms;
    next_release.ms = format >= 3 ? r.VarintSigned() : Timestamp::Min().ms;
    if (format >= 4) released.assign(r.String());
    return r.ok() && r.done();
  }
};

namespace {

constexpr std::string_view kStorm = "storm";

// The queue's record while one fact or watermark is handled: the cached
// object when there is one, else a new one that Save adds.
struct QueueScope {
  QueueAlerts* found;
  QueueAlerts local;
  QueueAlerts& s;
  QueueScope(std::string_view queue, ProcessorContext& ctx)
      : found(FindObject<QueueAlerts>(ctx, queue, kStorm)), s(found != nullptr ? *found : local) {}
};

// Marks the queue's record changed, adds it, or deletes it when empty. The
// last use of the record in a call (a deleted one is gone).
void Save(std::string_view queue, QueueScope& q, ProcessorContext& ctx) {
  if (q.s.Empty()) {
    if (q.found != nullptr) ctx.DeleteObject(queue, kStorm);
  } else if (q.found != nullptr) {
    ctx.MarkChanged(*q.found);
  } else {
    AddChanged(ctx, queue, kStorm, std::move(q.local));
  }
}

// Records `a` as grouped under the active storm `s` (the caller stores s).
void Group(std::string_view queue, Alert& a, QueueAlerts& s, ProcessorContext& ctx) {
  a.grouped_under = s.key;
  ctx.Put(queue, "grouped/" + a.dedup_key, s.key);
  ++s.open_grouped;
}

// Names ordered by release time: 16 hex digits of the biased milliseconds.
std::string HeldName(Timestamp release, std::string_view dedup) {
  constexpr std::string_view kHeld = "held/";
  std::string name;
  name.reserve(kHeld.size() + 17 + dedup.size());
  name.append(kHeld);
  PutHex64(name, static_cast<std::uint64_t>(release.ms) ^ (1ull << 63));
  name.push_back('/');
  name.append(dedup);
  return name;
}
Timestamp ReleaseOf(std::string_view held_name) {
  if (held_name.size() < 5 + 16) return Timestamp::Min();  // not a held name
  return Timestamp{static_cast<std::int64_t>(GetHex64(held_name.data() + 5) ^ (1ull << 63))};
}

std::string Minutes(DurationMs d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g min", static_cast<double>(d) / 60'000.0);
  return buf;
}

}  // namespace

// The queue's alerts are a function of event time only (docs/alerts.md#storms):
// before a fact at `ts` is handled, everything due before it happens first
// (held breaches released, a quiet storm resolved), exactly as when a stage
// watermark passes the same times. Facts of a whole watermark step reach the
// stage before its OnStageWatermark, so waiting for the watermark alone
// would let a breach and a resolve that came after its group wait meet
// while the breach is still held, and neither would go out.
void AlertQueueStage::OnRepartitioned(std::string_view queue, Timestamp ts, std::string_view value,
                                      ProcessorContext& ctx) {
  Alert& a = fact_;  // decoded into strings kept from record to record
  if (!a.Decode(value)) return;
  if (a.action == "tombstone") {
    // The customer was erased; its resolve came first (the same origin,
    // in order). The key ends with a tombstone on the compacted topic.
    ctx.Delete(queue, "grouped/" + a.dedup_key);
    ctx.Emit(Stream::kAlerts, a.dedup_key, std::nullopt);
    return;
  }
  QueueScope q(queue, ctx);
  QueueAlerts& s = q.s;
  bool changed = Advance(queue, ts, s, ctx);
  auto save = [&] { Save(queue, q, ctx); };

  if (a.action == "resolve") {
    // Still held: the condition cleared within the group wait, before
    // anyone was paged; neither the trigger nor the resolve goes out.
    if (auto held = ctx.Get(queue, "hidx/" + a.dedup_key)) {
      ctx.Delete(queue, *held);
      ctx.Delete(queue, "hidx/" + a.dedup_key);
      if (changed) save();
      return;
    }
    if (auto storm = ctx.Get(queue, "grouped/" + a.dedup_key)) {
      a.grouped_under = *storm;
      ctx.Delete(queue, "grouped/" + a.dedup_key);
      if (s.active && s.key == *storm) {
        s.open_grouped = std::max<std::int64_t>(0, s.open_grouped - 1);
        s.last_cleared = std::max(s.last_cleared, a.ts);
        changed = true;
      }
    }
    if (changed) save();
    a.EmitTo(ctx, options_.source);
    return;
  }

  // A breach: it counts towards a storm of its queue.
  s.last = ts;
  const bool storms = options_.Enabled(AlertKind::kQueueBreachStorm);
  if (storms && !s.active) {
    std::erase_if(s.recent, [&](Timestamp t) { return ts - t >= options_.storm_window; });
    s.recent.push_back(ts);
    if (static_cast<int>(s.recent.size()) >= options_.storm_count) StartStorm(queue, ts, s, ctx);
  }
  if (options_.group_wait <= 0) {
    if (s.active) Group(queue, a, s, ctx);
    save();
    a.EmitTo(ctx, options_.source);
    return;
  }
  const Timestamp release = ts + options_.group_wait;
  if (s.next_release == Timestamp::Max() && !s.active)
    ctx.Put("", std::string(kIndex) + std::string(queue), "");  // now something is due later
  s.next_release = std::min(s.next_release, release);
  save();
  const std::string held = HeldName(release, a.dedup_key);
  ctx.Put(queue, held, a.Encode());
  ctx.Put(queue, "hidx/" + a.dedup_key, held);
}

Alert AlertQueueStage::StormAlert(std::string_view queue, const std::string& key, std::string_view action,
                                  Timestamp ts) const {
  Alert a;
  a.dedup_key = key;
  a.action = std::string(action);
  a.kind = "queue_breach_storm";
  a.severity = options_.SeverityOf(AlertKind::kQueueBreachStorm);
  a.ts = ts;
  // Labels in the same order on the trigger and the resolve: Alertmanager
  // knows an alert by them.
  a.Label("queue", queue);
  a.Label("kind", a.kind);
  a.Label("severity", a.severity);
  return a;
}

void AlertQueueStage::StartStorm(std::string_view queue, Timestamp ts, QueueAlerts& s,
                                 ProcessorContext& ctx) {
  if (s.next_release == Timestamp::Max())
    ctx.Put("", std::string(kIndex) + std::string(queue), "");  // its end is due later
  s.active = true;
  s.key = DedupKey("queue_breach_storm", {queue, FormatRfc3339(s.recent.front())});
  Alert storm = StormAlert(queue, s.key, "trigger", ts);
  storm.summary = std::to_string(s.recent.size()) + " SLA breaches in queue " +
                  (queue.empty() ? std::string("(orders and cases)") : std::string(queue)) + " within " +
                  Minutes(options_.storm_window);
  storm.DetailNumber("breaches", static_cast<double>(s.recent.size()));
  storm.DetailNumber("window_s", static_cast<double>(options_.storm_window) / 1000.0);
  storm.DetailTime("first_breach", s.recent.front());
  storm.EmitTo(ctx, options_.source);
  s.recent.clear();  // while it lasts only its last breach matters
}

bool AlertQueueStage::EndStormIfDue(std::string_view queue, Timestamp at, QueueAlerts& s,
                                    ProcessorContext& ctx) {
  // A storm ends when its queue has had no breach for a whole window and
  // every breach grouped under it has been resolved (a customer still
  // waiting keeps the page open): at the later of the two.
  const Timestamp end_at = std::max(s.last + options_.storm_window, s.last_cleared);
  if (!s.active || s.open_grouped > 0 || end_at > at) return false;
  Alert end = StormAlert(queue, s.key, "resolve", end_at);
  end.summary =
      "resolved: no SLA breach in queue " + std::string(queue) + " for " + Minutes(options_.storm_window);
  end.EmitTo(ctx, options_.source);
  s.EndStorm();
  return true;
}

bool AlertQueueStage::Advance(std::string_view queue, Timestamp up_to, QueueAlerts& s,
                              ProcessorContext& ctx) {
  bool changed = false;
  if (s.next_release <= up_to) {
    // Held names order by release time; released ones are deleted, so start
    // after the last release rather than among their tombstones.
    std::vector<std::pair<std::string, std::string>> due;
    Timestamp next = Timestamp::Max();
    ctx.ForEachWhile(
        queue, "held/",
        [&](std::string_view name, std::string_view v) {
          // Names order by release time: the first not yet due is the next.
          const Timestamp r = ReleaseOf(name);
          if (r > up_to) {
            next = r;
            return false;
          }
          due.emplace_back(name, v);
          return true;
        },
        s.released);
    if (!due.empty()) s.released = HeldName(ReleaseOf(due.back().first), "");
    for (const auto& [name, v] : due) {
      // In time order: a storm whose end came before this release no longer
      // groups it.
      EndStormIfDue(queue, ReleaseOf(name), s, ctx);
      Alert& a = released_;
      ctx.Delete(queue, name);
      if (!a.Decode(v)) continue;
      ctx.Delete(queue, "hidx/" + a.dedup_key);
      // Grouped when its queue is in a storm as it goes out: the storm alert
      // pages, this one is recorded under it.
      if (s.active) Group(queue, a, s, ctx);
      a.EmitTo(ctx, options_.source);
    }
    s.next_release = next;
    changed = true;
  }
  return EndStormIfDue(queue, up_to, s, ctx) || changed;
}

void AlertQueueStage::OnStageWatermark(Timestamp wm, ProcessorContext& ctx) {
  std::vector<std::string> queues;
  ctx.ForEach("", kIndex,
              [&](std::string_view name, std::string_view) { queues.emplace_back(name.substr(2)); });
  for (const std::string& queue : queues) {
    QueueScope q(queue, ctx);
    const bool changed = Advance(queue, wm, q.s, ctx);
    const bool idle = q.s.next_release == Timestamp::Max() && !q.s.active;
    if (changed) Save(queue, q, ctx);
    if (idle) ctx.Delete("", std::string(kIndex) + queue);
  }
}

}  // namespace cx::processors
