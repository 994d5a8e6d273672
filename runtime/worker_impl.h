// The worker's processing thread (Worker::Impl), private to runtime/: its
// state and the declarations its parts share. The definitions are split
// along the seams Kafka Streams' StreamThread has (runtime/README.md):
//   worker.cc            wiring: start-up (clients, topics, restore threads)
//                        and the public Worker
//   worker_loop.cc       the loop: consume, process, produce, delivery
//                        reports, gauges, profile queries
//   worker_tasks.cc      the task manager: assignment, revoke, stores,
//                        restored tasks positioned and started
//   worker_changelog.cc  the changelog: restore threads, frames, the store
//                        written after its frame
//   worker_commit.cc     the commit loop: the wall-clock tick, epochs sealed
//                        and finished, transactions (exactly_once)
// with the record collector (record_collector.h), the commit pipeline
// (commit_pipeline.h) and the restore protocol (changelog_restore.h) in
// units of their own.
#pragma once

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
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
#include "runtime/state_dir.h"
#include "runtime/store_pool.h"
#include "runtime/worker.h"
#include "state/store.h"

namespace cx::runtime {

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

inline constexpr std::string_view kStage = "customer";
inline constexpr int kMetadataTimeoutMs = 10'000;
// How long a restored task's inputs may refuse a seek before the worker
// stops (PositionTask): the consumer learns a topic created a moment ago
// with its next metadata refresh, within seconds on a healthy cluster.
inline constexpr std::chrono::seconds kPositionPatience{30};
// How long an assigned partition's store may stay with another processing
// thread of this worker (one ending a cancelled restore of it).
inline constexpr std::chrono::milliseconds kStoreHandOverPatience{30'000};
inline constexpr std::chrono::seconds kIdleStoreLifetime{60};

inline std::string OffsetKey(const std::string& topic, int partition) {
  return "O" + topic + "/" + std::to_string(partition);
}
// Where the task had read an input up to at the commit (at or after its
// resume offset): records read again below it are repeats or events that
// were waiting for the watermark (engine::InputRecord::read_before).
inline std::string ReadKey(const std::string& topic, int partition) {
  return "R" + topic + "/" + std::to_string(partition);
}

inline std::optional<std::int64_t> ReadInt64(state::Store& store, std::string_view key) {
  auto v = store.Get(key);
  if (!v.ok() || !v->has_value() || (*v)->size() != 8) return std::nullopt;
  return static_cast<std::int64_t>(GetFixed64BE((*v)->data()));
}
inline void PutInt64(state::Store& store, std::string_view key, std::int64_t value) {
  std::string v;
  PutFixed64BE(v, static_cast<std::uint64_t>(value));
  store.Put(key, v);
}

inline double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

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
  // Why the restore failed (not cancelled, not retryable): the Run() thread
  // stops the worker with it (FinishRestores).
  Status restore_error;
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
  processors::ConversationKeeper renderer_conversations_;  // unused: the renderer handles no event
  processors::ProfileProcessor profile_renderer_{engine::ProfileOptionsFrom(config_),
                                                 renderer_conversations_};
  std::chrono::steady_clock::time_point next_commit_;
  int lock_fd_ = -1;  // the state directory's lock (LockStateDir, thread 0)
  std::chrono::steady_clock::time_point last_tick_;
  // Since when the consumer reports a topic unknown (zero: it does not).
  std::chrono::steady_clock::time_point unknown_topic_since_;
};

}  // namespace cx::runtime
