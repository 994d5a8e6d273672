// Output records: what processors emit, one per Kafka message on the
// contract streams (docs/outputs.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/time.h"

namespace cx {

// One output stream per contract topic, and the internal repartition stream
// (records on their way to another stage of cxstream, docs/runtime.md).
enum class Stream : std::uint8_t { kSla, kAlerts, kProfiles, kStaffing, kDlq, kRepartition };
inline constexpr int kStreamCount = 6;
inline constexpr int kContractStreamCount = 5;  // the streams before kRepartition
std::string_view ToString(Stream s);

// An alert's severity (PagerDuty Events v2 and Alertmanager's label).
enum class Severity : std::uint8_t { kCritical, kError, kWarning, kInfo };
std::string_view ToString(Severity s);

// Low-cardinality facts about an output for the runtime's metrics; never
// part of the value. SLA decisions: metric, event (activate, breach...) and
// queue. Alerts: kind, event (trigger, resolve), severity and queue.
// Staffing records: queue, and the interval's agents online and required
// (Erlang C; negative when not computed). Views, valid while the output
// is being emitted (as OutputView's); OutputRecord keeps a copy.
struct OutputTags {
  std::string_view metric, event, queue;
  std::string_view kind, severity;
  double agents_online = -1, agents_required = -1;
};

// OutputTags that own their strings (OutputRecord's).
struct OwnedOutputTags {
  OwnedOutputTags() = default;
  explicit OwnedOutputTags(const OutputTags& t)
      : metric(t.metric),
        event(t.event),
        queue(t.queue),
        kind(t.kind),
        severity(t.severity),
        agents_online(t.agents_online),
        agents_required(t.agents_required) {}

  std::string metric, event, queue;
  std::string kind, severity;
  double agents_online = -1, agents_required = -1;
};

// No tags (dead letters, repartitioned records).
inline const OutputTags kNoTags{};

// An output as a task hands it to its sink: views of the task's buffers,
// valid during OutputSink::Emit only (a sink that keeps it makes an
// OutputRecord). The fields are OutputRecord's.
struct OutputView {
  Stream stream = Stream::kSla;
  std::string_view key;
  std::optional<std::string_view> value;
  const std::vector<std::pair<std::string, std::string>>* headers = nullptr;  // none
  Timestamp cause_time;
  bool from_timer = false;
  std::int64_t ingest_ms = -1;
  const OutputTags* tags = &kNoTags;
  std::optional<int> partition;
};

// An output that owns its bytes.
struct OutputRecord {
  OutputRecord() = default;
  OutputRecord(Stream s, std::string k, std::optional<std::string> v)
      : stream(s), key(std::move(k)), value(std::move(v)) {}
  explicit OutputRecord(const OutputView& v)
      : stream(v.stream),
        key(v.key),
        value(v.value ? std::optional<std::string>(*v.value) : std::nullopt),
        cause_time(v.cause_time),
        from_timer(v.from_timer),
        ingest_ms(v.ingest_ms),
        tags(*v.tags),
        partition(v.partition) {
    if (v.headers != nullptr) headers = *v.headers;
  }

  Stream stream = Stream::kSla;
  std::string key;
  // nullopt is a tombstone (a Kafka record with a null value).
  std::optional<std::string> value;
  // Kafka headers (dead letters in run mode name their source here).
  std::vector<std::pair<std::string, std::string>> headers;
  // What caused it: the event time of the event, or the due time of the
  // timer (from_timer). For latency metrics only; never part of the value.
  Timestamp cause_time;
  bool from_timer = false;
  // When the input record that caused it reached the broker (ms since the
  // epoch; -1: a timer, or unknown). For the latency metric only.
  std::int64_t ingest_ms = -1;
  OwnedOutputTags tags;
  // The partition to write to; nullopt: chosen from the key. Repartition
  // records name theirs (by queue hash, or every partition for watermarks).
  std::optional<int> partition;
};

// Receives outputs in the order they were made. Owned by the caller of the
// stage; called from the task's thread. The output's views are valid
// during the call only.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual void Emit(const OutputView& output) = 0;
};

}  // namespace cx
