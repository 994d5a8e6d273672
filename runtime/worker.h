// Worker: `cxstream run`. One consumer-group member that runs one task per
// assigned partition number of the customer stage (docs/runtime.md).
//
// Threads: Run() drives everything on the calling thread (poll, process,
// wall-clock timers, commits, rebalance callbacks); one restore thread reads
// changelogs for newly assigned tasks; librdkafka and civetweb have their
// own. Ready() and Healthy() may be called from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "config/config.h"
#include "core/status.h"
#include "core/time.h"
#include "runtime/metrics.h"

namespace cx::runtime {

class Worker {
 public:
  // config, clock and metrics must outlive the worker.
  Worker(const config::Config& config, Clock& clock, Metrics& metrics);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Connects, checks the topics (co-partitioning, changelog) and subscribes.
  // An error here is a configuration or cluster problem: do not retry.
  Status Start();

  // Processes until `stop` is set (then commits, leaves the group and returns
  // OK) or a fatal error (returned; the process should exit non-zero).
  Status Run(const std::atomic<bool>& stop);

  bool Ready() const;
  bool Healthy() const;

  // The profile API (docs/profiles.md#http-api): answers, from any thread,
  // with an HTTP status and a JSON body. The worker's loop reads the state,
  // so the answer includes the latest applied event.
  struct Answer {
    int status = 503;
    std::string body;
  };
  Answer QueryProfile(const std::string& customer_id);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cx::runtime
