#include "config/config.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace cx::config {
namespace {

const char* NoEnv(const char*) { return nullptr; }
const char* TestEnv(const char* name) {
  if (std::strcmp(name, "SECRET") == 0) return "s3cr3t";
  if (std::strcmp(name, "PORT") == 0) return "9100";
  return nullptr;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool HasError(const LoadResult& r, const std::string& path, const std::string& fragment) {
  for (const auto& e : r.errors) {
    if (e.path == path && e.message.find(fragment) != std::string::npos) return true;
  }
  return false;
}

TEST(ConfigTest, DefaultsMatchTheDocumentedValues) {
  Config c = DefaultConfig();
  EXPECT_EQ(c.limits.max_message_bytes, 1 << 20);
  EXPECT_EQ(c.limits.max_id_bytes, 256);
  EXPECT_EQ(c.limits.max_text_bytes, 16 * 1024);
  EXPECT_EQ(c.limits.max_future_skew, 5 * 60 * 1000);
  EXPECT_EQ(c.time.allowed_lateness, 5000);
  EXPECT_EQ(c.time.grace, 1000);
  EXPECT_EQ(c.commit.interval, 1000);
  EXPECT_EQ(c.topics.chat, "cx.chat");
  EXPECT_EQ(c.topics.dlq, "cx.dlq");
  EXPECT_DOUBLE_EQ(c.sla.warning_fraction, 0.8);
}

TEST(ConfigTest, ShippedFileIsValid) {
  LoadResult r = LoadConfigFile(std::string(CX_SOURCE_DIR) + "/config/cxstream.yaml", &NoEnv);
  for (const auto& e : r.errors) ADD_FAILURE() << e.ToString();
  EXPECT_EQ(r.config.kafka.bootstrap_servers, "127.0.0.1:9092");
}

TEST(ConfigTest, ReportsEveryErrorWithItsPath) {
  LoadResult r = LoadConfigText(R"(
limits:
  max_id_bytes: 3
  max_text_bytes: lots
  max_future_skew: 5 minutes
time:
  alowed_lateness: 5s
log:
  level: chatty
http:
  port: [1]
bogus: 1
)",
                                &NoEnv);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.errors.size(), 7u);
  EXPECT_TRUE(HasError(r, "limits.max_id_bytes", "out of range")) << r.errors[0].ToString();
  EXPECT_TRUE(HasError(r, "limits.max_text_bytes", "expected a size"));
  EXPECT_TRUE(HasError(r, "limits.max_future_skew", "expected a duration"));
  EXPECT_TRUE(HasError(r, "time.alowed_lateness", "unknown key"));
  EXPECT_TRUE(HasError(r, "log.level", "not one of"));
  EXPECT_TRUE(HasError(r, "http.port", "expected a value of type integer"));
  EXPECT_TRUE(HasError(r, "bogus", "unknown key"));
}

TEST(ConfigTest, SubstitutesEnvironmentVariables) {
  LoadResult r = LoadConfigText(R"(
kafka:
  sasl_password: ${SECRET}
  sasl_username: ${MISSING:-fallback}
  properties:
    client.id: ${SECRET}-client
http:
  port: ${PORT}
)",
                                &TestEnv);
  ASSERT_TRUE(r.ok()) << r.errors[0].ToString();
  EXPECT_EQ(r.config.kafka.sasl_password, "s3cr3t");
  EXPECT_EQ(r.config.kafka.sasl_username, "fallback");
  EXPECT_EQ(r.config.kafka.properties.at("client.id"), "s3cr3t-client");
  EXPECT_EQ(r.config.http.port, 9100);
}

TEST(ConfigTest, MissingEnvironmentVariableIsAnErrorNamingIt) {
  LoadResult r = LoadConfigText("kafka:\n  sasl_password: ${NOPE}\n", &NoEnv);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasError(r, "kafka.sasl_password", "NOPE is not set"));
}

TEST(ConfigTest, YamlSyntaxErrorsGiveTheLine) {
  LoadResult r = LoadConfigText("kafka:\n  bootstrap_servers: [a\n", &NoEnv);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.errors[0].message.find("line"), std::string::npos);
}

TEST(ConfigTest, SizesAndDurationsAcceptUnits) {
  LoadResult r = LoadConfigText(
      "limits:\n  max_message_bytes: 2MiB\n  max_future_skew: 90s\nstate:\n  memory_budget_bytes: 1GiB\n",
      &NoEnv);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.limits.max_message_bytes, 2 << 20);
  EXPECT_EQ(r.config.limits.max_future_skew, 90000);
  EXPECT_EQ(r.config.state.memory_budget_bytes, 1LL << 30);
}

TEST(ConfigTest, SlaPoliciesAreParsedInOrder) {
  LoadResult r = LoadConfigText(R"(
sla:
  policies:
    - name: vip
      match: {customer_tier: vip, channel: [web, app]}
      targets:
        first_response: {normal: 30s, urgent: 10s}
    - name: rest
      targets: {order_ship: 2d}
)",
                                &NoEnv);
  ASSERT_TRUE(r.ok()) << r.errors[0].ToString();
  ASSERT_TRUE(r.config.sla.policies_given);
  ASSERT_EQ(r.config.sla.policies.size(), 2u);
  const auto& vip = r.config.sla.policies[0];
  EXPECT_EQ(vip.name, "vip");
  EXPECT_EQ(vip.customer_tiers, (std::vector<std::string>{"vip"}));
  EXPECT_EQ(vip.channels, (std::vector<Channel>{Channel::kWeb, Channel::kApp}));
  const auto& fr = vip.targets.at(Metric::kFirstResponse);
  EXPECT_FALSE(fr[0].has_value());  // low: not measured by this policy
  EXPECT_EQ(fr[1], 30000);
  EXPECT_EQ(fr[3], 10000);
  EXPECT_EQ(r.config.sla.policies[1].targets.at(Metric::kOrderShip)[2], 2 * 86400000LL);
}

TEST(ConfigTest, SlaPolicyErrorsNameTheirPath) {
  LoadResult r = LoadConfigText(R"(
sla:
  policies:
    - name: a
      match: {channel: fax, colour: red}
      targets: {first_reply: 1m, resolution: {normal: soon, asap: 1h}}
    - name: a
      targets: {order_ship: 0s}
    - targets: {}
)",
                                &NoEnv);
  EXPECT_TRUE(HasError(r, "sla.policies[0].match.channel", "\"fax\" is not one of"));
  EXPECT_TRUE(HasError(r, "sla.policies[0].match.colour", "unknown condition"));
  EXPECT_TRUE(HasError(r, "sla.policies[0].targets.first_reply", "unknown metric"));
  EXPECT_TRUE(HasError(r, "sla.policies[0].targets.resolution.normal", "expected a positive duration"));
  EXPECT_TRUE(HasError(r, "sla.policies[0].targets.resolution.asap", "unknown priority"));
  EXPECT_TRUE(HasError(r, "sla.policies[1].name", "duplicate policy name"));
  EXPECT_TRUE(HasError(r, "sla.policies[1].targets.order_ship", "expected a positive duration"));
  EXPECT_TRUE(HasError(r, "sla.policies[2].name", "every policy needs a name"));
  EXPECT_TRUE(HasError(r, "sla.policies[2].targets", "at least one target"));
}

TEST(ConfigTest, CalendarsAreParsedAndPoliciesReferToThem) {
  LoadResult r = LoadConfigText(R"(
sla:
  calendars:
    cn-office:
      timezone: Asia/Shanghai
      hours:
        mon-fri: ["09:00-12:00", "13:00-18:00"]
        sat: 10:00-24:00
      holidays: [2026-10-01, "2028-02-29"]
  policies:
    - name: email
      calendar: cn-office
      targets: {first_response: 8h}
)",
                                &NoEnv);
  ASSERT_TRUE(r.ok()) << r.errors[0].ToString();
  ASSERT_EQ(r.config.sla.calendars.size(), 1u);
  const auto& cal = r.config.sla.calendars[0];
  EXPECT_EQ(cal.name, "cn-office");
  EXPECT_EQ(cal.timezone, "Asia/Shanghai");
  using Iv = std::vector<std::pair<int, int>>;
  EXPECT_EQ(cal.week[0], (Iv{{540, 720}, {780, 1080}}));
  EXPECT_EQ(cal.week[4], (Iv{{540, 720}, {780, 1080}}));
  EXPECT_EQ(cal.week[5], (Iv{{600, 1440}}));
  EXPECT_TRUE(cal.week[6].empty());  // a day not given is closed
  EXPECT_EQ(cal.holidays, (std::vector<std::array<int, 3>>{{2026, 10, 1}, {2028, 2, 29}}));
  EXPECT_EQ(r.config.sla.policies[0].calendar, "cn-office");
}

TEST(ConfigTest, CalendarErrorsNameTheirPath) {
  LoadResult r = LoadConfigText(R"(
sla:
  calendars:
    a:
      timezone: Mars/Olympus
      hours: {mon: "09:00-18:00", mon-tue: "10:00-11:00", fri: "18:00-09:00", sat: ["09:00-12:00", "11:00-13:00"], xmas: "09:00-10:00"}
      holidays: [2026-02-30, tomorrow, 2027-02-29]
      colour: red
    b:
      hours: {}
  policies:
    - name: p
      calendar: nowhere
      targets: {first_response: 8h}
)",
                                &NoEnv);
  EXPECT_TRUE(HasError(r, "sla.calendars.a.timezone", "not an IANA time zone"));
  EXPECT_TRUE(HasError(r, "sla.calendars.a.hours.mon-tue", "a day is given twice"));
  EXPECT_TRUE(HasError(r, "sla.calendars.a.hours.fri", "not an interval"));
  EXPECT_TRUE(HasError(r, "sla.calendars.a.hours.sat", "overlap"));
  EXPECT_TRUE(HasError(r, "sla.calendars.a.hours.xmas", "expected a day"));
  EXPECT_TRUE(HasError(r, "sla.calendars.a.holidays[0]", "not a date"));
  EXPECT_TRUE(HasError(r, "sla.calendars.a.holidays[1]", "not a date"));
  EXPECT_TRUE(HasError(r, "sla.calendars.a.holidays[2]", "not a date"));  // 2027 is not a leap year
  EXPECT_TRUE(HasError(r, "sla.calendars.a.colour", "unknown key"));
  EXPECT_TRUE(HasError(r, "sla.calendars.b.timezone", "needs a time zone"));
  EXPECT_TRUE(HasError(r, "sla.calendars.b.hours", "opening hours"));
  EXPECT_TRUE(HasError(r, "sla.policies[0].calendar", "not a calendar defined"));
}

TEST(ConfigTest, TheRepeatWindowIsOneOptionAndTheOldKeysSayWhereItWent) {
  EXPECT_EQ(DefaultConfig().contacts.repeat_window, 7LL * 86'400'000);
  LoadResult r = LoadConfigText("alerts:\n  repeat_window: 72h\nprofiles:\n  repeat_window: 72h\n", NoEnv);
  EXPECT_TRUE(HasError(r, "alerts.repeat_window", "moved to contacts.repeat_window"));
  EXPECT_TRUE(HasError(r, "profiles.repeat_window", "moved to contacts.repeat_window"));
  EXPECT_EQ(LoadConfigText("contacts:\n  repeat_window: 3d\n", NoEnv).config.contacts.repeat_window,
            3LL * 86'400'000);
}

TEST(ConfigTest, AKeyGivenTwiceIsAnError) {
  LoadResult r = LoadConfigText("kafka:\n  application_id: a\n  application_id: b\n", &NoEnv);
  EXPECT_TRUE(HasError(r, "kafka.application_id", "given twice"));
}

TEST(ConfigTest, StaffingQueuesOverrideTheDefaults) {
  LoadResult r = LoadConfigText(R"(
staffing:
  interval: 30m
  queues:
    vip: {sl_target: 0.9, sl_threshold: 10s, concurrency: 3}
    bad: {sl_target: 2, concurrency: 1.5, sl_threshold: soon, colour: red}
)",
                                &NoEnv);
  EXPECT_TRUE(HasError(r, "staffing.queues.bad.sl_target", "expected a number from 0.01 to 0.9999"));
  EXPECT_TRUE(HasError(r, "staffing.queues.bad.concurrency", "whole number"));
  EXPECT_TRUE(HasError(r, "staffing.queues.bad.sl_threshold", "expected a duration"));
  EXPECT_TRUE(HasError(r, "staffing.queues.bad.colour", "unknown key"));
  const auto& vip = r.config.staffing.queues.at("vip");
  EXPECT_EQ(vip.sl_target, 0.9);
  EXPECT_EQ(vip.sl_threshold, 10000);
  EXPECT_EQ(vip.concurrency, 3);
  EXPECT_FALSE(vip.shrinkage.has_value());
  EXPECT_EQ(r.config.staffing.interval, 30 * 60000);
  EXPECT_TRUE(HasError(LoadConfigText("staffing:\n  interval: 7m\n", &NoEnv), "staffing.interval",
                       "must divide a day"));
}

// Issue 16.3: the bound on queues cannot be below what the configuration
// itself names, and a queue cannot go idle within one interval.
TEST(ConfigTest, QueueLimitsAreCheckedAgainstTheNamedQueues) {
  const Config d = DefaultConfig();
  EXPECT_EQ(d.limits.max_queues, 1000);
  EXPECT_EQ(d.limits.queue_idle_after, 7 * 86'400'000LL);
  EXPECT_TRUE(HasError(LoadConfigText("limits:\n  max_queues: 2\nstaffing:\n  queues:\n    a: {}\n    b: {}\n"
                                      "sla:\n  policies:\n    - name: p\n      match: {queue: [c]}\n"
                                      "      targets: {first_response: 1m}\n",
                                      &NoEnv),
                       "limits.max_queues", "names 3 queues"));
  EXPECT_TRUE(
      LoadConfigText("limits:\n  max_queues: 2\nstaffing:\n  queues:\n    a: {}\n    b: {}\n", &NoEnv).ok());
  EXPECT_TRUE(HasError(LoadConfigText("limits:\n  queue_idle_after: 1h\nstaffing:\n  interval: 2h\n", &NoEnv),
                       "limits.queue_idle_after", "at least staffing.interval"));
  const auto named = NamedQueues(LoadConfigText("staffing:\n  queues:\n    vip: {}\n", &NoEnv).config);
  EXPECT_EQ(named, (std::set<std::string, std::less<>>{"vip"}));
}

// Issue 17: the worker's rebalancing is eager, with range assignment.
TEST(ConfigTest, RefusesACooperativeAssignmentStrategy) {
  EXPECT_TRUE(
      HasError(LoadConfigText(
                   "kafka:\n  properties:\n    partition.assignment.strategy: cooperative-sticky\n", &NoEnv),
               "kafka.properties.partition.assignment.strategy", "cooperative-sticky is not supported"));
  EXPECT_TRUE(
      LoadConfigText("kafka:\n  properties:\n    consumer.partition.assignment.strategy: range\n", &NoEnv)
          .ok());
}

TEST(ConfigTest, TheGuaranteeAndTheSettingsItDependsOn) {
  EXPECT_FALSE(DefaultConfig().processing.exactly_once());
  const LoadResult eos = LoadConfigText("processing:\n  guarantee: exactly_once\n", &NoEnv);
  ASSERT_TRUE(eos.ok());
  EXPECT_TRUE(eos.config.processing.exactly_once());
  EXPECT_TRUE(HasError(LoadConfigText("processing:\n  guarantee: twice\n", &NoEnv), "processing.guarantee",
                       "at_least_once"));
  // The worker sets the transactional id (one per task) and idempotence.
  EXPECT_TRUE(HasError(LoadConfigText("kafka:\n  properties:\n    producer.transactional.id: x\n", &NoEnv),
                       "kafka.properties.producer.transactional.id", "the worker sets it"));
  EXPECT_TRUE(HasError(LoadConfigText("kafka:\n  properties:\n    enable.idempotence: \"false\"\n", &NoEnv),
                       "kafka.properties.enable.idempotence", "idempotent"));
  // Aborted records must not be applied under exactly_once; at_least_once
  // leaves the isolation level to the operator.
  const std::string uncommitted = "kafka:\n  properties:\n    consumer.isolation.level: read_uncommitted\n";
  EXPECT_TRUE(HasError(LoadConfigText(uncommitted + "processing:\n  guarantee: exactly_once\n", &NoEnv),
                       "kafka.properties.consumer.isolation.level", "read_committed"));
  EXPECT_TRUE(LoadConfigText(uncommitted, &NoEnv).ok());
}

TEST(ConfigTest, WithoutPoliciesTheDefaultsApply) {
  const Config c = DefaultConfig();
  EXPECT_FALSE(c.sla.policies_given);
  ASSERT_EQ(c.sla.policies.size(), 5u);
  EXPECT_EQ(c.sla.policies[0].name, "default-chat-vip");
  EXPECT_EQ(c.sla.policies[2].targets.at(Metric::kNextResponse)[1], 8 * 3'600'000LL);  // email, normal
  EXPECT_EQ(c.sla.policies[4].name, "default");
}

// Issue 15.12: every option is parsed once, at load, into the type its
// users need; nothing downstream parses a string again.
TEST(ConfigTest, OptionsAreParsedOnceIntoTypedValues) {
  LoadResult r = LoadConfigText(R"(
alerts:
  severity: {low_csat: "off", sla_warning: info}
  keywords: " Refund , 差评,,LAWYER"
profiles:
  currency_rates: {USD: "7.1", EUR: 7.7}
  rfm_frequency: "1,2,4,6"
staffing:
  handle_time_from: opened
)",
                                &NoEnv);
  ASSERT_TRUE(r.ok()) << r.errors[0].ToString();
  const Config& c = r.config;
  EXPECT_EQ(c.alerts.severity[4], std::nullopt);  // low_csat: off
  EXPECT_EQ(c.alerts.severity[1], Severity::kInfo);
  EXPECT_EQ(c.alerts.severity[0], Severity::kError);  // the default
  EXPECT_EQ(c.alerts.keywords, (std::vector<std::string>{"refund", "差评", "lawyer"}));
  EXPECT_EQ(c.profiles.currency_rates, (std::map<std::string, double>{{"EUR", 7.7}, {"USD", 7.1}}));
  EXPECT_EQ(c.profiles.rfm_frequency, (std::array<double, 4>{1, 2, 4, 6}));
  EXPECT_EQ(c.profiles.rfm_monetary, (std::array<double, 4>{100, 500, 2000, 10000}));  // the default
  EXPECT_EQ(c.staffing.handle_time_from, HandleTimeFrom::kOpened);
  EXPECT_EQ(DefaultConfig().staffing.handle_time_from, HandleTimeFrom::kFirstReply);

  // A YAML list of keywords is the same as the comma-separated string.
  LoadResult list = LoadConfigText("alerts:\n  keywords: [Refund, 差评, LAWYER]\n", &NoEnv);
  ASSERT_TRUE(list.ok()) << list.errors[0].ToString();
  EXPECT_EQ(list.config.alerts.keywords, c.alerts.keywords);
}

TEST(ConfigTest, TypedOptionErrorsNameTheKey) {
  LoadResult r = LoadConfigText(R"(
alerts:
  severity: {low_csat: loud}
  keywords: [ok, {a: b}]
profiles:
  currency_rates: {USD: "-1", EUR: lots}
  rfm_frequency: "4,3,2,1"
)",
                                &NoEnv);
  EXPECT_TRUE(HasError(r, "alerts.severity.low_csat", "not one of critical|error|warning|info|off"));
  EXPECT_TRUE(HasError(r, "alerts.keywords[1]", "expected a string"));
  EXPECT_TRUE(HasError(r, "profiles.currency_rates.USD", "positive number"));
  EXPECT_TRUE(HasError(r, "profiles.currency_rates.EUR", "positive number"));
  EXPECT_TRUE(HasError(r, "profiles.rfm_frequency", "four ascending numbers"));
}

// Regression (issue 16.5): validate-config accepted what alert-bridge then
// refused, and a duration without a unit silently meant milliseconds.
TEST(ConfigTest, ValidateRefusesWhatAnySubcommandWould) {
  for (const char* url :
       {"https://am:9093", "not a url", "http://am:99999", "http://am:0", "http://:9093", "http://am:9x"}) {
    SCOPED_TRACE(url);
    LoadResult r =
        LoadConfigText(std::string("alert_bridge:\n  alertmanager_url: \"") + url + "\"\n", &NoEnv);
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(HasError(r, "alert_bridge.alertmanager_url", url));
  }
  LoadResult ok =
      LoadConfigText("alert_bridge:\n  alertmanager_url: http://am.monitoring:9093/prefix/\n", &NoEnv);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.config.alert_bridge.alertmanager.host, "am.monitoring");
  EXPECT_EQ(ok.config.alert_bridge.alertmanager.port, 9093);
  EXPECT_EQ(ok.config.alert_bridge.alertmanager.prefix, "/prefix");

  LoadResult bare = LoadConfigText("time:\n  allowed_lateness: 5\n", &NoEnv);
  EXPECT_TRUE(HasError(bare, "time.allowed_lateness", "with its unit"));
  EXPECT_FALSE(ParseDuration("5").has_value());
  EXPECT_EQ(ParseDuration("5ms"), 5);
}

TEST(ConfigTest, ReferenceDocIsUpToDate) {
  // docs/configuration.md is generated: `cxstream validate-config --reference > docs/configuration.md`.
  EXPECT_EQ(ReadFile(std::string(CX_SOURCE_DIR) + "/docs/configuration.md"), ReferenceMarkdown())
      << "regenerate docs/configuration.md with: build/cxstream validate-config --reference > "
         "docs/configuration.md";
}

}  // namespace
}  // namespace cx::config
