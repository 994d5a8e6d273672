#include "runtime/record_collector.h"

#include <algorithm>

namespace cx::runtime {

Status RecordCollector::Produce(rd_kafka_t* rk, const std::string& topic, int partition, std::string_view key,
                                std::optional<std::string_view> value, void* opaque,
                                const std::vector<std::pair<std::string, std::string>>* headers,
                                const WhileFull& while_full) {
  while (true) {
    rd_kafka_headers_t* hdrs = nullptr;
    if (headers != nullptr && !headers->empty()) {
      hdrs = rd_kafka_headers_new(headers->size());
      for (const auto& [k, v] : *headers)
        rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                            static_cast<ssize_t>(v.size()));
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE((value ? const_cast<char*>(value->data()) : nullptr), (value ? value->size() : 0)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();  // librdkafka owns the headers now
    if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      return Status::Fatal("produce to " + topic + ": " + rd_kafka_err2str(e));
    if (!while_full(rk)) return Status::Fatal("stopping on an error");
  }
}

const std::string& RecordCollector::TopicOf(Stream stream) const {
  switch (stream) {
    case Stream::kSla:
      return topics_.sla;
    case Stream::kAlerts:
      return topics_.alerts;
    case Stream::kProfiles:
      return topics_.profiles;
    case Stream::kStaffing:
      return topics_.staffing;
    case Stream::kDlq:
      return topics_.dlq;
    case Stream::kRepartition:
      break;
  }
  return topics_.repartition;
}

Status RecordCollector::Send(rd_kafka_t* rk, const OutputView& r, void* opaque, const WhileFull& while_full) {
  if (r.stream == Stream::kRepartition) {
    // Internal: to the next stage, on the partition the task chose. Not an
    // output a user waits for, so not in the latency metrics.
    return Produce(rk, topics_.repartition, r.partition.value_or(RD_KAFKA_PARTITION_UA), r.key, r.value,
                   opaque, nullptr, while_full);
  }
  Count(r);
  Status s =
      Produce(rk, TopicOf(r.stream), RD_KAFKA_PARTITION_UA, r.key, r.value, opaque, r.headers, while_full);
  const std::int64_t now = clock_.Now().ms;
  if (r.from_timer) {
    // SLA warnings and breaches: produced minus due. Other timer outputs
    // (a debounced profile) are not deadlines.
    if (r.stream == Stream::kSla)
      metrics_.breach_lag.Observe(static_cast<double>(now - r.cause_time.ms) / 1000.0);
  } else if (r.ingest_ms > 0) {
    // From the input record's broker time: its wait for the watermark
    // included.
    metrics_.latency.Observe(static_cast<double>(std::max<std::int64_t>(0, now - r.ingest_ms)) / 1000.0);
  }
  return s;
}

void RecordCollector::Count(const OutputView& r) {
  const OutputTags& tags = *r.tags;
  // The labels are copied into the metric's series whatever their type.
  auto s = [](std::string_view v) { return std::string(v); };
  // A folded queue's label is decided once (it stays folded); each update
  // still counts in queue_label_overflows.
  if (r.stream == Stream::kSla && !tags.event.empty()) {
    sla_counters_.Increment({tags.metric, tags.event, tags.queue}, [&] {
      return metrics_.SlaEventsEntry(s(tags.metric), s(tags.event), s(tags.queue));
    });
  }
  if (r.stream == Stream::kAlerts && !tags.kind.empty()) {
    alert_counters_.Increment({tags.kind, tags.event, tags.severity, tags.queue}, [&] {
      return metrics_.AlertsEntry(s(tags.kind), s(tags.event), s(tags.severity), s(tags.queue));
    });
  }
  if (r.stream == Stream::kStaffing && !tags.queue.empty())
    metrics_.SetStaffing(s(tags.queue), tags.agents_online, tags.agents_required);
  if (r.stream == Stream::kDlq && r.headers != nullptr) {
    for (const auto& [k, v] : *r.headers) {
      if (k == "cx.error.code") metrics_.DeadLettered(v).Increment();
    }
  }
}

}  // namespace cx::runtime
