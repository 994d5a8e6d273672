#include "tools/kafka_io.h"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>

#include "core/event_decoder.h"
#include "core/json_writer.h"
#include "runtime/kafka.h"

namespace cx::tools {

using runtime::KafkaConf;
using runtime::KafkaHandle;
using runtime::KafkaMessage;
using runtime::PartitionList;

namespace {

// Deliveries that failed, over every producer of this process (the tools
// run one at a time), and the first reason. librdkafka calls OnDelivery
// from the thread that polls or flushes the producer.
std::atomic<std::uint64_t> g_failed_deliveries{0};
std::mutex g_first_failure_mu;
std::string g_first_failure;

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  if (!m->err) return;
  if (g_failed_deliveries.fetch_add(1) == 0) {
    std::lock_guard<std::mutex> l(g_first_failure_mu);
    g_first_failure =
        std::string(m->rkt ? rd_kafka_topic_name(m->rkt) : "?") + ": " + rd_kafka_err2str(m->err);
  }
}

// A client with the given properties, or null after printing why.
// Producers count their failed deliveries (DeliveryFailures).
KafkaHandle NewClient(rd_kafka_type_t type, const char* what,
                      const std::vector<std::pair<std::string, std::string>>& props) {
  KafkaConf conf(rd_kafka_conf_new());
  if (type == RD_KAFKA_PRODUCER) rd_kafka_conf_set_dr_msg_cb(conf.get(), &OnDelivery);
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      std::cerr << what << ": " << err << "\n";
      return nullptr;
    }
  }
  KafkaHandle rk(rd_kafka_new(type, conf.release(), err, sizeof err));
  if (!rk) std::cerr << what << ": " << err << "\n";
  return rk;
}

}  // namespace

std::optional<std::string> DeliveryFailures() {
  const std::uint64_t n = g_failed_deliveries.load();
  if (n == 0) return std::nullopt;
  std::lock_guard<std::mutex> l(g_first_failure_mu);
  return std::to_string(n) + " records were not delivered (the first: " + g_first_failure + ")";
}

const std::string& InputTopic(TopicKind kind, const ProduceOptions& o) {
  switch (kind) {
    case TopicKind::kOrders:
      return o.orders;
    case TopicKind::kAftersales:
      return o.aftersales;
    case TopicKind::kAgents:
      return o.agents;
    case TopicKind::kChat:
    case TopicKind::kAnyCustomer:  // customer.erased: any customer topic
      return o.chat;
    case TopicKind::kRepartition:  // no event type belongs there
      break;
  }
  return o.malformed_topic;
}

KafkaHandle NewInputProducer(const std::string& bootstrap, int max_batch, const char* what,
                             const std::string& compression) {
  std::vector<std::pair<std::string, std::string>> props = {{"bootstrap.servers", bootstrap},
                                                            {"enable.idempotence", "true"},
                                                            {"linger.ms", "5"},
                                                            {"partitioner", "murmur2_random"},
                                                            {"compression.codec", compression}};
  if (max_batch > 0) props.emplace_back("batch.num.messages", std::to_string(max_batch));
  return NewClient(RD_KAFKA_PRODUCER, what, props);
}

int Produce(const ProduceOptions& o) {
  KafkaHandle rk = NewInputProducer(o.bootstrap, o.max_batch, "produce", o.compression);
  if (!rk) return 2;
  // Generous limits: the worker, not this tool, decides what is valid.
  EventDecoder decoder(
      DecodeLimits{.max_message_bytes = 64 << 20, .max_id_bytes = 1 << 20, .max_text_bytes = 64 << 20});
  std::uint64_t n = 0;
  for (const auto& path : o.inputs) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::cerr << "produce: cannot read " << path << "\n";
      return 2;
    }
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      const Event* e = decoder.Decode(line);
      const std::string* topic = &o.malformed_topic;
      std::string key;
      if (e) {
        topic = &InputTopic(TopicOf(e->type), o);
        key = e->key();
      }
      while (true) {
        auto rc = rd_kafka_producev(rk.get(), RD_KAFKA_V_TOPIC(topic->c_str()),
                                    RD_KAFKA_V_KEY(key.data(), key.size()),
                                    RD_KAFKA_V_VALUE(line.data(), line.size()),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (rc == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          rd_kafka_poll(rk.get(), 50);
          continue;
        }
        if (rc) {
          std::cerr << "produce: " << rd_kafka_err2str(rc) << "\n";
          return 1;
        }
        break;
      }
      ++n;
      rd_kafka_poll(rk.get(), 0);
    }
  }
  if (rd_kafka_flush(rk.get(), 60'000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::cerr << "produce: not every record was delivered within 60 s\n";
    return 1;
  }
  if (auto failed = DeliveryFailures()) {
    std::cerr << "produce: " << *failed << "\n";
    return 1;
  }
  std::cerr << "produce: " << n << " records\n";
  return 0;
}

int Dump(const DumpOptions& o) {
  KafkaHandle rk = NewClient(RD_KAFKA_CONSUMER, "dump",
                             {{"bootstrap.servers", o.bootstrap},
                              {"group.id", "cxstream-dump"},
                              {"enable.auto.commit", "false"},
                              {"enable.partition.eof", "true"},
                              {"isolation.level", o.isolation}});
  if (!rk) return 2;
  auto counts = runtime::PartitionCounts(rk.get(), o.topics, 10'000);
  if (!counts.ok()) {
    std::cerr << "dump: " << counts.status().message() << "\n";
    return 1;
  }
  PartitionList list(rd_kafka_topic_partition_list_new(8));
  int total = 0;
  for (std::size_t i = 0; i < o.topics.size(); ++i) {
    for (int p = 0; p < (*counts)[i]; ++p) {
      rd_kafka_topic_partition_list_add(list.get(), o.topics[i].c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
      ++total;
    }
  }
  rd_kafka_assign(rk.get(), list.get());
  // Records per topic and partition, in offset order.
  std::map<std::string, std::map<int, std::vector<std::string>>> out;
  std::map<std::pair<std::string, int>, bool> at_end;
  auto start = std::chrono::steady_clock::now();
  auto last = start;
  while (true) {
    auto now = std::chrono::steady_clock::now();
    int ended = 0;
    for (auto& [k, v] : at_end) ended += v;
    if (ended == total && now - last > std::chrono::milliseconds(o.idle_ms)) break;
    if (now - start > std::chrono::milliseconds(o.max_ms)) break;
    KafkaMessage m(rd_kafka_consumer_poll(rk.get(), 100));
    if (!m) continue;
    std::string topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end[{topic, m->partition}] = true;
      continue;
    }
    if (m->err) continue;
    at_end[{topic, m->partition}] = false;
    last = now;
    std::string line;
    if (o.with_keys) {
      // Keys and values as JSON strings (binary state keys of a changelog
      // stay readable: invalid UTF-8 becomes U+FFFD).
      line = "{\"key\":";
      AppendJsonString(std::string_view(static_cast<const char*>(m->key), m->key_len), line);
      line += ",\"value\":";
      if (m->payload)
        AppendJsonString(std::string_view(static_cast<const char*>(m->payload), m->len), line);
      else
        line += "null";
      line += "}";
    } else if (m->payload) {
      line.assign(static_cast<const char*>(m->payload), m->len);
    } else {
      line = "{\"key\":";
      AppendJsonString(std::string_view(static_cast<const char*>(m->key), m->key_len), line);
      line += ",\"value\":null}";
    }
    out[topic][m->partition].push_back(std::move(line));
  }
  std::filesystem::create_directories(o.out_dir);
  for (const auto& t : o.topics) {
    std::ofstream f(o.out_dir + "/" + t + ".ndjson", std::ios::trunc);
    for (const auto& [p, lines] : out[t]) {
      for (const auto& l : lines) f << l << "\n";
    }
  }
  return 0;
}

}  // namespace cx::tools
