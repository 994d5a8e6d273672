// cx_raw_consume: the ceiling bench/run compares the worker against. Plain
// librdkafka, no processing: assigns every partition of the given topics
// from the beginning and reads until it has seen --expect records, touching
// every payload byte (so the bytes really are delivered), as fast as it can.
// Prints one JSON object: records, bytes, seconds (first record to the
// last), records_per_s.
//
// usage: cx_raw_consume --bootstrap ADDR --topic T [--topic T ...] --expect N [--timeout-s S]
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "assign_all.h"

namespace {

int Fail(const std::string& why) {
  std::fprintf(stderr, "cx_raw_consume: %s\n", why.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string bootstrap;
  std::vector<std::string> topics;
  long long expect = 0;
  double timeout_s = 120;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--bootstrap") {
      bootstrap = argv[i + 1];
    } else if (flag == "--topic") {
      topics.emplace_back(argv[i + 1]);
    } else if (flag == "--expect") {
      expect = std::atoll(argv[i + 1]);
    } else if (flag == "--timeout-s") {
      timeout_s = std::atof(argv[i + 1]);
    } else {
      return Fail("unknown option " + flag);
    }
  }
  if (bootstrap.empty() || topics.empty() || expect <= 0)
    return Fail(
        "usage: cx_raw_consume --bootstrap ADDR --topic T [--topic T ...] --expect N [--timeout-s S]");

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // librdkafka's defaults but for what a group-less reader needs: the
  // ceiling is plain librdkafka, not a tuned one.
  for (auto [k, v] : {std::pair<const char*, std::string>{"bootstrap.servers", bootstrap},
                      {"group.id", "cx-raw-consume"},
                      {"enable.auto.commit", "false"},
                      {"enable.partition.eof", "false"}}) {
    if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) return Fail(err);
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) return Fail(err);
  rd_kafka_poll_set_consumer(rk);

  if (std::string why = cx::bench::AssignAllFromStart(rk, topics); !why.empty()) return Fail(why);

  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  Clock::time_point first, last;
  long long records = 0;
  std::uint64_t bytes = 0, checksum = 0;
  while (records < expect && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (!m->err) {
      if (records == 0) first = Clock::now();
      ++records;
      bytes += m->len;
      const auto* p = static_cast<const unsigned char*>(m->payload);
      for (std::size_t i = 0; i < m->len; i += 64) checksum += p[i];
      last = Clock::now();
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  const double seconds = records > 1 ? std::chrono::duration<double>(last - first).count() : 0;
  std::printf("{\"records\":%lld,\"bytes\":%llu,\"seconds\":%.3f,\"records_per_s\":%.0f,\"checksum\":%llu}\n",
              records, static_cast<unsigned long long>(bytes), seconds,
              seconds > 0 ? static_cast<double>(records) / seconds : 0.0,
              static_cast<unsigned long long>(checksum));
  return records >= expect ? 0 : 1;
}
