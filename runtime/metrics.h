// The worker's Prometheus metrics (docs/runtime.md#metrics). Naming follows
// Prometheus conventions; no customer id is ever a label.
// Counters and gauges are thread-safe (prometheus-cpp).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <set>
#include <string>

namespace cx::runtime {

class Metrics {
 private:
  // Declared first: every metric below registers with it.
  std::shared_ptr<prometheus::Registry> registry_;

 public:
  Metrics();

  prometheus::Registry& registry() { return *registry_; }
  std::shared_ptr<prometheus::Registry> shared_registry() { return registry_; }

  prometheus::Counter& Consumed(const std::string& topic) { return consumed_.Add({{"topic", topic}}); }
  prometheus::Counter& Produced(const std::string& topic) { return produced_.Add({{"topic", topic}}); }
  prometheus::Counter& DeadLettered(const std::string& code) { return dead_lettered_.Add({{"code", code}}); }
  prometheus::Gauge& Lag(const std::string& topic, int partition) {
    return lag_.Add({{"topic", topic}, {"partition", std::to_string(partition)}});
  }
  prometheus::Gauge& RestoreRemaining(int task) {
    return restore_remaining_.Add({{"task", std::to_string(task)}});
  }
  prometheus::Gauge& Watermark(int task) { return watermark_.Add({{"task", std::to_string(task)}}); }
  prometheus::Counter& SlaEvents(const std::string& metric, const std::string& event,
                                 const std::string& queue) {
    return sla_events_.Add({{"metric", metric}, {"event", event}, {"queue", queue}});
  }
  prometheus::Gauge& OpenClocks(const std::string& metric, const std::string& queue) {
    return open_clocks_.Add({{"metric", metric}, {"queue", queue}});
  }
  prometheus::Counter& Alerts(const std::string& kind, const std::string& action, const std::string& severity,
                              const std::string& queue) {
    return alerts_.Add({{"kind", kind}, {"action", action}, {"severity", severity}, {"queue", queue}});
  }
  // The latest staffing interval of a queue whose stage task runs here. Only
  // one worker owns a queue at a time; ClearStaffing() drops them at a revoke
  // so that a queue that moved is not reported twice.
  void SetStaffing(const std::string& queue, double online, double required);
  void ClearStaffing();

  prometheus::Counter& duplicates;
  prometheus::Counter& late;
  prometheus::Counter& reorder_overflows;
  prometheus::Gauge& buffered_events;
  prometheus::Counter& timers_fired;
  prometheus::Counter& restored_records;
  prometheus::Counter& commits;
  prometheus::Counter& commit_failures;
  prometheus::Histogram& latency;  // ingest (record timestamp) to output produced
  prometheus::Histogram& commit_seconds;
  prometheus::Histogram& breach_lag;  // breach record produced minus its deadline (run mode)
  prometheus::Gauge& pending_timers;
  prometheus::Gauge& assigned_tasks;
  prometheus::Gauge& restoring_tasks;
  prometheus::Gauge& ready;
  prometheus::Gauge& state_memory_bytes;
  prometheus::Gauge& state_pending_bytes;
  prometheus::Gauge& state_memory_budget_bytes;
  prometheus::Gauge& backpressure;
  prometheus::Gauge& resident_memory_bytes;  // the whole process (/proc/self/statm)
  prometheus::Counter& cache_hits;           // RocksDB block cache, all tasks
  prometheus::Counter& cache_misses;

 private:
  prometheus::Family<prometheus::Counter>& consumed_;
  prometheus::Family<prometheus::Counter>& produced_;
  prometheus::Family<prometheus::Counter>& dead_lettered_;
  prometheus::Family<prometheus::Gauge>& lag_;
  prometheus::Family<prometheus::Gauge>& restore_remaining_;
  prometheus::Family<prometheus::Gauge>& watermark_;
  prometheus::Family<prometheus::Gauge>& open_clocks_;
  prometheus::Family<prometheus::Counter>& sla_events_;
  prometheus::Family<prometheus::Counter>& alerts_;
  prometheus::Family<prometheus::Gauge>& staffing_online_;
  prometheus::Family<prometheus::Gauge>& staffing_required_;
  std::set<std::string> staffing_queues_;  // the worker's thread only
};

// The resident set size of this process in bytes, 0 where /proc is missing.
double ResidentMemoryBytes();

}  // namespace cx::runtime
