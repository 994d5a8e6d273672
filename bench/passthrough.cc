// cx_passthrough: the pass-through baseline bench/run compares the worker
// against (issue 19). Plain librdkafka with its batch APIs: consumes the
// input topics and, per input record, produces the contract records the
// worker produced for it, and nothing else: no parsing, no state, no
// changelog. What the worker adds on top of that is what it costs.
//
// "The records the worker produced" is given per output topic as a count
// for the whole input (the worker's own cxstream_records_produced_total of
// that run) and a file of payloads (that stream's `cxstream replay` output
// of the same input: the same sizes and the same compressibility). The
// count is spread evenly over the inputs (input i produces
// floor((i+1)c/n) - floor(ic/n) records), keyed by the input's key; the
// payloads are taken in turn and, held in memory for the whole run, are
// never copied (no RD_KAFKA_MSG_F_COPY).
//
// The producer uses the worker's settings (idempotent, linger.ms 5,
// murmur2_random, 64 MiB queue) and --compression; the consumer reads every
// partition from the beginning with fetch.wait.max.ms 10, as bench/run's
// worker does. Timed from the first record consumed to the last output
// acknowledged. Prints one JSON object: inputs, outputs, seconds,
// inputs_per_s, outputs_per_s.
//
// usage: cx_passthrough --bootstrap ADDR --topic T [--topic T ...] --expect N
//                       --out TOPIC=COUNT:PAYLOADS [--out ...] [--compression C] [--timeout-s S]
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "assign_all.h"

namespace {

int Fail(const std::string& why) {
  std::fprintf(stderr, "cx_passthrough: %s\n", why.c_str());
  return 2;
}

// One contract output topic: how many records for the whole input, and the
// payloads to send, in turn.
struct Output {
  std::string topic;
  long long count = 0;
  std::vector<std::string> payloads;
  std::size_t next = 0;
  rd_kafka_topic_t* rkt = nullptr;
  std::vector<rd_kafka_message_t> batch;  // this poll's records to it
};

bool ParseOut(const std::string& spec, Output& out, std::string& why) {
  const auto eq = spec.find('=');
  const auto colon = spec.find(':', eq == std::string::npos ? 0 : eq);
  if (eq == std::string::npos || colon == std::string::npos) {
    why = "--out " + spec + ": expected TOPIC=COUNT:PAYLOADS";
    return false;
  }
  out.topic = spec.substr(0, eq);
  out.count = std::atoll(spec.substr(eq + 1, colon - eq - 1).c_str());
  const std::string file = spec.substr(colon + 1);
  std::ifstream in(file);
  if (!in) {
    why = "--out " + spec + ": cannot read " + file;
    return false;
  }
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.payloads.push_back(std::move(line));
  if (out.count > 0 && out.payloads.empty()) {
    why = "--out " + spec + ": " + file + " holds no payload";
    return false;
  }
  return true;
}

bool Set(rd_kafka_conf_t* conf, const char* k, const std::string& v) {
  char err[512];
  if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK) return true;
  std::fprintf(stderr, "cx_passthrough: %s=%s: %s\n", k, v.c_str(), err);
  return false;
}

// Delivery reports, counted in bulk on the thread that polls.
struct Delivered {
  long long ok = 0;
  long long failed = 0;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<Delivered*>(opaque);
  if (m->err)
    ++d->failed;
  else
    ++d->ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::string bootstrap, compression = "none";
  std::vector<std::string> topics;
  std::vector<Output> outputs;
  long long expect = 0;
  double timeout_s = 300;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--bootstrap") {
      bootstrap = argv[i + 1];
    } else if (flag == "--topic") {
      topics.emplace_back(argv[i + 1]);
    } else if (flag == "--expect") {
      expect = std::atoll(argv[i + 1]);
    } else if (flag == "--out") {
      std::string why;
      if (!ParseOut(argv[i + 1], outputs.emplace_back(), why)) return Fail(why);
    } else if (flag == "--compression") {
      compression = argv[i + 1];
    } else if (flag == "--timeout-s") {
      timeout_s = std::atof(argv[i + 1]);
    } else {
      return Fail("unknown option " + flag);
    }
  }
  if (bootstrap.empty() || topics.empty() || expect <= 0 || outputs.empty())
    return Fail(
        "usage: cx_passthrough --bootstrap ADDR --topic T [--topic T ...] --expect N "
        "--out TOPIC=COUNT:PAYLOADS [--out ...] [--compression C] [--timeout-s S]");

  char err[512];
  Delivered delivered;
  rd_kafka_conf_t* pconf = rd_kafka_conf_new();
  for (auto [k, v] : {std::pair<const char*, std::string>{"bootstrap.servers", bootstrap},
                      {"enable.idempotence", "true"},
                      {"linger.ms", "5"},
                      {"partitioner", "murmur2_random"},
                      {"queue.buffering.max.kbytes", "65536"},
                      {"compression.codec", compression}}) {
    if (!Set(pconf, k, v)) return 2;
  }
  rd_kafka_conf_set_opaque(pconf, &delivered);
  rd_kafka_conf_set_dr_msg_cb(pconf, &OnDelivery);
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof err);
  if (!producer) return Fail(err);
  for (Output& o : outputs) o.rkt = rd_kafka_topic_new(producer, o.topic.c_str(), nullptr);

  rd_kafka_conf_t* cconf = rd_kafka_conf_new();
  for (auto [k, v] : {std::pair<const char*, std::string>{"bootstrap.servers", bootstrap},
                      {"group.id", "cx-passthrough"},
                      {"enable.auto.commit", "false"},
                      {"enable.partition.eof", "false"},
                      {"fetch.wait.max.ms", "10"},
                      {"queued.max.messages.kbytes", "16384"}}) {
    if (!Set(cconf, k, v)) return 2;
  }
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, err, sizeof err);
  if (!consumer) return Fail(err);
  rd_kafka_poll_set_consumer(consumer);
  if (std::string why = cx::bench::AssignAllFromStart(consumer, topics); !why.empty()) return Fail(why);
  rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(consumer);

  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  Clock::time_point first;
  long long inputs = 0, produced = 0;
  std::vector<rd_kafka_message_t*> in(4096);
  while (inputs < expect && Clock::now() < deadline) {
    const ssize_t n = rd_kafka_consume_batch_queue(queue, 100, in.data(), in.size());
    for (ssize_t i = 0; i < n; ++i) {
      rd_kafka_message_t* m = in[static_cast<std::size_t>(i)];
      if (m->err) continue;
      if (inputs == 0) first = Clock::now();
      for (Output& o : outputs) {
        for (long long k = (inputs + 1) * o.count / expect - inputs * o.count / expect; k > 0; --k) {
          std::string& payload = o.payloads[o.next++ % o.payloads.size()];
          rd_kafka_message_t out{};
          out.payload = payload.data();
          out.len = payload.size();
          out.key = m->key;  // copied by librdkafka
          out.key_len = m->key_len;
          o.batch.push_back(out);
        }
      }
      ++inputs;
    }
    // Produced before the inputs are destroyed: librdkafka copies keys.
    for (Output& o : outputs) {
      std::size_t from = 0;
      while (from < o.batch.size()) {
        const int cnt = static_cast<int>(o.batch.size() - from);
        const int accepted =
            rd_kafka_produce_batch(o.rkt, RD_KAFKA_PARTITION_UA, 0, o.batch.data() + from, cnt);
        produced += accepted;
        // The rest failed; a full queue is waited out, anything else ends the run.
        for (int j = accepted; j < cnt; ++j) {
          if (o.batch[from + static_cast<std::size_t>(j)].err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return Fail(std::string("produce to ") + o.topic + ": " +
                        rd_kafka_err2str(o.batch[from + static_cast<std::size_t>(j)].err));
        }
        from += static_cast<std::size_t>(accepted);
        if (from < o.batch.size()) rd_kafka_poll(producer, 10);
      }
      o.batch.clear();
    }
    for (ssize_t i = 0; i < n; ++i) rd_kafka_message_destroy(in[static_cast<std::size_t>(i)]);
    rd_kafka_poll(producer, 0);
  }
  while (delivered.ok + delivered.failed < produced && Clock::now() < deadline) rd_kafka_poll(producer, 50);
  const Clock::time_point last = Clock::now();
  rd_kafka_queue_destroy(queue);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  for (Output& o : outputs) rd_kafka_topic_destroy(o.rkt);
  rd_kafka_destroy(producer);
  const double seconds = inputs > 0 ? std::chrono::duration<double>(last - first).count() : 0;
  std::printf(
      "{\"inputs\":%lld,\"outputs\":%lld,\"delivered\":%lld,\"failed\":%lld,\"seconds\":%.3f,"
      "\"inputs_per_s\":%.0f,\"outputs_per_s\":%.0f}\n",
      inputs, produced, delivered.ok, delivered.failed, seconds,
      seconds > 0 ? static_cast<double>(inputs) / seconds : 0.0,
      seconds > 0 ? static_cast<double>(delivered.ok) / seconds : 0.0);
  return inputs >= expect && delivered.ok == produced ? 0 : 1;
}
