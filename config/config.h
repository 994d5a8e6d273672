// Config: the validated, immutable configuration of a cxstream process.
//
// Loaded once at start-up (LoadConfig) from YAML; every option is declared in
// one table (config.cc: kOptions) with its type, range, default and
// description, and docs/configuration.md is generated from that table
// (`cxstream validate-config --reference`). Shared read-only by all tasks.
#pragma once

#include <cctz/time_zone.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/output.h"
#include "core/sla_metric.h"
#include "core/status.h"
#include "core/time.h"

namespace cx::config {

struct KafkaConfig {
  std::string bootstrap_servers;
  std::string application_id;
  std::string group_instance_id;
  std::string security_protocol;
  std::string sasl_mechanism;
  std::string sasl_username;
  std::string sasl_password;
  std::string ssl_ca_location;
  std::string key_partitioner;
  // Any further librdkafka property, passed through verbatim.
  std::map<std::string, std::string> properties;
};

struct TopicsConfig {
  std::string chat, orders, aftersales, agents;
  std::string sla, alerts, profiles, staffing, dlq;
};

struct LimitsConfig {
  std::int64_t max_message_bytes = 0;
  std::int64_t max_id_bytes = 0;
  std::int64_t max_text_bytes = 0;
  DurationMs max_future_skew = 0;
  std::int64_t max_buffered_events = 0;
  std::int64_t max_queues = 0;  // distinct queues tracked (docs/staffing.md#limits)
  DurationMs queue_idle_after = 0;
};

struct TimeConfig {
  DurationMs allowed_lateness = 0;
  DurationMs grace = 0;
};

struct DedupConfig {
  std::int64_t per_customer = 0;
};

struct StateConfig {
  std::string dir;
  std::int64_t memory_budget_bytes = 0;
  std::int64_t restore_threads = 0;  // 0: two per core the process may use
};

struct CommitConfig {
  DurationMs interval = 0;
};

// What a downstream consumer sees after a failure (docs/runtime.md#guarantees).
struct ProcessingConfig {
  // "at_least_once": outputs may repeat (with stable ids) after a crash.
  // "exactly_once": each commit's outputs, changelog frame and input offsets
  // form one Kafka transaction; read_committed consumers see each once.
  std::string guarantee;
  bool exactly_once() const { return guarantee == "exactly_once"; }
  // Processing threads (group members) of one worker; 0: the usable cores.
  std::int64_t threads = 0;
};

struct HttpConfig {
  std::string bind;
  std::int64_t port = 0;
  std::int64_t threads = 0;
  DurationMs request_timeout = 0;
  std::string api_token_env;
};

struct LogConfig {
  std::string level;
};

// One SLA policy (docs/sla.md#policies), parsed and validated at load.
struct SlaPolicyConfig {
  std::string name;
  // Conditions; an empty list matches anything.
  std::vector<Channel> channels;
  std::vector<Priority> priorities;
  std::vector<CaseKind> kinds;
  std::vector<std::string> queues, customer_tiers, tenants;
  // Target per metric and priority (low, normal, high, urgent); nullopt:
  // not measured for that priority by this policy.
  std::map<Metric, std::array<std::optional<DurationMs>, 4>> targets;
  // A business-hours calendar (a name in sla.calendars): the targets count
  // open time only. Empty: calendar time.
  std::string calendar;
};

// A business-hours calendar (docs/sla.md#business-hours), validated at load:
// the time zone exists in the IANA database, intervals lie within a day and
// do not overlap, holidays are dates.
struct SlaCalendarConfig {
  std::string name;
  std::string timezone;  // its IANA name
  cctz::time_zone zone;  // loaded from the IANA database at load
  // Opening intervals per weekday (0 = Monday), in minutes after local
  // midnight: [begin, end).
  std::array<std::vector<std::pair<int, int>>, 7> week;
  // Whole local days closed, as year, month, day.
  std::vector<std::array<int, 3>> holidays;
};

struct SlaConfig {
  double warning_fraction = 0;
  // The ordered policy list: `sla.policies` as given, or without that key
  // the shipped defaults (config.cc: kDefaultPolicies, the one place they
  // are written; config/cxstream.yaml writes them out).
  std::vector<SlaPolicyConfig> policies;
  bool policies_given = false;  // whether the file had `sla.policies`
  // Named business-hours calendars that policies refer to.
  std::vector<SlaCalendarConfig> calendars;
};

// Per-queue staffing targets (staffing.queues.<name>); unset fields take
// the staffing.* defaults.
struct QueueStaffingConfig {
  std::optional<double> sl_target, max_occupancy, shrinkage;
  std::optional<DurationMs> sl_threshold;
  std::optional<std::int64_t> concurrency;
  std::optional<cctz::time_zone> zone;
};

// Where a conversation's handle time starts (staffing.handle_time_from).
enum class HandleTimeFrom { kFirstReply, kOpened };

struct StaffingConfig {
  DurationMs interval = 0;
  DurationMs provisional_every = 0;
  DurationMs announce_every = 0;
  DurationMs announce_pace = 0;
  HandleTimeFrom handle_time_from = HandleTimeFrom::kFirstReply;
  double forecast_alpha = 0;
  double intraday_alpha = 0;
  cctz::time_zone zone;  // the queues' days and slots (staffing.timezone)
  double sl_target = 0;
  DurationMs sl_threshold = 0;
  double max_occupancy = 0;
  double shrinkage = 0;
  std::int64_t concurrency = 0;
  std::map<std::string, QueueStaffingConfig> queues;
};

// What a repeat contact is, for alerts and profiles alike.
struct ContactsConfig {
  DurationMs repeat_window = 0;
};

struct AlertsConfig {
  // Per kind, in processors::AlertKind order; nullopt: the kind is off.
  std::array<std::optional<Severity>, 9> severity{};
  std::string source, vip_tier;
  // Escalation keywords: trimmed, ASCII letters lower-cased, none empty.
  std::vector<std::string> keywords;
  DurationMs vip_wait = 0, low_csat_resolve_after = 0, aftersales_overdue = 0, storm_window = 0,
             group_wait = 0;
  std::int64_t repeat_count = 0, low_csat = 0, storm_count = 0;
  double negative_sentiment = 0;
};

// An http:// URL: http://host[:port][/path].
struct HttpUrl {
  std::string host;
  int port = 80;
  std::string prefix;  // the path, without a trailing slash
};
// False, with the reason, for anything else (https included).
bool ParseHttpUrl(const std::string& text, HttpUrl& url, std::string& why);

struct AlertBridgeConfig {
  std::string alertmanager_url;
  HttpUrl alertmanager;  // alertmanager_url, parsed
  DurationMs resend_every = 0;
  DurationMs timeout = 0;
};

struct ProfilesConfig {
  DurationMs debounce = 0;
  DurationMs retention = 0;
  std::string base_currency;
  std::map<std::string, double> currency_rates;  // positive, finite
  std::int64_t low_csat = 0;
  double negative_sentiment = 0;
  // RFM thresholds: four ascending numbers each.
  std::array<double, 4> rfm_recency_days{}, rfm_frequency{}, rfm_monetary{};
  double vip_gmv = 0;
};

struct Config {
  KafkaConfig kafka;
  TopicsConfig topics;
  LimitsConfig limits;
  TimeConfig time;
  DedupConfig dedup;
  StateConfig state;
  CommitConfig commit;
  ProcessingConfig processing;
  HttpConfig http;
  LogConfig log;
  SlaConfig sla;
  ContactsConfig contacts;
  StaffingConfig staffing;
  ProfilesConfig profiles;
  AlertsConfig alerts;
  AlertBridgeConfig alert_bridge;
};

// One configuration error: the key path ("limits.max_id_bytes") and why.
struct ConfigError {
  std::string path;
  std::string message;
  std::string ToString() const { return path.empty() ? message : path + ": " + message; }
};

// Either a Config or every error found (never just the first).
struct LoadResult {
  Config config;
  std::vector<ConfigError> errors;
  bool ok() const { return errors.empty(); }
};

// Reads environment variables for ${VAR} substitution; replaceable in tests.
using EnvLookup = const char* (*)(const char*);

// Loads YAML text. `${VAR}` and `${VAR:-default}` in scalar values are
// replaced from the environment before type checks.
LoadResult LoadConfigText(const std::string& yaml, EnvLookup env = nullptr);
// Loads a file; a file that cannot be read is one error naming it.
LoadResult LoadConfigFile(const std::string& path, EnvLookup env = nullptr);
// The configuration with every default and no file at all.
Config DefaultConfig();

// The queues the configuration names (staffing.queues and SLA policies'
// queues): always tracked, within limits.max_queues.
std::set<std::string, std::less<>> NamedQueues(const Config& config);

// Markdown reference of every option, generated from the option table.
std::string ReferenceMarkdown();

}  // namespace cx::config
