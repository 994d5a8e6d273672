#include "processors/staffing/queue_staffing.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "core/encoding.h"
#include "core/json_writer.h"
#include "processors/staffing/erlang.h"
#include "processors/staffing/facts.h"
#include "processors/time/local_time.h"

namespace cx::processors {
namespace {

constexpr std::uint8_t kFormat = 2;          // Stats (format 1: without last_fact)
constexpr std::uint8_t kForecastFormat = 2;  // Forecast
constexpr DurationMs kDay = 86'400'000;
constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();
// Bounds of the intraday correction: wide enough for a promotion day (ten
// times the usual arrivals), narrow enough that one odd interval after a
// quiet night cannot make the forecast absurd.
constexpr double kMinRatio = 0.1, kMaxRatio = 10;
// Task-level records (owner ""): the queues this partition has seen, and the
// last stage-watermark step handled.
constexpr std::string_view kQueueIndex = "queues/";
constexpr std::string_view kTick = "tick";
constexpr std::string_view kWaiting = "w/";
constexpr std::string_view kStats = "st";  // a queue's Stats
// Task-level: how many counted queues are tracked, and a time at or before
// which none of them goes idle (docs/staffing.md#limits).
constexpr std::string_view kAdmission = "admission";
// Facts of queues beyond limits.max_queues.
constexpr std::string_view kOther = "other";

struct Admission {
  std::int64_t tracked = 0;
  Timestamp earliest_idle = Timestamp::Max();

  std::string Encode() const {
    std::string v;
    PutVarintSigned(v, tracked);
    PutVarintSigned(v, earliest_idle.ms);
    return v;
  }
  static Admission Load(ProcessorContext& ctx) {
    Admission a;
    if (auto v = ctx.Get("", kAdmission)) {
      Reader r(*v);
      a.tracked = r.VarintSigned();
      a.earliest_idle = Timestamp{r.VarintSigned()};
      if (!r.ok()) a = Admission{};
    }
    return a;
  }
};

}  // namespace

// The open interval of one queue, and the queue's state now: read as an
// object (decoded once per commit interval, written back at its end), not
// decoded and encoded for every fact.
struct QueueStaffing::Stats final : StateObject {
  Timestamp start = Timestamp::Min();  // of the open interval
  Timestamp last_provisional = Timestamp::Min();
  Timestamp last_fact = Timestamp::Min();  // the queue goes idle idle_after later
  std::int64_t arrivals = 0, transfers_in = 0, answered = 0, answered_within = 0, abandoned = 0, handled = 0;
  DurationMs wait_answered = 0, wait_abandoned = 0, handle = 0;
  std::int64_t waiting = 0, in_progress = 0, agents = 0, slots = 0;  // now

  void ResetInterval() {
    arrivals = transfers_in = answered = answered_within = abandoned = handled = 0;
    wait_answered = wait_abandoned = handle = 0;
  }
  // Every field, in the record's order.
  std::array<std::int64_t, 16> Fields() const {
    return {start.ms,        last_provisional.ms, last_fact.ms, arrivals,      transfers_in,   answered,
            answered_within, abandoned,           handled,      wait_answered, wait_abandoned, handle,
            waiting,         in_progress,         agents,       slots};
  }

  static std::unique_ptr<StateObject> DecodeObject(std::string_view in) {
    auto s = std::make_unique<Stats>();
    if (!s->Decode(in)) return nullptr;
    return s;
  }
  std::size_t MemoryBytes() const override { return sizeof(Stats); }
  void EncodeTo(std::string& v) const override {
    v.push_back(static_cast<char>(kFormat));
    for (std::int64_t x : Fields()) PutVarintSigned(v, x);
  }
  bool Decode(std::string_view in) {
    Reader r(in);
    const std::uint8_t format = r.Byte();
    if (format != 1 && format != kFormat) return false;
    start.ms = r.VarintSigned();
    last_provisional.ms = r.VarintSigned();
    // Format 1 knew no last fact: the open interval's start stands for it.
    last_fact.ms = format == 1 ? start.ms : r.VarintSigned();
    for (std::int64_t* x :
         {&arrivals, &transfers_in, &answered, &answered_within, &abandoned, &handled, &wait_answered,
          &wait_abandoned, &handle, &waiting, &in_progress, &agents, &slots})
      *x = r.VarintSigned();
    return r.ok() && r.done();
  }
};

// The arrivals forecast of one queue (docs/staffing.md#forecast): smoothed
// levels per local slot of the day (any day) and per weekday and slot, and
// the intraday correction: smoothed recent arrivals against the levels that
// were expected for them. Format 1 (levels per UTC slot and a daily ratio)
// is read as the per-day levels of format 2.
struct QueueStaffing::Forecast {
  std::vector<double> daily;   // per slot; NaN: no history yet
  std::vector<double> weekly;  // per weekday (Monday = 0) x slot; NaN: none yet
  double recent_actual = 0, recent_expected = 0;
  double aht_s = kUnknown;

  void Reset(std::size_t slots) {
    *this = Forecast{};
    daily.assign(slots, kUnknown);
    weekly.assign(7 * slots, kUnknown);
  }
  std::string Encode() const {
    std::string v;
    v.push_back(static_cast<char>(kForecastFormat));
    PutVarint(v, daily.size());
    for (double x : daily) PutDouble(v, x);
    for (double x : weekly) PutDouble(v, x);
    PutDouble(v, recent_actual);
    PutDouble(v, recent_expected);
    PutDouble(v, aht_s);
    return v;
  }
  // False when `in` is not a forecast of `slots` slots per day.
  bool Decode(std::string_view in, std::size_t slots) {
    Reader r(in);
    const std::uint8_t format = r.Byte();
    if ((format != 1 && format != kForecastFormat) || r.Varint() != slots) return false;
    Reset(slots);
    for (double& x : daily) x = r.Double();
    if (format == 1) {
      r.VarintSigned();  // day
      r.Double();        // that day's actual and forecast totals
      r.Double();
    } else {
      for (double& x : weekly) x = r.Double();
      recent_actual = r.Double();
      recent_expected = r.Double();
    }
    aht_s = r.Double();
    return r.ok() && r.done();
  }
};

const QueueTarget& QueueStaffing::TargetOf(std::string_view queue) const {
  auto it = options_.queues.find(queue);
  return it == options_.queues.end() ? options_.defaults : it->second;
}

Timestamp QueueStaffing::IntervalStart(Timestamp t) const {
  return Timestamp{StepsSinceEpoch(t, options_.interval) * options_.interval};
}

bool QueueStaffing::Counted(std::string_view queue) const {
  return queue != kOther && !options_.named.contains(queue);
}

QueueStaffing::Stats* QueueStaffing::Load(std::string_view queue, Timestamp t, ProcessorContext& ctx) {
  Stats* s = FindObject<Stats>(ctx, queue, kStats);
  if (s == nullptr || t < s->last_fact + options_.idle_after) return s;
  Retire(queue, *s, ctx);
  return nullptr;
}

bool QueueStaffing::Admit(std::string_view queue, Timestamp ts, ProcessorContext& ctx) {
  if (!Counted(queue)) return true;
  Admission a = Admission::Load(ctx);
  if (a.tracked >= options_.max_unnamed && ts >= a.earliest_idle) {
    // Some tracked queue may be idle by now: retire those that are, and
    // count the rest again.
    std::vector<std::string> queues;
    ctx.ForEach("", kQueueIndex, [&](std::string_view name, std::string_view) {
      queues.emplace_back(name.substr(kQueueIndex.size()));
    });
    a = Admission{};
    for (const std::string& q : queues) {
      const Stats* s = Load(q, ts, ctx);
      if (s == nullptr || !Counted(q)) continue;
      ++a.tracked;
      a.earliest_idle = std::min(a.earliest_idle, s->last_fact + options_.idle_after);
    }
  }
  const bool admitted = a.tracked < options_.max_unnamed;
  if (admitted) {
    ++a.tracked;
    a.earliest_idle = std::min(a.earliest_idle, ts + options_.idle_after);
  }
  ctx.Put("", kAdmission, a.Encode());
  return admitted;
}

std::string_view QueueStaffing::Track(std::string_view queue, Timestamp ts, std::int64_t facts, Stats*& s,
                                      ProcessorContext& ctx) {
  if ((s = Load(queue, ts, ctx))) return queue;
  if (!Admit(queue, ts, ctx)) {
    ctx.Count(ProcessorContext::Counter::kQueueOverflow, static_cast<std::uint64_t>(facts));
    queue = kOther;
    if ((s = Load(queue, ts, ctx))) return queue;
  }
  auto fresh = std::make_unique<Stats>();
  fresh->start = IntervalStart(ts);
  s = AddObject(ctx, queue, kStats, std::move(fresh));
  ctx.Put("", std::string(kQueueIndex) + std::string(queue), "");
  return queue;
}

void QueueStaffing::Retire(std::string_view queue, Stats& s, ProcessorContext& ctx) {
  std::optional<Timestamp> oldest;
  CloseUpTo(queue, s, s.last_fact + options_.idle_after, oldest, ctx);
  std::vector<std::string> waiting;
  ctx.ForEach(queue, kWaiting, [&](std::string_view name, std::string_view) { waiting.emplace_back(name); });
  for (const std::string& w : waiting) ctx.Delete(queue, w);
  ctx.DeleteObject(queue, kStats);  // `s` with it
  ctx.Delete(queue, "fc");
  ctx.Delete("", std::string(kQueueIndex) + std::string(queue));
  if (Counted(queue)) {
    Admission a = Admission::Load(ctx);
    a.tracked = std::max<std::int64_t>(0, a.tracked - 1);
    ctx.Put("", kAdmission, a.Encode());
  }
}

void QueueStaffing::OnRepartitioned(std::string_view fact_queue, Timestamp ts, std::string_view value,
                                    ProcessorContext& ctx) {
  // A bucket's partial, or a single fact (sent by a version before
  // combining, or held since): the partial of itself.
  StaffingPartial& p = partial_;
  if (!p.Decode(value)) {
    if (!fact_.Decode(value)) return;  // written by a StaffingSource: cannot happen
    p = StaffingPartial{};
    p.Add(fact_, ts, TargetOf(fact_queue).sl_threshold);
  }
  if (p.empty()) return;
  Stats* tracked = nullptr;
  const std::string_view queue = Track(fact_queue, p.first, p.facts, tracked, ctx);
  Stats& s = *tracked;
  s.last_fact = std::max(s.last_fact, p.last);
  if (p.first >= s.start + options_.interval) {
    std::optional<Timestamp> oldest;
    CloseUpTo(queue, s, p.first, oldest, ctx);
  }

  s.arrivals += p.arrivals;
  s.transfers_in += p.transfers_in;
  s.answered += p.answered;
  s.answered_within += p.answered_within;
  s.abandoned += p.abandoned;
  s.handled += p.handled;
  s.wait_answered += p.wait_answered;
  s.wait_abandoned += p.wait_abandoned;
  s.handle += p.handle;
  // Those that stopped waiting had started in an earlier bucket; one may
  // have started again since (transferred out and back).
  std::string& waiting_key = waiting_key_;
  for (const std::string& conversation : p.stopped) {
    waiting_key.assign(kWaiting);
    waiting_key.append(conversation);
    if (ctx.Get(queue, waiting_key)) {
      ctx.Delete(queue, waiting_key);
      s.waiting = std::max<std::int64_t>(0, s.waiting - 1);
    }
  }
  std::string at;
  for (const auto& [conversation, since] : p.started) {
    waiting_key.assign(kWaiting);
    waiting_key.append(conversation);
    at.clear();
    PutVarintSigned(at, since.ms);
    ctx.Put(queue, waiting_key, at);
    ++s.waiting;
  }
  s.in_progress = std::max<std::int64_t>(0, s.in_progress + p.in_progress);
  s.agents = std::max<std::int64_t>(0, s.agents + p.agents);
  s.slots = std::max<std::int64_t>(0, s.slots + p.slots);
  ctx.MarkChanged(s);
}

void QueueStaffing::OnStageWatermark(Timestamp wm, ProcessorContext& ctx) {
  // Work only when the watermark crosses a step: an interval end, or a
  // provisional point in run mode.
  const DurationMs step = options_.provisional_every > 0
                              ? std::min(options_.provisional_every, options_.interval)
                              : options_.interval;
  const std::int64_t tick = wm.ms / step;
  std::string v;
  PutVarintSigned(v, tick);
  if (auto last = ctx.Get("", kTick); last && *last == v) return;
  ctx.Put("", kTick, v);

  std::vector<std::string> queues;
  ctx.ForEach("", kQueueIndex, [&](std::string_view name, std::string_view) {
    queues.emplace_back(name.substr(kQueueIndex.size()));
  });
  for (const std::string& q : queues) {
    Stats* kept = Load(q, wm, ctx);
    if (kept == nullptr) continue;  // retired when idle by wm
    Stats& s = *kept;
    const auto before = s.Fields();
    std::optional<Timestamp> oldest;
    if (wm >= s.start + options_.interval) CloseUpTo(q, s, wm, oldest, ctx);
    if (options_.provisional_every > 0 && wm > s.start &&
        (s.last_provisional == Timestamp::Min() ||
         wm.ms / options_.provisional_every > s.last_provisional.ms / options_.provisional_every)) {
      s.last_provisional = wm;
      EmitRecord(q, s, wm, /*provisional=*/true, oldest, ctx);
    }
    if (s.Fields() != before) ctx.MarkChanged(s);
  }
}

void QueueStaffing::CloseUpTo(std::string_view queue, Stats& s, Timestamp t, std::optional<Timestamp>& oldest,
                              ProcessorContext& ctx) {
  // After a long silence, the empty intervals of more than a day before `t`
  // are skipped (the forecast keeps one slot per interval of a day).
  int emitted = 0;
  const int max_records = static_cast<int>(kDay / options_.interval) + 1;
  while (s.start + options_.interval <= t) {
    if (emitted == max_records) {
      s.start = IntervalStart(t) - options_.interval * (max_records - 1);
      emitted = 0;
      continue;
    }
    EmitRecord(queue, s, s.start + options_.interval, /*provisional=*/false, oldest, ctx);
    s.start = s.start + options_.interval;
    s.last_provisional = Timestamp::Min();
    s.ResetInterval();
    ++emitted;
  }
}

void QueueStaffing::EmitRecord(std::string_view queue, const Stats& s, Timestamp as_of, bool provisional,
                               std::optional<Timestamp>& oldest_waiting, ProcessorContext& ctx) {
  const QueueTarget& target = TargetOf(queue);
  const Timestamp end = s.start + options_.interval;
  const auto slots_per_day = static_cast<std::size_t>(kDay / options_.interval);

  // Longest current wait: the earliest entry of the waiting set.
  if (!oldest_waiting) {
    Timestamp earliest = Timestamp::Max();
    ctx.ForEach(queue, kWaiting, [&](std::string_view, std::string_view v) {
      Reader r(v);
      earliest = std::min(earliest, Timestamp{r.VarintSigned()});
    });
    oldest_waiting = earliest;
  }
  const Timestamp oldest = *oldest_waiting;

  Forecast fc;
  if (auto v = ctx.Get(queue, "fc"); !v || !fc.Decode(*v, slots_per_day)) fc.Reset(slots_per_day);
  const double aht_interval =
      s.handled > 0 ? static_cast<double>(s.handle) / static_cast<double>(s.handled) / 1000.0 : kUnknown;
  // Slots and weekdays are local to the queue's time zone.
  auto slot_of = [&](Timestamp t) {
    const LocalTime lt = LocalTimeOf(t, target.zone);
    const auto slot =
        std::min(static_cast<std::size_t>(lt.since_midnight / options_.interval), slots_per_day - 1);
    return std::pair{slot, static_cast<std::size_t>(lt.weekday) * slots_per_day + slot};
  };
  double forecast = 0;
  double ratio = 1;
  std::string_view basis = "naive";
  if (!provisional) {
    const auto [slot, week_slot] = slot_of(s.start);
    const double actual = static_cast<double>(s.arrivals);
    // The level this interval was expected at: its weekday's, else any day's.
    const double expected = !std::isnan(fc.weekly[week_slot]) ? fc.weekly[week_slot] : fc.daily[slot];
    if (!std::isnan(expected)) {
      const double b = options_.intraday_alpha;
      fc.recent_actual = b * actual + (1 - b) * fc.recent_actual;
      fc.recent_expected = b * expected + (1 - b) * fc.recent_expected;
    }
    const double a = options_.forecast_alpha;
    for (double* level : {&fc.daily[slot], &fc.weekly[week_slot]})
      *level = std::isnan(*level) ? actual : a * actual + (1 - a) * *level;
    if (!std::isnan(aht_interval))
      fc.aht_s = std::isnan(fc.aht_s) ? aht_interval : a * aht_interval + (1 - a) * fc.aht_s;
    // The next interval: its level (same weekday when known, else any
    // day) corrected by the recent ratio; without either, this interval's
    // arrivals (naive).
    const auto [next, next_week] = slot_of(end);
    if (!std::isnan(fc.weekly[next_week]) || !std::isnan(fc.daily[next])) {
      if (fc.recent_expected > 0)
        ratio = std::clamp(fc.recent_actual / fc.recent_expected, kMinRatio, kMaxRatio);
      const bool weekday = !std::isnan(fc.weekly[next_week]);
      basis = weekday ? "weekday" : "day";
      forecast = (weekday ? fc.weekly[next_week] : fc.daily[next]) * ratio;
    } else {
      forecast = actual;
    }
    ctx.Put(queue, "fc", fc.Encode());
  } else {
    // Provisional: this interval's arrivals so far, projected to its end.
    const DurationMs elapsed = std::max<DurationMs>(60'000, as_of - s.start);
    forecast = static_cast<double>(s.arrivals) * static_cast<double>(options_.interval) /
               static_cast<double>(elapsed);
    basis = "provisional";
  }

  const double aht_s = !std::isnan(aht_interval) ? aht_interval : fc.aht_s;
  const double waits = static_cast<double>(s.wait_answered + s.wait_abandoned) / 1000.0;
  const double patience_s = s.abandoned > 0 ? waits / static_cast<double>(s.abandoned) : kUnknown;
  StaffingResult staffing;
  bool computed = false;
  if (!std::isnan(aht_s) && aht_s > 0) {
    StaffingInput in;
    in.arrivals = forecast;
    in.interval_s = static_cast<double>(options_.interval) / 1000.0;
    in.aht_s = aht_s;
    in.target = {target.sl_target, static_cast<double>(target.sl_threshold) / 1000.0, target.max_occupancy};
    in.shrinkage = target.shrinkage;
    in.concurrency = target.concurrency;
    in.patience_s = std::isnan(patience_s) ? 0 : patience_s;
    staffing = StaffingFor(in);
    computed = true;
  }

  // `other` is counted by each stage partition on its own: its records
  // name the partition.
  const bool other = queue == kOther;
  const std::string id =
      std::string(queue) + (other ? "/" + std::to_string(ctx.partition()) : std::string()) + "/" +
      FormatRfc3339(s.start) + (provisional ? "/provisional/" + FormatRfc3339(as_of) : std::string());
  JsonWriter w;
  w.BeginObject().Field("id", id).Field("queue", queue);
  if (other) w.Field("partition", static_cast<std::int64_t>(ctx.partition()));
  w.TimeField("interval_start", s.start)
      .TimeField("interval_end", end)
      .Field("provisional", provisional)
      .TimeField("ts", as_of)
      .Field("arrivals", s.arrivals)
      .Field("transfers_in", s.transfers_in)
      .Field("answered", s.answered)
      .Field("answered_within_threshold", s.answered_within)
      .Field("abandoned", s.abandoned);
  auto ratio_or_null = [&](std::string_view k, double num, std::int64_t den) {
    if (den > 0)
      w.DynamicKey(k).Double(num / static_cast<double>(den));
    else
      w.DynamicKey(k).Null();
  };
  ratio_or_null("service_level", static_cast<double>(s.answered_within), s.answered + s.abandoned);
  ratio_or_null("asa_s", static_cast<double>(s.wait_answered) / 1000.0, s.answered);
  ratio_or_null("aht_s", static_cast<double>(s.handle) / 1000.0, s.handled);
  w.Field("handled", s.handled)
      .Field("backlog", s.waiting)
      .Field("longest_wait_s",
             oldest == Timestamp::Max() ? 0.0 : static_cast<double>(as_of - oldest) / 1000.0)
      .Field("in_progress", s.in_progress)
      .Field("agents_online", s.agents)
      .Field("chat_slots_online", s.slots);
  ratio_or_null("observed_concurrency", static_cast<double>(s.in_progress), s.agents);
  if (std::isnan(patience_s))
    w.NullField("patience_s");
  else
    w.Field("patience_s", patience_s);
  w.Field("forecast_arrivals", forecast).Field("forecast_ratio", ratio).Field("forecast_basis", basis);
  if (std::isnan(aht_s))
    w.NullField("staffing_aht_s");
  else
    w.Field("staffing_aht_s", aht_s);
  w.ObjectField("target")
      .Field("service_level", target.sl_target)
      .Field("threshold_s", static_cast<double>(target.sl_threshold) / 1000.0)
      .Field("max_occupancy", target.max_occupancy)
      .Field("shrinkage", target.shrinkage)
      .Field("concurrency", target.concurrency)
      .EndObject();
  auto model = [&](std::string_view k, const std::optional<StaffingModel>& m, bool erlang_a) {
    w.DynamicKey(k);
    if (!computed || !m) {
      w.Null();
      return;
    }
    w.BeginObject()
        .Field("raw_agents", m->raw_agents)
        .Field("scheduled_agents", m->scheduled_agents)
        .Field("service_level", m->service_level)
        .Field("occupancy", m->occupancy)
        .Field("wait_probability", m->wait_probability)
        .Field("asa_s", m->asa_s);
    if (erlang_a) w.Field("abandon_probability", m->abandon_probability);
    w.EndObject();
  };
  model("erlang_c", staffing.erlang_c, false);
  model("erlang_a", staffing.erlang_a, true);
  if (computed && staffing.erlang_c) {
    w.Field("required_agents", staffing.erlang_c->raw_agents)
        .Field("scheduled_agents", staffing.erlang_c->scheduled_agents)
        .Field("delta_agents", static_cast<std::int64_t>(staffing.erlang_c->raw_agents) - s.agents);
  } else {
    w.NullField("required_agents").NullField("scheduled_agents").NullField("delta_agents");
  }
  w.EndObject();
  OutputTags tags;
  if (!other) tags.queue = queue;  // no gauge for a sum of partitions' shares
  tags.agents_online = static_cast<double>(s.agents);
  if (computed && staffing.erlang_c)
    tags.agents_required = static_cast<double>(staffing.erlang_c->raw_agents);
  ctx.Emit(Stream::kStaffing, queue, w.str(), tags);
}

}  // namespace cx::processors
