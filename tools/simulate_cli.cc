#include "tools/simulate_cli.h"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "core/event.h"
#include "runtime/kafka.h"
#include "tools/kafka_io.h"

namespace cx::tools {
namespace {

using SteadyClock = std::chrono::steady_clock;

// The topic of a record: its type's (a malformed one still carries the type
// it was made from).
const std::string& TopicFor(const SimRecord& r, const ProduceOptions& topics) {
  auto t = ParseEventType(r.type);
  return InputTopic(t ? TopicOf(*t) : TopicKind::kChat, topics);
}

}  // namespace

int RunSimulate(SimulateCliOptions o, const std::atomic<bool>& stop) {
  if (!o.start.empty()) {
    auto t = ParseRfc3339(o.start);
    if (!t) {
      std::cerr << "simulate: --start: \"" << o.start << "\" is not an RFC 3339 time\n";
      return 2;
    }
    o.sim.start = *t;
  } else {
    o.sim.start = SystemClock().Now();
  }
  if (o.out.empty() == o.bootstrap.empty()) {
    std::cerr << "simulate: give exactly one of --out FILE and --bootstrap ADDR\n";
    return 2;
  }
  std::ofstream file;
  runtime::KafkaHandle producer;
  if (!o.out.empty()) {
    file.open(o.out, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::cerr << "simulate: cannot write " << o.out << "\n";
      return 2;
    }
  } else {
    producer = NewInputProducer(o.bootstrap, 0, "simulate");
    if (!producer) return 1;
  }

  const ProduceOptions topics;  // the contract's topic names
  Simulator sim(o.sim);
  SimRecord r;
  const auto wall_start = SteadyClock::now();
  std::uint64_t n = 0;
  while (!stop.load() && sim.Next(r)) {
    // Pacing: simulated time sped up, or a fixed rate of records.
    std::chrono::duration<double> due{0};
    if (o.speedup > 0)
      due = std::chrono::duration<double>(static_cast<double>(r.ts - o.sim.start) / 1000.0 / o.speedup);
    if (o.rate > 0) due = std::chrono::duration<double>(static_cast<double>(n) / o.rate);
    if (o.speedup > 0 || o.rate > 0) {
      const auto at = wall_start + std::chrono::duration_cast<SteadyClock::duration>(due);
      while (!stop.load() && SteadyClock::now() < at) {
        if (producer) rd_kafka_poll(producer.get(), 0);
        std::this_thread::sleep_until(std::min(at, SteadyClock::now() + std::chrono::milliseconds(50)));
      }
    }
    ++n;
    if (file.is_open()) {
      file << r.value << '\n';
      continue;
    }
    while (true) {
      const rd_kafka_resp_err_t e = rd_kafka_producev(
          producer.get(), RD_KAFKA_V_TOPIC(TopicFor(r, topics).c_str()),
          RD_KAFKA_V_KEY(r.key.data(), r.key.size()), RD_KAFKA_V_VALUE(r.value.data(), r.value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        std::cerr << "simulate: produce: " << rd_kafka_err2str(e) << "\n";
        return 1;
      }
      rd_kafka_poll(producer.get(), 50);
    }
    rd_kafka_poll(producer.get(), 0);
  }
  if (producer && rd_kafka_flush(producer.get(), 30'000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::cerr << "simulate: could not deliver every record within 30 s\n";
    return 1;
  }
  if (auto failed = DeliveryFailures()) {
    std::cerr << "simulate: " << *failed << "\n";
    return 1;
  }
  if (file.is_open()) {
    file.flush();
    if (!file) {
      std::cerr << "simulate: writing " << o.out << " failed\n";
      return 1;
    }
  }
  if (o.summary) {
    const auto& c = sim.counts();
    std::cerr << "simulate: " << c.records << " records (" << c.malformed
              << " malformed): " << c.conversations << " conversations (" << c.answered << " answered, "
              << c.abandoned << " abandoned), " << c.orders << " orders, " << c.cases
              << " after-sales cases, " << c.erasures << " erasures\n";
  }
  return 0;
}

}  // namespace cx::tools
