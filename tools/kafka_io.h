// Development tools for moving NDJSON in and out of Kafka: `cxstream produce`
// (events to their topics, keyed as the contract says) and `cxstream dump`
// (topics to NDJSON files). Used by the integration tests and by hand.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/event.h"
#include "runtime/kafka.h"

namespace cx::tools {

struct ProduceOptions {
  std::string bootstrap;
  std::vector<std::string> inputs;
  // Topic names (defaults of the contract).
  std::string chat = "cx.chat", orders = "cx.orders", aftersales = "cx.aftersales", agents = "cx.agents";
  // A line that is not a valid event goes to this topic, unkeyed.
  std::string malformed_topic = "cx.chat";
  // Records per message set (librdkafka batch.num.messages); 0: default.
  int max_batch = 0;
  // librdkafka compression.codec (none, gzip, snappy, lz4, zstd).
  std::string compression = "none";
};
// Each line goes to the topic of its type with the key the contract names
// (customer_id, or agent_id on agent.status). Returns the exit code.
int Produce(const ProduceOptions& options);

// The input topic of an event family, by the names in `o`.
const std::string& InputTopic(TopicKind kind, const ProduceOptions& o);
// A producer for the input topics: idempotent, and murmur2-partitioned like
// Java producers and Kafka Streams (the worker's kafka.key_partitioner
// default). Null after printing why, prefixed by `what`.
runtime::KafkaHandle NewInputProducer(const std::string& bootstrap, int max_batch, const char* what,
                                      const std::string& compression = "none");

// nullopt when every record produced by this process's producers so far
// was delivered; else how many were not, and the first reason. Call after
// flushing.
std::optional<std::string> DeliveryFailures();

struct DumpOptions {
  std::string bootstrap;
  std::vector<std::string> topics;
  std::string out_dir;
  // Stop after this long without a new record once every partition is at
  // its end, or after max_ms in all.
  int idle_ms = 2000;
  int max_ms = 60000;
  // Every record as {"key":K,"value":V} (V a JSON string or null).
  bool with_keys = false;
  // read_committed (librdkafka's default): records of aborted transactions
  // are skipped; read_uncommitted shows them too.
  std::string isolation = "read_committed";
};
// Writes OUT/<topic>.ndjson: each record's value per line (tombstones as
// {"key":K,"value":null}), partitions in order. Returns the exit code.
int Dump(const DumpOptions& options);

}  // namespace cx::tools
