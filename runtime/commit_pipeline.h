// The at_least_once commit protocol, with processing going on meanwhile
// (docs/runtime.md#commits).
//
// Time is cut into epochs. Every record the worker produces (outputs,
// repartition records) belongs to the epoch current when it is produced. At
// a commit point the owner thread seals the epoch: each changed task's
// store closes its writes since the last commit (state, timers, input
// offsets) into a sealed batch (Store::Seal), and a new epoch begins; the
// tasks go on processing into it at once. The committer thread then waits
// until the brokers have acknowledged every record of the sealed epoch,
// writes each sealed task's changelog frame (its sealed keys and an END
// marker), waits for those too, and makes each sealed batch durable with
// the changelog position after its END marker (Store::CommitSealed). A
// frame is never in the changelog before the outputs of the events it holds
// are acknowledged: a restore applies it. Back on the
// owner thread, Finish() releases the sealed batches and commits the input
// offsets to the group (for lag monitoring only: the store holds the
// offsets the task resumes from).
//
// So the guarantees of the synchronous protocol hold: a store is never
// ahead of its changelog nor of the outputs of the events it has applied;
// only whole frames are restored; after a kill nothing is lost and
// duplicates carry ids already sent. At most one epoch is sealed at a time:
// a commit point that comes while one is in flight waits for it (the
// sealed batch is memory outside the pending-bytes threshold).
//
// Kafka stays behind two small interfaces, ChangelogWriter and
// OffsetCommitter, so the protocol is unit-tested with fakes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "state/store.h"

namespace cx::runtime {

class Epoch;

// What a produced record's delivery report hands back (the record's
// opaque): its epoch, and for an END marker the task whose frame it closes.
struct DeliveryMark {
  Epoch* epoch = nullptr;
  int task = -1;  // index into the sealed tasks of an END marker; -1 for other records
};

// The records produced in one epoch, counted until acknowledged.
// Thread-safe: records are produced on the owner and committer threads and
// acknowledged on the thread that polls the producer.
class Epoch {
 public:
  explicit Epoch(std::uint64_t number) : number_(number), any_{this, -1} {}
  std::uint64_t number() const { return number_; }

  // The mark of an output or repartition record. Call Expect() before the
  // record is handed to the producer.
  DeliveryMark* AnyRecord() { return &any_; }
  void Expect() { unacked_.fetch_add(1, std::memory_order_relaxed); }
  // A record's delivery report: acknowledged at `offset`, or failed.
  void Delivered(const DeliveryMark& mark, bool ok, std::int64_t offset, std::string_view error);

 private:
  friend class CommitPipeline;
  struct Task {
    state::Store* store = nullptr;
    int partition = 0;
    std::vector<std::pair<std::string, std::int64_t>> offsets;  // input topic, offset to resume at
    DeliveryMark end_mark;
    std::atomic<std::int64_t> end_offset{-1};
  };

  const std::uint64_t number_;
  DeliveryMark any_;
  std::vector<std::unique_ptr<Task>> tasks_;  // set when sealed, then read-only
  std::atomic<std::int64_t> unacked_{0};
  std::mutex mu_;
  std::condition_variable acked_;
  std::string error_;  // the first failed delivery (mu_)
  std::chrono::steady_clock::time_point sealed_at_;
};

// Writes changelog records (Kafka's producer in the worker). Called from
// the committer thread; the delivery report of each record must reach
// `mark->epoch->Delivered` (on any thread).
class ChangelogWriter {
 public:
  virtual ~ChangelogWriter() = default;
  // Produces one record to task `partition`'s changelog; a failure to hand
  // it to the producer (not a failed delivery) stops the commit.
  virtual Status Append(int partition, std::string_view key, std::optional<std::string_view> value,
                        DeliveryMark* mark) = 0;
};

// Commits input offsets to the consumer group (the worker's consumer).
// Called from the owner thread.
class OffsetCommitter {
 public:
  virtual ~OffsetCommitter() = default;
  virtual void Commit(const std::vector<std::pair<std::string, std::int64_t>>& offsets, int partition) = 0;
};

struct CommitPipelineOptions {
  // The END marker's key (it cannot clash with a state key).
  std::string end_key;
  // A local-only key: in the store, never in the changelog.
  std::function<bool(std::string_view key)> local;
  // The extra local write that records the changelog position after a
  // frame whose END marker is at `end_offset` (committed with the batch).
  std::function<std::pair<std::string, std::string>(std::int64_t end_offset)> position;
  // Checked on the committer thread just before the stores are written (the
  // disk and the stores' background errors): a failure fails the epoch and
  // no store is handed the write. May be null.
  std::function<Status()> before_write;
  // Set to the steady-clock time while a sealed batch is written (0 after),
  // for the worker's stall watchdog; may be null.
  std::atomic<std::int64_t>* write_started = nullptr;
};

// One task sealed at a commit point.
struct SealedTask {
  int partition = 0;
  state::Store* store = nullptr;  // sealed (Store::Seal) by the caller
  std::vector<std::pair<std::string, std::int64_t>> offsets;
};

// Owned by the worker; every method but the constructor's thread is the
// owner thread's (the one that processes and seals).
class CommitPipeline {
 public:
  CommitPipeline(ChangelogWriter& writer, OffsetCommitter& offsets, CommitPipelineOptions options);
  ~CommitPipeline();  // stops the committer thread; an unfinished epoch is not committed
  CommitPipeline(const CommitPipeline&) = delete;
  CommitPipeline& operator=(const CommitPipeline&) = delete;

  // The epoch that records produced now belong to.
  Epoch& current() { return *current_; }
  // True while a sealed epoch is being committed (Finish() not yet called).
  bool InFlight() const { return sealed_ != nullptr; }
  // Seals the current epoch with `tasks` (their stores already sealed) and
  // hands it to the committer thread; a new epoch becomes current. An epoch
  // without tasks still waits for its records. Not while InFlight().
  void Seal(std::vector<SealedTask> tasks);
  // When the sealed epoch's commit has ended: releases its sealed batches,
  // commits its offsets, and returns true with `*result` (a failure means
  // the stores were not written: the worker must stop). False while it is
  // still in flight or when none is.
  bool Finish(Status* result, std::chrono::steady_clock::duration* took = nullptr);
  // Calls Finish() until the sealed epoch has ended, `serve` in between
  // (the worker polls the producer for delivery reports there); `stop`
  // ends the wait early with an error.
  Status Drain(const std::function<void()>& serve, const std::function<bool()>& stop);
  // Ends the committer thread; an epoch in flight is left uncommitted.
  void Stop();

 private:
  void Loop();
  Status CommitEpoch(Epoch& epoch);
  // Waits until every record counted in `epoch` so far is acknowledged.
  Status AwaitAcknowledged(Epoch& epoch);

  ChangelogWriter& writer_;
  OffsetCommitter& offsets_;
  const CommitPipelineOptions options_;
  std::uint64_t next_number_ = 0;
  std::unique_ptr<Epoch> current_;
  std::unique_ptr<Epoch> sealed_;  // owned here; its commit runs on the thread
  // Epochs whose delivery reports may still come (a failed epoch ends
  // before all of them): kept until the pipeline goes, after the producer.
  std::vector<std::unique_ptr<Epoch>> retired_;

  std::mutex mu_;
  std::condition_variable wake_;
  Epoch* todo_ = nullptr;  // mu_: handed to the thread
  bool done_ = false;      // mu_: the thread's commit of sealed_ ended
  Status result_;          // mu_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace cx::runtime
