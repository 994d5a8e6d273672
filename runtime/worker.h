// Worker: `cxstream run`. One or more processing threads
// (`processing.threads`, default the usable cores), each a member of the
// consumer group that runs one task per partition number assigned to it
// (docs/runtime.md#threads).
//
// Threads: Run() drives the first processing thread on the calling thread
// and the others on threads of their own; each runs its own loop (poll,
// process, wall-clock timers, rebalance callbacks, the commit's seal), a
// commit thread, restore threads; librdkafka and civetweb have their own.
// Ready(), Healthy() and QueryProfile() may be called from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

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
  struct Shared;
  std::unique_ptr<Shared> shared_;
  std::vector<std::unique_ptr<Impl>> impls_;  // one per processing thread
};

// The cores this process may run on (its CPU affinity), at least 1.
std::size_t UsableCores();

}  // namespace cx::runtime
