#include "engine/pipeline.h"

#include <algorithm>
#include <set>

#include "processors/alerts/alert_processor.h"
#include "processors/conversations/conversation_keeper.h"
#include "processors/profiles/profile_processor.h"
#include "processors/sla/sla_processor.h"
#include "processors/staffing/staffing_source.h"

namespace cx::engine {

TaskOptions TaskOptionsFrom(const config::Config& c) {
  TaskOptions o;
  o.limits.max_message_bytes = static_cast<std::size_t>(c.limits.max_message_bytes);
  o.limits.max_id_bytes = static_cast<std::size_t>(c.limits.max_id_bytes);
  o.limits.max_text_bytes = static_cast<std::size_t>(c.limits.max_text_bytes);
  o.allowed_lateness = c.time.allowed_lateness;
  o.max_future_skew = c.limits.max_future_skew;
  o.dedup_per_key = static_cast<std::size_t>(c.dedup.per_customer);
  o.repartition_step = c.staffing.announce_every;
  o.announce_pace = c.staffing.announce_pace;
  o.max_buffered = static_cast<std::size_t>(c.limits.max_buffered_events);
  return o;
}

std::vector<processors::Policy> SlaPolicies(const config::Config& c) {
  std::vector<processors::Policy> out;
  for (const auto& pc : c.sla.policies) {
    processors::Policy p;
    p.name = pc.name;
    p.channels = pc.channels;
    p.priorities = pc.priorities;
    p.kinds = pc.kinds;
    p.queues = pc.queues;
    p.customer_tiers = pc.customer_tiers;
    p.tenants = pc.tenants;
    p.calendar = pc.calendar;
    for (const auto& [metric, targets] : pc.targets) p.targets[static_cast<std::size_t>(metric)] = targets;
    out.push_back(std::move(p));
  }
  return out;
}

processors::SlaOptions SlaOptionsFrom(const config::Config& c) {
  processors::SlaOptions sla;
  sla.policies = SlaPolicies(c);
  sla.warning_fraction = c.sla.warning_fraction;
  for (const auto& cc : c.sla.calendars) {
    processors::BusinessCalendar::Week week;
    for (std::size_t d = 0; d < 7; ++d)
      for (const auto& [b, e] : cc.week[d]) week[d].push_back({b, e});
    std::set<cctz::civil_day> holidays;
    for (const auto& h : cc.holidays) holidays.insert(cctz::civil_day(h[0], h[1], h[2]));
    // Validated when the configuration was loaded, so this cannot fail.
    auto cal = processors::BusinessCalendar::Create(cc.name, cc.zone, std::move(week), std::move(holidays));
    if (cal.ok()) sla.calendars.emplace(cc.name, std::move(cal).value());
  }
  return sla;
}

Status AddOpenSlaClocks(Task& task, OpenClockCounts& counts) {
  using processors::SlaProcessor;
  task.SettleProcessors();  // counts changed since the last commit
  return task.ScanState("sla", "", SlaProcessor::kOpenCountPrefix,
                        [&](std::string_view name, std::string_view value) {
                          Metric m;
                          std::string queue;
                          std::int64_t n = 0;
                          if (SlaProcessor::ParseOpenCount(name, value, m, queue, n))
                            counts[{m, std::move(queue)}] += n;
                        });
}

processors::AlertOptions AlertOptionsFrom(const config::Config& c) {
  processors::AlertOptions o;
  const config::AlertsConfig& a = c.alerts;
  o.severity = a.severity;
  o.source = a.source;
  o.vip_tier = a.vip_tier;
  o.vip_wait = a.vip_wait;
  o.repeat_count = static_cast<int>(a.repeat_count);
  o.repeat_window = c.contacts.repeat_window;
  o.low_csat = static_cast<int>(a.low_csat);
  o.low_csat_resolve_after = a.low_csat_resolve_after;
  o.negative_sentiment = a.negative_sentiment;
  o.keywords = a.keywords;
  o.aftersales_overdue = a.aftersales_overdue;
  o.storm_count = static_cast<int>(a.storm_count);
  o.storm_window = a.storm_window;
  o.group_wait = a.group_wait;
  return o;
}

processors::ProfileOptions ProfileOptionsFrom(const config::Config& c) {
  processors::ProfileOptions o;
  const config::ProfilesConfig& p = c.profiles;
  o.debounce = p.debounce;
  o.retention = p.retention;
  o.repeat_window = c.contacts.repeat_window;
  o.base_currency = p.base_currency;
  o.rates.insert(p.currency_rates.begin(), p.currency_rates.end());
  o.low_csat = static_cast<int>(p.low_csat);
  o.negative_sentiment = p.negative_sentiment;
  o.recency_days = p.rfm_recency_days;
  o.frequency = p.rfm_frequency;
  o.monetary = p.rfm_monetary;
  o.vip_gmv = p.vip_gmv;
  return o;
}

processors::QueueStaffingOptions QueueStaffingOptionsFrom(const config::Config& c, Mode mode,
                                                          int stage_partitions) {
  processors::QueueStaffingOptions o;
  const config::StaffingConfig& s = c.staffing;
  // Each stage partition tracks an equal share, rounded down, of the
  // queues the configuration leaves unnamed (docs/staffing.md#limits).
  o.named = config::NamedQueues(c);
  const std::int64_t unnamed =
      std::max<std::int64_t>(0, c.limits.max_queues - static_cast<std::int64_t>(o.named.size()));
  o.max_unnamed = unnamed / std::max(1, stage_partitions);
  o.idle_after = c.limits.queue_idle_after;
  o.interval = s.interval;
  o.provisional_every = mode == Mode::kRun ? s.provisional_every : 0;
  o.forecast_alpha = s.forecast_alpha;
  o.intraday_alpha = s.intraday_alpha;
  o.defaults = {s.sl_target, s.sl_threshold, s.max_occupancy, s.shrinkage, static_cast<int>(s.concurrency),
                s.zone};
  for (const auto& [name, q] : s.queues) {
    processors::QueueTarget t = o.defaults;
    if (q.sl_target) t.sl_target = *q.sl_target;
    if (q.sl_threshold) t.sl_threshold = *q.sl_threshold;
    if (q.max_occupancy) t.max_occupancy = *q.max_occupancy;
    if (q.shrinkage) t.shrinkage = *q.shrinkage;
    if (q.concurrency) t.concurrency = static_cast<int>(*q.concurrency);
    if (q.zone) t.zone = *q.zone;
    o.queues.emplace(name, t);
  }
  return o;
}

processors::StaffingSourceOptions StaffingSourceOptionsFrom(const config::Config& c, Mode mode) {
  processors::StaffingSourceOptions o;
  o.handle_time_from_open = c.staffing.handle_time_from == config::HandleTimeFrom::kOpened;
  // Buckets end where the queue stage's records are made: at interval ends,
  // and at provisional points where it makes them (run mode).
  o.interval = c.staffing.interval;
  o.provisional_every = mode == Mode::kRun ? c.staffing.provisional_every : 0;
  o.sl_threshold = c.staffing.sl_threshold;
  for (const auto& [name, q] : c.staffing.queues)
    if (q.sl_threshold) o.thresholds.emplace(name, *q.sl_threshold);
  return o;
}

std::vector<std::unique_ptr<processors::Processor>> BuildCustomerProcessors(const config::Config& c,
                                                                            Mode mode, int stage_partitions) {
  std::vector<std::unique_ptr<processors::Processor>> ps;
  // Last: the others read each conversation as it was before the event.
  auto keeper = std::make_unique<processors::ConversationKeeper>();
  processors::ConversationKeeper& conversations = *keeper;
  ps.push_back(std::make_unique<processors::SlaProcessor>(SlaOptionsFrom(c), conversations));
  ps.push_back(
      std::make_unique<processors::StaffingSource>(StaffingSourceOptionsFrom(c, mode), conversations));
  ps.push_back(
      std::make_unique<processors::QueueStaffing>(QueueStaffingOptionsFrom(c, mode, stage_partitions)));
  ps.push_back(std::make_unique<processors::ProfileProcessor>(ProfileOptionsFrom(c), conversations));
  ps.push_back(std::make_unique<processors::AlertProcessor>(AlertOptionsFrom(c), conversations));
  ps.push_back(std::make_unique<processors::AlertQueueStage>(AlertOptionsFrom(c)));
  ps.push_back(std::move(keeper));
  return ps;
}

}  // namespace cx::engine
