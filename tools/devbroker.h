// devbroker: librdkafka's mock cluster on loopback, with cxstream's topics,
// for development and tests (docs/devbroker.md). Not for production.
#pragma once

#include <string>
#include <vector>

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

// Runs until SIGINT or SIGTERM; returns the process exit code.
// Reads fault-injection commands from standard input, one per line:
//   down [BROKER]    disconnect a broker (-1 or none: all) and refuse connections
//   up [BROKER]      accept connections again
//   leader TOPIC PARTITION BROKER   move a partition's leader
//   rtt BROKER MS    add round-trip latency
int RunDevBroker(const DevBrokerOptions& options);

}  // namespace cx::tools
