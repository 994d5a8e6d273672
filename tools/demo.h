// `cxstream demo`: a devbroker, the simulator and a worker in one process,
// with a live terminal view of what the worker finds, /metrics served
// meanwhile, and a summary at the end (docs/demo.md).
#pragma once

#include <atomic>
#include <cstdint>

namespace cx::tools {

struct DemoOptions {
  double duration_s = 60;  // wall seconds; 0: until Ctrl-C
  double speedup = 1440;   // simulated seconds per wall second (a day in a minute)
  int http_port = 8080;    // /metrics, /healthz, /readyz, /v1/customers/{id}; 0: the OS chooses
  std::uint64_t seed = 1;
  bool live = true;  // redraw the view every second (a terminal); else a line every 5 s
};

int RunDemo(const DemoOptions& options, const std::atomic<bool>& stop);

}  // namespace cx::tools
