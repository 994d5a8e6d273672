#include "runtime/kafka.h"

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

}  // namespace cx::runtime
