// cxstream: the one binary. Sub-commands are wired here; each does its work
// through the libraries (engine, config, ...), so this file stays thin.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/time.h"
#include "engine/replay.h"
#include "runtime/http_server.h"
#include "runtime/log.h"
#include "runtime/metrics.h"
#include "runtime/worker.h"
#include "tools/alert_bridge.h"
#include "tools/demo.h"
#include "tools/devbroker.h"
#include "tools/kafka_io.h"
#include "tools/simulate_cli.h"
#include "tools/staffing_cli.h"

namespace {

constexpr int kExitUsage = 2;
constexpr int kExitConfig = 3;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizerBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitizerBuild = true;
#else
constexpr bool kSanitizerBuild = false;
#endif
#else
constexpr bool kSanitizerBuild = false;
#endif

// Keeps `state` alive until the process exits, when the operating system
// takes its memory back whole: for what only the exit follows.
void LeaveToExit(std::shared_ptr<void> state) {
  static std::shared_ptr<void>* const kept = new std::shared_ptr<void>();
  *kept = std::move(state);
}

// Loads the configuration, or prints every error and returns nullopt.
std::optional<cx::config::Config> LoadOrReport(const std::string& path) {
  cx::config::LoadResult r = path.empty() ? cx::config::LoadResult{cx::config::DefaultConfig(), {}}
                                          : cx::config::LoadConfigFile(path);
  if (!r.ok()) {
    for (const auto& e : r.errors) std::cerr << "config error: " << e.ToString() << "\n";
    std::cerr << r.errors.size() << " configuration error(s) in " << path << "\n";
    return std::nullopt;
  }
  return r.config;
}

int ValidateConfig(const std::string& path, bool reference) {
  if (reference) {
    std::cout << cx::config::ReferenceMarkdown();
    return 0;
  }
  if (path.empty()) {
    std::cerr << "validate-config: --config FILE is required\n";
    return kExitUsage;
  }
  if (!LoadOrReport(path)) return kExitConfig;
  std::cout << path << ": OK\n";
  return 0;
}

int Replay(const std::string& config_path, const std::vector<std::string>& inputs, const std::string& until,
           const std::string& out_dir, bool stats) {
  auto config = LoadOrReport(config_path);
  if (!config) return kExitConfig;
  cx::engine::ReplayOptions opts;
  opts.inputs = inputs;
  opts.out_dir = out_dir;
  opts.count_store = stats;
  opts.keep_state = true;  // see below
  if (!until.empty()) {
    std::string why;
    auto t = cx::ParseRfc3339(until, &why);
    if (!t) {
      std::cerr << "replay: --until: not an RFC 3339 date-time: " << why << "\n";
      return kExitUsage;
    }
    opts.until = *t;
  }
  auto result = cx::engine::RunReplay(*config, opts);
  if (!result.ok()) {
    std::cerr << "replay: " << result.status().message() << "\n";
    return kExitUsage;
  }
  std::cerr << cx::engine::FormatSummary(*result);
  if (result->store)
    std::cout << cx::engine::FormatStoreCounts(*result->store, result->objects, result->lines) << "\n";
  // The replay's state (every customer's records: gigabytes for a long
  // history) is left to the operating system as the process exits, rather
  // than freed an allocation at a time. A sanitizer build frees it, so that
  // its leak check still looks at everything else.
  if (!kSanitizerBuild) LeaveToExit(std::move(result->state));
  return 0;
}

std::atomic<bool> g_stop{false};
void OnStopSignal(int) { g_stop.store(true); }

// A long-running command stops cleanly on SIGTERM (Kubernetes) and SIGINT.
void StopOnSignals() {
  std::signal(SIGTERM, OnStopSignal);
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGPIPE, SIG_IGN);
}

// The configuration of a service (run, alert-bridge), with --http-port.
std::optional<cx::config::Config> LoadService(const std::string& config_path, int http_port_override) {
  auto config = LoadOrReport(config_path);
  if (config && http_port_override >= 0) config->http.port = http_port_override;
  return config;
}

int Run(const std::string& config_path, int http_port_override) {
  auto config = LoadService(config_path, http_port_override);
  if (!config) return kExitConfig;
  StopOnSignals();

  cx::SystemClock clock;
  cx::runtime::Metrics metrics;
  cx::runtime::Worker worker(*config, clock, metrics);
  cx::runtime::HttpServer http(metrics.registry(),
                               {[&worker] { return worker.Healthy(); }, [&worker] { return worker.Ready(); },
                                [&worker](const std::string& id) {
                                  auto a = worker.QueryProfile(id);
                                  return std::make_pair(a.status, a.body);
                                }});
  const char* token =
      config->http.api_token_env.empty() ? nullptr : std::getenv(config->http.api_token_env.c_str());
  if (cx::Status s = http.Start(cx::runtime::HttpServer::OptionsFrom(config->http, token ? token : ""));
      !s.ok()) {
    cx::runtime::Log(cx::runtime::LogLevel::kCritical, "http", "cannot start",
                     {{"reason", std::string_view(s.message())}});
    return 1;
  }
  cx::runtime::Log(cx::runtime::LogLevel::kInfo, "http", "listening",
                   {{"port", static_cast<std::int64_t>(http.port())}});
  if (cx::Status s = worker.Start(); !s.ok()) {
    cx::runtime::Log(cx::runtime::LogLevel::kCritical, "worker", "cannot start",
                     {{"reason", std::string_view(s.message())}});
    return 1;
  }
  cx::Status s = worker.Run(g_stop);
  return s.ok() ? 0 : 1;
}

}  // namespace

// A number within [lo, hi] (exclusive where open), with a message a user can read.
CLI::Validator Number(double lo, double hi, bool lo_open = false, const char* what = "a number") {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v = 0;
        try {
          std::size_t used = 0;
          v = std::stod(text, &used);
          if (used != text.size()) throw std::invalid_argument(text);
        } catch (const std::exception&) {
          return "\"" + text + "\" is not a number";
        }
        if (!(lo_open ? v > lo : v >= lo) || !(v <= hi)) return "\"" + text + "\" must be " + what;
        return "";
      },
      what);
}

int AlertBridge(const std::string& config_path, int http_port_override) {
  auto config = LoadService(config_path, http_port_override);
  if (!config) return kExitConfig;
  StopOnSignals();
  return cx::tools::RunAlertBridge(*config, g_stop);
}

int main(int argc, char** argv) {
  CLI::App app{"cxstream: real-time SLA, profiles, alerts and staffing for customer service"};
  app.require_subcommand(1);

  std::string config_path;
  bool reference = false;
  auto* validate = app.add_subcommand("validate-config", "Check a configuration file; print every error");
  validate->add_option("--config", config_path, "Configuration file (YAML)");
  validate->add_flag("--reference", reference, "Print the configuration reference (Markdown) and exit");

  std::vector<std::string> inputs;
  std::string until, out_dir;
  auto* replay =
      app.add_subcommand("replay", "Process NDJSON event files deterministically into NDJSON outputs");
  replay->add_option("--config", config_path, "Configuration file (YAML); defaults when omitted");
  replay->add_option("--input", inputs, "Input file of events, one JSON message per line (repeatable)")
      ->required();
  replay->add_option("--until", until, "Move the watermark to this RFC 3339 time at the end of input");
  replay->add_option("--out", out_dir, "Output directory for sla/alerts/profiles/staffing/dlq.ndjson")
      ->required();
  bool replay_stats = false;
  replay->add_flag("--stats", replay_stats,
                   "Count the store operations and print them as one JSON line on stdout (bench/replay)");

  int http_port = -1;
  auto* run = app.add_subcommand("run", "Run a worker: consume, process, produce (joins the consumer group)");
  run->add_option("--config", config_path, "Configuration file (YAML)")->required();
  run->add_option("--http-port", http_port, "Override http.port (0: let the OS choose)");

  cx::tools::DevBrokerOptions broker;
  auto* devbroker = app.add_subcommand(
      "devbroker", "A local Kafka-protocol broker (librdkafka mock cluster) for development and tests");
  devbroker->add_option("--brokers", broker.brokers, "Number of brokers (default 1)");
  devbroker->add_option("--partitions", broker.partitions, "Partitions of every topic (default 6)");
  devbroker->add_option("--bootstrap-file", broker.bootstrap_file,
                        "Write the bootstrap address to this file");
  devbroker->add_option("--application-id", broker.application_id,
                        "Also create this application's changelog topic (default cxstream)");
  devbroker->add_option("--topic", broker.extra_topics, "Also create NAME:PARTITIONS (repeatable)");

  cx::tools::ProduceOptions produce_opts;
  auto* produce = app.add_subcommand(
      "produce", "Produce NDJSON events to their topics, keyed by customer_id (development)");
  produce->add_option("--bootstrap", produce_opts.bootstrap, "Kafka bootstrap servers")->required();
  produce->add_option("--input", produce_opts.inputs, "NDJSON file (repeatable)")->required();
  produce->add_option("--max-batch", produce_opts.max_batch,
                      "Records per message set (default: librdkafka's)");
  produce
      ->add_option("--compression", produce_opts.compression,
                   "Compression of the message sets: none, gzip, snappy, lz4, zstd (default none)")
      ->check(CLI::IsMember({"none", "gzip", "snappy", "lz4", "zstd"}));

  cx::tools::DumpOptions dump_opts;
  auto* dump = app.add_subcommand("dump", "Write topics to NDJSON files, one per topic (development)");
  dump->add_option("--bootstrap", dump_opts.bootstrap, "Kafka bootstrap servers")->required();
  dump->add_option("--topic", dump_opts.topics, "Topic (repeatable)")->required();
  dump->add_option("--out", dump_opts.out_dir, "Output directory")->required();
  dump->add_option("--idle-ms", dump_opts.idle_ms,
                   "Stop after this long with nothing new at the end of every partition");
  dump->add_flag("--with-keys", dump_opts.with_keys,
                 "Write {\"key\":K,\"value\":V} per record (binary as JSON strings), e.g. for a changelog");
  dump->add_option("--isolation", dump_opts.isolation,
                   "read_committed (default: records of aborted transactions skipped) or read_uncommitted")
      ->check(CLI::IsMember({"read_committed", "read_uncommitted"}));

  auto* bridge = app.add_subcommand(
      "alert-bridge",
      "Deliver the alert topic to Alertmanager's /api/v2/alerts (docs/alerts.md#alert-bridge)");
  bridge->add_option("--config", config_path, "Configuration file (YAML)")->required();
  bridge->add_option("--http-port", http_port, "Override http.port for /metrics (0: let the OS choose)");

  cx::tools::DemoOptions demo_opts;
  bool demo_plain = false;
  auto* demo =
      app.add_subcommand("demo", "A devbroker, the simulator and a worker with a live view (docs/demo.md)");
  demo->add_option("--duration", demo_opts.duration_s, "Wall seconds to run; 0: until Ctrl-C (default 60)")
      ->check(CLI::Range(0.0, 1e7));
  demo->add_option("--speedup", demo_opts.speedup,
                   "Simulated seconds per wall second (default 1440: a day a minute)")
      ->check(CLI::Range(1.0, 1e6));
  demo->add_option("--http-port", demo_opts.http_port, "Port of /metrics (default 8080; 0: the OS chooses)")
      ->check(CLI::Range(0, 65535));
  demo->add_option("--seed", demo_opts.seed, "Simulator seed (default 1)");
  demo->add_flag("--plain", demo_plain, "A progress line every 5 s instead of the redrawn view");

  cx::tools::SimulateCliOptions sim_opts;
  std::vector<std::string> sim_queues;
  std::string sim_duration = "1h";
  auto* simulate = app.add_subcommand(
      "simulate", "Realistic, seeded traffic of the whole event contract (docs/simulator.md)");
  simulate->add_option("--out", sim_opts.out, "Write NDJSON to this file (replay input)");
  simulate->add_option("--bootstrap", sim_opts.bootstrap, "Or produce to the topics of this Kafka cluster");
  simulate->add_option("--seed", sim_opts.sim.seed, "Seed: the same seed gives the same events (default 1)");
  simulate->add_option("--start", sim_opts.start, "Simulated start time, RFC 3339 (default: now)");
  simulate->add_option("--duration", sim_duration, "Simulated duration, e.g. 90m, 24h (default 1h)");
  simulate->add_option("--customers", sim_opts.sim.customers, "Customers (default 10000)")
      ->check(CLI::Range(1, 100000000));
  simulate->add_option("--vip-share", sim_opts.sim.vip_share, "Share of VIP customers (default 0.05)")
      ->check(CLI::Range(0.0, 1.0));
  simulate->add_option("--agents", sim_opts.sim.agents, "Agents over three shifts (default 60)")
      ->check(CLI::Range(0, 100000));
  simulate->add_option("--queue", sim_queues,
                       "NAME:CONVERSATIONS_PER_HOUR (repeatable; default billing:60 presales:90 returns:45)");
  simulate->add_option("--orders-per-hour", sim_opts.sim.orders_per_hour, "Orders per hour (default 120)")
      ->check(CLI::Range(0.0, 1e9));
  simulate
      ->add_option("--handle-s", sim_opts.sim.mean_handle_s, "Mean handle time of a chat, s (default 240)")
      ->check(CLI::Range(1.0, 1e6));
  simulate
      ->add_option("--patience-s", sim_opts.sim.mean_patience_s, "Mean customer patience, s (default 150)")
      ->check(CLI::Range(1.0, 1e6));
  simulate
      ->add_option("--malformed-share", sim_opts.sim.malformed_share,
                   "Share of malformed records (default 0)")
      ->check(CLI::Range(0.0, 1.0));
  simulate
      ->add_option("--erasures-per-hour", sim_opts.sim.erasure_per_hour,
                   "customer.erased per hour (default 0.5)")
      ->check(CLI::Range(0.0, 1e6));
  simulate->add_flag("!--flat", sim_opts.sim.daily_curve, "No daily arrival curve: constant rates");
  simulate
      ->add_option("--speedup", sim_opts.speedup,
                   "Simulated seconds per wall second (e.g. 1440: a day in a minute)")
      ->check(CLI::Range(0.0, 1e9));
  simulate->add_option("--rate", sim_opts.rate, "Records per wall second (default: as fast as possible)")
      ->check(CLI::Range(0.0, 1e9));

  cx::tools::StaffingCliOptions staffing_opts;
  auto* staffing = app.add_subcommand(
      "staffing", "Erlang C / Erlang A calculator: agents needed for a service-level target (JSON out)");
  constexpr double kBig = 1e12;
  staffing->add_option("--arrivals", staffing_opts.arrivals, "Contacts arriving in the interval")
      ->required()
      ->check(Number(0, kBig, false, ">= 0"));
  staffing->add_option("--interval-s", staffing_opts.interval_s, "Interval length, seconds")
      ->required()
      ->check(Number(0, kBig, true, "> 0"));
  staffing->add_option("--aht-s", staffing_opts.aht_s, "Average handle time of one contact, seconds")
      ->required()
      ->check(Number(0, kBig, true, "> 0"));
  staffing->add_option("--sl-target", staffing_opts.sl_target, "Service level target, e.g. 0.8")
      ->required()
      ->check(Number(0, 0.9999, true, "in (0, 0.9999]"));
  staffing->add_option("--sl-threshold-s", staffing_opts.sl_threshold_s, "Service level threshold, seconds")
      ->required()
      ->check(Number(0, kBig, false, ">= 0"));
  staffing->add_option("--max-occupancy", staffing_opts.max_occupancy, "Maximum occupancy (default 0.85)")
      ->check(Number(0, 1, true, "in (0, 1]"));
  staffing->add_option("--shrinkage", staffing_opts.shrinkage, "Shrinkage in [0, 1) (default 0)")
      ->check(Number(0, 0.99, false, "in [0, 0.99]"));
  staffing
      ->add_option("--concurrency", staffing_opts.concurrency,
                   "Contacts one agent handles at once (default 1)")
      ->check(CLI::Range(1, 100));
  staffing->add_option("--patience-s", staffing_opts.patience_s, "Mean patience, seconds: adds Erlang A")
      ->check(Number(0, kBig, true, "> 0"));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  if (validate->parsed()) return ValidateConfig(config_path, reference);
  if (replay->parsed()) return Replay(config_path, inputs, until, out_dir, replay_stats);
  if (run->parsed()) return Run(config_path, http_port);
  if (devbroker->parsed()) return cx::tools::RunDevBroker(broker);
  if (produce->parsed()) return cx::tools::Produce(produce_opts);
  if (dump->parsed()) return cx::tools::Dump(dump_opts);
  if (staffing->parsed()) return cx::tools::RunStaffing(staffing_opts);
  if (bridge->parsed()) return AlertBridge(config_path, http_port);
  if (demo->parsed()) {
    demo_opts.live = !demo_plain && ::isatty(1);
    StopOnSignals();
    return cx::tools::RunDemo(demo_opts, g_stop);
  }
  if (simulate->parsed()) {
    auto d = cx::ParseDuration(sim_duration);
    if (!d || *d <= 0) {
      std::cerr << "--duration: \"" << sim_duration << "\" is not a duration such as 90m or 24h\n";
      return kExitUsage;
    }
    sim_opts.sim.duration = *d;
    if (!sim_queues.empty()) {
      sim_opts.sim.queues.clear();
      for (const auto& q : sim_queues) {
        const auto colon = q.rfind(':');
        char* end = nullptr;
        const double rate = colon == std::string::npos ? -1 : std::strtod(q.c_str() + colon + 1, &end);
        if (colon == std::string::npos || colon == 0 || *end != '\0' || !(rate >= 0)) {
          std::cerr << "--queue: \"" << q << "\" is not NAME:CONVERSATIONS_PER_HOUR\n";
          return kExitUsage;
        }
        sim_opts.sim.queues.push_back({q.substr(0, colon), rate});
      }
    }
    StopOnSignals();
    return cx::tools::RunSimulate(sim_opts, g_stop);
  }
  return kExitUsage;
}
