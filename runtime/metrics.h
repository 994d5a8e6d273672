// The worker's Prometheus metrics (docs/runtime.md#metrics). Naming follows
// Prometheus conventions; no customer id is ever a label.
// Counters and gauges are thread-safe (prometheus-cpp).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace cx::runtime {

// What one update increments (CounterCache): its series, and
// Metrics::queue_label_overflows too when its queue folded into "other".
struct CounterEntry {
  prometheus::Counter* series = nullptr;
  prometheus::Counter* folded = nullptr;
};

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
  // Series by queue are bounded (limits.max_queues): the queues named in
  // the configuration and the first others seen keep their own label; the
  // rest are folded into queue="other" (cxstream_queue_label_overflows_total).
  // Call before any of the queue-labelled metrics below.
  void LimitQueues(std::set<std::string, std::less<>> named, std::size_t max_queues);
  // The label value for `queue` ("" stays "": orders and cases); a fold
  // counts one update in queue_label_overflows.
  std::string QueueLabel(const std::string& queue) {
    bool folded = false;
    std::string label = QueueLabelOf(queue, folded);
    if (folded) queue_label_overflows.Increment();
    return label;
  }
  // As QueueLabel, counting nothing: `folded` says whether it folded (a
  // caller that keeps the label counts each of its updates).
  std::string QueueLabelOf(const std::string& queue, bool& folded);

  prometheus::Counter& SlaEvents(const std::string& metric, const std::string& event,
                                 const std::string& queue) {
    return SlaEventsLabelled(metric, event, QueueLabel(queue));
  }
  prometheus::Counter& SlaEventsLabelled(const std::string& metric, const std::string& event,
                                         const std::string& queue_label) {
    return sla_events_.Add({{"metric", metric}, {"event", event}, {"queue", queue_label}});
  }
  // `queue`: a label value (QueueLabel), so that folded queues add up.
  prometheus::Gauge& OpenClocks(const std::string& metric, const std::string& queue_label) {
    return open_clocks_.Add({{"metric", metric}, {"queue", queue_label}});
  }
  prometheus::Counter& Alerts(const std::string& kind, const std::string& action, const std::string& severity,
                              const std::string& queue) {
    return AlertsLabelled(kind, action, severity, QueueLabel(queue));
  }
  prometheus::Counter& AlertsLabelled(const std::string& kind, const std::string& action,
                                      const std::string& severity, const std::string& queue_label) {
    return alerts_.Add({{"kind", kind}, {"action", action}, {"severity", severity}, {"queue", queue_label}});
  }
  // What one SLA event (one alert) increments, for a CounterCache that
  // keeps it: the series of SlaEvents (Alerts), and the fold counted as
  // QueueLabel counts it, once per update.
  CounterEntry SlaEventsEntry(const std::string& metric, const std::string& event, const std::string& queue) {
    bool folded = false;
    const std::string label = QueueLabelOf(queue, folded);
    return {&SlaEventsLabelled(metric, event, label), folded ? &queue_label_overflows : nullptr};
  }
  CounterEntry AlertsEntry(const std::string& kind, const std::string& action, const std::string& severity,
                           const std::string& queue) {
    bool folded = false;
    const std::string label = QueueLabelOf(queue, folded);
    return {&AlertsLabelled(kind, action, severity, label), folded ? &queue_label_overflows : nullptr};
  }
  // The latest staffing interval of a queue whose stage task runs here. Only
  // one worker owns a queue at a time; ClearStaffing() drops them at a revoke
  // so that a queue that moved is not reported twice, and DropStaleStaffing
  // those of queues that stopped (idle, docs/staffing.md#limits). A queue
  // folded into "other" has no staffing gauge.
  // A gauge that the processing threads of one worker make up together
  // (docs/runtime.md#threads): each sets its own part, the series shows
  // their sum (or, for a flag, their maximum or minimum). Thread-safe.
  enum class Combine { kSum, kMax, kMin };
  void SetPart(prometheus::Gauge& gauge, std::size_t member, double value, Combine how = Combine::kSum);

  void SetStaffing(const std::string& queue, double online, double required);
  void ClearStaffing();
  void DropStaleStaffing(std::chrono::steady_clock::time_point updated_before);

  prometheus::Counter& duplicates;
  prometheus::Counter& late;
  prometheus::Counter& reorder_overflows;
  prometheus::Counter& queue_overflows;        // staffing facts counted under `other`
  prometheus::Counter& queue_label_overflows;  // metric updates folded into queue="other"
  prometheus::Counter& repartition_dropped;    // next-stage records received again after delivery
  prometheus::Gauge& buffered_events;
  prometheus::Counter& timers_fired;
  prometheus::Counter& restored_records;
  prometheus::Counter& commits;
  prometheus::Counter& commit_failures;
  prometheus::Counter& transaction_aborts;   // exactly_once: a task's transaction aborted, the task restarted
  prometheus::Gauge& transaction_records;    // exactly_once: records in the tasks' open transactions
  prometheus::Gauge& transaction_delivered;  // exactly_once: those of them the brokers acknowledged
  prometheus::Histogram& latency;            // ingest (record timestamp) to output produced
  prometheus::Histogram& commit_seconds;
  prometheus::Histogram& breach_lag;  // breach record produced minus its deadline (run mode)
  prometheus::Gauge& pending_timers;
  prometheus::Gauge& assigned_tasks;
  prometheus::Gauge& restoring_tasks;
  prometheus::Gauge& ready;
  prometheus::Gauge& state_memory_bytes;
  prometheus::Gauge& state_pending_bytes;
  prometheus::Gauge& state_memory_budget_bytes;
  prometheus::Gauge& object_cache_bytes;        // decoded state records held (engine/object_cache.h)
  prometheus::Counter& object_cache_hits;       // found decoded
  prometheus::Counter& object_cache_misses;     // read from the store and decoded
  prometheus::Counter& object_cache_evictions;  // dropped for the budget
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
  std::mutex staffing_mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> staffing_queues_;  // guarded by staffing_mu_

  std::mutex parts_mu_;
  std::unordered_map<prometheus::Gauge*, std::vector<double>> parts_;  // guarded by parts_mu_; NaN: none

  std::mutex labels_mu_;
  std::set<std::string, std::less<>> named_queues_;  // guarded by labels_mu_
  std::set<std::string, std::less<>> seen_queues_;   // guarded by labels_mu_
  std::size_t max_queues_ = 1000;                    // guarded by labels_mu_
};

// Counter handles by their label values, for one thread's hot path: a
// look-up here hashes the joined values, where Family::Add takes a mutex,
// builds a label map and hashes that (per output record, it was 4.7% of a
// worker's time). The handles stay valid: counters are never removed from
// their family. At most kMaxEntries (values producers choose, such as
// queue names, are unbounded; the families fold them, the cache starts
// over). Not thread-safe: one per thread.
class CounterCache {
 public:
  static constexpr std::size_t kMaxEntries = 4096;
  using Entry = CounterEntry;

  // Increments the counters of `values`, which make() gives the first time.
  template <typename Make>
  void Increment(std::initializer_list<std::string_view> values, Make&& make) {
    key_.clear();
    for (std::string_view v : values) {
      key_.append(v);
      key_.push_back('\0');
    }
    auto it = map_.find(key_);
    if (it == map_.end()) {
      if (map_.size() >= kMaxEntries) map_.clear();
      it = map_.emplace(key_, make()).first;
    }
    it->second.series->Increment();
    if (it->second.folded) it->second.folded->Increment();
  }

 private:
  std::unordered_map<std::string, Entry> map_;
  std::string key_;
};

// The resident set size of this process in bytes, 0 where /proc is missing.
double ResidentMemoryBytes();

}  // namespace cx::runtime
