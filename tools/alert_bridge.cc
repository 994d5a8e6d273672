#include "tools/alert_bridge.h"

#include <civetweb.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "core/json_writer.h"
#include "core/time.h"
#include "runtime/http_server.h"
#include "runtime/kafka.h"
#include "runtime/log.h"

namespace cx::tools {
namespace {

using runtime::Log;
using runtime::LogLevel;

// One open alert, as Alertmanager wants it (labels and annotations ready).
struct Open {
  std::string labels;       // JSON object
  std::string annotations;  // JSON object
  Timestamp starts;
};

class Bridge {
 public:
  Bridge(const config::Config& c, prometheus::Registry& registry, config::HttpUrl url)
      : config_(c),
        url_(std::move(url)),
        received_(prometheus::BuildCounter()
                      .Name("cxstream_alert_bridge_records_total")
                      .Help("Alert records read from the alert topic, by action")
                      .Register(registry)),
        posts_(prometheus::BuildCounter()
                   .Name("cxstream_alert_bridge_posts_total")
                   .Help("Posts to Alertmanager, by result (ok, failed)")
                   .Register(registry)),
        active_gauge_(prometheus::BuildGauge()
                          .Name("cxstream_alert_bridge_active_alerts")
                          .Help("Open alerts the bridge keeps sending to Alertmanager")
                          .Register(registry)
                          .Add({})),
        pending_gauge_(prometheus::BuildGauge()
                           .Name("cxstream_alert_bridge_pending_alerts")
                           .Help("Alert changes waiting for a successful post")
                           .Register(registry)
                           .Add({})) {}

  // An alert record from the topic.
  void Apply(std::string_view value, Timestamp now) {
    simdjson::dom::element doc;
    if (parser_.parse(value.data(), value.size()).get(doc)) {
      received_.Add({{"action", "unreadable"}}).Increment();
      return;
    }
    std::string_view key, action, kind, severity, summary, source, ts, grouped;
    if (doc["dedup_key"].get(key) || doc["action"].get(action) || doc["kind"].get(kind) ||
        doc["severity"].get(severity) || doc["ts"].get(ts)) {
      received_.Add({{"action", "unreadable"}}).Increment();
      return;
    }
    // Optional fields: absent leaves them empty.
    if (doc["summary"].get(summary)) summary = {};
    if (doc["source"].get(source)) source = {};
    if (doc["grouped_under"].get(grouped)) grouped = {};
    received_.Add({{"action", std::string(action)}}).Increment();
    const auto at = ParseRfc3339(ts);
    const Timestamp when = at ? *at : now;
    if (!grouped.empty()) return;  // the storm it is grouped under pages for it
    const std::string k(key);
    if (action == "resolve") {
      auto it = active_.find(k);
      if (it == active_.end()) return;
      pending_.push_back(Render(it->second, std::max(when, it->second.starts)));
      active_.erase(it);
      return;
    }
    if (action != "trigger" || active_.count(k)) return;
    Open o;
    o.starts = when;
    JsonWriter labels;
    labels.BeginObject().Field("alertname", kind).Field("dedup_key", key).Field("severity", severity);
    simdjson::dom::object obj;
    if (!doc["labels"].get(obj)) {
      for (auto field : obj) {
        std::string_view v;
        if (field.key == "severity" || field.key == "kind" || field.value.get(v)) continue;
        labels.DynamicKey(field.key).String(v);
      }
    }
    labels.EndObject();
    JsonWriter notes;
    notes.BeginObject().Field("summary", summary).Field("source", source);
    if (!doc["details"].get(obj)) notes.Field("details", simdjson::minify(obj));
    notes.EndObject();
    o.labels = labels.Take();
    o.annotations = notes.Take();
    pending_.push_back(Render(o, Timestamp::Max(), now));
    active_.emplace(k, std::move(o));
  }

  // Posts what changed, and every open alert when it is time; retries with
  // back-off.
  void Flush(Timestamp now) {
    const bool resend = !active_.empty() && now >= next_resend_;
    if ((pending_.empty() && !resend) || now < retry_at_) return;
    std::string body = "[";
    for (const std::string& a : pending_) body += (body.size() > 1 ? "," : "") + a;
    if (resend)
      for (const auto& [k, o] : active_)
        body += (body.size() > 1 ? "," : "") + Render(o, Timestamp::Max(), now);
    body += "]";
    std::string why;
    if (Post(body, why)) {
      posts_.Add({{"result", "ok"}}).Increment();
      pending_.clear();
      backoff_ms_ = 0;
      if (resend) next_resend_ = now + config_.alert_bridge.resend_every;
    } else {
      posts_.Add({{"result", "failed"}}).Increment();
      backoff_ms_ = std::min<std::int64_t>(30'000, backoff_ms_ ? backoff_ms_ * 2 : 1'000);
      retry_at_ = now + backoff_ms_;
      Log(LogLevel::kWarn, "alert-bridge", "post to Alertmanager failed; retrying",
          {{"reason", std::string_view(why)}, {"retry_in_ms", backoff_ms_}});
    }
    active_gauge_.Set(static_cast<double>(active_.size()));
    pending_gauge_.Set(static_cast<double>(pending_.size()));
  }

 private:
  // endsAt: the resolve time, or (open) a few resend periods ahead so that
  // Alertmanager keeps it firing between posts and resolves it by itself
  // if the bridge dies.
  std::string Render(const Open& o, Timestamp ends, Timestamp now = Timestamp::Min()) {
    if (ends == Timestamp::Max()) ends = now + 4 * config_.alert_bridge.resend_every;
    JsonWriter w;
    w.BeginObject()
        .Key("labels")
        .Raw(o.labels)
        .Key("annotations")
        .Raw(o.annotations)
        .TimeField("startsAt", o.starts)
        .TimeField("endsAt", ends)
        .EndObject();
    return w.Take();
  }

  bool Post(const std::string& body, std::string& why) {
    char err[256] = {0};
    mg_connection* conn = mg_connect_client(url_.host.c_str(), url_.port, 0, err, sizeof err);
    if (!conn) {
      why = std::string("connect: ") + err;
      return false;
    }
    mg_printf(conn,
              "POST %s/api/v2/alerts HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
              "Content-Length: %zu\r\nConnection: close\r\n\r\n",
              url_.prefix.c_str(), url_.host.c_str(), url_.port, body.size());
    mg_write(conn, body.data(), body.size());
    const int got = mg_get_response(conn, err, sizeof err, static_cast<int>(config_.alert_bridge.timeout));
    const mg_response_info* info = got >= 0 ? mg_get_response_info(conn) : nullptr;
    const int status = info ? info->status_code : 0;
    std::string answer;
    char buf[512];
    int n;
    while (got >= 0 && (n = mg_read(conn, buf, sizeof buf)) > 0 && answer.size() < 2048)
      answer.append(buf, static_cast<std::size_t>(n));
    mg_close_connection(conn);
    if (status == 200) return true;
    why = got < 0 ? std::string("no response: ") + err : "HTTP " + std::to_string(status) + ": " + answer;
    return false;
  }

  const config::Config& config_;
  const config::HttpUrl url_;
  simdjson::dom::parser parser_;
  std::map<std::string, Open> active_;  // by dedup_key
  std::vector<std::string> pending_;    // changes not yet posted
  Timestamp next_resend_ = Timestamp::Min(), retry_at_ = Timestamp::Min();
  std::int64_t backoff_ms_ = 0;
  prometheus::Family<prometheus::Counter>& received_;
  prometheus::Family<prometheus::Counter>& posts_;
  prometheus::Gauge& active_gauge_;
  prometheus::Gauge& pending_gauge_;
};

}  // namespace

int RunAlertBridge(const config::Config& c, const std::atomic<bool>& stop) {
  const config::HttpUrl& url = c.alert_bridge.alertmanager;  // checked by the configuration
  mg_init_library(0);
  prometheus::Registry registry;
  Bridge bridge(c, registry, url);
  std::atomic<bool> caught_up{false};
  runtime::HttpServer http(registry, {[] { return true; }, [&] { return caught_up.load(); }, nullptr});
  if (Status s = http.Start(runtime::HttpServer::OptionsFrom(c.http)); !s.ok()) {
    Log(LogLevel::kCritical, "alert-bridge", "cannot start HTTP",
        {{"reason", std::string_view(s.message())}});
    return 1;
  }
  Log(LogLevel::kInfo, "http", "listening", {{"port", static_cast<std::int64_t>(http.port())}});

  // A consumer without a group: it reads every partition from the start.
  auto conf = runtime::BaseConf(c, runtime::ClientKind::kConsumer);
  if (!conf.ok()) {
    Log(LogLevel::kCritical, "alert-bridge", "bad configuration",
        {{"reason", std::string_view(conf.status().message())}});
    return 2;
  }
  char err[512];
  rd_kafka_conf_set(conf->get(), "group.id", (c.kafka.application_id + "-alert-bridge").c_str(), err,
                    sizeof err);
  rd_kafka_conf_set(conf->get(), "enable.auto.commit", "false", err, sizeof err);
  rd_kafka_conf_set(conf->get(), "enable.partition.eof", "true", err, sizeof err);
  rd_kafka_conf_set(conf->get(), "group.instance.id", "", err, sizeof err);
  runtime::KafkaHandle consumer(rd_kafka_new(RD_KAFKA_CONSUMER, conf->release(), err, sizeof err));
  if (!consumer) {
    Log(LogLevel::kCritical, "alert-bridge", "cannot create the consumer",
        {{"reason", std::string_view(err)}});
    return 1;
  }
  auto counts = runtime::PartitionCounts(consumer.get(), {c.topics.alerts}, 10'000);
  if (!counts.ok() || (*counts)[0] <= 0) {
    Log(LogLevel::kCritical, "alert-bridge", "the alert topic cannot be read",
        {{"topic", std::string_view(c.topics.alerts)}});
    return 1;
  }
  const int partitions = (*counts)[0];
  runtime::PartitionList list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list.get(), c.topics.alerts.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(consumer.get(), list.get());
  Log(LogLevel::kInfo, "alert-bridge", "started",
      {{"topic", std::string_view(c.topics.alerts)},
       {"alertmanager", std::string_view(c.alert_bridge.alertmanager_url)}});

  std::vector<bool> at_end(static_cast<std::size_t>(partitions), false);
  const SystemClock clock;
  while (!stop.load()) {
    runtime::KafkaMessage m(rd_kafka_consumer_poll(consumer.get(), 100));
    const Timestamp now = clock.Now();
    if (m) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (m->partition >= 0 && m->partition < partitions)
          at_end[static_cast<std::size_t>(m->partition)] = true;
      } else if (!m->err && m->payload) {
        bridge.Apply(std::string_view(static_cast<const char*>(m->payload), m->len), now);
      }
    }
    // Rebuild the open set from the whole topic before the first post.
    if (!caught_up.load() && std::all_of(at_end.begin(), at_end.end(), [](bool b) { return b; })) {
      caught_up.store(true);
      Log(LogLevel::kInfo, "alert-bridge", "caught up with the alert topic");
    }
    if (caught_up.load()) bridge.Flush(now);
  }
  rd_kafka_consumer_close(consumer.get());
  Log(LogLevel::kInfo, "alert-bridge", "stopped");
  return 0;
}

}  // namespace cx::tools
