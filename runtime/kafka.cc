#include "runtime/kafka.h"

#include <chrono>
#include <functional>
#include <thread>
#include <utility>

#include "runtime/log.h"

namespace cx::runtime {

void KafkaDeleter::operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }

Status SetProperty(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    return Status::InvalidArgument("Kafka property " + name + ": " + err);
  }
  return Status::Ok();
}

namespace {

// librdkafka's own log lines, as structured lines like ours (syslog levels).
void OnKafkaLog(const rd_kafka_t*, int level, const char* facility, const char* message) {
  LogLevel l = level <= 3   ? LogLevel::kError
               : level <= 4 ? LogLevel::kWarn
               : level <= 6 ? LogLevel::kInfo
                            : LogLevel::kDebug;
  Log(l, "librdkafka", message, {{"facility", std::string_view(facility)}});
}

}  // namespace

Result<KafkaConf> BaseConf(const config::Config& config, ClientKind kind) {
  KafkaConf conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), &OnKafkaLog);
  const auto& k = config.kafka;
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", k.bootstrap_servers},
      {"security.protocol", k.security_protocol},
      {"client.id", k.application_id},
  };
  if (!k.sasl_mechanism.empty()) props.emplace_back("sasl.mechanisms", k.sasl_mechanism);
  if (!k.sasl_username.empty()) props.emplace_back("sasl.username", k.sasl_username);
  if (!k.sasl_password.empty()) props.emplace_back("sasl.password", k.sasl_password);
  if (!k.ssl_ca_location.empty()) props.emplace_back("ssl.ca.location", k.ssl_ca_location);
  const std::string_view mine = kind == ClientKind::kConsumer ? "consumer." : "producer.";
  const std::string_view theirs = kind == ClientKind::kConsumer ? "producer." : "consumer.";
  for (const auto& [name, value] : k.properties) {
    if (name.rfind(theirs, 0) == 0) continue;
    props.emplace_back(name.rfind(mine, 0) == 0 ? name.substr(mine.size()) : name, value);
  }
  for (const auto& [name, value] : props) {
    if (Status s = SetProperty(conf.get(), name, value); !s.ok()) return s;
  }
  return conf;
}

Result<std::vector<int>> PartitionCounts(rd_kafka_t* rk, const std::vector<std::string>& topics,
                                         int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms);
  if (err) return Status::Unavailable(std::string("metadata request failed: ") + rd_kafka_err2str(err));
  std::unique_ptr<const rd_kafka_metadata_t, KafkaDeleter> holder(md);
  std::vector<int> counts(topics.size(), -1);
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (t.err) continue;
    for (std::size_t j = 0; j < topics.size(); ++j) {
      if (topics[j] == t.topic) counts[j] = t.partition_cnt;
    }
  }
  return counts;
}

std::string ChangelogTopic(const config::Config& config, const std::string& stage) {
  return config.kafka.application_id + "-" + stage + "-changelog";
}

std::string RepartitionTopic(const config::Config& config, const std::string& stage) {
  return config.kafka.application_id + "-" + stage + "-repartition";
}

namespace {

class KafkaChangelogSource final : public ChangelogSource {
 public:
  KafkaChangelogSource(rd_kafka_t* consumer, std::string topic, int partition, int timeout_ms)
      : consumer_(consumer),
        topic_(std::move(topic)),
        partition_(partition),
        timeout_ms_(timeout_ms),
        queue_(rd_kafka_queue_get_consumer(consumer)),
        batch_(kBatch) {}
  ~KafkaChangelogSource() override {
    rd_kafka_queue_destroy(queue_);
    if (assigned_) rd_kafka_assign(consumer_, nullptr);
  }

  Result<std::pair<std::int64_t, std::int64_t>> Watermarks() override {
    std::int64_t lo = 0, hi = 0;
    if (auto e =
            rd_kafka_query_watermark_offsets(consumer_, topic_.c_str(), partition_, &lo, &hi, timeout_ms_)) {
      // After a broker restart the handle may keep asking a former leader
      // (seen on a real cluster: "Not leader for partition" for minutes):
      // fresh metadata before the retry.
      (void)PartitionCounts(consumer_, {topic_}, timeout_ms_);
      return Status::Unavailable(std::string("changelog watermarks: ") + rd_kafka_err2str(e));
    }
    return std::pair<std::int64_t, std::int64_t>(lo, hi);
  }

  Status Seek(std::int64_t offset) override {
    PartitionList list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), partition_)->offset = offset;
    if (auto e = rd_kafka_assign(consumer_, list.get())) {
      return Status::Unavailable(std::string("assign changelog: ") + rd_kafka_err2str(e));
    }
    assigned_ = true;
    return Status::Ok();
  }

  Status Read(std::chrono::milliseconds wait,
              const std::function<bool(const ChangelogRecord&)>& fn) override {
    // What is fetched, a batch at a time without waiting (the batch call
    // would wait until the batch is full); with nothing fetched, one record
    // is waited for.
    ssize_t n = rd_kafka_consume_batch_queue(queue_, 0, batch_.data(), batch_.size());
    if (n <= 0) {
      batch_[0] = rd_kafka_consume_queue(queue_, static_cast<int>(wait.count()));
      n = batch_[0] != nullptr ? 1 : 0;
    }
    Status status;
    bool more = true;
    for (ssize_t i = 0; i < n; ++i) {
      KafkaMessage m(batch_[static_cast<std::size_t>(i)]);
      if (!more || !status.ok()) continue;  // destroyed unread
      // The consumer serves one partition after another: anything left from
      // a previous one (an end-of-partition event above all) is skipped.
      if (m->partition != partition_ || !m->rkt || topic_ != rd_kafka_topic_name(m->rkt)) continue;
      ChangelogRecord r;
      r.offset = m->offset;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        r.end = true;
      } else if (m->err) {
        status = Status::Unavailable(std::string("changelog read: ") + rd_kafka_message_errstr(m.get()));
        continue;
      } else {
        r.key = std::string_view(static_cast<const char*>(m->key), m->key_len);
        if (m->payload) r.value = std::string_view(static_cast<const char*>(m->payload), m->len);
      }
      more = fn(r);
    }
    return status;
  }

 private:
  static constexpr std::size_t kBatch = 1024;
  rd_kafka_t* consumer_;
  std::string topic_;
  int partition_;
  int timeout_ms_;
  rd_kafka_queue_t* queue_;
  std::vector<rd_kafka_message_t*> batch_;
  bool assigned_ = false;
};

}  // namespace

std::unique_ptr<ChangelogSource> NewKafkaChangelogSource(rd_kafka_t* consumer, std::string topic,
                                                         int partition, int metadata_timeout_ms) {
  return std::make_unique<KafkaChangelogSource>(consumer, std::move(topic), partition, metadata_timeout_ms);
}

Status AwaitTopics(rd_kafka_t* rk, const std::vector<std::string>& topics, int partitions, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto counts = PartitionCounts(rk, topics, timeout_ms);
    if (counts.ok()) {
      last.clear();
      for (std::size_t i = 0; i < topics.size(); ++i) {
        if ((*counts)[i] != partitions)
          last += topics[i] + " shows " + std::to_string((*counts)[i]) + " partitions; ";
      }
      if (last.empty()) return Status::Ok();
    } else {
      last = counts.status().message();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::Fatal("created internal topics did not appear in the metadata within " +
                       std::to_string(timeout_ms / 1000) + " s: " + last);
}

Status CreateTopic(rd_kafka_t* rk, const std::string& name, int partitions, bool compact, int timeout_ms) {
  char err[512];
  rd_kafka_NewTopic_t* topic = rd_kafka_NewTopic_new(name.c_str(), partitions, -1, err, sizeof err);
  if (!topic) return Status::InvalidArgument(err);
  if (compact)
    rd_kafka_NewTopic_set_config(topic, "cleanup.policy", "compact");
  else
    rd_kafka_NewTopic_set_config(topic, "retention.ms", "86400000");
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, timeout_ms, err, sizeof err);
  rd_kafka_CreateTopics(rk, &topic, 1, options, queue);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, timeout_ms + 5000);
  Status result = Status::Unavailable("no answer to CreateTopics");
  if (ev) {
    if (rd_kafka_event_error(ev)) {
      result = Status::Unavailable(rd_kafka_event_error_string(ev));
    } else if (const rd_kafka_CreateTopics_result_t* r = rd_kafka_event_CreateTopics_result(ev)) {
      std::size_t n = 0;
      const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(r, &n);
      result = Status::Ok();
      for (std::size_t i = 0; i < n; ++i) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
          const char* msg = rd_kafka_topic_result_error_string(results[i]);
          result = Status::Unavailable(msg ? msg : rd_kafka_err2str(e));
        }
      }
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  rd_kafka_NewTopic_destroy(topic);
  return result;
}

}  // namespace cx::runtime
