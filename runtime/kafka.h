// Thin RAII and configuration helpers over librdkafka's C API. The C API is
// used rather than the C++ wrapper because the mock cluster (devbroker) and
// the per-partition pause/offset calls the worker needs are C-only or
// clearer there.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/status.h"
#include "runtime/changelog_restore.h"

namespace cx::runtime {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const;
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
  void operator()(rd_kafka_topic_partition_list_t* l) const { rd_kafka_topic_partition_list_destroy(l); }
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using KafkaConf = std::unique_ptr<rd_kafka_conf_t, KafkaDeleter>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, KafkaDeleter>;
using KafkaMessage = std::unique_ptr<rd_kafka_message_t, KafkaDeleter>;

// Sets one property; an error names the property.
Status SetProperty(rd_kafka_conf_t* conf, const std::string& name, const std::string& value);

enum class ClientKind { kConsumer, kProducer };

// A configuration with the cluster address and security settings of
// `config.kafka` (TLS, SASL) and the pass-through `kafka.properties` applied.
// As in Kafka Streams, a property named `consumer.X` applies (as X) to
// consumers only and `producer.X` to producers only; others apply to both.
Result<KafkaConf> BaseConf(const config::Config& config, ClientKind kind);

// Partition count of each topic (-1 when absent), from one metadata request.
Result<std::vector<int>> PartitionCounts(rd_kafka_t* rk, const std::vector<std::string>& topics,
                                         int timeout_ms);

// Creates an internal topic with `partitions` and the broker's default
// replication: compacted (a changelog) or deleting after a day (a
// repartition topic: its records are consumed within seconds). One that
// exists already is not an error.
Status CreateTopic(rd_kafka_t* rk, const std::string& name, int partitions, bool compact, int timeout_ms);
// A topic just created is in the controller's metadata before every
// broker's: waits (up to timeout_ms) until metadata shows each of `topics`
// with `partitions`.
Status AwaitTopics(rd_kafka_t* rk, const std::vector<std::string>& topics, int partitions, int timeout_ms);

// Partition `partition` of changelog `topic`, read with `consumer` (one
// without a group subscription, used by one thread, which this source
// assigns the partition to and unassigns when it is destroyed).
std::unique_ptr<ChangelogSource> NewKafkaChangelogSource(rd_kafka_t* consumer, std::string topic,
                                                         int partition, int metadata_timeout_ms);

// The name of a stage's changelog topic.
std::string ChangelogTopic(const config::Config& config, const std::string& stage);
// The topic that carries a stage's records to the next stage (docs/runtime.md#repartitioning).
std::string RepartitionTopic(const config::Config& config, const std::string& stage);

}  // namespace cx::runtime
