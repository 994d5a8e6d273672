#include "config/config.h"

#include <cctz/time_zone.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>
#include <variant>

#include "core/event.h"
#include "core/sla_metric.h"

namespace cx::config {
namespace {

enum class Kind {
  kString,
  kInt,
  kBytes,
  kDuration,
  kDouble,
  kEnum,
  kMap,
  kList,
  kNumbers,
  kRates,
  kTimeZone
};

using StrRef = std::string& (*)(Config&);
using IntRef = std::int64_t& (*)(Config&);
using DblRef = double& (*)(Config&);
using MapRef = std::map<std::string, std::string>& (*)(Config&);
// kEnum with a typed field: receives the index of the chosen value in `choices`.
using EnumSet = void (*)(Config&, std::size_t choice);
using ListRef = std::vector<std::string>& (*)(Config&);
using NumbersRef = std::array<double, 4>& (*)(Config&);
using RatesRef = std::map<std::string, double>& (*)(Config&);
using ZoneRef = cctz::time_zone& (*)(Config&);

// One configuration option. The table below is the single source of truth
// for loading, validation, defaults and docs/configuration.md; each option
// is parsed once, into the typed field its `ref` names.
struct Option {
  std::string_view path;
  Kind kind;
  std::string_view default_text;  // as it would be written in YAML
  double min = 0, max = 0;        // inclusive; ints, bytes, durations (ms), doubles
  std::string_view choices;       // kEnum: "a|b|c"
  std::string_view description;
  std::variant<StrRef, IntRef, DblRef, MapRef, EnumSet, ListRef, NumbersRef, RatesRef, ZoneRef> ref;
};

// alerts.severity.*: "critical|error|warning|info|off" in Severity order.
constexpr std::string_view kSeverityChoices = "critical|error|warning|info|off";
std::optional<Severity> SeverityChoice(std::size_t i) {
  if (i >= 4) return std::nullopt;  // off
  return static_cast<Severity>(i);
}

constexpr double kMaxI = 9.0e18;

// clang-format off
constexpr Option kOptions[] = {
  {"kafka.bootstrap_servers", Kind::kString, "127.0.0.1:9092", 0, 0, "",
   "Comma-separated host:port list of the Kafka cluster.",
   StrRef([](Config& c) -> std::string& { return c.kafka.bootstrap_servers; })},
  {"kafka.key_partitioner", Kind::kEnum, "murmur2", 0, 0, "murmur2|crc32",
   "How the producers of the input topics partition by key (murmur2: Java clients and Kafka Streams; crc32: librdkafka's default); the profile API uses it to find a customer's partition.",
   StrRef([](Config& c) -> std::string& { return c.kafka.key_partitioner; })},
  {"kafka.application_id", Kind::kString, "cxstream", 0, 0, "",
   "Consumer group id; also the prefix of the changelog and repartition topics.",
   StrRef([](Config& c) -> std::string& { return c.kafka.application_id; })},
  {"kafka.group_instance_id", Kind::kString, "${POD_NAME:-}", 0, 0, "",
   "Static membership id (`group.instance.id`); empty disables static membership. Defaults to the pod name.",
   StrRef([](Config& c) -> std::string& { return c.kafka.group_instance_id; })},
  {"kafka.security_protocol", Kind::kEnum, "plaintext", 0, 0, "plaintext|ssl|sasl_plaintext|sasl_ssl",
   "librdkafka `security.protocol`.",
   StrRef([](Config& c) -> std::string& { return c.kafka.security_protocol; })},
  {"kafka.sasl_mechanism", Kind::kString, "", 0, 0, "",
   "librdkafka `sasl.mechanism` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER); empty when unused.",
   StrRef([](Config& c) -> std::string& { return c.kafka.sasl_mechanism; })},
  {"kafka.sasl_username", Kind::kString, "", 0, 0, "",
   "SASL user name. Use `${ENV_VAR}` rather than writing it in the file.",
   StrRef([](Config& c) -> std::string& { return c.kafka.sasl_username; })},
  {"kafka.sasl_password", Kind::kString, "", 0, 0, "",
   "SASL password. Use `${ENV_VAR}`; it is never logged.",
   StrRef([](Config& c) -> std::string& { return c.kafka.sasl_password; })},
  {"kafka.ssl_ca_location", Kind::kString, "", 0, 0, "",
   "Path of the CA certificate bundle for TLS; empty uses the system store.",
   StrRef([](Config& c) -> std::string& { return c.kafka.ssl_ca_location; })},
  {"kafka.properties", Kind::kMap, "{}", 0, 0, "",
   "Further librdkafka properties, passed through verbatim (string to string). `consumer.X` applies to consumers only, `producer.X` to producers only.",
   MapRef([](Config& c) -> std::map<std::string, std::string>& { return c.kafka.properties; })},

  {"topics.chat", Kind::kString, "cx.chat", 0, 0, "", "Input: conversations and messages.",
   StrRef([](Config& c) -> std::string& { return c.topics.chat; })},
  {"topics.orders", Kind::kString, "cx.orders", 0, 0, "", "Input: order lifecycle.",
   StrRef([](Config& c) -> std::string& { return c.topics.orders; })},
  {"topics.aftersales", Kind::kString, "cx.aftersales", 0, 0, "", "Input: after-sales cases.",
   StrRef([](Config& c) -> std::string& { return c.topics.aftersales; })},
  {"topics.agents", Kind::kString, "cx.agents", 0, 0, "", "Input: agent status, keyed by agent_id.",
   StrRef([](Config& c) -> std::string& { return c.topics.agents; })},
  {"topics.sla", Kind::kString, "cx.sla", 0, 0, "", "Output: SLA metric events.",
   StrRef([](Config& c) -> std::string& { return c.topics.sla; })},
  {"topics.alerts", Kind::kString, "cx.alerts", 0, 0, "", "Output: alerts.",
   StrRef([](Config& c) -> std::string& { return c.topics.alerts; })},
  {"topics.profiles", Kind::kString, "cx.profiles", 0, 0, "", "Output: customer profiles (compacted).",
   StrRef([](Config& c) -> std::string& { return c.topics.profiles; })},
  {"topics.staffing", Kind::kString, "cx.staffing", 0, 0, "", "Output: staffing per queue and interval.",
   StrRef([](Config& c) -> std::string& { return c.topics.staffing; })},
  {"topics.dlq", Kind::kString, "cx.dlq", 0, 0, "", "Output: records that could not be processed, with the reason.",
   StrRef([](Config& c) -> std::string& { return c.topics.dlq; })},

  {"limits.max_message_bytes", Kind::kBytes, "1MiB", 64, 64.0 * 1024 * 1024, "",
   "Largest accepted message value; larger ones are dead-lettered.",
   IntRef([](Config& c) -> std::int64_t& { return c.limits.max_message_bytes; })},
  {"limits.max_id_bytes", Kind::kBytes, "256", 8, 65536, "",
   "Longest accepted id (event_id, customer_id, conversation_id, queue, ...).",
   IntRef([](Config& c) -> std::int64_t& { return c.limits.max_id_bytes; })},
  {"limits.max_text_bytes", Kind::kBytes, "16KiB", 16, 16.0 * 1024 * 1024, "",
   "Longest accepted free text (message text, comment, reason, resolution).",
   IntRef([](Config& c) -> std::int64_t& { return c.limits.max_text_bytes; })},
  {"limits.max_future_skew", Kind::kDuration, "5m", 0, 7.0 * 86400000, "",
   "An event whose `ts` is further than this ahead of now (the wall clock in run; --until, or the wall clock at the start, in replay) is dead-lettered.",
   IntRef([](Config& c) -> std::int64_t& { return c.limits.max_future_skew; })},
  {"limits.max_buffered_events", Kind::kInt, "200000", 1, 100000000, "",
   "Events a task holds while the watermark has not reached them (about allowed_lateness of traffic; docs/replay.md#steps). Beyond it the oldest is applied at once and the watermark moves to it; cxstream_reorder_overflows_total counts how often.",
   IntRef([](Config& c) -> std::int64_t& { return c.limits.max_buffered_events; })},
  {"limits.max_queues", Kind::kInt, "1000", 1, 1000000, "",
   "Distinct queues the staffing stage and the metrics track (queues named in staffing.queues or an SLA policy always are, and count). Facts of further queues are counted under queue `other`; cxstream_queue_overflows_total counts them (docs/staffing.md#limits).",
   IntRef([](Config& c) -> std::int64_t& { return c.limits.max_queues; })},
  {"limits.queue_idle_after", Kind::kDuration, "7d", 3600000, 366.0 * 86400000, "",
   "A queue without any staffing fact (arrival, answer, close, agent change) for this long in event time stops producing staffing records and leaves the state; it starts afresh when it comes back. At least staffing.interval.",
   IntRef([](Config& c) -> std::int64_t& { return c.limits.queue_idle_after; })},

  {"time.allowed_lateness", Kind::kDuration, "5s", 0, 86400000, "",
   "The watermark trails the largest event time seen by this much; events wait for it and are applied in event-time order, so events up to this late are ordered correctly before any decision.",
   IntRef([](Config& c) -> std::int64_t& { return c.time.allowed_lateness; })},
  {"time.grace", Kind::kDuration, "1s", 0, 3600000, "",
   "Run mode: the wall clock moves the watermark of a caught-up partition to now minus this grace, for in-flight events.",
   IntRef([](Config& c) -> std::int64_t& { return c.time.grace; })},

  {"dedup.per_customer", Kind::kInt, "64", 1, 4096, "",
   "How many recent event ids are remembered per customer (or agent) to apply a repeated event_id once. Memory: 8 bytes each.",
   IntRef([](Config& c) -> std::int64_t& { return c.dedup.per_customer; })},

  {"state.dir", Kind::kString, "/var/lib/cxstream", 0, 0, "",
   "Directory of the task state stores (RocksDB), one sub-directory per task.",
   StrRef([](Config& c) -> std::string& { return c.state.dir; })},
  {"state.memory_budget_bytes", Kind::kBytes, "512MiB", 16.0 * 1024 * 1024, kMaxI, "",
   "Memory shared by all tasks for RocksDB block cache, write buffers and the state cache.",
   IntRef([](Config& c) -> std::int64_t& { return c.state.memory_budget_bytes; })},
  {"state.restore_threads", Kind::kInt, "0", 0, 64, "",
   "Tasks restored from the changelog at once, each by a thread with a consumer of its own; 0: two per core the process may use (a thread waiting on the broker leaves its core to the other).",
   IntRef([](Config& c) -> std::int64_t& { return c.state.restore_threads; })},

  {"commit.interval", Kind::kDuration, "1000ms", 10, 600000, "",
   "How often a task commits state, timers and input offsets atomically (`commit.interval.ms`).",
   IntRef([](Config& c) -> std::int64_t& { return c.commit.interval; })},
  {"processing.guarantee", Kind::kEnum, "at_least_once", 0, 0, "at_least_once|exactly_once",
   "at_least_once: after a crash, outputs since the last commit are sent again (same ids and bytes). exactly_once: each task's outputs, changelog frame and input offsets of a commit are one Kafka transaction, so consumers with isolation.level=read_committed see every record once; needs a real Kafka cluster (docs/runtime.md#guarantees).",
   StrRef([](Config& c) -> std::string& { return c.processing.guarantee; })},
  {"processing.threads", Kind::kInt, "0", 0, 64, "",
   "Processing threads of one worker, each a member of the consumer group with its own tasks, state stores, timers and Kafka clients (Kafka Streams' stream threads); 0: as many as the cores the process may use (docs/runtime.md#threads).",
   IntRef([](Config& c) -> std::int64_t& { return c.processing.threads; })},

  {"http.bind", Kind::kString, "0.0.0.0", 0, 0, "", "Address of the HTTP server (/metrics, /healthz, /readyz).",
   StrRef([](Config& c) -> std::string& { return c.http.bind; })},
  {"http.port", Kind::kInt, "8080", 0, 65535, "", "Port of the HTTP server; 0 lets the OS choose.",
   IntRef([](Config& c) -> std::int64_t& { return c.http.port; })},
  {"http.threads", Kind::kInt, "32", 2, 1024, "",
   "Threads serving HTTP, one per connection being served: slow or many clients beyond this wait in the accept queue, so probes and scrapes stay answered under a few slow clients (docs/operations.md#http).",
   IntRef([](Config& c) -> std::int64_t& { return c.http.threads; })},
  {"http.request_timeout", Kind::kDuration, "2s", 100, 60000, "",
   "Longest a client may take to send a request's line and headers (and to read the answer) before its connection is closed.",
   IntRef([](Config& c) -> std::int64_t& { return c.http.request_timeout; })},
  {"http.api_token_env", Kind::kString, "CXSTREAM_API_TOKEN", 0, 0, "",
   "Environment variable holding the bearer token of /v1/ (the profile API); unset or empty: no token asked.",
   StrRef([](Config& c) -> std::string& { return c.http.api_token_env; })},

  {"log.level", Kind::kEnum, "info", 0, 0, "trace|debug|info|warn|error|critical|off",
   "Minimum level of log lines written to stderr.",
   StrRef([](Config& c) -> std::string& { return c.log.level; })},

  {"sla.warning_fraction", Kind::kDouble, "0.8", 0, 1, "",
   "A warning is emitted when this fraction of an SLA target has elapsed; 0 disables warnings.",
   DblRef([](Config& c) -> double& { return c.sla.warning_fraction; })},
  {"contacts.repeat_window", Kind::kDuration, "7d", 60000, 90LL * 86400000, "",
   "A conversation about the same order (or, without one, the same topic) as one the customer opened at most this long before is a repeat contact: for the repeat_contact alert and for the profile's repeat_contacts and first_contact_resolution.",
   IntRef([](Config& c) -> std::int64_t& { return c.contacts.repeat_window; })},
  {"alerts.severity.sla_breach", Kind::kEnum, "error", 0, 0, kSeverityChoices,
   "Severity of sla_breach alerts (an SLA breach, until the clock is fulfilled or cancelled (through the queue stage, grouped in storms)); off disables them.",
   EnumSet([](Config& c, std::size_t i) { c.alerts.severity[0] = SeverityChoice(i); })},
  {"alerts.severity.sla_warning", Kind::kEnum, "warning", 0, 0, kSeverityChoices,
   "Severity of sla_warning alerts (an SLA clock past its warning point, until it is met, breached or cancelled); off disables them.",
   EnumSet([](Config& c, std::size_t i) { c.alerts.severity[1] = SeverityChoice(i); })},
  {"alerts.severity.vip_waiting", Kind::kEnum, "critical", 0, 0, kSeverityChoices,
   "Severity of vip_waiting alerts (a VIP customer waiting longer than vip_wait for a first reply); off disables them.",
   EnumSet([](Config& c, std::size_t i) { c.alerts.severity[2] = SeverityChoice(i); })},
  {"alerts.severity.repeat_contact", Kind::kEnum, "warning", 0, 0, kSeverityChoices,
   "Severity of repeat_contact alerts (a customer's repeat_count-th contact about one order or topic within contacts.repeat_window); off disables them.",
   EnumSet([](Config& c, std::size_t i) { c.alerts.severity[3] = SeverityChoice(i); })},
  {"alerts.severity.low_csat", Kind::kEnum, "warning", 0, 0, kSeverityChoices,
   "Severity of low_csat alerts (a CSAT at or below low_csat; resolves after low_csat_resolve_after); off disables them.",
   EnumSet([](Config& c, std::size_t i) { c.alerts.severity[4] = SeverityChoice(i); })},
  {"alerts.severity.negative_sentiment", Kind::kEnum, "warning", 0, 0, kSeverityChoices,
   "Severity of negative_sentiment alerts (a customer message with sentiment below negative_sentiment or an escalation keyword); off disables them.",
   EnumSet([](Config& c, std::size_t i) { c.alerts.severity[5] = SeverityChoice(i); })},
  {"alerts.severity.aftersales_overdue", Kind::kEnum, "error", 0, 0, kSeverityChoices,
   "Severity of aftersales_overdue alerts (an after-sales case open longer than aftersales_overdue); off disables them.",
   EnumSet([](Config& c, std::size_t i) { c.alerts.severity[6] = SeverityChoice(i); })},
  {"alerts.severity.escalation", Kind::kEnum, "error", 0, 0, kSeverityChoices,
   "Severity of escalation alerts (an escalated after-sales case, until it closes); off disables them.",
   EnumSet([](Config& c, std::size_t i) { c.alerts.severity[7] = SeverityChoice(i); })},
  {"alerts.severity.queue_breach_storm", Kind::kEnum, "critical", 0, 0, kSeverityChoices,
   "Severity of queue_breach_storm alerts (storm_count SLA breaches in one queue within storm_window); off disables them.",
   EnumSet([](Config& c, std::size_t i) { c.alerts.severity[8] = SeverityChoice(i); })},
  {"alerts.source", Kind::kString, "cxstream", 0, 0, "",
   "The `source` of every alert (PagerDuty payload.source).",
   StrRef([](Config& c) -> std::string& { return c.alerts.source; })},
  {"alerts.vip_tier", Kind::kString, "vip", 0, 0, "",
   "The customer_tier that makes a customer a VIP.",
   StrRef([](Config& c) -> std::string& { return c.alerts.vip_tier; })},
  {"alerts.vip_wait", Kind::kDuration, "60s", 1000, 86400000, "",
   "vip_waiting: how long a VIP may wait for a first reply.",
   IntRef([](Config& c) -> std::int64_t& { return c.alerts.vip_wait; })},
  {"alerts.repeat_count", Kind::kInt, "2", 2, 100, "",
   "repeat_contact: the contact about one order or topic within contacts.repeat_window that alerts (2: the first repeat).",
   IntRef([](Config& c) -> std::int64_t& { return c.alerts.repeat_count; })},
  {"alerts.low_csat", Kind::kInt, "2", 1, 5, "",
   "low_csat: a rating at or below this alerts.",
   IntRef([](Config& c) -> std::int64_t& { return c.alerts.low_csat; })},
  {"alerts.low_csat_resolve_after", Kind::kDuration, "24h", 60000, 30LL * 86400000, "",
   "low_csat: the alert resolves by itself after this long.",
   IntRef([](Config& c) -> std::int64_t& { return c.alerts.low_csat_resolve_after; })},
  {"alerts.negative_sentiment", Kind::kDouble, "-0.5", -1, 1, "",
   "negative_sentiment: a customer message with sentiment below this alerts.",
   DblRef([](Config& c) -> double& { return c.alerts.negative_sentiment; })},
  {"alerts.keywords", Kind::kList, "投诉,差评,12315,complaint,lawyer,chargeback", 0, 0, "",
   "negative_sentiment: escalation keywords, a list or one comma-separated string (any language; matched case-insensitively for ASCII).",
   ListRef([](Config& c) -> std::vector<std::string>& { return c.alerts.keywords; })},
  {"alerts.aftersales_overdue_after", Kind::kDuration, "72h", 60000, 365LL * 86400000, "",
   "aftersales_overdue: a case open this long alerts.",
   IntRef([](Config& c) -> std::int64_t& { return c.alerts.aftersales_overdue; })},
  {"alerts.storm_count", Kind::kInt, "5", 2, 100000, "",
   "queue_breach_storm: this many SLA breaches in one queue ...",
   IntRef([](Config& c) -> std::int64_t& { return c.alerts.storm_count; })},
  {"alerts.storm_window", Kind::kDuration, "10m", 1000, 86400000, "",
   "queue_breach_storm: ... within this window make a storm; it resolves after a window without breaches.",
   IntRef([](Config& c) -> std::int64_t& { return c.alerts.storm_window; })},
  {"alerts.group_wait", Kind::kDuration, "30s", 0, 3600000, "",
   "SLA breach alerts wait this long (event time) so that those of a storm go out grouped under it; 0: at once.",
   IntRef([](Config& c) -> std::int64_t& { return c.alerts.group_wait; })},
  {"alert_bridge.alertmanager_url", Kind::kString, "http://127.0.0.1:9093", 0, 0, "",
   "alert-bridge: base URL of Alertmanager (http only; put a TLS proxy in front for https); alerts go to <url>/api/v2/alerts.",
   StrRef([](Config& c) -> std::string& { return c.alert_bridge.alertmanager_url; })},
  {"alert_bridge.resend_every", Kind::kDuration, "1m", 1000, 3600000, "",
   "alert-bridge: open alerts are posted again this often; their endsAt is four times this ahead.",
   IntRef([](Config& c) -> std::int64_t& { return c.alert_bridge.resend_every; })},
  {"alert_bridge.timeout", Kind::kDuration, "5s", 100, 60000, "",
   "alert-bridge: timeout of one post to Alertmanager.",
   IntRef([](Config& c) -> std::int64_t& { return c.alert_bridge.timeout; })},
  {"profiles.debounce", Kind::kDuration, "5s", 0, 3600000, "",
   "A changed profile is emitted once this much event time after its first change (one record per burst of events).",
   IntRef([](Config& c) -> std::int64_t& { return c.profiles.debounce; })},
  {"profiles.retention", Kind::kDuration, "400d", 86400000, 36500LL * 86400000, "",
   "A customer with no event for this long expires: state deleted, tombstone on the profile topic.",
   IntRef([](Config& c) -> std::int64_t& { return c.profiles.retention; })},
  {"profiles.base_currency", Kind::kString, "CNY", 0, 0, "",
   "Currency of gmv_base and the monetary score; amounts in it need no rate.",
   StrRef([](Config& c) -> std::string& { return c.profiles.base_currency; })},
  {"profiles.currency_rates", Kind::kRates, "{}", 0, 0, "",
   "Value of one unit of each other currency in the base currency (USD: 7.1), each a positive number; others stay out of gmv_base.",
   RatesRef([](Config& c) -> std::map<std::string, double>& { return c.profiles.currency_rates; })},
  {"profiles.low_csat", Kind::kInt, "2", 1, 5, "",
   "A CSAT at or below this is low.",
   IntRef([](Config& c) -> std::int64_t& { return c.profiles.low_csat; })},
  {"profiles.negative_sentiment", Kind::kDouble, "-0.3", -1, 1, "",
   "A customer message with sentiment below this is negative.",
   DblRef([](Config& c) -> double& { return c.profiles.negative_sentiment; })},
  {"profiles.rfm_recency_days", Kind::kNumbers, "7,30,90,180", 0, 0, "",
   "Recency score: 5 within the first number of days since the last order, 4 within the second, ..., 1 beyond.",
   NumbersRef([](Config& c) -> std::array<double, 4>& { return c.profiles.rfm_recency_days; })},
  {"profiles.rfm_frequency", Kind::kNumbers, "2,3,5,8", 0, 0, "",
   "Frequency score: paid orders at or above each number add one to a score of 1.",
   NumbersRef([](Config& c) -> std::array<double, 4>& { return c.profiles.rfm_frequency; })},
  {"profiles.rfm_monetary", Kind::kNumbers, "100,500,2000,10000", 0, 0, "",
   "Monetary score: gmv_base at or above each number adds one to a score of 1.",
   NumbersRef([](Config& c) -> std::array<double, 4>& { return c.profiles.rfm_monetary; })},
  {"profiles.vip_gmv", Kind::kDouble, "10000", 0, 1e15, "",
   "Tier rule when events name no customer_tier: vip at or above this gmv_base, else standard.",
   DblRef([](Config& c) -> double& { return c.profiles.vip_gmv; })},
  {"staffing.interval", Kind::kDuration, "15m", 60000, 86400000, "",
   "Length of a staffing interval; must divide a day. One record per queue and interval (docs/staffing.md).",
   IntRef([](Config& c) -> std::int64_t& { return c.staffing.interval; })},
  {"staffing.provisional_every", Kind::kDuration, "1m", 0, 3600000, "",
   "Run mode: a provisional record of the open interval this often; 0 disables.",
   IntRef([](Config& c) -> std::int64_t& { return c.staffing.provisional_every; })},
  {"staffing.announce_every", Kind::kDuration, "1s", 10, 60000, "",
   "Each task tells the queue stage its watermark when it has moved this much; intervals close this much later at most.",
   IntRef([](Config& c) -> std::int64_t& { return c.staffing.announce_every; })},
  {"staffing.announce_pace", Kind::kDuration, "250ms", 0, 60000, "",
   "Run mode: a task announces its watermark at most this often in wall-clock time, however fast a backlog's event time moves; 0: every announce_every.",
   IntRef([](Config& c) -> std::int64_t& { return c.staffing.announce_pace; })},
  {"staffing.handle_time_from", Kind::kEnum, "first_reply", 0, 0, "first_reply|opened",
   "Handle time runs from the first agent reply, or from the opening, to the close.",
   EnumSet([](Config& c, std::size_t i) { c.staffing.handle_time_from = static_cast<HandleTimeFrom>(i); })},
  {"staffing.forecast_alpha", Kind::kDouble, "0.3", 0.01, 1, "",
   "Smoothing weight of the newest observation in the arrivals forecast's levels (per interval of the day, and per weekday and interval).",
   DblRef([](Config& c) -> double& { return c.staffing.forecast_alpha; })},
  {"staffing.intraday_alpha", Kind::kDouble, "0.5", 0.01, 1, "",
   "Weight of the newest interval in the intraday correction (recent arrivals against their forecast levels); higher follows a surge sooner.",
   DblRef([](Config& c) -> double& { return c.staffing.intraday_alpha; })},
  {"staffing.timezone", Kind::kTimeZone, "UTC", 0, 0, "",
   "IANA time zone in which the forecast counts days, weekdays and intervals of the day (use the queues' business calendar's); staffing.queues.<name>.timezone overrides it per queue.",
   ZoneRef([](Config& c) -> cctz::time_zone& { return c.staffing.zone; })},
  {"staffing.sl_target", Kind::kDouble, "0.8", 0.01, 0.9999, "",
   "Default service-level target: the share of contacts answered within sl_threshold.",
   DblRef([](Config& c) -> double& { return c.staffing.sl_target; })},
  {"staffing.sl_threshold", Kind::kDuration, "20s", 0, 86400000, "",
   "Default service-level threshold.",
   IntRef([](Config& c) -> std::int64_t& { return c.staffing.sl_threshold; })},
  {"staffing.max_occupancy", Kind::kDouble, "0.85", 0.01, 1, "",
   "Default maximum occupancy (busy share of an agent's time) the staffing may plan for.",
   DblRef([](Config& c) -> double& { return c.staffing.max_occupancy; })},
  {"staffing.shrinkage", Kind::kDouble, "0.3", 0, 0.99, "",
   "Default shrinkage (breaks, training, absence): scheduled = required / (1 - shrinkage).",
   DblRef([](Config& c) -> double& { return c.staffing.shrinkage; })},
  {"staffing.concurrency", Kind::kInt, "1", 1, 100, "",
   "Default contacts one agent handles at once (chat); each agent counts as this many servers.",
   IntRef([](Config& c) -> std::int64_t& { return c.staffing.concurrency; })},
};
// clang-format on

// The default of `sla.policies` (docs/sla.md#policies), in calendar time.
// Each policy sets every metric of the subjects it measures: the first
// matching policy applies as a whole. Chat answers within a minute (30 s for
// VIPs) and resolves in a working day; email replies within a working day
// (an hour when urgent) and resolves in two days; a phone call is answered
// within a minute and, once answered, the agent is on the line, so there is
// no next response to wait for; cases and orders on their own policy.
constexpr std::string_view kDefaultPolicies = R"(
- name: default-chat-vip
  match: {channel: [web, app, wechat, social], customer_tier: [vip]}
  targets:
    first_response: {low: 60s, normal: 30s, high: 15s, urgent: 7500ms}
    next_response: {low: 240s, normal: 120s, high: 60s, urgent: 30s}
    resolution: {low: 24h, normal: 8h, high: 4h, urgent: 1h}
- name: default-chat
  match: {channel: [web, app, wechat, social]}
  targets:
    first_response: {low: 120s, normal: 60s, high: 30s, urgent: 15s}
    next_response: {low: 240s, normal: 120s, high: 60s, urgent: 30s}
    resolution: {low: 24h, normal: 8h, high: 4h, urgent: 1h}
- name: default-email
  match: {channel: [email]}
  targets:
    first_response: {low: 24h, normal: 8h, high: 4h, urgent: 1h}
    next_response: {low: 24h, normal: 8h, high: 4h, urgent: 1h}
    resolution: {low: 72h, normal: 48h, high: 24h, urgent: 8h}
- name: default-phone
  match: {channel: [phone]}
  targets:
    first_response: {low: 120s, normal: 60s, high: 30s, urgent: 20s}
    resolution: {low: 24h, normal: 8h, high: 4h, urgent: 1h}
- name: default
  targets:
    aftersales_approval: 24h
    aftersales_refund: 48h
    aftersales_resolution: 7d
    order_ship: 48h
    order_delivery: 7d
)";

std::string_view KindName(Kind k) {
  switch (k) {
    case Kind::kString:
      return "string";
    case Kind::kInt:
      return "integer";
    case Kind::kBytes:
      return "size";
    case Kind::kDuration:
      return "duration";
    case Kind::kDouble:
      return "number";
    case Kind::kEnum:
      return "enum";
    case Kind::kMap:
      return "map";
    case Kind::kList:
      return "list";
    case Kind::kNumbers:
      return "numbers";
    case Kind::kRates:
      return "map";
    case Kind::kTimeZone:
      return "time zone";
  }
  return "";
}

// Replaces ${VAR} and ${VAR:-default}.
bool SubstituteEnv(const std::string& in, EnvLookup env, std::string& out, std::string& err) {
  out.clear();
  std::size_t i = 0;
  while (i < in.size()) {
    if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '{') {
      std::size_t close = in.find('}', i + 2);
      if (close == std::string::npos) {
        err = "unterminated ${ in value";
        return false;
      }
      std::string inner = in.substr(i + 2, close - i - 2);
      std::string name = inner, fallback;
      bool has_fallback = false;
      if (auto p = inner.find(":-"); p != std::string::npos) {
        name = inner.substr(0, p);
        fallback = inner.substr(p + 2);
        has_fallback = true;
      }
      const char* v = env ? env(name.c_str()) : nullptr;
      if (v && *v) {
        out += v;
      } else if (has_fallback) {
        out += fallback;
      } else {
        err = "environment variable " + name + " is not set";
        return false;
      }
      i = close + 1;
    } else {
      out.push_back(in[i++]);
    }
  }
  return true;
}

std::optional<std::int64_t> ParseBytes(std::string_view s) {
  std::size_t i = 0;
  std::int64_t v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (v > (std::int64_t{1} << 53)) return std::nullopt;
    v = v * 10 + (s[i++] - '0');
  }
  if (i == 0) return std::nullopt;
  std::string_view unit = s.substr(i);
  std::int64_t mult = 1;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "KiB")
    mult = 1024;
  else if (unit == "MiB")
    mult = 1024 * 1024;
  else if (unit == "GiB")
    mult = 1024LL * 1024 * 1024;
  else
    return std::nullopt;
  return v * mult;
}

// "7,30,90,180": four ascending finite numbers; nullopt otherwise.
std::optional<std::array<double, 4>> ParseThresholds(const std::string& text) {
  std::array<double, 4> out{};
  std::size_t at = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t comma = text.find(',', at);
    if ((i < 3) != (comma != std::string::npos)) return std::nullopt;
    const std::string part = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    char* end = nullptr;
    out[i] = std::strtod(part.c_str(), &end);
    if (part.empty() || *end != '\0' || !std::isfinite(out[i]) || (i > 0 && out[i] <= out[i - 1]))
      return std::nullopt;
    at = comma + 1;
  }
  return out;
}

// "a, B ,c": the trimmed, non-empty items, ASCII letters lower-cased.
std::vector<std::string> ParseKeywordList(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const std::string& item : items) {
    std::size_t at = 0;
    while (at <= item.size()) {
      std::size_t comma = item.find(',', at);
      if (comma == std::string::npos) comma = item.size();
      std::string k = item.substr(at, comma - at);
      while (!k.empty() && k.front() == ' ') k.erase(k.begin());
      while (!k.empty() && k.back() == ' ') k.pop_back();
      for (char& ch : k)
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
      if (!k.empty()) out.push_back(std::move(k));
      at = comma + 1;
    }
  }
  return out;
}

class Loader {
 public:
  explicit Loader(EnvLookup env) : env_(env) {}

  void Error(std::string path, std::string msg) { errors_.push_back({std::move(path), std::move(msg)}); }

  // Applies one option from text (from the file or its default).
  void Apply(const Option& o, const std::string& raw, Config& c) {
    std::string text;
    std::string err;
    if (!SubstituteEnv(raw, env_, text, err)) return Error(std::string(o.path), err);
    std::string path(o.path);
    auto range = [&](double v) {
      if (v < o.min || v > o.max) {
        std::ostringstream m;
        m << "value " << text << " is out of range";
        if (o.kind == Kind::kDuration) {
          m << " [" << FormatDuration(static_cast<DurationMs>(o.min)) << ", "
            << FormatDuration(static_cast<DurationMs>(o.max)) << "]";
        } else if (o.kind == Kind::kDouble) {
          m << " [" << o.min << ", " << o.max << "]";
        } else {
          m << " [" << static_cast<long long>(o.min) << ", " << static_cast<long long>(o.max) << "]";
        }
        Error(path, m.str());
        return false;
      }
      return true;
    };
    switch (o.kind) {
      case Kind::kString:
        std::get<StrRef>(o.ref)(c) = text;
        break;
      case Kind::kEnum: {
        std::optional<std::size_t> index;
        std::size_t start = 0, i = 0;
        for (; start <= o.choices.size(); ++i) {
          std::size_t bar = o.choices.find('|', start);
          if (bar == std::string_view::npos) bar = o.choices.size();
          if (o.choices.substr(start, bar - start) == text) index = i;
          start = bar + 1;
        }
        if (!index) return Error(path, "\"" + text + "\" is not one of " + std::string(o.choices));
        if (const auto* set = std::get_if<EnumSet>(&o.ref))
          (*set)(c, *index);
        else
          std::get<StrRef>(o.ref)(c) = text;
        break;
      }
      case Kind::kInt: {
        char* end = nullptr;
        errno = 0;
        long long v = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0' || errno != 0)
          return Error(path, "expected an integer, got \"" + text + "\"");
        if (range(static_cast<double>(v))) std::get<IntRef>(o.ref)(c) = v;
        break;
      }
      case Kind::kBytes: {
        auto v = ParseBytes(text);
        if (!v)
          return Error(path, "expected a size such as 65536, 16KiB, 512MiB or 2GiB, got \"" + text + "\"");
        if (range(static_cast<double>(*v))) std::get<IntRef>(o.ref)(c) = *v;
        break;
      }
      case Kind::kDuration: {
        auto v = ParseDuration(text);
        if (!v)
          return Error(path, "expected a duration with its unit, such as 250ms, 5s, 15m, 8h or 7d, got \"" +
                                 text + "\"");
        if (range(static_cast<double>(*v))) std::get<IntRef>(o.ref)(c) = *v;
        break;
      }
      case Kind::kDouble: {
        char* end = nullptr;
        double v = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || !std::isfinite(v)) {
          return Error(path, "expected a number, got \"" + text + "\"");
        }
        if (range(v)) std::get<DblRef>(o.ref)(c) = v;
        break;
      }
      case Kind::kList:
        std::get<ListRef>(o.ref)(c) = ParseKeywordList({text});
        break;
      case Kind::kNumbers: {
        auto v = ParseThresholds(text);
        if (!v)
          return Error(path, "expected four ascending numbers separated by commas, got \"" + text + "\"");
        std::get<NumbersRef>(o.ref)(c) = *v;
        break;
      }
      case Kind::kTimeZone:
        if (!cctz::load_time_zone(text, &std::get<ZoneRef>(o.ref)(c)))
          return Error(path, "\"" + text + "\" is not an IANA time zone (such as Asia/Shanghai)");
        break;
      case Kind::kMap:
      case Kind::kRates:
        break;  // only "{}" as a default; maps come from YAML nodes
    }
  }

  // A list option given as a YAML sequence of strings.
  void ApplyList(const Option& o, const YAML::Node& node, Config& c) {
    std::vector<std::string> items;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const std::string p = std::string(o.path) + "[" + std::to_string(i) + "]";
      std::string text, err;
      if (!node[i].IsScalar()) {
        Error(p, "expected a string");
      } else if (!SubstituteEnv(node[i].Scalar(), env_, text, err)) {
        Error(p, err);
      } else {
        items.push_back(std::move(text));
      }
    }
    std::get<ListRef>(o.ref)(c) = ParseKeywordList(items);
  }

  void ApplyMap(const Option& o, const YAML::Node& node, Config& c) {
    std::string path(o.path);
    if (!node.IsMap())
      return Error(path, o.kind == Kind::kRates ? "expected a mapping of names to numbers"
                                                : "expected a mapping of strings");
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      if (!kv.second.IsScalar()) {
        Error(path + "." + key, o.kind == Kind::kRates ? "expected a positive number" : "expected a string");
        continue;
      }
      std::string text, err;
      if (!SubstituteEnv(kv.second.Scalar(), env_, text, err)) {
        Error(path + "." + key, err);
        continue;
      }
      if (o.kind == Kind::kMap) {
        std::get<MapRef>(o.ref)(c)[key] = text;
        continue;
      }
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !(v > 0) || !std::isfinite(v)) {
        Error(path + "." + key, "expected a positive number, got \"" + text + "\"");
        continue;
      }
      std::get<RatesRef>(o.ref)(c)[key] = v;
    }
  }

  // Walks the YAML tree; every leaf must be a known option.
  void Walk(const YAML::Node& node, const std::string& prefix, std::map<std::string, YAML::Node>& found) {
    if (!node.IsMap()) {
      Error(prefix, "expected a mapping");
      return;
    }
    std::set<std::string> seen;
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      std::string path = prefix.empty() ? key : prefix + "." + key;
      // YAML parsers keep one of two equal keys silently; a configuration
      // that says two things is an error.
      if (!seen.insert(key).second) {
        Error(path, "given twice");
        continue;
      }
      if (path == "sla.policies") {  // structured: parsed by ParsePolicies
        policies_node_ = kv.second;
        policies_seen_ = true;
        continue;
      }
      if (path == "sla.calendars") {  // structured: parsed by ParseCalendars
        calendars_node_ = kv.second;
        continue;
      }
      if (path == "staffing.queues") {  // structured: parsed by ParseStaffingQueues
        staffing_queues_node_ = kv.second;
        continue;
      }
      const Option* opt = Find(path);
      if (opt) {
        const bool structured = opt->kind == Kind::kMap || opt->kind == Kind::kRates ||
                                (opt->kind == Kind::kList && kv.second.IsSequence());
        if (!structured && !kv.second.IsScalar()) {
          Error(path, "expected a value of type " + std::string(KindName(opt->kind)) + ", got a " +
                          (kv.second.IsMap()        ? "mapping"
                           : kv.second.IsSequence() ? "list"
                                                    : "null"));
          continue;
        }
        found[path] = kv.second;
      } else if (IsSection(path) && kv.second.IsMap()) {
        Walk(kv.second, path, found);
      } else if (IsSection(path) && kv.second.IsNull()) {
        // An empty section ("kafka:") keeps every default.
      } else if (path == "alerts.repeat_window" || path == "profiles.repeat_window") {
        Error(path,
              "moved to contacts.repeat_window (one definition of a repeat contact for alerts and profiles)");
      } else {
        Error(path, "unknown key");
      }
    }
  }

  static const Option* Find(const std::string& path) {
    for (const Option& o : kOptions) {
      if (o.path == path) return &o;
    }
    return nullptr;
  }
  static bool IsSection(const std::string& path) {
    for (const Option& o : kOptions) {
      if (o.path.size() > path.size() && o.path.compare(0, path.size(), path) == 0 &&
          o.path[path.size()] == '.') {
        return true;
      }
    }
    return false;
  }

  std::vector<ConfigError> TakeErrors() { return std::move(errors_); }

  // sla.policies: a list of {name, match: {...}, targets: {...}}.
  void ParsePolicies(Config& c) {
    // Without `sla.policies` the shipped defaults are read by the same
    // parser, so they obey the same rules as a file's.
    const YAML::Node list = policies_seen_ ? policies_node_ : YAML::Load(std::string(kDefaultPolicies));
    c.sla.policies_given = policies_seen_;
    if (list.IsNull()) return;  // "policies:" with nothing: no SLA is measured
    if (!list.IsSequence()) return Error("sla.policies", "expected a list of policies");
    std::set<std::string> names;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string path = "sla.policies[" + std::to_string(i) + "]";
      const YAML::Node& p = list[i];
      if (!p.IsMap()) {
        Error(path, "expected a mapping with name, match and targets");
        continue;
      }
      SlaPolicyConfig pc;
      for (const auto& kv : p) {
        std::string key = kv.first.as<std::string>();
        if (key == "name") {
          pc.name = kv.second.IsScalar() ? kv.second.Scalar() : "";
        } else if (key == "match") {
          ParseMatch(path + ".match", kv.second, pc);
        } else if (key == "targets") {
          ParseTargets(path + ".targets", kv.second, pc);
        } else if (key == "calendar") {
          pc.calendar = kv.second.IsScalar() ? kv.second.Scalar() : "";
          bool known = false;
          for (const auto& cal : c.sla.calendars) known = known || cal.name == pc.calendar;
          if (!known)
            Error(path + ".calendar", "\"" + pc.calendar + "\" is not a calendar defined in sla.calendars");
        } else {
          Error(path + "." + key, "unknown key (name, match, targets, calendar)");
        }
      }
      if (pc.name.empty())
        Error(path + ".name", "every policy needs a name");
      else if (!names.insert(pc.name).second)
        Error(path + ".name", "duplicate policy name \"" + pc.name + "\"");
      if (pc.targets.empty()) Error(path + ".targets", "a policy must set at least one target");
      c.sla.policies.push_back(std::move(pc));
    }
  }

  // staffing.queues: name -> {sl_target, sl_threshold, max_occupancy,
  // shrinkage, concurrency, timezone}, each optional.
  void ParseStaffingQueues(Config& c) {
    const YAML::Node& n = staffing_queues_node_;
    if (!n.IsDefined() || n.IsNull()) return;
    if (!n.IsMap()) return Error("staffing.queues", "expected a mapping of queue name to targets");
    for (const auto& kv : n) {
      const std::string queue = kv.first.as<std::string>();
      const std::string path = "staffing.queues." + queue;
      if (!kv.second.IsMap()) {
        Error(
            path,
            "expected a mapping (sl_target, sl_threshold, max_occupancy, shrinkage, concurrency, timezone)");
        continue;
      }
      QueueStaffingConfig q;
      for (const auto& f : kv.second) {
        const std::string key = f.first.as<std::string>();
        const std::string p = path + "." + key;
        const std::string text = f.second.IsScalar() ? f.second.Scalar() : "";
        auto number = [&](double lo, double hi) -> std::optional<double> {
          char* end = nullptr;
          const double v = std::strtod(text.c_str(), &end);
          if (text.empty() || *end != '\0' || !(v >= lo && v <= hi)) {
            std::ostringstream m;
            m << "expected a number from " << lo << " to " << hi << ", got \"" << text << "\"";
            Error(p, m.str());
            return std::nullopt;
          }
          return v;
        };
        if (key == "sl_target") {
          q.sl_target = number(0.01, 0.9999);
        } else if (key == "max_occupancy") {
          q.max_occupancy = number(0.01, 1);
        } else if (key == "shrinkage") {
          q.shrinkage = number(0, 0.99);
        } else if (key == "concurrency") {
          if (auto v = number(1, 100)) {
            if (*v != std::floor(*v))
              Error(p, "expected a whole number of contacts, got \"" + text + "\"");
            else
              q.concurrency = static_cast<std::int64_t>(*v);
          }
        } else if (key == "sl_threshold") {
          auto d = ParseDuration(text);
          if (!d || *d < 0)
            Error(p, "expected a duration such as 20s, got \"" + text + "\"");
          else
            q.sl_threshold = *d;
        } else if (key == "timezone") {
          cctz::time_zone zone;
          if (!cctz::load_time_zone(text, &zone))
            Error(p, "\"" + text + "\" is not an IANA time zone (such as Asia/Shanghai)");
          else
            q.zone = zone;
        } else {
          Error(p, "unknown key (sl_target, sl_threshold, max_occupancy, shrinkage, concurrency, timezone)");
        }
      }
      c.staffing.queues[queue] = q;
    }
  }

  // Checked here, not only when alert-bridge starts: validate-config must
  // refuse what any subcommand would.
  void CheckAlertBridge(Config& c) {
    std::string why;
    if (!ParseHttpUrl(c.alert_bridge.alertmanager_url, c.alert_bridge.alertmanager, why))
      Error("alert_bridge.alertmanager_url", why + ", got \"" + c.alert_bridge.alertmanager_url + "\"");
  }

  // The worker's consumer relies on eager range assignment: partition p of
  // every customer topic on one member, assigned and revoked as a whole.
  void CheckKafka(const Config& c) {
    for (const char* key : {"partition.assignment.strategy", "consumer.partition.assignment.strategy"}) {
      auto it = c.kafka.properties.find(key);
      if (it != c.kafka.properties.end() && it->second != "range")
        Error(std::string("kafka.properties.") + key,
              "cxstream needs \"range\" (co-partitioned tasks, eager rebalancing; cooperative-sticky is not "
              "supported, docs/runtime.md#assignment), got \"" +
                  it->second + "\"");
    }
    // Settings the guarantee depends on are the worker's, not the operator's.
    const bool eos = c.processing.exactly_once();
    for (const char* key : {"transactional.id", "producer.transactional.id"}) {
      if (c.kafka.properties.count(key))
        Error(std::string("kafka.properties.") + key,
              "the worker sets it (one per task, <application_id>-customer-<partition>, "
              "docs/runtime.md#guarantees); remove it");
    }
    for (const char* key : {"enable.idempotence", "producer.enable.idempotence"}) {
      auto it = c.kafka.properties.find(key);
      if (it != c.kafka.properties.end() && it->second != "true")
        Error(std::string("kafka.properties.") + key,
              "the worker's producers are idempotent (no duplicate or reordered retries); got \"" +
                  it->second + "\"");
    }
    for (const char* key : {"isolation.level", "consumer.isolation.level"}) {
      auto it = c.kafka.properties.find(key);
      if (eos && it != c.kafka.properties.end() && it->second != "read_committed")
        Error(std::string("kafka.properties.") + key,
              "processing.guarantee exactly_once reads inputs, repartition records and the changelog "
              "read_committed (records of aborted transactions must not be applied); got \"" +
                  it->second + "\"");
    }
  }

  void CheckStaffing(const Config& c) {
    if (c.staffing.interval > 0 && 86'400'000 % c.staffing.interval != 0)
      Error("staffing.interval",
            "must divide a day (such as 5m, 15m, 30m or 1h), got " + FormatDuration(c.staffing.interval));
    if (c.limits.queue_idle_after < c.staffing.interval)
      Error("limits.queue_idle_after", "must be at least staffing.interval (" +
                                           FormatDuration(c.staffing.interval) + "), got " +
                                           FormatDuration(c.limits.queue_idle_after));
    const std::size_t named = NamedQueues(c).size();
    if (static_cast<std::int64_t>(named) > c.limits.max_queues)
      Error("limits.max_queues", "the configuration names " + std::to_string(named) +
                                     " queues (staffing.queues and SLA policies), more than " +
                                     std::to_string(c.limits.max_queues));
  }

  // sla.calendars: name -> {timezone, hours: {day or day range: intervals},
  // holidays: [dates]}. Must run before ParsePolicies (policies refer to
  // calendars by name).
  void ParseCalendars(Config& c) {
    const YAML::Node& n = calendars_node_;
    if (!n.IsDefined() || n.IsNull()) return;
    if (!n.IsMap()) return Error("sla.calendars", "expected a mapping of calendar name to calendar");
    for (const auto& kv : n) {
      SlaCalendarConfig cal;
      cal.name = kv.first.as<std::string>();
      const std::string path = "sla.calendars." + cal.name;
      if (!kv.second.IsMap()) {
        Error(path, "expected a mapping with timezone, hours and holidays");
        continue;
      }
      bool any_hours = false;
      for (const auto& f : kv.second) {
        const std::string key = f.first.as<std::string>();
        const std::string p = path + "." + key;
        if (key == "timezone") {
          cal.timezone = f.second.IsScalar() ? f.second.Scalar() : "";
          if (!cctz::load_time_zone(cal.timezone, &cal.zone))
            Error(p, "\"" + cal.timezone + "\" is not an IANA time zone (such as Asia/Shanghai)");
        } else if (key == "hours") {
          any_hours = ParseHours(p, f.second, cal);
        } else if (key == "holidays") {
          ParseHolidays(p, f.second, cal);
        } else {
          Error(p, "unknown key (timezone, hours, holidays)");
        }
      }
      if (cal.timezone.empty()) Error(path + ".timezone", "every calendar needs a time zone");
      if (!any_hours) Error(path + ".hours", "a calendar needs opening hours on at least one day");
      c.sla.calendars.push_back(std::move(cal));
    }
  }

 private:
  // "mon", "sat", or a range "mon-fri"; weekday indexes, Monday = 0.
  static std::optional<std::pair<int, int>> ParseDays(const std::string& s) {
    static constexpr const char* kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    auto one = [](std::string_view d) -> int {
      for (int i = 0; i < 7; ++i)
        if (d == kDays[i]) return i;
      return -1;
    };
    const auto dash = s.find('-');
    const int a = one(std::string_view(s).substr(0, dash));
    const int b = dash == std::string::npos ? a : one(std::string_view(s).substr(dash + 1));
    if (a < 0 || b < a) return std::nullopt;
    return std::make_pair(a, b);
  }
  // "HH:MM" (24:00 allowed as an end) in minutes after midnight.
  static int ParseClock(std::string_view s) {
    if (s.size() != 5 || s[2] != ':') return -1;
    for (std::size_t i : {0u, 1u, 3u, 4u})
      if (s[i] < '0' || s[i] > '9') return -1;
    const int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0)) return -1;
    return h * 60 + m;
  }

  bool ParseHours(const std::string& path, const YAML::Node& n, SlaCalendarConfig& cal) {
    if (!n.IsMap()) {
      Error(path, "expected a mapping of days (mon..sun, or a range such as mon-fri) to intervals");
      return false;
    }
    std::array<bool, 7> given{};
    bool any = false;
    for (const auto& kv : n) {
      const std::string days = kv.first.as<std::string>();
      const std::string p = path + "." + days;
      auto range = ParseDays(days);
      if (!range) {
        Error(p, "expected a day (mon, tue, wed, thu, fri, sat, sun) or a range such as mon-fri");
        continue;
      }
      std::vector<std::pair<int, int>> intervals;
      std::vector<std::string> texts;
      if (kv.second.IsScalar()) {
        texts.push_back(kv.second.Scalar());
      } else if (kv.second.IsSequence()) {
        for (const auto& x : kv.second) texts.push_back(x.IsScalar() ? x.Scalar() : "");
      } else if (!kv.second.IsNull()) {  // null: closed that day
        Error(p, "expected an interval such as 09:00-18:00 or a list of them");
        continue;
      }
      bool ok = true;
      for (const std::string& t : texts) {
        const auto dash = t.find('-');
        const int b = dash == std::string::npos ? -1 : ParseClock(std::string_view(t).substr(0, dash));
        const int e = dash == std::string::npos ? -1 : ParseClock(std::string_view(t).substr(dash + 1));
        if (b < 0 || e < 0 || b >= e) {
          Error(p, "\"" + t + "\" is not an interval HH:MM-HH:MM within one day (start before end)");
          ok = false;
          continue;
        }
        intervals.emplace_back(b, e);
      }
      std::sort(intervals.begin(), intervals.end());
      for (std::size_t i = 1; i < intervals.size(); ++i) {
        if (intervals[i - 1].second > intervals[i].first) {
          Error(p, "intervals overlap");
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      for (int d = range->first; d <= range->second; ++d) {
        if (given[static_cast<std::size_t>(d)]) {
          Error(p, "a day is given twice");
          break;
        }
        given[static_cast<std::size_t>(d)] = true;
        cal.week[static_cast<std::size_t>(d)] = intervals;
        any = any || !intervals.empty();
      }
    }
    return any;
  }

  void ParseHolidays(const std::string& path, const YAML::Node& n, SlaCalendarConfig& cal) {
    if (n.IsNull()) return;
    if (!n.IsSequence()) return Error(path, "expected a list of dates (YYYY-MM-DD)");
    for (std::size_t i = 0; i < n.size(); ++i) {
      const std::string t = n[i].IsScalar() ? n[i].Scalar() : "";
      int y = 0, m = 0, d = 0;
      char tail = 0;
      const bool parsed = t.size() == 10 && std::sscanf(t.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3;
      // Day of month checked against the month's length (and leap years).
      static constexpr int kDaysIn[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
      const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
      if (!parsed || m < 1 || m > 12 || d < 1 || d > kDaysIn[m - 1] || (m == 2 && d == 29 && !leap)) {
        Error(path + "[" + std::to_string(i) + "]", "\"" + t + "\" is not a date YYYY-MM-DD");
        continue;
      }
      cal.holidays.push_back({y, m, d});
    }
  }

  // A value or a list of values, each parsed by `parse` (nullopt: invalid).
  template <typename T, typename ParseFn>
  void ParseList(const std::string& path, const YAML::Node& n, std::vector<T>& out, ParseFn parse,
                 const char* allowed) {
    std::vector<YAML::Node> items;
    if (n.IsScalar())
      items.push_back(n);
    else if (n.IsSequence())
      for (const auto& x : n) items.push_back(x);
    else
      return Error(path, "expected a value or a list");
    for (const auto& x : items) {
      if (!x.IsScalar()) {
        Error(path, "expected a list of strings");
        continue;
      }
      std::optional<T> v = parse(x.Scalar());
      if (!v) {
        Error(path, "\"" + x.Scalar() + "\" is not one of " + allowed);
        continue;
      }
      out.push_back(std::move(*v));
    }
  }

  void ParseMatch(const std::string& path, const YAML::Node& n, SlaPolicyConfig& pc) {
    if (!n.IsMap()) return Error(path, "expected a mapping of conditions");
    auto name = [](const std::string& s) -> std::optional<std::string> {
      if (s.empty()) return std::nullopt;
      return s;
    };
    for (const auto& kv : n) {
      std::string key = kv.first.as<std::string>();
      std::string p = path + "." + key;
      if (key == "channel") {
        ParseList(
            p, kv.second, pc.channels, [](const std::string& s) { return ParseChannel(s); },
            "web, app, wechat, social, phone, email");
      } else if (key == "priority") {
        ParseList(
            p, kv.second, pc.priorities, [](const std::string& s) { return ParsePriority(s); },
            "low, normal, high, urgent");
      } else if (key == "kind") {
        ParseList(
            p, kv.second, pc.kinds, [](const std::string& s) { return ParseCaseKind(s); },
            "return, exchange, refund, repair, complaint");
      } else if (key == "queue") {
        ParseList(p, kv.second, pc.queues, name, "a non-empty name");
      } else if (key == "customer_tier") {
        ParseList(p, kv.second, pc.customer_tiers, name, "a non-empty name");
      } else if (key == "tenant") {
        ParseList(p, kv.second, pc.tenants, name, "a non-empty name");
      } else {
        Error(p, "unknown condition (channel, queue, priority, customer_tier, tenant, kind)");
      }
    }
  }

  void ParseTargets(const std::string& path, const YAML::Node& n, SlaPolicyConfig& pc) {
    if (!n.IsMap()) return Error(path, "expected a mapping of metric to target");
    auto duration = [this](const std::string& p, const YAML::Node& v) -> std::optional<DurationMs> {
      std::string text, err;
      if (!v.IsScalar()) {
        Error(p, "expected a duration");
        return std::nullopt;
      }
      if (!SubstituteEnv(v.Scalar(), env_, text, err)) {
        Error(p, err);
        return std::nullopt;
      }
      auto d = ParseDuration(text);
      if (!d || *d <= 0) {
        Error(p, "expected a positive duration such as 90s, 8h or 7d, got \"" + text + "\"");
        return std::nullopt;
      }
      return d;
    };
    for (const auto& kv : n) {
      std::string metric = kv.first.as<std::string>();
      std::string p = path + "." + metric;
      const std::optional<Metric> m = ParseMetric(metric);
      if (!m) {
        Error(p,
              "unknown metric (first_response, next_response, resolution, aftersales_approval, "
              "aftersales_refund, aftersales_resolution, order_ship, order_delivery)");
        continue;
      }
      std::array<std::optional<DurationMs>, 4> t{};
      if (kv.second.IsMap()) {
        for (const auto& pv : kv.second) {
          std::string prio = pv.first.as<std::string>();
          auto idx = ParsePriority(prio);
          if (!idx) {
            Error(p + "." + prio, "unknown priority (low, normal, high, urgent)");
            continue;
          }
          t[static_cast<std::size_t>(*idx)] = duration(p + "." + prio, pv.second);
        }
      } else {
        auto d = duration(p, kv.second);
        for (auto& x : t) x = d;
      }
      pc.targets[*m] = t;
    }
  }

  YAML::Node policies_node_;
  bool policies_seen_ = false;
  YAML::Node calendars_node_;
  YAML::Node staffing_queues_node_;

  EnvLookup env_;
  std::vector<ConfigError> errors_;
};

const char* RealEnv(const char* name) { return std::getenv(name); }

}  // namespace

bool ParseHttpUrl(const std::string& text, HttpUrl& url, std::string& why) {
  constexpr std::string_view kHttp = "http://";
  if (text.compare(0, kHttp.size(), kHttp) != 0) {
    why = "only http:// URLs (put a TLS proxy in front for https)";
    return false;
  }
  const std::string rest = text.substr(kHttp.size());
  const auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  HttpUrl u;
  u.prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!u.prefix.empty() && u.prefix.back() == '/') u.prefix.pop_back();
  if (const auto colon = hostport.rfind(':'); colon != std::string::npos) {
    const std::string port = hostport.substr(colon + 1);
    int p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535) {
      why = "the port must be a number from 1 to 65535";
      return false;
    }
    u.port = p;
    hostport.resize(colon);
  }
  u.host = hostport;
  if (u.host.empty() || u.host.find_first_of(" \t@?#") != std::string::npos) {
    why = "expected http://host[:port][/path]";
    return false;
  }
  url = std::move(u);
  return true;
}

LoadResult LoadConfigText(const std::string& yaml, EnvLookup env) {
  if (!env) env = &RealEnv;
  LoadResult result;
  Loader loader(env);
  std::map<std::string, YAML::Node> found;
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    result.errors.push_back({"", "YAML syntax error at line " + std::to_string(e.mark.line + 1) +
                                     ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg});
    return result;
  }
  try {
    if (root.IsDefined() && !root.IsNull()) loader.Walk(root, "", found);
    for (const Option& o : kOptions) {
      auto it = found.find(std::string(o.path));
      if (o.kind == Kind::kMap || o.kind == Kind::kRates) {
        if (it != found.end()) loader.ApplyMap(o, it->second, result.config);
        continue;
      }
      if (o.kind == Kind::kList && it != found.end() && it->second.IsSequence()) {
        loader.ApplyList(o, it->second, result.config);
        continue;
      }
      loader.Apply(o, it != found.end() ? it->second.Scalar() : std::string(o.default_text), result.config);
    }
    loader.ParseCalendars(result.config);
    loader.ParsePolicies(result.config);
    loader.ParseStaffingQueues(result.config);
    loader.CheckStaffing(result.config);
    loader.CheckKafka(result.config);
    loader.CheckAlertBridge(result.config);
  } catch (const YAML::Exception& e) {
    loader.Error("", std::string("YAML error: ") + e.what());
  }
  result.errors = loader.TakeErrors();
  return result;
}

LoadResult LoadConfigFile(const std::string& path, EnvLookup env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult r;
    r.errors.push_back({"", "cannot read configuration file " + path});
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return LoadConfigText(ss.str(), env);
}

std::set<std::string, std::less<>> NamedQueues(const Config& c) {
  std::set<std::string, std::less<>> out;
  for (const auto& [name, q] : c.staffing.queues) out.insert(name);
  for (const auto& p : c.sla.policies) out.insert(p.queues.begin(), p.queues.end());
  return out;
}

Config DefaultConfig() {
  auto r = LoadConfigText("", [](const char*) -> const char* { return nullptr; });
  return r.config;
}

namespace {
std::string IndentedDefaultPolicies() {
  std::string out;
  std::size_t at = 0;
  while (at < kDefaultPolicies.size()) {
    std::size_t nl = kDefaultPolicies.find('\n', at);
    if (nl == std::string_view::npos) nl = kDefaultPolicies.size();
    const std::string_view line = kDefaultPolicies.substr(at, nl - at);
    if (!line.empty()) out += "    " + std::string(line);
    out += '\n';
    at = nl + 1;
  }
  return out;
}
}  // namespace

std::string ReferenceMarkdown() {
  std::ostringstream md;
  md << "# Configuration reference\n\n"
     << "Generated from the option table in `config/config.cc` by `cxstream validate-config --reference`;\n"
     << "a test fails when this file and the table disagree. Do not edit by hand.\n\n"
     << "Every value may use `${VAR}` or `${VAR:-default}` to read the environment (for secrets).\n"
     << "Unknown keys are errors. Sizes take `B`, `KiB`, `MiB`, `GiB`; durations need a unit: `ms`, `s`, `m` "
        "(or `min`), `h`, `d` (a bare number is an error: `5` could mean 5 ms or 5 s).\n";
  std::string section;
  for (const Option& o : kOptions) {
    std::string_view p = o.path;
    std::string sec(p.substr(0, p.find('.')));
    if (sec != section) {
      section = sec;
      md << "\n## `" << section
         << "`\n\n| key | type | default | range | description |\n|---|---|---|---|---|\n";
    }
    std::string range;
    if (o.kind == Kind::kEnum) {
      range = std::string(o.choices);
      for (auto& ch : range)
        if (ch == '|') ch = ',';
    } else if (o.kind == Kind::kDuration) {
      range = FormatDuration(static_cast<DurationMs>(o.min)) + " .. " +
              FormatDuration(static_cast<DurationMs>(o.max));
    } else if (o.kind == Kind::kDouble) {
      std::ostringstream r;
      r << o.min << " .. " << o.max;
      range = r.str();
    } else if (o.kind == Kind::kInt || o.kind == Kind::kBytes) {
      range = std::to_string(static_cast<long long>(o.min)) + " .. " +
              (o.max >= kMaxI ? std::string("") : std::to_string(static_cast<long long>(o.max)));
    }
    md << "| `" << o.path << "` | " << KindName(o.kind) << " | `"
       << (o.default_text.empty() ? "\"\"" : o.default_text) << "` | " << range << " | " << o.description
       << " |\n";
  }
  md << R"(
## `sla.policies`

An ordered list; for each clock the first policy whose conditions all match
and which measures the clock's kind of subject applies as a whole
([sla.md](sla.md#policies)). Without this key the shipped defaults below
apply (`config/cxstream.yaml` writes them out); with it, exactly the
policies listed.

| key | type | meaning |
|---|---|---|
| `name` | string | required, unique; appears in every SLA record as `policy` |
| `match.channel` | list | web, app, wechat, social, phone, email |
| `match.queue`, `match.customer_tier`, `match.tenant` | list | names |
| `match.priority` | list | low, normal, high, urgent |
| `match.kind` | list | return, exchange, refund, repair, complaint (after-sales cases) |
| `targets.<metric>` | duration, or a mapping priority -> duration | metrics: first_response, next_response, resolution, aftersales_approval, aftersales_refund, aftersales_resolution, order_ship, order_delivery; a priority left out is not measured by this policy |
| `calendar` | string | a name in `sla.calendars`: this policy's targets count business time (open hours) only; without it, calendar time |

The default:

```yaml
sla:
  policies:)"
     << IndentedDefaultPolicies() << R"(```

## `sla.calendars`

Business-hours calendars, by name ([sla.md](sla.md#business-hours)).

| key | type | meaning |
|---|---|---|
| `<name>.timezone` | string | required; an IANA time zone such as `Asia/Shanghai` (daylight-saving changes are followed) |
| `<name>.hours.<days>` | interval or list of intervals | `<days>` is `mon` .. `sun` or a range such as `mon-fri`; an interval is `HH:MM-HH:MM` in local time (`24:00` may end one); a day not given is closed |
| `<name>.holidays` | list of dates | `YYYY-MM-DD`, whole local days closed |

## `staffing.queues`

Per-queue staffing targets by queue name; a key left out takes the
`staffing.*` default above ([staffing.md](staffing.md#configuration)).

| key | type | range |
|---|---|---|
| `<queue>.sl_target` | number | 0.01 .. 0.9999 |
| `<queue>.sl_threshold` | duration | >= 0 |
| `<queue>.max_occupancy` | number | 0.01 .. 1 |
| `<queue>.shrinkage` | number | 0 .. 0.99 |
| `<queue>.concurrency` | whole number | 1 .. 100 |
| `<queue>.timezone` | time zone | an IANA name such as `Europe/Berlin` |
)";
  return md.str();
}

}  // namespace cx::config
