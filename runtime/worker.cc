#include "runtime/worker.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/encoding.h"
#include "core/json_writer.h"
#include "engine/pipeline.h"
#include "engine/task.h"
#include "processors/alerts/alert_processor.h"
#include "processors/profiles/profile_processor.h"
#include "runtime/changelog_restore.h"
#include "runtime/commit_pipeline.h"
#include "runtime/kafka.h"
#include "runtime/log.h"
#include "runtime/record_collector.h"
#include "runtime/store_pool.h"
#include "state/store.h"

namespace cx::runtime {
namespace {

// Marks a state write as running (for the watchdog) while in scope.
class StateWrite {
 public:
  explicit StateWrite(std::atomic<std::int64_t>& started) : started_(started) {
    started_.store(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  ~StateWrite() { started_.store(0); }
  StateWrite(const StateWrite&) = delete;
  StateWrite& operator=(const StateWrite&) = delete;

 private:
  std::atomic<std::int64_t>& started_;
};

constexpr std::string_view kStage = "customer";
constexpr int kMetadataTimeoutMs = 10'000;
// How long a restored task's inputs may refuse a seek before the worker
// stops (PositionTask): the consumer learns a topic created a moment ago
// with its next metadata refresh, within seconds on a healthy cluster.
constexpr std::chrono::seconds kPositionPatience{30};
// How long an assigned partition's store may stay with another processing
// thread of this worker (one ending a cancelled restore of it).
constexpr std::chrono::milliseconds kStoreHandOverPatience{30'000};
constexpr std::chrono::seconds kIdleStoreLifetime{60};

std::string OffsetKey(const std::string& topic, int partition) {
  return "O" + topic + "/" + std::to_string(partition);
}
// Where the task had read an input up to at the commit (at or after its
// resume offset): records read again below it are repeats or events that
// were waiting for the watermark (engine::InputRecord::read_before).
std::string ReadKey(const std::string& topic, int partition) {
  return "R" + topic + "/" + std::to_string(partition);
}

std::optional<std::int64_t> ReadInt64(state::Store& store, std::string_view key) {
  auto v = store.Get(key);
  if (!v.ok() || !v->has_value() || (*v)->size() != 8) return std::nullopt;
  return static_cast<std::int64_t>(GetFixed64BE((*v)->data()));
}
void PutInt64(state::Store& store, std::string_view key, std::int64_t value) {
  std::string v;
  PutFixed64BE(v, static_cast<std::uint64_t>(value));
  store.Put(key, v);
}

double Seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

// One partition number of the stage: its store, its task and its inputs.
struct Slot {
  int partition = 0;
  std::unique_ptr<state::Store> store;
  std::unique_ptr<engine::Task> task;  // null while restoring
  std::atomic<bool> restoring{false};
  std::atomic<bool> cancel_restore{false};
  std::vector<std::int64_t> next_offset;    // per input: next offset to process (-1: unknown)
  std::vector<std::int64_t> resume_offset;  // per input: where the last commit resumes (-1: unknown)
  std::vector<std::int64_t> read_upto;      // per input: next offset to read at the last commit (-1: unknown)
  std::vector<bool> caught_up;              // per input: at the end as of the last fetch
  std::vector<std::string> repair;          // keys to re-write in the next frame
  std::int64_t end_offset = -1;             // set by the delivery report of the END marker
  std::vector<bool> first_logged;           // per input: first record after (re)start logged
  engine::TaskStats reported;               // the task's counters already added to the metrics
  engine::ObjectCacheStats reported_objects;  // the same for its object cache
  bool dirty = false;
  std::unique_ptr<OutputSink> sink;  // the task's outputs, to its producer
  // exactly_once: the task's transactional producer (transactional.id
  // <application_id>-customer-<partition>), made anew by the restore of
  // every assignment, so that its InitProducerId fences whoever had the
  // task before and ends that one's open transaction before the changelog
  // is read. Touched by the Run() thread only while the task exists.
  KafkaHandle producer;
  bool new_producer = true;  // the next restore makes the producer anew
  // Written by the restore thread before it hands the slot back: the
  // restore ran to its end (not cancelled by a revoke, say).
  bool restore_complete = false;
  bool restore_cancelled = false;
  // Its inputs are seeked to where its state resumes them and may be read
  // (PositionTask); until then they stay paused.
  bool positioned = false;
  std::chrono::steady_clock::time_point next_position_try{};
  std::chrono::steady_clock::time_point position_deadline{};
  // exactly_once: records produced in the open transaction (one is open
  // exactly while this is not 0).
  std::int64_t produced = 0;
  // exactly_once: those of them the brokers have acknowledged.
  std::int64_t delivered = 0;
};

// What the processing threads of one worker share (docs/runtime.md#threads):
// set up by the first thread's Start(), before the others start.
struct Worker::Shared {
  std::shared_ptr<state::RocksDbShared> memory;         // one block cache and write-buffer budget
  std::shared_ptr<engine::ObjectBudget> object_budget;  // one budget for decoded records
  // Set by the first thread that stops on a fatal error (which logs it).
  std::atomic<bool> fatal_logged{false};
  // The stores by partition, as a rebalance moves partitions between the
  // threads (declared last: its stores close before the memory they use).
  StorePool stores;
};

// One processing thread: a member of the consumer group with its own
// consumer, producer, tasks, stores and loop (Kafka Streams' StreamThread).
class Worker::Impl {
 public:
  Impl(const config::Config& config, Clock& clock, Metrics& metrics, std::size_t member, std::size_t members,
       Worker::Shared& shared)
      : config_(config),
        clock_(clock),
        metrics_(metrics),
        member_(member),
        members_(members),
        shared_(shared),
        // Customer topics, agents, and the queue stage's repartition topic:
        // task p reads partition p of each (docs/runtime.md#topics).
        topics_{config.topics.chat, config.topics.orders, config.topics.aftersales, config.topics.agents,
                RepartitionTopic(config, "staffing")},
        kinds_{TopicKind::kChat, TopicKind::kOrders, TopicKind::kAftersales, TopicKind::kAgents,
               TopicKind::kRepartition},
        changelog_(ChangelogTopic(config, std::string(kStage))),
        exactly_once_(config.processing.exactly_once()),
        collector_({.sla = config.topics.sla,
                    .alerts = config.topics.alerts,
                    .profiles = config.topics.profiles,
                    .staffing = config.topics.staffing,
                    .dlq = config.topics.dlq,
                    .repartition = topics_.back()},
                   metrics, clock) {
    metrics_.LimitQueues(config::NamedQueues(config), static_cast<std::size_t>(config.limits.max_queues));
  }

  ~Impl() {
    // No commit may touch a store or the producer once they go.
    if (pipeline_) pipeline_->Stop();
    watchdog_stop_.store(true);
    if (watchdog_.joinable()) watchdog_.join();
    StopRestoreThread();
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the state directory
  }

  // Hands a profile query to this thread's loop (AnswerQueries).
  std::future<Worker::Answer> PostQuery(const std::string& customer_id);

  Status Start();
  // One process per state directory: a lock held for the process's life.
  Status LockStateDir();
  // Creates, writes, syncs and removes a small file in state.dir: a disk
  // gone read-only or full is noticed at the next commit interval, even
  // while RocksDB still writes into files it has open.
  Status ProbeStateDir();
  // Ends the process with one clear line when a state write stalls.
  void Watchdog();
  // Until `stop` is set: then commits and leaves the group. Until
  // `sibling_failed` (another thread of the worker stopped on an error) or
  // an error of its own: then leaves the group without a commit.
  Status Run(const std::atomic<bool>& stop, const std::atomic<bool>& sibling_failed);
  bool Ready() const { return joined_.load() && restoring_.load() == 0 && fatal_flag_.load() == false; }
  bool Healthy() const {
    auto last = std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(heartbeat_.load()));
    return !fatal_flag_.load() && !WriteStalled() &&
           std::chrono::steady_clock::now() - last < std::chrono::seconds(120);
  }
  // A state write (a commit, the probe) running for longer than the stall
  // limit: two commit intervals, at least a second.
  bool WriteStalled() const { return StalledSince() != 0; }
  // When the longest-running state write began, if it has run past the
  // stall limit; 0 otherwise. The loop's writes and the commit thread's are
  // timed apart: one ending must not hide the other hanging.
  std::int64_t StalledSince() const {
    const std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    std::int64_t since = 0;
    for (const std::atomic<std::int64_t>* w : {&write_started_, &commit_write_started_}) {
      const std::int64_t started = w->load();
      if (started != 0 && now - started > StallLimit().count() && (since == 0 || started < since))
        since = started;
    }
    return since;
  }
  std::chrono::nanoseconds StallLimit() const {
    return std::chrono::milliseconds(std::max<std::int64_t>(1000, 2 * config_.commit.interval));
  }

 private:
  // The commit pipeline's Kafka side (at_least_once): changelog frames from
  // the committer thread, group offsets from the Run() thread.
  class PipelineKafka final : public ChangelogWriter, public OffsetCommitter {
   public:
    explicit PipelineKafka(Impl& w) : w_(w) {}
    Status Append(int partition, std::string_view key, std::optional<std::string_view> value,
                  DeliveryMark* mark) override;
    void Commit(const std::vector<std::pair<std::string, std::int64_t>>& offsets, int partition) override;

   private:
    Impl& w_;
  };

  // Produces a task's outputs to Kafka as soon as they are made (in
  // exactly_once, into the task's open transaction).
  class KafkaSink final : public OutputSink {
   public:
    KafkaSink(Impl& w, Slot& slot) : w_(w), slot_(slot) {}
    void Emit(const OutputView& r) override { w_.Produce(r, slot_); }

   private:
    Impl& w_;
    Slot& slot_;
  };

  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                          void* opaque);
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque);

  void Assign(rd_kafka_topic_partition_list_t* parts);
  void Revoke();
  // The slot of a partition assigned here (of `assigned`, the whole
  // assignment), its store opened or taken from the pool.
  Status OpenSlot(int partition, const std::set<int>& assigned);
  // Releases the slots whose cancelled restores have ended and that are not
  // in `assigned`: another thread of the worker may be waiting for their
  // stores while this one waits for one of its.
  void ReleaseEndedRestores(const std::set<int>& assigned);
  // Forgets a slot no longer assigned here; its store goes back to the pool
  // (open) for whichever thread of the worker is assigned it next.
  std::map<int, std::unique_ptr<Slot>>::iterator ReleaseSlot(
      std::map<int, std::unique_ptr<Slot>>::iterator it);
  // Creates an internal topic with `partitions`; compacted or with time retention.
  Status CreateTopic(const std::string& name, int partitions, bool compact);
  Status AwaitTopics(const std::vector<std::string>& topics, int partitions);
  // Hands a slot (its task not running) to the restore threads.
  void QueueRestore(Slot& slot);
  // One restore thread's loop, with its own changelog consumer.
  void RestoreLoop(rd_kafka_t* consumer);
  Status Restore(Slot& slot, rd_kafka_t* consumer);
  void FinishRestores();
  void PositionTask(Slot& slot);
  void PositionTasks();
  void HandleMessage(rd_kafka_message_t* m);
  void Tick(bool force_commit);
  // Commits every changed task. at_least_once: seals an epoch and returns
  // (the commit pipeline finishes it while the tasks go on), or with `wait`
  // also waits for it; exactly_once: commits the transactions, always
  // waiting.
  Status CommitAll(bool wait);
  // at_least_once: the epoch in flight, if any, to its end.
  Status DrainCommit();
  // at_least_once: ends the epoch in flight if its commit has ended.
  void FinishCommit();
  // exactly_once: commits each task's transaction (its outputs, changelog
  // frame and input offsets), then its state store.
  Status CommitTransactions(const std::vector<Slot*>& frames);
  // exactly_once: the task's changed state keys and input offsets to its
  // changelog partition, closed by an END marker (delivered: slot.end_offset).
  Status WriteFrame(Slot& slot);
  void SealTask(Slot& slot);
  // Writes the offsets each input of the task resumes at (and has been read
  // up to) into its store.
  void PutResumeOffsets(Slot& slot);
  // The task's state store after its frame is in the changelog: one atomic
  // write with the changelog position after the END marker.
  Status CommitStore(Slot& slot);
  // The offsets the task's last frame resumes its inputs at.
  void AddResumeOffsets(const Slot& slot, rd_kafka_topic_partition_list_t* list) const;
  // exactly_once: aborts the task's transaction and starts the task again
  // from its last commit (through a restore, as after an assignment).
  Status AbortAndRestart(Slot& slot, const std::string& reason);
  // exactly_once: makes the task's transactional producer and fences its
  // previous owner (restore thread).
  Status OpenTaskProducer(Slot& slot);
  // The producer of a task's records: its own, in a begun transaction, in
  // exactly_once; the worker's otherwise.
  rd_kafka_t* ProducerFor(Slot& slot);
  // The open transaction of `slot` ended (committed or aborted), or there is
  // none: its records leave cxstream_transaction_open_records.
  void EndTransaction(Slot& slot);
  std::size_t OutqLen() const;
  // at_least_once: the opaque of a record produced now (counted in the
  // current epoch); exactly_once: none (the transaction is the epoch).
  void* EpochMark() {
    if (!pipeline_) return nullptr;
    pipeline_->current().Expect();
    return pipeline_->current().AnyRecord();
  }
  void Produce(const OutputView& r, Slot& slot);
  // The processing thread's answer to a full producer queue: its input
  // paused (until Tick sees the queue drain) and delivery reports served.
  bool WhileProducerFull(rd_kafka_t* rk);
  void Fatal(Status s);
  int InputIndex(const char* topic) const;
  void PauseAll(bool pause);
  void StopRestoreThread();
  void UpdateGauges();
  // Adds what a task counted since the last report to the metrics; called at
  // each commit, not per record, to keep the hot path free of it.
  void ReportStats(Slot& slot);
  // Writes buffered by every task's store since its last commit.
  std::size_t PendingBytes() const;

  const config::Config& config_;
  Clock& clock_;
  Metrics& metrics_;
  // This thread's number among the worker's processing threads (0: the
  // one that also holds the state directory's lock and the process-wide
  // gauges) and their count.
  const std::size_t member_;
  const std::size_t members_;
  Worker::Shared& shared_;
  // Per-record counters by label values (the worker's thread only: it
  // consumes and serves delivery reports).
  CounterCache consumed_counters_, produced_counters_;
  const std::vector<std::string> topics_;
  const std::vector<TopicKind> kinds_;
  const std::string changelog_;
  const bool exactly_once_;
  RecordCollector collector_;  // outputs and the records of the commit
  // WhileProducerFull, made once (not per record).
  const RecordCollector::WhileFull while_full_{[this](rd_kafka_t* rk) { return WhileProducerFull(rk); }};
  std::shared_ptr<state::RocksDbShared> memory_;
  std::shared_ptr<engine::ObjectBudget> object_budget_;  // shared by every task
  std::size_t max_pending_bytes_ = 0;

  // at_least_once: epochs and their commits (docs/runtime.md#commits).
  // Declared before the producer so that it goes after it: an epoch a
  // failure left behind is kept while delivery reports may still name it.
  PipelineKafka pipeline_kafka_{*this};
  std::unique_ptr<CommitPipeline> pipeline_;
  std::chrono::steady_clock::time_point epoch_sealed_at_;

  KafkaHandle consumer_;
  // The consumer's queue, read a batch at a time (Run); released before the
  // consumer closes.
  rd_kafka_queue_t* consumer_queue_ = nullptr;
  std::vector<rd_kafka_message_t*> consumed_;
  KafkaHandle producer_;
  // One per restore thread (state.restore_threads): a consumer reads one
  // changelog partition at a time.
  std::vector<KafkaHandle> restore_consumers_;
  std::map<int, std::unique_ptr<Slot>> slots_;
  int partitions_ = 0;  // of every input topic (checked at start)
  // Between an assignment and the next revoke (the Run() thread only).
  bool assigned_ = false;

  std::vector<std::thread> restore_threads_;
  std::mutex restore_mu_;
  std::condition_variable restore_cv_;
  std::deque<Slot*> restore_queue_;
  // Held while a task producer is made (its InitProducerId fences the
  // task's previous owner): a revoke waits for it, so that no producer of a
  // task this worker gave away is made after the new owner's.
  std::mutex producer_init_mu_;
  std::vector<Slot*> restored_;
  bool restore_stop_ = false;

  std::atomic<bool> joined_{false};
  std::atomic<int> restoring_{0};
  std::atomic<bool> fatal_flag_{false};
  std::atomic<std::int64_t> heartbeat_{0};
  // Steady-clock time a state write began (0: none running), for the
  // watchdog and /healthz: a write that hangs (a stalled disk) blocks the
  // loop, so the loop cannot notice it itself.
  std::atomic<std::int64_t> write_started_{0};
  std::atomic<std::int64_t> commit_write_started_{0};  // the same, the commit thread's writes
  std::atomic<bool> watchdog_stop_{false};
  std::thread watchdog_;
  Status fatal_;
  std::mutex delivery_mu_;
  std::string delivery_error_;
  bool paused_for_backpressure_ = false;
  Timestamp loop_now_;  // the wall clock, read once per loop turn
  std::map<std::pair<std::string, std::string>, std::int64_t> open_clock_gauges_;  // (metric, queue)

  // Profile queries from the HTTP threads, answered by the loop.
  struct Query {
    std::string customer_id;
    std::promise<Worker::Answer> answer;
  };
  void AnswerQueries();
  Worker::Answer Answer(const std::string& customer_id);
  std::mutex queries_mu_;
  std::deque<std::shared_ptr<Query>> queries_;
  processors::ProfileProcessor profile_renderer_{engine::ProfileOptionsFrom(config_)};
  std::chrono::steady_clock::time_point next_commit_;
  int lock_fd_ = -1;  // the state directory's lock (LockStateDir)
  std::chrono::steady_clock::time_point last_tick_;
  // Since when the consumer reports a topic unknown (zero: it does not).
  std::chrono::steady_clock::time_point unknown_topic_since_;
};

// ---------------------------------------------------------------------------
// Start-up

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

Status Worker::Impl::LockStateDir() {
  // flock: released by the kernel when the process dies, kill -9 included,
  // so a restarted pod never finds a stale lock.
  const std::string path = config_.state.dir + "/cxstream.lock";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0)
    return Status::Fatal("state.dir " + config_.state.dir + ": cannot open " + path + ": " +
                         std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char holder[32] = {};
    const ssize_t n = ::pread(lock_fd_, holder, sizeof holder - 1, 0);
    std::string pid = n > 0 ? std::string(holder, static_cast<std::size_t>(n)) : "unknown";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return Status::Fatal("state.dir " + config_.state.dir + " is in use by another cxstream process (pid " +
                         pid + "); each worker needs a state directory of its own");
  }
  const std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, me.data(), me.size(), 0) < 0) {
    // The lock is held; the pid is only a hint for whoever is refused.
  }
  return Status::Ok();
}

Status Worker::Impl::ProbeStateDir() {
  // One file per processing thread: their commit threads probe at once.
  const std::string path = config_.state.dir + "/.cxstream-probe-" + std::to_string(member_);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0;
  int err = ok ? 0 : errno;
  if (ok && (::write(fd, "probe\n", 6) != 6 || ::fdatasync(fd) != 0)) {
    ok = false;
    err = errno;
  }
  if (fd >= 0 && ::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && ::unlink(path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (ok) return Status::Ok();
  return Status::Fatal("state.dir " + config_.state.dir + " no longer accepts writes: " + std::strerror(err));
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
    if (Status s = LockStateDir(); !s.ok()) return s;
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
    popts.before_write = [this] { return ProbeStateDir(); };
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
    if (Status s = CreateTopic(topics_[repartition], n, false); !s.ok()) {
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
    if (Status s = CreateTopic(changelog_, n, true); !s.ok()) {
      return Status::Fatal("changelog topic " + changelog_ + " does not exist and could not be created (" +
                           s.message() + "): create it with " + std::to_string(n) +
                           " partitions and cleanup.policy=compact (docs/runtime.md#topics)");
    }
    Log(LogLevel::kInfo, "worker", "created the changelog topic",
        {{"topic", std::string_view(changelog_)}, {"partitions", static_cast<std::int64_t>(n)}});
    counts->back() = n;
  }
  if (!created.empty()) {
    if (Status s = AwaitTopics(created, n); !s.ok()) return s;
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

// A topic just created is in the controller's metadata before every
// broker's: waits (bounded) until metadata shows each with `partitions`.
Status Worker::Impl::AwaitTopics(const std::vector<std::string>& topics, int partitions) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kMetadataTimeoutMs);
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto counts = PartitionCounts(producer_.get(), topics, kMetadataTimeoutMs);
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
                       std::to_string(kMetadataTimeoutMs / 1000) + " s: " + last);
}

// Creates an internal topic with the input topics' partition count and the
// broker's default replication: the changelog compacted; the repartition
// topic deleting after a day (its records are consumed within seconds).
Status Worker::Impl::CreateTopic(const std::string& name, int partitions, bool compact) {
  char err[512];
  rd_kafka_NewTopic_t* topic = rd_kafka_NewTopic_new(name.c_str(), partitions, -1, err, sizeof err);
  if (!topic) return Status::InvalidArgument(err);
  if (compact)
    rd_kafka_NewTopic_set_config(topic, "cleanup.policy", "compact");
  else
    rd_kafka_NewTopic_set_config(topic, "retention.ms", "86400000");
  rd_kafka_queue_t* queue = rd_kafka_queue_new(producer_.get());
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(producer_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, kMetadataTimeoutMs, err, sizeof err);
  rd_kafka_CreateTopics(producer_.get(), &topic, 1, options, queue);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, kMetadataTimeoutMs + 5000);
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

// ---------------------------------------------------------------------------
// Callbacks (librdkafka threads or the polling thread, as noted)

// Called on the Run() thread, from rd_kafka_consumer_poll.
void Worker::Impl::OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  if (self->fatal_flag_.load()) {
    // Leaving after a fatal error: nothing is committed (the state may be
    // half written); whoever owns the partitions next resumes from the last
    // commit. No task may run meanwhile.
    for (auto& [p, slot] : self->slots_) slot->task.reset();
    rd_kafka_assign(rk, nullptr);
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    self->Assign(parts);
  } else {
    self->Revoke();
  }
}

// Called on the thread that polls the producer (the Run() thread).
void Worker::Impl::OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  if (m->err && self->exactly_once_) {
    // The transaction can no longer commit: its commit fails as abortable,
    // and the task starts again from its last commit (AbortAndRestart).
    Log(LogLevel::kWarn, "worker", "delivery failed in a transaction",
        {{"topic", std::string_view(rd_kafka_topic_name(m->rkt))},
         {"error", std::string_view(rd_kafka_err2str(m->err))}});
    return;
  }
  if (m->err) {
    std::string why =
        std::string("delivery to ") + rd_kafka_topic_name(m->rkt) + " failed: " + rd_kafka_err2str(m->err);
    // The epoch the record belongs to fails: its stores are never written.
    if (m->_private) {
      const auto* mark = static_cast<const DeliveryMark*>(m->_private);
      mark->epoch->Delivered(*mark, false, m->offset, why);
    }
    std::lock_guard<std::mutex> l(self->delivery_mu_);
    if (self->delivery_error_.empty()) self->delivery_error_ = std::move(why);
    return;
  }
  const char* topic = rd_kafka_topic_name(m->rkt);
  self->produced_counters_.Increment({topic},
                                     [&] { return CounterCache::Entry{&self->metrics_.Produced(topic)}; });
  if (self->exactly_once_ && rk != self->producer_.get()) {
    // A task producer's: its record is in the task's open transaction. (A
    // restoring task, whose producer the restore thread is making, has
    // none in flight.)
    for (auto& [p, slot] : self->slots_) {
      if (slot->task && slot->producer.get() == rk) {
        ++slot->delivered;
        self->metrics_.transaction_delivered.Increment();
        break;
      }
    }
  }
  if (m->_private == nullptr) return;
  if (self->exactly_once_) {
    *static_cast<std::int64_t*>(m->_private) = m->offset;  // an END marker's (WriteFrame)
  } else {
    const auto* mark = static_cast<const DeliveryMark*>(m->_private);
    mark->epoch->Delivered(*mark, true, m->offset, {});
  }
}

void Worker::Impl::OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
    self->fatal_flag_.store(true);
    Log(LogLevel::kCritical, "kafka", "fatal client error",
        {{"error", std::string_view(rd_kafka_err2name(orig))}, {"reason", std::string_view(buf)}});
    return;
  }
  Log(LogLevel::kWarn, "kafka", "client error (retried)",
      {{"error", std::string_view(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)))},
       {"reason", std::string_view(reason)}});
}

// ---------------------------------------------------------------------------
// Assignment and restore

Status Worker::Impl::OpenSlot(int partition, const std::set<int>& assigned) {
  auto slot = std::make_unique<Slot>();
  slot->partition = partition;
  std::string path = config_.state.dir + "/" + std::string(kStage) + "-" + std::to_string(partition);
  state::RocksDbOptions opts{.path = path};
  opts.on_repair = [partition, path](const std::string& note) {
    Log(LogLevel::kWarn, "state", "state store repaired on open",
        {{"task", static_cast<std::int64_t>(partition)},
         {"path", std::string_view(path)},
         {"detail", std::string_view(note)}});
  };
  // From the pool: another thread of this worker may have had the partition
  // (and may still be ending its restore).
  auto store = shared_.stores.Take(
      partition, [&] { return state::OpenRocksDbStore(opts, memory_); }, kStoreHandOverPatience,
      [&] { ReleaseEndedRestores(assigned); });
  if (!store.ok()) return Status::Fatal("state store " + path + ": " + store.status().message());
  slot->store = std::move(store).value();
  slot->next_offset.assign(topics_.size(), -1);
  slot->resume_offset.assign(topics_.size(), -1);
  slot->read_upto.assign(topics_.size(), -1);
  slot->caught_up.assign(topics_.size(), false);
  slot->sink = std::make_unique<KafkaSink>(*this, *slot);
  slots_[partition] = std::move(slot);
  return Status::Ok();
}

std::map<int, std::unique_ptr<Slot>>::iterator Worker::Impl::ReleaseSlot(
    std::map<int, std::unique_ptr<Slot>>::iterator it) {
  Slot& slot = *it->second;
  slot.task.reset();  // its processors before the store they use
  shared_.stores.Give(slot.partition, std::move(slot.store));
  return slots_.erase(it);
}

void Worker::Impl::ReleaseEndedRestores(const std::set<int>& assigned) {
  std::vector<Slot*> ended;
  {
    std::lock_guard<std::mutex> l(restore_mu_);
    for (auto it = restored_.begin(); it != restored_.end();) {
      if (assigned.count((*it)->partition) == 0) {
        ended.push_back(*it);
        it = restored_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Slot* slot : ended) {
    restoring_.fetch_sub(1);
    slot->restoring.store(false);
    ReleaseSlot(slots_.find(slot->partition));
  }
}

void Worker::Impl::Assign(rd_kafka_topic_partition_list_t* parts) {
  std::set<int> numbers;
  for (int i = 0; i < parts->cnt; ++i) numbers.insert(parts->elems[i].partition);
  // Close tasks no longer ours (they were committed at the revoke).
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (!numbers.count(it->first)) {
      it->second->cancel_restore.store(true);
      if (it->second->restoring.load()) {
        ++it;
        continue;
      }  // closed when its restore ends
      it = ReleaseSlot(it);
    } else {
      ++it;
    }
  }
  // Every assigned task checks its changelog before it processes: a task
  // that was elsewhere in between may be behind it. Its partitions stay
  // paused meanwhile, so the group never waits on a restore.
  // Start each partition at the offset its local store holds (the beginning
  // when it holds none), so no committed-offset lookup is pending when the
  // restore ends and the task seeks to the offset it restored.
  std::map<std::pair<std::string, int>, std::int64_t> start;
  for (int p : numbers) {
    if (!slots_.count(p)) {
      if (Status s = OpenSlot(p, numbers); !s.ok()) return Fatal(s);
    }
    Slot& slot = *slots_[p];
    if (slot.restoring.load()) continue;  // its store belongs to the restore thread
    for (const auto& t : topics_) {
      start[{t, p}] = ReadInt64(*slot.store, OffsetKey(t, p)).value_or(RD_KAFKA_OFFSET_BEGINNING);
    }
  }
  for (int i = 0; i < parts->cnt; ++i) {
    auto it = start.find({parts->elems[i].topic, parts->elems[i].partition});
    if (it != start.end()) parts->elems[i].offset = it->second;
  }
  for (int p : numbers) {
    Slot& slot = *slots_[p];
    slot.cancel_restore.store(false);
    if (!slot.restoring.load()) {
      slot.new_producer = true;
      slot.task.reset();
      QueueRestore(slot);
    }
  }
  if (auto e = rd_kafka_assign(consumer_.get(), parts)) {
    return Fatal(Status::Fatal(std::string("assign: ") + rd_kafka_err2str(e)));
  }
  rd_kafka_pause_partitions(consumer_.get(), parts);
  assigned_ = true;
  joined_.store(true);
  metrics_.SetPart(metrics_.assigned_tasks, member_, static_cast<double>(numbers.size()));
  Log(LogLevel::kInfo, "worker", "partitions assigned",
      {{"tasks", static_cast<std::int64_t>(numbers.size())}});
}

void Worker::Impl::Revoke() {
  Status s = CommitAll(/*wait=*/true);
  if (!s.ok()) Fatal(s);
  // A restore still queued or running stops (the next assignment queues
  // it again if the task stays here); a task producer being made is
  // finished before the partitions go.
  for (auto& [p, slot] : slots_) {
    if (slot->restoring.load()) slot->cancel_restore.store(true);
  }
  { std::lock_guard<std::mutex> l(producer_init_mu_); }
  // No task may run between a revoke and the next assignment: its partition
  // may now belong to another worker, and a timer fired here would produce
  // outputs and changelog frames for state this worker no longer owns.
  // Every store goes back to the pool, open, at once: the next assignment
  // may give the partition to another thread of this worker, which must not
  // wait for this thread's assignment (that one may wait, in the group, for
  // the other thread's). A store a restore thread holds goes back when its
  // cancelled restore ends (FinishRestores). The next assignment checks each
  // store against the changelog. After a failed commit the stores stay (the
  // worker stops; the commit thread may still hold them).
  for (auto it = slots_.begin(); it != slots_.end();) {
    Slot& slot = *it->second;
    if (slot.task) ReportStats(slot);
    slot.task.reset();
    slot.reported = {};
    slot.reported_objects = {};
    slot.dirty = false;
    it = (slot.restoring.load() || !s.ok()) ? std::next(it) : ReleaseSlot(it);
  }
  rd_kafka_assign(consumer_.get(), nullptr);
  assigned_ = false;
  metrics_.ClearStaffing();  // a queue's stage may now run elsewhere
  Log(LogLevel::kInfo, "worker", "partitions revoked");
}

void Worker::Impl::StopRestoreThread() {
  {
    std::lock_guard<std::mutex> l(restore_mu_);
    restore_stop_ = true;
    for (auto& [p, slot] : slots_) slot->cancel_restore.store(true);
  }
  restore_cv_.notify_all();
  for (std::thread& t : restore_threads_)
    if (t.joinable()) t.join();
}

void Worker::Impl::RestoreLoop(rd_kafka_t* consumer) {
  while (true) {
    Slot* slot = nullptr;
    {
      std::unique_lock<std::mutex> l(restore_mu_);
      restore_cv_.wait(l, [this] { return restore_stop_ || !restore_queue_.empty(); });
      if (restore_stop_) return;
      slot = restore_queue_.front();
      restore_queue_.pop_front();
    }
    slot->restore_cancelled = false;
    Status s = Restore(*slot, consumer);
    while (!s.ok() && s.retryable() && !slot->cancel_restore.load() && !slot->restore_cancelled) {
      Log(LogLevel::kWarn, "restore", "retrying",
          {{"task", static_cast<std::int64_t>(slot->partition)}, {"reason", std::string_view(s.message())}});
      std::this_thread::sleep_for(std::chrono::seconds(1));
      s = Restore(*slot, consumer);
    }
    slot->restore_complete = s.ok();
    if (!s.ok() && !slot->cancel_restore.load() && !slot->restore_cancelled) {
      Log(LogLevel::kCritical, "restore", "failed",
          {{"task", static_cast<std::int64_t>(slot->partition)}, {"reason", std::string_view(s.message())}});
      fatal_flag_.store(true);
    }
    std::lock_guard<std::mutex> l(restore_mu_);
    restored_.push_back(slot);
  }
}

// Runs on the restore thread; the slot's store is not touched by the Run()
// thread until the slot is handed back through restored_.
Status Worker::Impl::Restore(Slot& slot, rd_kafka_t* consumer) {
  const int p = slot.partition;
  if (exactly_once_ && (slot.new_producer || !slot.producer)) {
    // Fence first: the previous owner's open transaction is aborted (or
    // completes) before the changelog's last stable offset is read.
    std::lock_guard<std::mutex> l(producer_init_mu_);
    if (slot.cancel_restore.load()) {
      slot.restore_cancelled = true;
      return Status::Unavailable("restore cancelled");
    }
    if (Status s = OpenTaskProducer(slot); !s.ok()) return s;
  }
  auto began = std::chrono::steady_clock::now();
  auto& remaining = metrics_.RestoreRemaining(p);
  RestoreOptions options{.task = p, .cancel = &slot.cancel_restore, .on_frame = nullptr};
  options.on_frame = [&](std::int64_t records, std::int64_t left) {
    metrics_.restored_records.Increment(static_cast<double>(records));
    remaining.Set(static_cast<double>(left));
  };
  auto source = NewKafkaChangelogSource(consumer, changelog_, p, kMetadataTimeoutMs);
  auto restored = RestoreStore(*slot.store, *source, options);
  source.reset();  // the partition unassigned
  remaining.Set(0);
  if (!restored.ok()) return restored.status();
  if (restored->cancelled) {
    slot.restore_cancelled = true;
    return Status::Unavailable("restore cancelled");
  }
  slot.repair = std::move(restored->incomplete);
  if (restored->from >= restored->end) return Status::Ok();  // nothing to read
  double secs = Seconds(std::chrono::steady_clock::now() - began);
  Log(LogLevel::kInfo, "restore", "restored from changelog",
      {{"task", static_cast<std::int64_t>(p)},
       {"records", restored->records},
       {"from", restored->from},
       {"to", restored->to},
       {"end", restored->end},
       {"incomplete_frame_keys", static_cast<std::int64_t>(slot.repair.size())},
       {"seconds", secs},
       {"records_per_s", secs > 0 ? static_cast<double>(restored->records) / secs : 0.0}});
  return Status::Ok();
}

Status Worker::Impl::OpenTaskProducer(Slot& slot) {
  slot.producer.reset();  // a previous assignment's
  EndTransaction(slot);
  auto conf = BaseConf(config_, ClientKind::kProducer);
  if (!conf.ok()) return Status::Fatal(conf.status().message());
  const std::string id =
      config_.kafka.application_id + "-" + std::string(kStage) + "-" + std::to_string(slot.partition);
  std::vector<std::pair<std::string, std::string>> props = {
      {"transactional.id", id},          {"enable.idempotence", "true"},          {"linger.ms", "5"},
      {"partitioner", "murmur2_random"}, {"queue.buffering.max.kbytes", "16384"},
  };
  // A transaction lasts one commit interval; a worker that dies holding one
  // blocks read_committed consumers of its partitions until its task is
  // fenced by the next owner or this timeout passes (Kafka Streams: 10 s).
  if (!config_.kafka.properties.count("transaction.timeout.ms") &&
      !config_.kafka.properties.count("producer.transaction.timeout.ms")) {
    props.emplace_back("transaction.timeout.ms",
                       std::to_string(std::max<std::int64_t>(10'000, 10 * config_.commit.interval)));
  }
  for (const auto& [k, v] : props) {
    if (Status s = SetProperty(conf->get(), k, v); !s.ok()) return Status::Fatal(s.message());
  }
  rd_kafka_conf_set_opaque(conf->get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &Impl::OnDelivery);
  rd_kafka_conf_set_error_cb(conf->get(), &Impl::OnError);
  char err[512];
  KafkaHandle rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf->release(), err, sizeof err));
  if (!rk)
    return Status::Fatal(std::string("producer of task ") + std::to_string(slot.partition) + ": " + err);
  auto began = std::chrono::steady_clock::now();
  if (rd_kafka_error_t* e = rd_kafka_init_transactions(rk.get(), kMetadataTimeoutMs)) {
    const std::string why = rd_kafka_error_string(e);
    const bool retriable =
        rd_kafka_error_is_retriable(e) || rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__TIMED_OUT;
    rd_kafka_error_destroy(e);
    if (retriable) return Status::Unavailable("init_transactions of " + id + ": " + why);
    return Status::Fatal("init_transactions of " + id + ": " + why);
  }
  Log(LogLevel::kInfo, "worker", "task producer ready",
      {{"task", static_cast<std::int64_t>(slot.partition)},
       {"transactional_id", std::string_view(id)},
       {"seconds", Seconds(std::chrono::steady_clock::now() - began)}});
  slot.producer = std::move(rk);
  slot.new_producer = false;
  return Status::Ok();
}

// On the Run() thread: hands restored tasks over to processing.
void Worker::Impl::FinishRestores() {
  std::vector<Slot*> done;
  {
    std::lock_guard<std::mutex> l(restore_mu_);
    done.swap(restored_);
  }
  for (Slot* slot : done) {
    restoring_.fetch_sub(1);
    slot->restoring.store(false);
    if (slot->cancel_restore.load()) {
      ReleaseSlot(slots_.find(slot->partition));  // no longer assigned
      continue;
    }
    if (!slot->restore_complete) {
      QueueRestore(*slot);  // cancelled by a revoke, then assigned again
      continue;
    }
    // Revoked while it restored, and not assigned again yet: nothing may be
    // positioned now. The store stays; the next assignment that includes the
    // partition checks it against the changelog again.
    if (!assigned_) continue;
    engine::TaskOptions opts = engine::TaskOptionsFrom(config_);
    opts.inputs = static_cast<int>(topics_.size());
    opts.repartition_input = static_cast<int>(topics_.size()) - 1;
    opts.repartition_sources = partitions_;
    opts.source_id = slot->partition;
    opts.object_budget = object_budget_;
    slot->task = std::make_unique<engine::Task>(
        opts, *slot->store, *slot->sink,
        engine::BuildCustomerProcessors(config_, engine::Mode::kRun, partitions_));
    slot->reported = {};
    slot->reported_objects = {};
    metrics_.RestoreRemaining(slot->partition).Set(0);  // restored: nothing left (and the series exists)
    if (Status s = slot->task->Open(); !s.ok()) return Fatal(s);
    slot->task->set_now(clock_.Now());
    for (const auto& key : slot->repair) {
      auto v = slot->store->Get(key);
      if (!v.ok()) return Fatal(v.status());
      if (v->has_value())
        slot->store->Put(key, **v);
      else
        slot->store->Tombstone(key);  // the changelog holds a value the store never applied
    }
    if (!slot->repair.empty()) slot->dirty = true;
    slot->repair.clear();
    // Resume each input where the state says it stopped.
    for (std::size_t i = 0; i < topics_.size(); ++i) {
      slot->next_offset[i] = ReadInt64(*slot->store, OffsetKey(topics_[i], slot->partition)).value_or(-1);
      slot->read_upto[i] = ReadInt64(*slot->store, ReadKey(topics_[i], slot->partition)).value_or(-1);
      slot->caught_up[i] = false;
    }
    slot->first_logged.assign(topics_.size(), false);
    slot->positioned = false;
    slot->position_deadline = std::chrono::steady_clock::now() + kPositionPatience;
    PositionTask(*slot);
  }
  metrics_.SetPart(metrics_.restoring_tasks, member_, restoring_.load());
  metrics_.SetPart(metrics_.ready, member_, Ready() ? 1 : 0, Metrics::Combine::kMin);
}

// Seeks a restored task's input partitions to where its state resumes them
// and lets them be read. A partition the consumer cannot seek yet is tried
// again on a later turn of the loop, never by waiting in it: one still
// resolving its start offset (ERR__STATE), or one of a topic created a
// moment ago that this consumer's metadata does not hold yet (ERR__UNKNOWN_
// PARTITION; a new cluster's repartition topic). After kPositionPatience
// the worker stops: reading from anywhere else would lose or repeat input.
void Worker::Impl::PositionTask(Slot& slot) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(topics_.size())));
  for (std::size_t i = 0; i < topics_.size(); ++i) {
    rd_kafka_topic_partition_list_add(list.get(), topics_[i].c_str(), slot.partition)->offset =
        slot.next_offset[i] >= 0 ? slot.next_offset[i] : RD_KAFKA_OFFSET_BEGINNING;
  }
  if (rd_kafka_error_t* e = rd_kafka_seek_partitions(consumer_.get(), list.get(), 10'000)) {
    Log(LogLevel::kWarn, "worker", "seek failed", {{"reason", std::string_view(rd_kafka_error_string(e))}});
    rd_kafka_error_destroy(e);
  }
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = list->elems[i];
    if (tp.err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    if (std::chrono::steady_clock::now() >= slot.position_deadline) {
      return Fatal(Status::Fatal(std::string("cannot position ") + tp.topic + " partition " +
                                 std::to_string(tp.partition) +
                                 " at the offset its state holds: " + rd_kafka_err2str(tp.err)));
    }
    slot.next_position_try = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    return;
  }
  slot.positioned = true;
  if (!paused_for_backpressure_) rd_kafka_resume_partitions(consumer_.get(), list.get());
  Log(LogLevel::kInfo, "worker", "task processing",
      {{"task", static_cast<std::int64_t>(slot.partition)},
       {"offset_0", slot.next_offset[0]},
       {"offset_1", slot.next_offset[1]},
       {"offset_2", slot.next_offset[2]}});
}

void Worker::Impl::PositionTasks() {
  const auto now = std::chrono::steady_clock::now();
  for (auto& [p, slot] : slots_) {
    if (slot->task && !slot->positioned && now >= slot->next_position_try) PositionTask(*slot);
  }
}

// ---------------------------------------------------------------------------
// Processing

int Worker::Impl::InputIndex(const char* topic) const {
  for (std::size_t i = 0; i < topics_.size(); ++i) {
    if (topics_[i] == topic) return static_cast<int>(i);
  }
  return -1;
}

void Worker::Impl::HandleMessage(rd_kafka_message_t* m) {
  const char* topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    int input = InputIndex(topic);
    auto it = slots_.find(m->partition);
    if (input >= 0 && it != slots_.end() && it->second->task) {
      Slot& slot = *it->second;
      slot.caught_up[input] = true;
      // Everything below the end was delivered before this event: a
      // transaction marker last in the partition (exactly_once) is passed,
      // so the lag reads 0 and the next commit resumes after it.
      if (slot.next_offset[input] >= 0 && m->offset > slot.next_offset[input])
        slot.next_offset[input] = m->offset;
    }
    return;
  }
  if (m->err) {
    switch (m->err) {
      case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
      case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART: {
        // Every topic was there at start; one just created (by another
        // worker starting at the same time, say) reaches every broker's
        // metadata a moment later. Gone for longer: fatal.
        const auto now = std::chrono::steady_clock::now();
        if (unknown_topic_since_ == std::chrono::steady_clock::time_point{}) unknown_topic_since_ = now;
        if (now - unknown_topic_since_ < std::chrono::milliseconds(3 * kMetadataTimeoutMs)) {
          Log(LogLevel::kWarn, "worker", "topic not in the metadata yet (retried)",
              {{"reason", std::string_view(rd_kafka_message_errstr(m))}});
          return;
        }
        return Fatal(Status::Fatal(std::string("consumer: ") + rd_kafka_message_errstr(m)));
      }
      case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        return Fatal(Status::Fatal(std::string("consumer: ") + rd_kafka_message_errstr(m)));
      default:
        Log(LogLevel::kWarn, "worker", "consumer error (retried)",
            {{"error", std::string_view(rd_kafka_err2name(m->err))}});
        return;
    }
  }
  unknown_topic_since_ = {};
  int input = InputIndex(topic);
  auto it = slots_.find(m->partition);
  if (input < 0 || it == slots_.end() || !it->second->task) return;  // paused: re-read after the seek
  Slot& slot = *it->second;
  if (!slot.first_logged[input]) {
    slot.first_logged[input] = true;
    Log(LogLevel::kDebug, "worker", "first record of an input",
        {{"topic", std::string_view(topic)},
         {"partition", static_cast<std::int64_t>(m->partition)},
         {"offset", m->offset},
         {"expected", slot.next_offset[input]}});
  }
  if (slot.next_offset[input] >= 0 && m->offset < slot.next_offset[input]) return;  // already in state
  // (In exactly_once, transaction markers take offsets no record has.)
  if (!exactly_once_ && slot.next_offset[input] >= 0 && m->offset > slot.next_offset[input]) {
    Log(LogLevel::kWarn, "worker", "input offset jumped forward",
        {{"topic", std::string_view(topic)},
         {"partition", static_cast<std::int64_t>(m->partition)},
         {"expected", slot.next_offset[input]},
         {"got", m->offset}});
  }
  consumed_counters_.Increment({topic}, [&] { return CounterCache::Entry{&metrics_.Consumed(topic)}; });

  engine::InputRecord rec;
  rec.value = std::string_view(static_cast<const char*>(m->payload ? m->payload : ""), m->len);
  rec.source.topic = topic;
  rec.source.partition = m->partition;
  rec.source.offset = m->offset;
  rec.topic = kinds_[static_cast<std::size_t>(input)];
  rec.input = input;
  rd_kafka_timestamp_type_t tstype;
  rec.ingest_ms = rd_kafka_message_timestamp(m, &tstype);
  rec.read_before = m->offset < slot.read_upto[static_cast<std::size_t>(input)];

  // "Now" for the future-timestamp check must be set before every record:
  // a task just restored carries an old watermark, and without "now" the
  // check would measure from it and dead-letter valid events.
  slot.task->set_now(loop_now_);
  slot.task->Process(rec);
  slot.next_offset[input] = m->offset + 1;
  slot.caught_up[input] = false;
  slot.dirty = true;
  if (!slot.task->error().ok()) Fatal(slot.task->error());
}

void Worker::Impl::EndTransaction(Slot& slot) {
  metrics_.transaction_records.Decrement(static_cast<double>(slot.produced));
  metrics_.transaction_delivered.Decrement(static_cast<double>(slot.delivered));
  slot.produced = 0;
  slot.delivered = 0;
}

rd_kafka_t* Worker::Impl::ProducerFor(Slot& slot) {
  if (!exactly_once_) return producer_.get();
  metrics_.transaction_records.Increment();
  if (slot.produced++ == 0) {
    if (rd_kafka_error_t* e = rd_kafka_begin_transaction(slot.producer.get())) {
      Fatal(Status::Fatal("task " + std::to_string(slot.partition) +
                          ": begin_transaction: " + rd_kafka_error_string(e)));
      rd_kafka_error_destroy(e);
    }
  }
  return slot.producer.get();
}

std::size_t Worker::Impl::OutqLen() const {
  std::size_t n = static_cast<std::size_t>(rd_kafka_outq_len(producer_.get()));
  if (exactly_once_) {
    for (const auto& [p, slot] : slots_) {
      if (slot->task && slot->producer)
        n += static_cast<std::size_t>(rd_kafka_outq_len(slot->producer.get()));
    }
  }
  return n;
}

void Worker::Impl::Produce(const OutputView& r, Slot& slot) {
  rd_kafka_t* rk = ProducerFor(slot);
  Status s = collector_.Send(rk, r, EpochMark(), while_full_);
  if (!s.ok() && !fatal_flag_.load()) Fatal(s);
}

bool Worker::Impl::WhileProducerFull(rd_kafka_t* rk) {
  // Back-pressure: stop fetching input until the producer drains.
  if (!paused_for_backpressure_) {
    PauseAll(true);
    metrics_.SetPart(metrics_.backpressure, member_, 1, Metrics::Combine::kMax);
  }
  rd_kafka_poll(rk, 100);
  return !fatal_flag_.load();
}

// The committer thread's produce: no back-pressure pause (the consumer is
// the Run() thread's), a short wait while the queue is full instead.
Status Worker::Impl::PipelineKafka::Append(int partition, std::string_view key,
                                           std::optional<std::string_view> value, DeliveryMark* mark) {
  return RecordCollector::Produce(w_.producer_.get(), w_.changelog_, partition, key, value, mark, nullptr,
                                  [this](rd_kafka_t*) {
                                    if (w_.fatal_flag_.load()) return false;
                                    // The Run() thread serves the delivery reports.
                                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                                    return true;
                                  });
}

void Worker::Impl::PipelineKafka::Commit(const std::vector<std::pair<std::string, std::int64_t>>& offsets,
                                         int partition) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [topic, offset] : offsets)
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = offset;
  rd_kafka_commit(w_.consumer_.get(), list.get(), /*async=*/1);
}

void Worker::Impl::PauseAll(bool pause) {
  paused_for_backpressure_ = pause;
  rd_kafka_topic_partition_list_t* assigned = nullptr;
  if (rd_kafka_assignment(consumer_.get(), &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  PartitionList holder(assigned);
  if (pause) {
    rd_kafka_pause_partitions(consumer_.get(), assigned);
    return;
  }
  // Resume only the partitions of tasks that are processing.
  PartitionList resume(rd_kafka_topic_partition_list_new(assigned->cnt));
  for (int i = 0; i < assigned->cnt; ++i) {
    auto it = slots_.find(assigned->elems[i].partition);
    if (it != slots_.end() && it->second->task && it->second->positioned) {
      rd_kafka_topic_partition_list_add(resume.get(), assigned->elems[i].topic, assigned->elems[i].partition);
    }
  }
  rd_kafka_resume_partitions(consumer_.get(), resume.get());
}

void Worker::Impl::Fatal(Status s) {
  if (fatal_.ok()) fatal_ = s.ok() ? Status::Fatal("unknown") : s;
  fatal_flag_.store(true);
}

// ---------------------------------------------------------------------------
// Time and commits

void Worker::Impl::Tick(bool force_commit) {
  auto steady = std::chrono::steady_clock::now();
  heartbeat_.store(steady.time_since_epoch().count());
  if (paused_for_backpressure_ && OutqLen() < 1000) {
    PauseAll(false);
    metrics_.SetPart(metrics_.backpressure, member_, 0, Metrics::Combine::kMax);
  }
  if (steady - last_tick_ >= std::chrono::milliseconds(50)) {
    last_tick_ = steady;
    const Timestamp now = clock_.Now();
    for (auto& [p, slot] : slots_) {
      if (!slot->task) continue;
      if (slot->producer) rd_kafka_poll(slot->producer.get(), 0);  // delivery reports
      slot->task->set_now(now);
      const auto fired = slot->task->stats().timers_fired;
      const auto applied = slot->task->stats().applied + slot->task->stats().duplicates;
      slot->task->OnWallClock(now - config_.time.grace, slot->caught_up);
      // Fired timers and events the wall clock let through are state changes.
      if (slot->task->stats().timers_fired != fired ||
          slot->task->stats().applied + slot->task->stats().duplicates != applied)
        slot->dirty = true;
      if (!slot->task->error().ok()) Fatal(slot->task->error());
    }
  }
  FinishCommit();
  const bool over = PendingBytes() > max_pending_bytes_;
  // A commit point while an epoch is in flight waits for it only when the
  // writes buffered since have outgrown their share of the budget (or it is
  // forced); otherwise it is taken when that epoch ends.
  if (!force_commit && !over && pipeline_ && pipeline_->InFlight()) return;
  if (force_commit || steady >= next_commit_ || over) {
    // The disk first: RocksDB is not handed a write a failed disk would
    // refuse (after a failed write-ahead log write, the Debian build of
    // RocksDB 7.8 aborts on its assertions rather than returning the error).
    // At every commit point, whether or not anything changed: a disk that
    // fails under an idle worker is noticed too. at_least_once: the commit
    // pipeline probes it again just before it writes the stores.
    Status s;
    {
      StateWrite timing(write_started_);
      s = ProbeStateDir();
    }
    for (auto& [p, slot] : slots_) {
      if (s.ok() && slot->task) s = slot->store->BackgroundError();
    }
    if (s.ok()) s = CommitAll(/*wait=*/force_commit);
    if (!s.ok()) {
      metrics_.commit_failures.Increment();
      Fatal(s);
    }
    next_commit_ = steady + std::chrono::milliseconds(config_.commit.interval);
    UpdateGauges();
    // Stores of partitions that left this worker (not taken by another of
    // its threads within a minute) are closed.
    if (member_ == 0) shared_.stores.CloseIdle(kIdleStoreLifetime);
  }
}

// The commit protocol (docs/runtime.md#commits), at_least_once: each
// changed task's state, timers and input offsets are sealed into an epoch
// (the records produced since the last seal) and handed to the commit
// pipeline, which writes the frames to the changelog, waits until every
// record of the epoch is acknowledged, and then writes the stores; the
// tasks go on processing meanwhile. exactly_once: each task's outputs and
// changelog frame go into its transaction with its input offsets, the
// transaction commits, then its store (CommitTransactions); the tasks wait.
Status Worker::Impl::CommitAll(bool wait) {
  std::vector<Slot*> frames;
  for (auto& [p, slot] : slots_) {
    // A transaction must not stay open with records in it (a watermark
    // announcement, say): read_committed consumers wait at its first one.
    if (slot->task && (slot->dirty || slot->produced > 0)) frames.push_back(slot.get());
  }
  if (exactly_once_) {
    if (frames.empty()) return Status::Ok();
    auto began = std::chrono::steady_clock::now();
    if (Status s = CommitTransactions(frames); !s.ok()) return s;
    metrics_.commits.Increment();
    metrics_.commit_seconds.Observe(Seconds(std::chrono::steady_clock::now() - began));
    return Status::Ok();
  }
  if (Status s = DrainCommit(); !s.ok()) return s;
  {
    std::lock_guard<std::mutex> l(delivery_mu_);
    if (!delivery_error_.empty()) return Status::Fatal(delivery_error_);
  }
  // Nothing changed: no epoch (what was produced stays in the current one).
  if (frames.empty()) return Status::Ok();
  std::vector<SealedTask> sealed;
  sealed.reserve(frames.size());
  for (Slot* slot : frames) {
    SealTask(*slot);
    SealedTask t{.partition = slot->partition, .store = slot->store.get(), .offsets = {}};
    for (std::size_t i = 0; i < topics_.size(); ++i) {
      if (slot->resume_offset[i] >= 0) t.offsets.emplace_back(topics_[i], slot->resume_offset[i]);
    }
    sealed.push_back(std::move(t));
  }
  epoch_sealed_at_ = std::chrono::steady_clock::now();
  pipeline_->Seal(std::move(sealed));
  return wait ? DrainCommit() : Status::Ok();
}

Status Worker::Impl::DrainCommit() {
  if (!pipeline_ || !pipeline_->InFlight()) return Status::Ok();
  Status s =
      pipeline_->Drain([this] { rd_kafka_poll(producer_.get(), 10); }, [this] { return fatal_flag_.load(); });
  if (s.ok()) {
    metrics_.commits.Increment();
    metrics_.commit_seconds.Observe(Seconds(std::chrono::steady_clock::now() - epoch_sealed_at_));
  }
  return s;
}

void Worker::Impl::FinishCommit() {
  if (!pipeline_ || !pipeline_->InFlight()) return;
  Status s;
  if (!pipeline_->Finish(&s)) return;
  if (!s.ok()) {
    metrics_.commit_failures.Increment();
    return Fatal(s);
  }
  metrics_.commits.Increment();
  metrics_.commit_seconds.Observe(Seconds(std::chrono::steady_clock::now() - epoch_sealed_at_));
}

// at_least_once: the task's changed state and the offsets its inputs resume
// at, sealed in its store for the commit pipeline.
void Worker::Impl::SealTask(Slot& slot) {
  slot.task->Checkpoint();
  PutResumeOffsets(slot);
  slot.store->Seal();
  slot.dirty = false;
}

void Worker::Impl::PutResumeOffsets(Slot& slot) {
  // Each input resumes at its earliest event still waiting for the
  // watermark (not applied, so not in this state); what is read again and
  // was applied is recognised as a repeat.
  for (std::size_t i = 0; i < topics_.size(); ++i) {
    slot.resume_offset[i] = slot.task->ResumeOffset(static_cast<int>(i), slot.next_offset[i]);
    if (slot.resume_offset[i] >= 0)
      PutInt64(*slot.store, OffsetKey(topics_[i], slot.partition), slot.resume_offset[i]);
    const std::int64_t read_upto =
        engine::ReadUptoAtCommit(slot.read_upto[i], slot.resume_offset[i], slot.next_offset[i]);
    if (read_upto != slot.read_upto[i]) {
      PutInt64(*slot.store, ReadKey(topics_[i], slot.partition), read_upto);
      slot.read_upto[i] = read_upto;
    }
  }
}

Status Worker::Impl::WriteFrame(Slot& slot) {
  slot.task->Checkpoint();
  rd_kafka_t* rk = ProducerFor(slot);
  PutResumeOffsets(slot);
  Status produced;
  Status s = slot.store->ForEachPending([&](std::string_view key, std::optional<std::string_view> value) {
    if (!produced.ok() || (!key.empty() && key[0] == 'L')) return;  // local-only
    produced =
        RecordCollector::Produce(rk, changelog_, slot.partition, key, value, nullptr, nullptr, while_full_);
  });
  if (!s.ok()) return s;
  if (!produced.ok()) return produced;
  slot.end_offset = -1;
  return RecordCollector::Produce(rk, changelog_, slot.partition, kEndMarkerKey, std::string_view("1"),
                                  &slot.end_offset, nullptr, while_full_);
}

// Each task's transaction holds what it produced since its last commit (its
// outputs and repartition records), its changelog frame and its input
// offsets (sent to the group within the transaction). The state store is
// written only after the transaction has committed: a store is never ahead
// of what read_committed consumers (a restore among them) can see.
Status Worker::Impl::CommitTransactions(const std::vector<Slot*>& frames) {
  for (Slot* slot : frames) {
    if (Status s = WriteFrame(*slot); !s.ok()) return s;
  }
  if (fatal_flag_.load()) return fatal_.ok() ? Status::Fatal("fatal Kafka client error") : fatal_;
  // Every producer sends on its own threads: flushing one after the other
  // waits about as long as the slowest.
  for (Slot* slot : frames) rd_kafka_flush(slot->producer.get(), kMetadataTimeoutMs);
  rd_kafka_consumer_group_metadata_t* group = rd_kafka_consumer_group_metadata(consumer_.get());
  std::unique_ptr<rd_kafka_consumer_group_metadata_t, void (*)(rd_kafka_consumer_group_metadata_t*)> holder(
      group, &rd_kafka_consumer_group_metadata_destroy);
  for (Slot* slot : frames) {
    rd_kafka_t* rk = slot->producer.get();
    PartitionList offsets(rd_kafka_topic_partition_list_new(static_cast<int>(topics_.size())));
    AddResumeOffsets(*slot, offsets.get());
    // A retriable error (a coordinator moving) is tried again, 20 times at
    // most; an abortable one aborts; any other (fenced: another worker owns
    // the task now) stops the worker.
    std::string step;
    rd_kafka_error_t* e = nullptr;
    bool offsets_sent = offsets->cnt == 0;
    for (int attempt = 0; attempt < 20; ++attempt) {
      if (e) {
        rd_kafka_error_destroy(e);
        e = nullptr;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (!offsets_sent) {
        step = "send_offsets_to_transaction";
        e = rd_kafka_send_offsets_to_transaction(rk, offsets.get(), group, kMetadataTimeoutMs);
        offsets_sent = e == nullptr;
      }
      if (!e) {
        step = "commit_transaction";
        e = rd_kafka_commit_transaction(rk, kMetadataTimeoutMs);
      }
      if (!e || !rd_kafka_error_is_retriable(e)) break;
      Log(LogLevel::kWarn, "worker", "transaction commit retried",
          {{"task", static_cast<std::int64_t>(slot->partition)},
           {"step", std::string_view(step)},
           {"reason", std::string_view(rd_kafka_error_string(e))}});
    }
    if (e) {
      const std::string why = step + ": " + rd_kafka_error_string(e);
      const bool abortable = rd_kafka_error_txn_requires_abort(e) || rd_kafka_error_is_retriable(e);
      rd_kafka_error_destroy(e);
      if (!abortable) {
        return Status::Fatal("task " + std::to_string(slot->partition) + " cannot commit (" + why +
                             "): another worker has taken it over or the producer failed; this worker stops, "
                             "and nothing since its last commit is visible to read_committed consumers");
      }
      if (Status s = AbortAndRestart(*slot, why); !s.ok()) return s;
      continue;
    }
    EndTransaction(*slot);
    if (Status s = CommitStore(*slot); !s.ok()) return s;
  }
  return Status::Ok();
}

Status Worker::Impl::CommitStore(Slot& slot) {
  if (slot.end_offset < 0) return Status::Fatal("changelog END marker was not acknowledged");
  PutInt64(*slot.store, kChangelogPositionKey, slot.end_offset + 1);
  StateWrite timing(write_started_);  // the disk only: Kafka's waits are done
  if (Status s = slot.store->Commit(); !s.ok()) {
    return Status::Fatal("state commit of task " + std::to_string(slot.partition) + ": " + s.message());
  }
  slot.dirty = false;
  return Status::Ok();
}

void Worker::Impl::AddResumeOffsets(const Slot& slot, rd_kafka_topic_partition_list_t* list) const {
  for (std::size_t i = 0; i < topics_.size(); ++i) {
    if (slot.resume_offset[i] >= 0)
      rd_kafka_topic_partition_list_add(list, topics_[i].c_str(), slot.partition)->offset =
          slot.resume_offset[i];
  }
}

Status Worker::Impl::AbortAndRestart(Slot& slot, const std::string& reason) {
  metrics_.transaction_aborts.Increment();
  Log(LogLevel::kWarn, "worker", "transaction aborted; the task starts again from its last commit",
      {{"task", static_cast<std::int64_t>(slot.partition)}, {"reason", std::string_view(reason)}});
  if (rd_kafka_error_t* e = rd_kafka_abort_transaction(slot.producer.get(), kMetadataTimeoutMs)) {
    const std::string why = rd_kafka_error_string(e);
    rd_kafka_error_destroy(e);
    return Status::Fatal("task " + std::to_string(slot.partition) + ": abort_transaction: " + why);
  }
  EndTransaction(slot);
  // What the task did since its last commit is undone: its store's pending
  // writes dropped, the task made again from the store, its inputs read
  // again from the committed offsets once the restore hands it back.
  ReportStats(slot);
  slot.task.reset();
  slot.reported = {};
  slot.reported_objects = {};
  slot.dirty = false;
  slot.store->Rollback();
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(topics_.size())));
  for (const auto& t : topics_) rd_kafka_topic_partition_list_add(list.get(), t.c_str(), slot.partition);
  rd_kafka_pause_partitions(consumer_.get(), list.get());
  QueueRestore(slot);
  return Status::Ok();
}

void Worker::Impl::QueueRestore(Slot& slot) {
  slot.restoring.store(true);
  restoring_.fetch_add(1);
  std::lock_guard<std::mutex> l(restore_mu_);
  restore_queue_.push_back(&slot);
  restore_cv_.notify_one();
}

void Worker::Impl::ReportStats(Slot& slot) {
  const engine::TaskStats& now = slot.task->stats();
  metrics_.duplicates.Increment(static_cast<double>(now.duplicates - slot.reported.duplicates));
  metrics_.late.Increment(static_cast<double>(now.late - slot.reported.late));
  metrics_.reorder_overflows.Increment(
      static_cast<double>(now.reorder_overflows - slot.reported.reorder_overflows));
  metrics_.queue_overflows.Increment(
      static_cast<double>(now.queue_overflows - slot.reported.queue_overflows));
  metrics_.timers_fired.Increment(static_cast<double>(now.timers_fired - slot.reported.timers_fired));
  slot.reported = now;
  const engine::ObjectCacheStats& objects = slot.task->object_cache_stats();
  metrics_.object_cache_hits.Increment(static_cast<double>(objects.hits - slot.reported_objects.hits));
  metrics_.object_cache_misses.Increment(static_cast<double>(objects.misses - slot.reported_objects.misses));
  metrics_.object_cache_evictions.Increment(
      static_cast<double>(objects.evictions - slot.reported_objects.evictions));
  slot.reported_objects = objects;
}

std::size_t Worker::Impl::PendingBytes() const {
  std::size_t pending = 0;
  for (const auto& [p, slot] : slots_) {
    if (slot->task)
      pending += slot->store->PendingBytes();  // a restoring store belongs to the restore thread
  }
  return pending;
}

void Worker::Impl::UpdateGauges() {
  double timers = 0, buffered = 0;
  engine::OpenClockCounts open;
  for (auto& [p, slot] : slots_) {
    if (!slot->task) continue;
    ReportStats(*slot);
    if (Status s = engine::AddOpenSlaClocks(*slot->task, open); !s.ok())
      Log(LogLevel::kWarn, "metrics", "cannot read open SLA clocks",
          {{"reason", std::string_view(s.message())}});
    timers += static_cast<double>(slot->task->pending_timers());
    buffered += static_cast<double>(slot->task->buffered());
    const Timestamp wm = slot->task->watermark();
    if (wm != Timestamp::Min()) metrics_.Watermark(p).Set(static_cast<double>(wm.ms) / 1000.0);
    for (std::size_t i = 0; i < topics_.size(); ++i) {
      std::int64_t lo = 0, hi = 0;
      if (rd_kafka_get_watermark_offsets(consumer_.get(), topics_[i].c_str(), p, &lo, &hi) == 0 && hi >= 0 &&
          slot->next_offset[i] >= 0) {
        metrics_.Lag(topics_[i], p)
            .Set(static_cast<double>(std::max<std::int64_t>(0, hi - slot->next_offset[i])));
      }
    }
  }
  metrics_.SetPart(metrics_.pending_timers, member_, timers);
  metrics_.SetPart(metrics_.buffered_events, member_, buffered);
  // A queue that went idle (or whose records stopped for any reason) sends
  // nothing more: its gauges go after two intervals without an update.
  metrics_.DropStaleStaffing(std::chrono::steady_clock::now() -
                             2 * std::chrono::milliseconds(config_.staffing.interval));
  // A (metric, queue) that had open clocks and has none now reads 0.
  for (auto& [key, n] : open_clock_gauges_) n = 0;
  for (const auto& [key, n] : open)
    open_clock_gauges_[{std::string(ToString(key.first)), metrics_.QueueLabel(key.second)}] += n;
  for (const auto& [key, n] : open_clock_gauges_)
    metrics_.SetPart(metrics_.OpenClocks(key.first, key.second), member_, static_cast<double>(n));
  metrics_.SetPart(metrics_.state_pending_bytes, member_, static_cast<double>(PendingBytes()));
  metrics_.SetPart(metrics_.ready, member_, Ready() ? 1 : 0, Metrics::Combine::kMin);
  metrics_.SetPart(metrics_.restoring_tasks, member_, restoring_.load());
  if (member_ != 0) return;
  // What the worker's threads share: reported by the first.
  metrics_.state_memory_bytes.Set(static_cast<double>(state::MemoryUsage(*memory_)));
  metrics_.object_cache_bytes.Set(static_cast<double>(object_budget_->used.load(std::memory_order_relaxed)));
  metrics_.resident_memory_bytes.Set(ResidentMemoryBytes());
  // The statistics count from zero; the counters follow them.
  const state::CacheCounts cache = state::CacheStats(*memory_);
  metrics_.cache_hits.Increment(static_cast<double>(cache.hits) - metrics_.cache_hits.Value());
  metrics_.cache_misses.Increment(static_cast<double>(cache.misses) - metrics_.cache_misses.Value());
}

// ---------------------------------------------------------------------------
// The loop

Status Worker::Impl::Run(const std::atomic<bool>& stop, const std::atomic<bool>& sibling_failed) {
  next_commit_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.commit.interval);
  // Records a batch at a time: what librdkafka has fetched, up to
  // kConsumeBatch, without waiting; the loop's other work (delivery
  // reports, restores, the wall-clock tick and commits, profile queries)
  // then runs once per batch, not once per record. With nothing fetched,
  // one record is waited for (20 ms at most), so a quiet stream is not
  // delayed. Rebalance callbacks are served by both calls, never within a
  // batch.
  constexpr std::size_t kConsumeBatch = 512;
  consumer_queue_ = rd_kafka_queue_get_consumer(consumer_.get());
  consumed_.resize(kConsumeBatch);
  auto release_queue = [this] {
    if (consumer_queue_ != nullptr) rd_kafka_queue_destroy(consumer_queue_);
    consumer_queue_ = nullptr;
  };
  while (!stop.load() && !sibling_failed.load() && !fatal_flag_.load()) {
    const ssize_t n = rd_kafka_consume_batch_queue(consumer_queue_, 0, consumed_.data(), consumed_.size());
    if (n > 0) {
      loop_now_ = clock_.Now();
      for (ssize_t i = 0; i < n; ++i) {
        KafkaMessage m(consumed_[static_cast<std::size_t>(i)]);
        if (!fatal_flag_.load()) HandleMessage(m.get());
      }
    } else {
      KafkaMessage m(rd_kafka_consumer_poll(consumer_.get(), 20));
      loop_now_ = clock_.Now();
      if (m) HandleMessage(m.get());
    }
    rd_kafka_poll(producer_.get(), 0);
    FinishRestores();
    PositionTasks();
    Tick(false);
    AnswerQueries();
  }
  // Another thread stopped on an error: this one stops as that one does,
  // without a commit, as a one-thread worker would. Most such errors are
  // the state directory's, which the threads share; and a commit here would
  // write state and offsets past records the failed thread produced and
  // never committed. Whoever owns the partitions next resumes from the
  // last commit. The error is the other thread's.
  const bool with_sibling = !fatal_flag_.load() && sibling_failed.load() && !stop.load();
  if (with_sibling) fatal_flag_.store(true);  // the revoke callback commits nothing either
  if (fatal_flag_.load()) {
    Status s = fatal_.ok() ? Status::Fatal("fatal Kafka client error (see the log line above)") : fatal_;
    // One critical line per worker: a second thread that meets the same
    // failure (the same disk, say) says so at a lower level.
    if (with_sibling) {
      Log(LogLevel::kInfo, "worker", "processing thread stopping with the one that failed, without a commit",
          {{"thread", static_cast<std::int64_t>(member_)}});
      s = Status::Ok();
    } else if (!shared_.fatal_logged.exchange(true)) {
      Log(LogLevel::kCritical, "worker", "stopping on a fatal error",
          {{"reason", std::string_view(s.message())}});
    } else {
      Log(LogLevel::kWarn, "worker", "another processing thread stopping on a fatal error too",
          {{"thread", static_cast<std::int64_t>(member_)}, {"reason", std::string_view(s.message())}});
    }
    // An epoch in flight is not committed: no store write after a failure.
    if (pipeline_) pipeline_->Stop();
    StopRestoreThread();
    release_queue();
    // Leave the group now, while every member of this object is alive: a
    // consumer destroyed unclosed runs its revoke callback from the
    // destructor, on slots already destroyed (that crashed, or hung, after
    // a failed state write).
    rd_kafka_consumer_close(consumer_.get());
    // The state stores are left as a crash leaves them, not closed: after a
    // failed write RocksDB refuses (and, built with assertions, aborts on)
    // the writes a clean close makes, and nothing after the last commit is
    // needed; the next start recovers from the write-ahead log.
    for (auto& [p, slot] : slots_) {
      (void)slot->task.release();
      (void)slot->store.release();
    }
    return s;
  }
  // SIGTERM: finish the batch, commit, leave the group.
  Log(LogLevel::kInfo, "worker", "shutting down: committing and leaving the group");
  Status s = CommitAll(/*wait=*/true);
  StopRestoreThread();
  release_queue();
  rd_kafka_consumer_close(consumer_.get());
  rd_kafka_flush(producer_.get(), 10'000);
  if (!s.ok()) return s;
  Log(LogLevel::kInfo, "worker", "stopped cleanly");
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// The profile API

std::future<Worker::Answer> Worker::Impl::PostQuery(const std::string& customer_id) {
  auto q = std::make_shared<Query>();
  q->customer_id = customer_id;
  std::future<Worker::Answer> f = q->answer.get_future();
  std::lock_guard<std::mutex> l(queries_mu_);
  if (queries_.size() >= 1000) {
    q->answer.set_value({503, R"({"error":"busy","reason":"too many profile queries waiting"})"});
  } else {
    queries_.push_back(q);
  }
  return f;
}

void Worker::Impl::AnswerQueries() {
  std::deque<std::shared_ptr<Query>> batch;
  {
    std::lock_guard<std::mutex> l(queries_mu_);
    batch.swap(queries_);
  }
  for (auto& q : batch) q->answer.set_value(Answer(q->customer_id));
}

Worker::Answer Worker::Impl::Answer(const std::string& customer_id) {
  if (partitions_ <= 0) return {503, R"({"error":"starting","reason":"the worker has not joined yet"})"};
  // The partition the input producers chose for this key.
  const int32_t p = config_.kafka.key_partitioner == "crc32"
                        ? rd_kafka_msg_partitioner_consistent(nullptr, customer_id.data(), customer_id.size(),
                                                              partitions_, nullptr, nullptr)
                        : rd_kafka_msg_partitioner_murmur2(nullptr, customer_id.data(), customer_id.size(),
                                                           partitions_, nullptr, nullptr);
  auto it = slots_.find(p);
  if (it == slots_.end()) {
    JsonWriter w;
    w.BeginObject()
        .Field("error", "not_owned")
        .Field("reason", "another worker of the group owns this customer's partition")
        .Field("partition", static_cast<std::int64_t>(p))
        .EndObject();
    return {421, w.Take()};
  }
  Slot& slot = *it->second;
  if (!slot.task) return {503, R"({"error":"restoring","reason":"the partition's state is being restored"})"};
  auto v = slot.task->ReadState("profile", customer_id, processors::ProfileProcessor::kRecordName);
  if (!v.ok()) return {500, R"({"error":"state","reason":"the state could not be read"})"};
  if (!v->has_value())
    return {404, R"({"error":"unknown_customer","reason":"no profile for this customer"})"};
  const Timestamp now = slot.task->watermark() == Timestamp::Min() ? loop_now_ : slot.task->watermark();
  auto body = profile_renderer_.Render(**v, customer_id, now);
  if (!body) return {500, R"({"error":"state","reason":"the stored profile could not be decoded"})"};
  return {200, *body};
}

// ---------------------------------------------------------------------------

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
