#include "runtime/metrics.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <limits>

namespace cx::runtime {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15,
          0.2,    0.3,   0.5,   0.75,  1,     1.5,    2,    3,     5,    10,   30,   60,    300};
}

// A breach is due at its deadline plus time.grace (default 1 s): fine
// buckets around there, so that p99 against "grace + 250 ms" can be read.
prometheus::Histogram::BucketBoundaries BreachLagBuckets() {
  return {0.1, 0.25, 0.5,  0.75, 0.9, 1, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3,
          1.4, 1.5,  1.75, 2,    2.5, 3, 5,    10,  30,   60,  300,  3600};
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      duplicates(BuildCounter()
                     .Name("cxstream_duplicate_events_total")
                     .Help("Events ignored because their event_id was already applied")
                     .Register(*registry_)
                     .Add({})),
      late(BuildCounter()
               .Name("cxstream_late_events_total")
               .Help("Events applied although older than the watermark")
               .Register(*registry_)
               .Add({})),
      reorder_overflows(BuildCounter()
                            .Name("cxstream_reorder_overflows_total")
                            .Help("Events applied before the watermark reached them because "
                                  "limits.max_buffered_events were waiting")
                            .Register(*registry_)
                            .Add({})),
      queue_overflows(BuildCounter()
                          .Name("cxstream_queue_overflows_total")
                          .Help("Staffing facts counted under queue \"other\" because limits.max_queues "
                                "queues were tracked")
                          .Register(*registry_)
                          .Add({})),
      queue_label_overflows(BuildCounter()
                                .Name("cxstream_queue_label_overflows_total")
                                .Help("Metric updates whose queue label was folded into \"other\" "
                                      "(limits.max_queues)")
                                .Register(*registry_)
                                .Add({})),
      repartition_dropped(BuildCounter()
                              .Name("cxstream_repartition_dropped_total")
                              .Help("Next-stage records received after the stage watermark had passed "
                                    "them (re-sent by an upstream task after a restart) and ignored")
                              .Register(*registry_)
                              .Add({})),
      buffered_events(BuildGauge()
                          .Name("cxstream_buffered_events")
                          .Help("Events waiting for the watermark to be applied in event-time order")
                          .Register(*registry_)
                          .Add({})),
      timers_fired(BuildCounter()
                       .Name("cxstream_timers_fired_total")
                       .Help("Event-time timers fired")
                       .Register(*registry_)
                       .Add({})),
      restored_records(BuildCounter()
                           .Name("cxstream_restored_records_total")
                           .Help("Changelog records applied during restore")
                           .Register(*registry_)
                           .Add({})),
      commits(BuildCounter()
                  .Name("cxstream_commits_total")
                  .Help("Completed commits")
                  .Register(*registry_)
                  .Add({})),
      commit_failures(BuildCounter()
                          .Name("cxstream_commit_failures_total")
                          .Help("Commits that failed")
                          .Register(*registry_)
                          .Add({})),
      transaction_aborts(
          BuildCounter()
              .Name("cxstream_transaction_aborts_total")
              .Help("exactly_once: task transactions aborted (the task restarted from its last "
                    "commit; read_committed consumers see none of the aborted records)")
              .Register(*registry_)
              .Add({})),
      transaction_records(BuildGauge()
                              .Name("cxstream_transaction_open_records")
                              .Help("exactly_once: records produced in the tasks' open transactions, not yet "
                                    "committed or aborted (outputs, repartition and changelog records)")
                              .Register(*registry_)
                              .Add({})),
      transaction_delivered(
          BuildGauge()
              .Name("cxstream_transaction_delivered_records")
              .Help("exactly_once: records of the tasks' open transactions that the brokers have "
                    "acknowledged (an abort leaves them in the log, marked aborted)")
              .Register(*registry_)
              .Add({})),
      latency(BuildHistogram()
                  .Name("cxstream_processing_latency_seconds")
                  .Help("From a record's Kafka timestamp to the output it caused being produced")
                  .Register(*registry_)
                  .Add({}, LatencyBuckets())),
      commit_seconds(
          BuildHistogram()
              .Name("cxstream_commit_duration_seconds")
              .Help("Duration of a commit, from the seal of its epoch to its stores written (at_least_once; "
                    "exactly_once: the whole transaction commit)")
              .Register(*registry_)
              .Add({}, LatencyBuckets())),
      breach_lag(BuildHistogram()
                     .Name("cxstream_breach_lag_seconds")
                     .Help("When a breach record was produced, minus its deadline (run mode)")
                     .Register(*registry_)
                     .Add({}, BreachLagBuckets())),
      pending_timers(BuildGauge()
                         .Name("cxstream_pending_timers")
                         .Help("Event-time timers waiting to fire")
                         .Register(*registry_)
                         .Add({})),
      assigned_tasks(BuildGauge()
                         .Name("cxstream_assigned_tasks")
                         .Help("Tasks (partition numbers) assigned")
                         .Register(*registry_)
                         .Add({})),
      restoring_tasks(BuildGauge()
                          .Name("cxstream_restoring_tasks")
                          .Help("Tasks restoring from the changelog")
                          .Register(*registry_)
                          .Add({})),
      ready(BuildGauge()
                .Name("cxstream_ready")
                .Help("1 when every assigned task is restored and processing")
                .Register(*registry_)
                .Add({})),
      state_memory_bytes(BuildGauge()
                             .Name("cxstream_state_memory_bytes")
                             .Help("RocksDB memory: block cache, memtables, index and filter blocks")
                             .Register(*registry_)
                             .Add({})),
      state_pending_bytes(BuildGauge()
                              .Name("cxstream_state_pending_bytes")
                              .Help("State writes buffered until the next commit")
                              .Register(*registry_)
                              .Add({})),
      state_memory_budget_bytes(BuildGauge()
                                    .Name("cxstream_state_memory_budget_bytes")
                                    .Help("The configured memory budget (state.memory_budget_bytes)")
                                    .Register(*registry_)
                                    .Add({})),
      object_cache_bytes(BuildGauge()
                             .Name("cxstream_state_object_cache_bytes")
                             .Help("Decoded state records held in memory, against an eighth of the budget")
                             .Register(*registry_)
                             .Add({})),
      object_cache_hits(BuildCounter()
                            .Name("cxstream_state_object_cache_hits_total")
                            .Help("State records found decoded in memory")
                            .Register(*registry_)
                            .Add({})),
      object_cache_misses(BuildCounter()
                              .Name("cxstream_state_object_cache_misses_total")
                              .Help("State records read from the store and decoded")
                              .Register(*registry_)
                              .Add({})),
      object_cache_evictions(BuildCounter()
                                 .Name("cxstream_state_object_cache_evictions_total")
                                 .Help("Decoded state records dropped to stay within the budget")
                                 .Register(*registry_)
                                 .Add({})),
      backpressure(BuildGauge()
                       .Name("cxstream_backpressure")
                       .Help("1 while input is paused because the producer queue is full")
                       .Register(*registry_)
                       .Add({})),
      resident_memory_bytes(BuildGauge()
                                .Name("cxstream_process_resident_memory_bytes")
                                .Help("Resident memory of the worker process")
                                .Register(*registry_)
                                .Add({})),
      cache_hits(BuildCounter()
                     .Name("cxstream_state_cache_hits_total")
                     .Help("State reads served by the RocksDB block cache")
                     .Register(*registry_)
                     .Add({})),
      cache_misses(BuildCounter()
                       .Name("cxstream_state_cache_misses_total")
                       .Help("State reads that had to go to disk")
                       .Register(*registry_)
                       .Add({})),
      consumed_(BuildCounter()
                    .Name("cxstream_records_consumed_total")
                    .Help("Records consumed, by topic")
                    .Register(*registry_)),
      produced_(BuildCounter()
                    .Name("cxstream_records_produced_total")
                    .Help("Records produced, by topic")
                    .Register(*registry_)),
      dead_lettered_(BuildCounter()
                         .Name("cxstream_dead_lettered_total")
                         .Help("Records sent to the dead-letter topic, by error code")
                         .Register(*registry_)),
      lag_(BuildGauge()
               .Name("cxstream_consumer_lag_records")
               .Help("High watermark minus next offset to read, by input partition")
               .Register(*registry_)),
      restore_remaining_(BuildGauge()
                             .Name("cxstream_restore_remaining_records")
                             .Help("Changelog records left to restore, by task")
                             .Register(*registry_)),
      watermark_(BuildGauge()
                     .Name("cxstream_watermark_seconds")
                     .Help("Event-time watermark of each task, Unix seconds")
                     .Register(*registry_)),
      open_clocks_(BuildGauge()
                       .Name("cxstream_sla_open_clocks")
                       .Help("SLA clocks running or paused on this worker's tasks, by metric and queue "
                             "(queue empty for orders and cases)")
                       .Register(*registry_)),
      sla_events_(
          BuildCounter()
              .Name("cxstream_sla_events_total")
              .Help("SLA records produced, by metric, event (activate, warning, breach, fulfill...) and "
                    "queue")
              .Register(*registry_)),
      alerts_(BuildCounter()
                  .Name("cxstream_alerts_total")
                  .Help("Alert actions produced, by kind, action (trigger, resolve), severity and queue")
                  .Register(*registry_)),
      staffing_online_(
          BuildGauge()
              .Name("cxstream_staffing_agents_online")
              .Help("Agents online in a queue's latest staffing interval (queues whose stage runs here)")
              .Register(*registry_)),
      staffing_required_(BuildGauge()
                             .Name("cxstream_staffing_agents_required")
                             .Help("Agents required (Erlang C) in a queue's latest staffing interval")
                             .Register(*registry_)) {}

void Metrics::LimitQueues(std::set<std::string, std::less<>> named, std::size_t max_queues) {
  std::lock_guard lock(labels_mu_);
  named_queues_ = std::move(named);
  max_queues_ = max_queues;
}

std::string Metrics::QueueLabelOf(const std::string& queue, bool& folded) {
  folded = false;
  if (queue.empty()) return queue;
  std::lock_guard lock(labels_mu_);
  if (named_queues_.contains(queue) || seen_queues_.contains(queue)) return queue;
  if (named_queues_.size() + seen_queues_.size() < max_queues_) {
    seen_queues_.insert(queue);
    return queue;
  }
  folded = true;
  return "other";
}

void Metrics::SetPart(prometheus::Gauge& gauge, std::size_t member, double value, Combine how) {
  std::lock_guard lock(parts_mu_);
  std::vector<double>& parts = parts_[&gauge];
  if (parts.size() <= member) parts.resize(member + 1, std::numeric_limits<double>::quiet_NaN());
  parts[member] = value;
  double total = how == Combine::kSum ? 0 : std::numeric_limits<double>::quiet_NaN();
  for (double v : parts) {
    if (std::isnan(v)) continue;
    if (how == Combine::kSum)
      total += v;
    else if (std::isnan(total) || (how == Combine::kMax ? v > total : v < total))
      total = v;
  }
  gauge.Set(total);
}

void Metrics::SetStaffing(const std::string& queue, double online, double required) {
  if (QueueLabel(queue) != queue) return;
  std::lock_guard lock(staffing_mu_);
  staffing_queues_[queue] = std::chrono::steady_clock::now();
  staffing_online_.Add({{"queue", queue}}).Set(online);
  // An interval that computes no requirement (no handle time known yet, or
  // a target that cannot be met, docs/staffing.md) drops the series rather
  // than leave an old value standing.
  if (required >= 0) {
    staffing_required_.Add({{"queue", queue}}).Set(required);
  } else if (staffing_required_.Has({{"queue", queue}})) {
    staffing_required_.Remove(&staffing_required_.Add({{"queue", queue}}));
  }
}

void Metrics::ClearStaffing() { DropStaleStaffing(std::chrono::steady_clock::time_point::max()); }

void Metrics::DropStaleStaffing(std::chrono::steady_clock::time_point updated_before) {
  std::lock_guard lock(staffing_mu_);
  for (auto it = staffing_queues_.begin(); it != staffing_queues_.end();) {
    if (it->second >= updated_before) {
      ++it;
      continue;
    }
    for (auto* family : {&staffing_online_, &staffing_required_}) {
      if (family->Has({{"queue", it->first}})) family->Remove(&family->Add({{"queue", it->first}}));
    }
    it = staffing_queues_.erase(it);
  }
}

double ResidentMemoryBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long pages_total = 0, pages_resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &pages_total, &pages_resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<double>(pages_resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

}  // namespace cx::runtime
