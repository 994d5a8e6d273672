// RecordCollector: what a processing thread sends to Kafka (Kafka Streams'
// RecordCollector). A task's outputs go to their topics the moment they are
// made, counted in the metrics they move (SLA events and alerts by label,
// staffing gauges, dead letters by reason, the output and breach latency);
// repartition records go to the partition the task chose. Every record,
// changelog frames included, takes one produce path (`Produce`), whose
// caller says what to do while librdkafka's queue is full: the processing
// thread pauses its input and serves delivery reports, the commit thread
// waits for it to do so.
//
// One per processing thread; Send is called from that thread only.
#pragma once

#include <librdkafka/rdkafka.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/output.h"
#include "core/status.h"
#include "core/time.h"
#include "runtime/metrics.h"

namespace cx::runtime {

class RecordCollector {
 public:
  struct Topics {
    std::string sla, alerts, profiles, staffing, dlq;
    std::string repartition;  // to the next stage
  };
  // Called while librdkafka's queue is full, with the producer: true to try
  // again, false to give up (the worker is stopping).
  using WhileFull = std::function<bool(rd_kafka_t*)>;

  RecordCollector(Topics topics, Metrics& metrics, Clock& clock)
      : topics_(std::move(topics)), metrics_(metrics), clock_(clock) {}

  // One of a task's outputs through `rk`, with `opaque` for its delivery
  // report. A produce error other than a full queue is Fatal.
  Status Send(rd_kafka_t* rk, const OutputView& r, void* opaque, const WhileFull& while_full);

  // One record: `value` nullopt is a tombstone; `headers` may be null.
  static Status Produce(rd_kafka_t* rk, const std::string& topic, int partition, std::string_view key,
                        std::optional<std::string_view> value, void* opaque,
                        const std::vector<std::pair<std::string, std::string>>* headers,
                        const WhileFull& while_full);

 private:
  const std::string& TopicOf(Stream stream) const;
  void Count(const OutputView& r);

  const Topics topics_;
  Metrics& metrics_;
  Clock& clock_;
  // Per-record counters by label values.
  CounterCache sla_counters_, alert_counters_;
};

}  // namespace cx::runtime
