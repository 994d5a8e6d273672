#include "tools/demo.h"

#include <librdkafka/rdkafka.h>
#include <simdjson.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "config/config.h"
#include "core/time.h"
#include "runtime/http_server.h"
#include "runtime/kafka.h"
#include "runtime/log.h"
#include "runtime/metrics.h"
#include "runtime/worker.h"
#include "tools/devbroker.h"
#include "tools/simulate_cli.h"

namespace cx::tools {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr int kPartitions = 4;

struct QueueView {
  std::int64_t breaches = 0, warnings = 0;
  bool staffed = false;
  std::int64_t arrivals = 0, required = -1, online = 0, delta = 0;
  double service_level = -1;
  std::string interval;
};

// What the demo has seen on the output topics.
struct View {
  std::map<std::string, QueueView> queues;
  std::int64_t sla = 0, breaches = 0, warnings = 0, fulfilled = 0, alerts_triggered = 0, alerts_resolved = 0,
               storms = 0, staffing = 0, profiles = 0, dlq = 0;
  std::deque<std::string> recent_alerts;
  simdjson::dom::parser parser;

  void Apply(std::string_view topic, std::string_view value) {
    if (topic == "cx.dlq") {
      ++dlq;
      return;
    }
    if (topic == "cx.profiles") {
      ++profiles;
      return;
    }
    simdjson::dom::element doc;
    if (parser.parse(value.data(), value.size()).get(doc)) return;
    std::string_view s;
    if (topic == "cx.sla") {
      ++sla;
      std::string_view event, queue;
      if (doc["event"].get(event)) return;
      if (doc["queue"].get(queue)) queue = "(orders, cases)";
      if (event == "breach") {
        ++breaches;
        ++queues[std::string(queue)].breaches;
      } else if (event == "warning") {
        ++warnings;
        ++queues[std::string(queue)].warnings;
      } else if (event == "fulfill") {
        ++fulfilled;
      }
    } else if (topic == "cx.alerts") {
      std::string_view action, kind, severity, summary, ts, grouped;
      if (doc["action"].get(action) || doc["kind"].get(kind) || doc["severity"].get(severity)) return;
      if (action == "resolve") {
        ++alerts_resolved;
        return;
      }
      ++alerts_triggered;
      if (kind == "queue_breach_storm") ++storms;
      if (!doc["grouped_under"].get(grouped)) return;  // its storm speaks for it
      if (kind == "sla_warning") return;               // too many to read; counted above
      if (doc["summary"].get(summary)) summary = {};
      if (doc["ts"].get(ts)) ts = {};
      char line[256];
      std::snprintf(line, sizeof line, "  %.8s  %-8.*s %-19.*s %.*s", ts.size() > 11 ? ts.data() + 11 : "",
                    static_cast<int>(severity.size()), severity.data(), static_cast<int>(kind.size()),
                    kind.data(), static_cast<int>(std::min<std::size_t>(summary.size(), 80)), summary.data());
      recent_alerts.push_back(line);
      if (recent_alerts.size() > 6) recent_alerts.pop_front();
    } else if (topic == "cx.staffing") {
      ++staffing;
      std::string_view queue, start;
      if (doc["queue"].get(queue)) return;
      QueueView& q = queues[std::string(queue)];
      if (!doc["interval_start"].get(start)) q.interval = std::string(start.substr(11, 5));
      q.staffed = true;
      std::int64_t n = 0;
      double d = 0;
      if (!doc["arrivals"].get(n)) q.arrivals = n;
      if (!doc["agents_online"].get(n)) q.online = n;
      q.required = doc["required_agents"].get(n) ? -1 : n;
      q.delta = doc["delta_agents"].get(n) ? 0 : n;
      if (!doc["service_level"].get(d))
        q.service_level = d;
      else
        q.service_level = -1;
    }
  }
};

double Sum(runtime::Metrics& m, std::initializer_list<const char*> topics) {
  double s = 0;
  for (const char* t : topics) s += m.Consumed(t).Value();
  return s;
}

std::string Render(View& v, runtime::Metrics& m, double elapsed_s, double rate, Timestamp sim_now, int port,
                   double speedup) {
  std::ostringstream o;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "cxstream demo   %5.0f s   simulated %s (x%g)   http://127.0.0.1:%d/metrics\n", elapsed_s,
                FormatRfc3339(sim_now).substr(0, 16).c_str(), speedup, port);
  o << buf;
  double lag = 0;  // records not yet read, over the input partitions
  for (const char* t : {"cx.chat", "cx.orders", "cx.aftersales", "cx.agents"})
    for (int p = 0; p < kPartitions; ++p) lag += m.Lag(t, p).Value();
  std::snprintf(buf, sizeof buf,
                "events processed %.0f (%.0f/s)   lag %.0f   dead-lettered %lld   profiles %lld\n\n",
                Sum(m, {"cx.chat", "cx.orders", "cx.aftersales", "cx.agents"}), rate, lag,
                static_cast<long long>(v.dlq), static_cast<long long>(v.profiles));
  o << buf;
  o << "queue            open  warnings breaches | staffing interval  arrivals    SL  required online  "
       "delta\n";
  for (const auto& [name, q] : v.queues) {
    const double open = name.front() == '(' ? 0 : m.OpenClocks("resolution", name).Value();
    std::snprintf(buf, sizeof buf, "%-15s %5.0f %9lld %8lld |", name.c_str(), open,
                  static_cast<long long>(q.warnings), static_cast<long long>(q.breaches));
    o << buf;
    if (q.staffed) {
      std::snprintf(
          buf, sizeof buf, " %14s %9lld %5s %9s %6lld %+6lld\n", q.interval.c_str(),
          static_cast<long long>(q.arrivals),
          q.service_level < 0 ? "-" : (std::to_string(static_cast<int>(q.service_level * 100)) + "%").c_str(),
          q.required < 0 ? "-" : std::to_string(q.required).c_str(), static_cast<long long>(q.online),
          static_cast<long long>(q.required < 0 ? 0 : q.delta));
      o << buf;
    } else {
      o << "\n";
    }
  }
  std::snprintf(buf, sizeof buf, "\nalerts: %lld triggered, %lld resolved, %lld storms; the latest:\n",
                static_cast<long long>(v.alerts_triggered), static_cast<long long>(v.alerts_resolved),
                static_cast<long long>(v.storms));
  o << buf;
  for (const auto& a : v.recent_alerts) o << a << "\n";
  return o.str();
}

}  // namespace

int RunDemo(const DemoOptions& d, const std::atomic<bool>& stop) {
  DevBrokerOptions bo;
  bo.partitions = kPartitions;
  std::string why;
  auto cluster = MockCluster::Start(bo, why);
  if (!cluster) {
    std::cerr << "demo: " << why << "\n";
    return 1;
  }
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("cxstream-demo-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);

  config::Config c = config::DefaultConfig();
  c.kafka.bootstrap_servers = cluster->bootstrap();
  c.kafka.group_instance_id.clear();
  c.state.dir = dir.string();
  c.state.memory_budget_bytes = 256LL << 20;
  c.http.bind = "127.0.0.1";
  c.http.port = d.http_port;
  c.commit.interval = 500;
  // One processing thread: the demo is paced by its simulator (about 1,500
  // events/s), and librdkafka's mock cluster, run in this same process,
  // stalled now and then (every request timed out, the simulator's too)
  // when two group members of the process joined it at once (about one
  // start in five; docs/runtime.md#the-devbroker-and-its-limits).
  c.processing.threads = 1;
  // The simulator runs ahead of the wall clock (sped up): its timestamps
  // are "in the future" by up to the simulated span.
  c.limits.max_future_skew = 30LL * 86'400'000;
  c.log.level = "error";  // the view is the output
  runtime::SetLogLevel(runtime::LogLevel::kError);

  SystemClock clock;
  runtime::Metrics metrics;
  runtime::Worker worker(c, clock, metrics);
  runtime::HttpServer http(metrics.registry(),
                           {[&worker] { return worker.Healthy(); }, [&worker] { return worker.Ready(); },
                            [&worker](const std::string& id) {
                              auto a = worker.QueryProfile(id);
                              return std::make_pair(a.status, a.body);
                            }});
  if (Status s = http.Start(runtime::HttpServer::OptionsFrom(c.http)); !s.ok()) {
    std::cerr << "demo: " << s.message() << " (try --http-port 0)\n";
    return 1;
  }
  if (Status s = worker.Start(); !s.ok()) {
    std::cerr << "demo: the worker cannot start: " << s.message() << "\n";
    return 1;
  }
  std::atomic<bool> worker_stop{false}, sim_stop{false};
  Status worker_status;
  std::thread worker_thread([&] { worker_status = worker.Run(worker_stop); });

  SimulateCliOptions so;
  so.bootstrap = cluster->bootstrap();
  so.speedup = d.speedup;
  so.summary = false;
  so.sim.seed = d.seed;
  so.sim.malformed_share = 0.002;
  so.sim.duration =
      static_cast<DurationMs>((d.duration_s > 0 ? d.duration_s + 5 : 86'400.0) * d.speedup * 1000);
  const Timestamp sim_start = clock.Now();
  so.start = FormatRfc3339(sim_start);
  std::thread sim_thread([&] { RunSimulate(so, sim_stop); });

  // The view reads the output topics from the start.
  auto conf = runtime::KafkaConf(rd_kafka_conf_new());
  char err[512];
  rd_kafka_conf_set(conf.get(), "bootstrap.servers", cluster->bootstrap().c_str(), err, sizeof err);
  rd_kafka_conf_set(conf.get(), "group.id", "cxstream-demo-view", err, sizeof err);
  rd_kafka_conf_set(conf.get(), "enable.auto.commit", "false", err, sizeof err);
  runtime::KafkaHandle viewer(rd_kafka_new(RD_KAFKA_CONSUMER, conf.release(), err, sizeof err));
  runtime::PartitionList list(rd_kafka_topic_partition_list_new(5 * kPartitions));
  for (const char* t : {"cx.sla", "cx.alerts", "cx.staffing", "cx.dlq", "cx.profiles"})
    for (int p = 0; p < kPartitions; ++p)
      rd_kafka_topic_partition_list_add(list.get(), t, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(viewer.get(), list.get());

  View view;
  const auto started = SteadyClock::now();
  auto next_draw = started + std::chrono::seconds(1);
  double last_events = 0;
  auto last_at = started;
  double rate = 0;
  while (!stop.load()) {
    runtime::KafkaMessage m(rd_kafka_consumer_poll(viewer.get(), 50));
    if (m && !m->err && m->payload)
      view.Apply(rd_kafka_topic_name(m->rkt), std::string_view(static_cast<const char*>(m->payload), m->len));
    const auto now = SteadyClock::now();
    const double elapsed = std::chrono::duration<double>(now - started).count();
    if (now >= next_draw) {
      const double events = Sum(metrics, {"cx.chat", "cx.orders", "cx.aftersales", "cx.agents"});
      rate = (events - last_events) / std::max(0.001, std::chrono::duration<double>(now - last_at).count());
      last_events = events;
      last_at = now;
      const Timestamp sim_now = sim_start + static_cast<DurationMs>(elapsed * d.speedup * 1000);
      if (d.live) {
        std::cout << "\x1b[H\x1b[2J" << Render(view, metrics, elapsed, rate, sim_now, http.port(), d.speedup)
                  << std::flush;
        next_draw = now + std::chrono::seconds(1);
      } else {
        std::printf(
            "demo %3.0f s: %.0f events (%.0f/s), %lld SLA warnings, %lld breaches, %lld alerts, %lld "
            "staffing records\n",
            elapsed, events, rate, static_cast<long long>(view.warnings),
            static_cast<long long>(view.breaches), static_cast<long long>(view.alerts_triggered),
            static_cast<long long>(view.staffing));
        std::fflush(stdout);
        next_draw = now + std::chrono::seconds(5);
      }
    }
    if (d.duration_s > 0 && elapsed >= d.duration_s) break;
  }

  sim_stop.store(true);
  sim_thread.join();
  worker_stop.store(true);
  worker_thread.join();
  // Whatever the worker wrote last.
  for (int i = 0; i < 40; ++i) {
    runtime::KafkaMessage m(rd_kafka_consumer_poll(viewer.get(), 25));
    if (m && !m->err && m->payload)
      view.Apply(rd_kafka_topic_name(m->rkt), std::string_view(static_cast<const char*>(m->payload), m->len));
  }
  rd_kafka_consumer_close(viewer.get());
  const double elapsed = std::chrono::duration<double>(SteadyClock::now() - started).count();
  const Timestamp sim_now = sim_start + static_cast<DurationMs>(elapsed * d.speedup * 1000);
  std::cout << "\n" << Render(view, metrics, elapsed, rate, sim_now, http.port(), d.speedup);
  std::printf(
      "\nsummary: %.0f s, %.0f events processed; %lld SLA records (%lld warnings, %lld breaches, %lld met); "
      "%lld alerts triggered, %lld resolved (%lld storms); %lld staffing records; %lld profile records; "
      "%lld dead-lettered\n",
      elapsed, Sum(metrics, {"cx.chat", "cx.orders", "cx.aftersales", "cx.agents"}),
      static_cast<long long>(view.sla), static_cast<long long>(view.warnings),
      static_cast<long long>(view.breaches), static_cast<long long>(view.fulfilled),
      static_cast<long long>(view.alerts_triggered), static_cast<long long>(view.alerts_resolved),
      static_cast<long long>(view.storms), static_cast<long long>(view.staffing),
      static_cast<long long>(view.profiles), static_cast<long long>(view.dlq));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (!worker_status.ok()) {
    std::cerr << "demo: the worker stopped on an error: " << worker_status.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace cx::tools
