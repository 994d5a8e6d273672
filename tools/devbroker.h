// devbroker: librdkafka's mock cluster on loopback, with cxstream's topics,
// for development and tests (docs/devbroker.md). Not for production.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/kafka.h"

typedef struct rd_kafka_mock_cluster_s rd_kafka_mock_cluster_t;

namespace cx::tools {

struct DevBrokerOptions {
  int brokers = 1;
  int partitions = 6;
  std::string bootstrap_file;
  // Application id whose changelog topic is created too (the mock cluster
  // does not implement CreateTopics, so the worker cannot create it).
  std::string application_id = "cxstream";
  // Further topics as NAME:PARTITIONS (e.g. to test a co-partitioning error).
  std::vector<std::string> extra_topics;
};

// The mock cluster with cxstream's topics, in this process (the demo runs
// one; `cxstream devbroker` serves one).
class MockCluster {
 public:
  static std::unique_ptr<MockCluster> Start(const DevBrokerOptions& options, std::string& why);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  const std::string& bootstrap() const { return bootstrap_; }
  int topics() const { return topics_; }
  rd_kafka_mock_cluster_t* mock() { return mc_; }

 private:
  MockCluster() = default;
  runtime::KafkaHandle rk_;
  rd_kafka_mock_cluster_t* mc_ = nullptr;
  std::string bootstrap_;
  int topics_ = 0;
};

// Runs until SIGINT or SIGTERM; returns the process exit code.
// Reads fault-injection commands from standard input, one per line:
//   down [BROKER]    disconnect a broker (-1 or none: all) and refuse connections
//   up [BROKER]      accept connections again
//   leader TOPIC PARTITION BROKER   move a partition's leader
//   rtt BROKER MS    add round-trip latency
int RunDevBroker(const DevBrokerOptions& options);

}  // namespace cx::tools
