// Simulator: realistic, seeded traffic of the whole event contract
// (docs/simulator.md). A discrete-event simulation of a shop: customers
// order, pay, wait for shipping and delivery, open after-sales cases, and
// contact customer service; queues follow a daily arrival curve; agents work
// shifts with breaks and several chats at once; customers abandon when their
// patience runs out, rate lower after long waits, and sometimes write angry
// messages. Events come out in time order; the same seed gives the same
// events. Pure: no I/O, no clock (see `cxstream simulate` for output).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/time.h"

namespace cx::tools {

struct SimQueue {
  std::string name;
  double conversations_per_hour = 60;  // at the daily average; the curve scales it
};

struct SimOptions {
  std::uint64_t seed = 1;
  Timestamp start;
  DurationMs duration = 3'600'000;
  int customers = 10'000;
  double vip_share = 0.05;
  std::vector<SimQueue> queues = {{"billing", 60}, {"presales", 90}, {"returns", 45}};
  int agents = 60;               // over three 8-hour shifts, each in one or two queues
  double mean_handle_s = 240;    // log-normal handle time of one chat
  double mean_patience_s = 150;  // exponential patience before answered
  double orders_per_hour = 120;  // across all customers
  double malformed_share = 0.0;  // records replaced by malformed ones
  double erasure_per_hour = 0.5;
  bool daily_curve = true;  // arrivals follow a day's shape (peaks at 11:00 and 20:00 UTC+8)
  std::string tenant = "shop-cn";
};

// One generated record: the message value (a JSON event, or a malformed
// record) and the event's time.
struct SimRecord {
  Timestamp ts;
  std::string value;
  bool malformed = false;
  std::string key;   // customer_id (agent_id for agent.status): the Kafka key
  std::string type;  // the event type (before any corruption): its topic
};

class Simulator {
 public:
  explicit Simulator(SimOptions options);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // The next record in time order, or false when the duration is over.
  bool Next(SimRecord& out);

  // What was generated so far (for tests and the demo's summary).
  struct Counts {
    std::uint64_t records = 0, malformed = 0, conversations = 0, answered = 0, abandoned = 0, orders = 0,
                  cases = 0, erasures = 0;
  };
  const Counts& counts() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cx::tools
