// `cxstream simulate`: the simulator's records to an NDJSON file or to the
// Kafka topics, as fast as possible, at a target rate, or in simulated time
// sped up (docs/simulator.md).
#pragma once

#include <atomic>
#include <string>

#include "tools/simulator.h"

namespace cx::tools {

struct SimulateCliOptions {
  SimOptions sim;
  std::string start;  // RFC 3339; empty: now
  std::string out;    // NDJSON file, or
  std::string bootstrap;
  double speedup = 0;  // simulated seconds per wall second; 0: no pacing
  double rate = 0;     // records per wall second; 0: no pacing
  bool summary = true;
};

int RunSimulate(SimulateCliOptions o, const std::atomic<bool>& stop);

}  // namespace cx::tools
