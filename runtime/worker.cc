// Worker wiring: start-up of a processing thread (its clients, the
// internal topics, the restore threads) and the public Worker over the
// processing threads.
#include <sched.h>

#include <cmath>
#include <fstream>

#include "runtime/worker_impl.h"

namespace cx::runtime {

// Series whose label values are known in advance exist at zero from the
// start (Prometheus instrumentation guidelines): a rule or panel on an idle
// worker then reads 0, not "no data".
static void ExportKnownSeriesAtZero(const config::Config& config, const std::vector<std::string>& inputs,
                                    const std::string& changelog, Metrics& metrics) {
  for (int c = 0; c < kRejectionCodeCount; ++c)
    metrics.DeadLettered(std::string(ToString(static_cast<Rejection::Code>(c))));
  for (const std::string& t : inputs) metrics.Consumed(t);
  const config::TopicsConfig& t = config.topics;
  for (const std::string* out : {&t.sla, &t.alerts, &t.profiles, &t.staffing, &t.dlq, &changelog})
    metrics.Produced(*out);
  for (int m = 0; m < kMetricCount; ++m)
    for (const char* event : {"activate", "pause", "resume", "warning", "breach", "fulfill", "cancel"})
      metrics.SlaEvents(std::string(ToString(static_cast<Metric>(m))), event, "");
  const processors::AlertOptions alerts = engine::AlertOptionsFrom(config);
  for (int k = 0; k < processors::kAlertKindCount; ++k) {
    const auto kind = static_cast<processors::AlertKind>(k);
    if (!alerts.Enabled(kind)) continue;
    for (const char* action : {"trigger", "resolve"})
      metrics.Alerts(std::string(ToString(kind)), action, alerts.SeverityOf(kind), "");
  }
}

void Worker::Impl::Watchdog() {
  while (!watchdog_stop_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::int64_t since = StalledSince();
    if (since == 0) continue;
    const double seconds =
        static_cast<double>(std::chrono::steady_clock::now().time_since_epoch().count() - since) / 1e9;
    Log(LogLevel::kCritical, "worker", "stopping: a state write has not finished",
        {{"state_dir", std::string_view(config_.state.dir)},
         {"stalled_s", seconds},
         {"reason",
          std::string_view("the disk under state.dir stalls; nothing after the last commit is lost")}});
    // The loop is stuck in the write: leave without unwinding it. Kafka
    // re-delivers what was not committed to whichever worker takes over.
    std::_Exit(3);
  }
}

Status Worker::Impl::Start() {
  // Three eighths of the budget for the block cache, a quarter for
  // memtables (charged to the same cache), a quarter for writes buffered
  // between commits, an eighth for the tasks' decoded state records: for
  // all processing threads together.
  const auto budget = static_cast<std::size_t>(config_.state.memory_budget_bytes);
  if (member_ == 0) {
    SetLogLevel(ParseLogLevel(config_.log.level));
    ExportKnownSeriesAtZero(config_, topics_, changelog_, metrics_);
    std::error_code ec;
    std::filesystem::create_directories(config_.state.dir, ec);
    if (ec) return Status::Fatal("state.dir " + config_.state.dir + " cannot be created: " + ec.message());
    auto lock = LockStateDir(config_.state.dir);
    if (!lock.ok()) return lock.status();
    lock_fd_ = *lock;
    shared_.memory = state::NewRocksDbShared(budget / 8 * 3, budget / 4);
    shared_.object_budget = std::make_shared<engine::ObjectBudget>(budget / 8);
  }
  watchdog_ = std::thread([this] { Watchdog(); });
  memory_ = shared_.memory;
  object_budget_ = shared_.object_budget;
  max_pending_bytes_ = budget / 4 / members_;

  char err[512];
  // librdkafka's queues (outputs waiting to be sent, records fetched
  // ahead) are outside the state budget: 64 MiB and 16 MiB per processing
  // thread. Divided among two threads they cost a fifth of the throughput
  // (a full producer queue pauses the input: 300,000-event backlog, 3
  // interleaved runs, 28,599 against 34,752 events/s, medians) for about
  // 100 MB less resident memory.
  const std::string producer_queue_kib = "65536";
  const std::string fetch_queue_kib = "16384";
  // Producer: idempotent, so retries never duplicate or reorder.
  auto pconf = BaseConf(config_, ClientKind::kProducer);
  if (!pconf.ok()) return pconf.status();
  for (auto [k, v] : std::initializer_list<std::pair<const char*, const char*>>{
           {"enable.idempotence", "true"},
           {"linger.ms", "5"},
           {"partitioner", "murmur2_random"},
           {"queue.buffering.max.kbytes", producer_queue_kib.c_str()}}) {
    if (Status s = SetProperty(pconf->get(), k, v); !s.ok()) return s;
  }
  rd_kafka_conf_set_opaque(pconf->get(), this);
  rd_kafka_conf_set_dr_msg_cb(pconf->get(), &Impl::OnDelivery);
  rd_kafka_conf_set_error_cb(pconf->get(), &Impl::OnError);
  producer_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, pconf->release(), err, sizeof err));
  if (!producer_) return Status::Fatal(std::string("producer: ") + err);
  if (!exactly_once_) {
    CommitPipelineOptions popts;
    popts.end_key = std::string(kEndMarkerKey);
    popts.local = [](std::string_view key) { return !key.empty() && key[0] == 'L'; };
    popts.position = [](std::int64_t end_offset) {
      std::string v;
      PutFixed64BE(v, static_cast<std::uint64_t>(end_offset + 1));
      return std::pair<std::string, std::string>(std::string(kChangelogPositionKey), std::move(v));
    };
    popts.write_started = &commit_write_started_;
    // The disk first: RocksDB is not handed a write a failed disk would
    // refuse (see Tick). The probe writes a file of its own: any thread.
    popts.before_write = [this] { return ProbeStateDir(config_.state.dir, member_); };
    pipeline_ = std::make_unique<CommitPipeline>(pipeline_kafka_, pipeline_kafka_, std::move(popts));
  }

  // Group consumer: range assignment gives partition p of every co-partitioned
  // topic to the same member; offsets live in our state, not in auto-commit.
  auto cconf = BaseConf(config_, ClientKind::kConsumer);
  if (!cconf.ok()) return cconf.status();
  std::vector<std::pair<std::string, std::string>> cprops = {
      {"group.id", config_.kafka.application_id},
      {"partition.assignment.strategy", "range"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "true"},
      {"auto.offset.reset", "earliest"},
      {"queued.max.messages.kbytes", fetch_queue_kib},
  };
  // Static membership: one instance id per processing thread.
  if (!config_.kafka.group_instance_id.empty())
    cprops.emplace_back("group.instance.id", config_.kafka.group_instance_id +
                                                 (member_ == 0 ? "" : "-" + std::to_string(member_)));
  // Records of aborted transactions (a task's outputs to the repartition
  // topic among them) are never applied.
  if (exactly_once_) cprops.emplace_back("isolation.level", "read_committed");
  for (const auto& [k, v] : cprops) {
    if (k != "group.id" &&
        (config_.kafka.properties.count(k) || config_.kafka.properties.count("consumer." + k))) {
      continue;  // the operator's value wins
    }
    if (Status s = SetProperty(cconf->get(), k, v); !s.ok()) return s;
  }
  rd_kafka_conf_set_opaque(cconf->get(), this);
  rd_kafka_conf_set_rebalance_cb(cconf->get(), &Impl::OnRebalance);
  rd_kafka_conf_set_error_cb(cconf->get(), &Impl::OnError);
  consumer_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, cconf->release(), err, sizeof err));
  if (!consumer_) return Status::Fatal(std::string("consumer: ") + err);
  rd_kafka_poll_set_consumer(consumer_.get());

  // Restore consumer: no group, reads changelog partitions by assignment.
  auto rconf = BaseConf(config_, ClientKind::kConsumer);
  if (!rconf.ok()) return rconf.status();
  SetProperty(rconf->get(), "enable.partition.eof", "true");
  SetProperty(rconf->get(), "enable.auto.commit", "false");
  SetProperty(rconf->get(), "group.id", config_.kafka.application_id + "-restore");
  // Only committed frames; the watermark it reads is the last stable offset.
  if (exactly_once_) SetProperty(rconf->get(), "isolation.level", "read_committed");
  // state.restore_threads for the worker: shared among its processing threads.
  std::size_t restore_threads = static_cast<std::size_t>(config_.state.restore_threads);
  // Two per core by default: a restore alternates between waiting for the
  // broker (about 45 ms to the first record of each assignment) and
  // sorting and writing its SST runs, so two threads keep a core busy.
  if (restore_threads == 0) restore_threads = 2 * UsableCores();
  restore_threads = std::max<std::size_t>(1, restore_threads / members_);
  for (std::size_t i = 0; i < restore_threads; ++i) {
    // Each its own copy: rd_kafka_new takes the configuration.
    KafkaHandle c(rd_kafka_new(RD_KAFKA_CONSUMER, rd_kafka_conf_dup(rconf->get()), err, sizeof err));
    if (!c) return Status::Fatal(std::string("restore consumer: ") + err);
    restore_consumers_.push_back(std::move(c));
  }

  // Co-partitioning: every customer topic, and the changelog, must have the
  // same number of partitions, or partition p would not hold the same keys.
  std::vector<std::string> check = topics_;
  check.push_back(changelog_);
  auto counts = PartitionCounts(producer_.get(), check, kMetadataTimeoutMs);
  if (!counts.ok())
    return Status::Fatal("cannot read topic metadata from " + config_.kafka.bootstrap_servers + ": " +
                         counts.status().message());
  const std::size_t repartition = topics_.size() - 1;  // created here when missing, like the changelog
  for (std::size_t i = 0; i < repartition; ++i) {
    if ((*counts)[i] < 0) return Status::Fatal("input topic " + topics_[i] + " does not exist");
  }
  int n = (*counts)[0];
  partitions_ = n;
  metrics_.state_memory_budget_bytes.Set(static_cast<double>(config_.state.memory_budget_bytes));
  std::vector<std::string> created;  // internal topics created here
  if ((*counts)[repartition] < 0) {
    if (Status s = CreateTopic(producer_.get(), topics_[repartition], n, false, kMetadataTimeoutMs);
        !s.ok()) {
      return Status::Fatal("repartition topic " + topics_[repartition] +
                           " does not exist and could not be created (" + s.message() + "): create it with " +
                           std::to_string(n) + " partitions (docs/runtime.md#topics)");
    }
    Log(LogLevel::kInfo, "worker", "created the repartition topic",
        {{"topic", std::string_view(topics_[repartition])}, {"partitions", static_cast<std::int64_t>(n)}});
    (*counts)[repartition] = n;
    created.push_back(topics_[repartition]);
  }
  for (std::size_t i = 1; i < topics_.size(); ++i) {
    if ((*counts)[i] != n) {
      return Status::Fatal("topics are not co-partitioned: " + topics_[0] + " has " + std::to_string(n) +
                           " partitions but " + topics_[i] + " has " + std::to_string((*counts)[i]) +
                           "; the customer topics, the agents topic and the repartition topic must all "
                           "have the same partition count");
    }
  }
  if (counts->back() < 0) {
    created.push_back(changelog_);
    if (Status s = CreateTopic(producer_.get(), changelog_, n, true, kMetadataTimeoutMs); !s.ok()) {
      return Status::Fatal("changelog topic " + changelog_ + " does not exist and could not be created (" +
                           s.message() + "): create it with " + std::to_string(n) +
                           " partitions and cleanup.policy=compact (docs/runtime.md#topics)");
    }
    Log(LogLevel::kInfo, "worker", "created the changelog topic",
        {{"topic", std::string_view(changelog_)}, {"partitions", static_cast<std::int64_t>(n)}});
    counts->back() = n;
  }
  if (!created.empty()) {
    if (Status s = AwaitTopics(producer_.get(), created, n, kMetadataTimeoutMs); !s.ok()) return s;
  }
  if (counts->back() != n) {
    return Status::Fatal("changelog topic " + changelog_ + " has " + std::to_string(counts->back()) +
                         " partitions; it must have " + std::to_string(n) + " like the input topics");
  }

  PartitionList sub(rd_kafka_topic_partition_list_new(static_cast<int>(topics_.size())));
  for (const auto& t : topics_)
    rd_kafka_topic_partition_list_add(sub.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  if (auto e = rd_kafka_subscribe(consumer_.get(), sub.get())) {
    return Status::Fatal(std::string("subscribe: ") + rd_kafka_err2str(e));
  }
  for (KafkaHandle& c : restore_consumers_)
    restore_threads_.emplace_back([this, consumer = c.get()] { RestoreLoop(consumer); });
  Log(LogLevel::kInfo, "worker", "started",
      {{"group", std::string_view(config_.kafka.application_id)},
       {"thread", static_cast<std::int64_t>(member_)},
       {"partitions", static_cast<std::int64_t>(n)},
       {"state_dir", std::string_view(config_.state.dir)}});
  return Status::Ok();
}

namespace {

// The CPU quota of the process's cgroup in cores, rounded up (a container's
// CPU limit); 0 when there is none or it cannot be read. cgroup v2
// (cpu.max: "<quota> <period>" or "max <period>"), else v1.
std::size_t CgroupCpuQuota() {
  auto read = [](const char* path) {
    std::ifstream f(path);
    std::string a, b;
    f >> a >> b;
    return std::pair<std::string, std::string>(a, b);
  };
  auto cores = [](const std::string& quota, const std::string& period) -> std::size_t {
    char* end = nullptr;
    const double q = std::strtod(quota.c_str(), &end);
    const double p = std::strtod(period.c_str(), nullptr);
    if (quota.empty() || end == quota.c_str() || q <= 0 || p <= 0) return 0;
    return static_cast<std::size_t>(std::ceil(q / p));
  };
  if (auto [quota, period] = read("/sys/fs/cgroup/cpu.max"); !quota.empty())
    return quota == "max" ? 0 : cores(quota, period);
  auto [quota, ignored] = read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  auto [period, ignored2] = read("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  return cores(quota, period);
}

}  // namespace

std::size_t UsableCores() {
  std::size_t n = std::max(1U, std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = static_cast<std::size_t>(std::max(1, CPU_COUNT(&set)));
  if (const std::size_t quota = CgroupCpuQuota(); quota > 0) n = std::min(n, quota);
  return n;
}

Worker::Worker(const config::Config& config, Clock& clock, Metrics& metrics)
    : shared_(std::make_unique<Shared>()) {
  const std::size_t n =
      config.processing.threads > 0 ? static_cast<std::size_t>(config.processing.threads) : UsableCores();
  for (std::size_t i = 0; i < n; ++i)
    impls_.push_back(std::make_unique<Impl>(config, clock, metrics, i, n, *shared_));
}

Worker::~Worker() {
  // The first thread's goes last: it holds the state directory's lock.
  while (!impls_.empty()) impls_.pop_back();
}

Status Worker::Start() {
  // One after the other: the first creates the topics the others find.
  for (auto& impl : impls_) {
    if (Status s = impl->Start(); !s.ok()) return s;
  }
  return Status::Ok();
}

Status Worker::Run(const std::atomic<bool>& stop) {
  // A thread that stops on an error stops the others (without a commit,
  // Impl::Run); the worker returns that error.
  std::atomic<bool> failed{false};
  std::vector<Status> results(impls_.size());
  auto run = [&](std::size_t i) {
    results[i] = impls_[i]->Run(stop, failed);
    if (!results[i].ok()) failed.store(true);
  };
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < impls_.size(); ++i) {
    threads.emplace_back([&run, i] {
      const std::string name = "cx-proc-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      run(i);
    });
  }
  run(0);
  for (std::thread& t : threads) t.join();
  for (const Status& s : results) {
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

bool Worker::Ready() const {
  for (const auto& impl : impls_) {
    if (!impl->Ready()) return false;
  }
  return true;
}

bool Worker::Healthy() const {
  for (const auto& impl : impls_) {
    if (!impl->Healthy()) return false;
  }
  return true;
}

// Every processing thread is asked at once; the one that owns the
// customer's partition answers, the others say they do not own it (421),
// which is the answer when none does.
Worker::Answer Worker::QueryProfile(const std::string& customer_id) {
  std::vector<std::future<Answer>> answers;
  for (auto& impl : impls_) answers.push_back(impl->PostQuery(customer_id));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  // The owner's answer wins; else "try again" (a thread starting, restoring
  // or busy, or one that did not answer: perhaps the owner); else not owned.
  Answer not_owned, unavailable;
  for (auto& f : answers) {
    if (f.wait_until(deadline) != std::future_status::ready) {
      unavailable = {503, R"({"error":"timeout","reason":"the worker did not answer within 5 s"})"};
      continue;
    }
    Answer a = f.get();
    if (a.status == 421)
      not_owned = std::move(a);
    else if (a.status == 503)
      unavailable = std::move(a);
    else
      return a;
  }
  return unavailable.status == 503 && !unavailable.body.empty() ? unavailable : not_owned;
}

}  // namespace cx::runtime
