// Task: the unit of processing. One task owns one partition number of the
// stage's input topics, its Store, its timers and its watermark, and runs the
// stage's processors over every record in offset order.
//
// The same Task runs under `replay` (records from files, pure event time) and
// under `run` (records from Kafka, watermark also moved by the wall clock):
// only the source of records, the sink of outputs and the clock differ.
//
// Not thread-safe: a task is driven by one thread at a time.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/event_decoder.h"
#include "core/output.h"
#include "core/status.h"
#include "core/time.h"
#include "engine/state_cache.h"
#include "processors/processor.h"
#include "state/store.h"

namespace cx::engine {

struct TaskOptions {
  // From the configuration (engine::TaskOptionsFrom; the defaults are in
  // the option table, config/config.cc).
  DecodeLimits limits;
  DurationMs allowed_lateness = 0;
  DurationMs max_future_skew = 0;
  std::size_t dedup_per_key = 0;
  // Number of input partitions the task reads (run: one per customer topic
  // and the repartition topic; replay: 1 or 2). The task's watermark is the
  // minimum over its event inputs.
  int inputs = 1;

  // Repartitioning (docs/runtime.md#repartitioning). With sources > 0 the
  // task is both an upstream task (it sends records and watermarks to the
  // next stage) and the next-stage task of one repartition partition.
  int repartition_input = -1;   // which input carries repartitioned records; -1: none
  int repartition_sources = 0;  // upstream tasks = repartition partitions
  int source_id = 0;            // this task's number among them
  // The task announces its watermark to every repartition partition when it
  // has moved this much since the last announcement (staffing.announce_every).
  DurationMs repartition_step = 0;
  // Run mode: at most one announcement per this much wall-clock time
  // (staffing.announce_pace; 0: no limit). A backlog's event time runs far
  // ahead of the wall clock, and one announcement per repartition_step of
  // it would be N x N records per event-time step; the next-stage tasks
  // need the watermark no more often than they can act on it. Replay's
  // clock stands still: only the step applies there.
  DurationMs announce_pace = 0;
  // Events waiting for the watermark (limits.max_buffered_events): beyond
  // it the oldest is applied at once, as if the watermark had reached it.
  std::size_t max_buffered = 0;
  // What the decoded state records of this task (and of the others sharing
  // it) may hold in memory; null: no bound (tests).
  std::shared_ptr<ObjectBudget> object_budget;
};

// Where a record came from, for dead letters and logs.
struct RecordSource {
  // replay: the input file and 1-based line; run: topic, partition, offset.
  std::string file;
  std::int64_t line = 0;
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

struct InputRecord {
  std::string_view value;
  RecordSource source;
  // The topic family it was read from; nullopt in replay, where the type
  // decides the topic.
  std::optional<TopicKind> topic;
  // Which of the task's inputs it came from, 0 <= input < TaskOptions::inputs.
  int input = 0;
  // When it reached the broker (run: the Kafka timestamp), ms since the
  // epoch; -1: unknown. Carried to the outputs it causes, for latency.
  std::int64_t ingest_ms = -1;
  // Read (and, if rejected, dead-lettered) before the last commit: a task
  // resumes at its earliest event still waiting for the watermark, so what
  // it reads again up to where it had read is either such an event or a
  // repeat. A repeat of a rejected record is not dead-lettered twice.
  bool read_before = false;
};

// The offset an input had been read up to, kept with a commit that resumes
// at `resume` after reading up to `next` (InputRecord::read_before is
// `offset < ` it). Never lowered: a task that starts again before `kept`
// and commits while it reads those records a second time has still
// dead-lettered everything below `kept`, and a later restart must know it.
constexpr std::int64_t ReadUptoAtCommit(std::int64_t kept, std::int64_t resume, std::int64_t next) {
  return next > resume && next > kept ? next : kept;
}

// Counters of one task, read by metrics and summaries.
struct TaskStats {
  std::uint64_t records = 0;
  std::uint64_t applied = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t dead_letter_repeats = 0;  // rejected again after a restart, not sent again
  std::uint64_t duplicates = 0;
  std::uint64_t late = 0;               // applied although older than the watermark
  std::uint64_t reorder_overflows = 0;  // applied early: limits.max_buffered_events reached
  std::uint64_t queue_overflows = 0;    // staffing facts counted under `other` (limits.max_queues)
  std::uint64_t timers_fired = 0;
  std::uint64_t outputs[kStreamCount] = {};
  std::uint64_t by_type[kEventTypeCount] = {};
  std::uint64_t erased = 0;               // customers erased
  std::uint64_t repartitioned_in = 0;     // next-stage records received
  std::uint64_t repartition_dropped = 0;  // of which re-sent after delivery (ignored)
};

class Task {
 public:
  // `store` and `sink` must outlive the task; processors are owned.
  Task(TaskOptions options, state::Store& store, OutputSink& sink,
       std::vector<std::unique_ptr<processors::Processor>> processors);
  ~Task();
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  // Reads persisted timers and the watermark. Call once before Process.
  Status Open();

  // Processes one record: decode (or dead-letter), then hold the event until
  // the watermark reaches its time, and apply what the watermark reached, in
  // event-time order: before an event, the timers due before its time fire;
  // a repeated event is recognised as it is applied (docs/replay.md#steps).
  // An event older than the watermark is applied at once (late).
  void Process(const InputRecord& record);

  // Moves the watermark forward to `to` (never back), applies the events it
  // reached and fires due timers. replay calls it at the end of input.
  void AdvanceWatermark(Timestamp to);

  // End of input (replay): applies every event still waiting, in order,
  // without moving the watermark past where it is.
  void Flush();

  // run mode: where input `input` must be read again from after a restart
  // from the state committed now: the offset of the earliest event of that
  // input still waiting for the watermark, else `next` (everything before
  // it was applied). What is read again and was applied is recognised as a
  // repeat.
  std::int64_t ResumeOffset(int input, std::int64_t next) const;
  // Events waiting for the watermark.
  std::size_t buffered() const { return buffer_.size(); }

  // run mode: the wall clock minus the grace. Each input that is caught up
  // (nothing left to read as of the last fetch) may have its watermark moved
  // up to `floor`; an input with a backlog keeps its event-time watermark, so
  // a worker that is behind never breaches early. Fires due timers.
  void OnWallClock(Timestamp floor, const std::vector<bool>& caught_up);

  // Processing time: "now" for the future-timestamp check. run mode sets it
  // from the wall clock; replay from --until (the time the data was
  // captured) or, without it, the wall clock when the replay started. An
  // event is dead-lettered when its ts is more than max_future_skew ahead of
  // `now`; while `now` is unset there is no such check. Never the watermark:
  // a quiet gap in the data would then reject the first events after it,
  // and, as a rejected event does not move the watermark, every later one.
  enum class NowSource : std::uint8_t {
    kWallClock,    // run: the reason quotes the time
    kUntil,        // replay --until: the reason quotes it
    kReplayStart,  // replay without --until: not quoted, so outputs stay deterministic
  };
  void set_now(Timestamp now, NowSource source = NowSource::kWallClock) {
    now_ = now;
    now_source_ = source;
  }

  // Announces the current watermark to the next stage now, whatever the
  // step (replay calls it at the end of input).
  void AnnounceWatermark();

  // Writes the task's own metadata (the watermark) into the store's pending
  // writes without committing: run mode adds input offsets and writes the
  // changelog before it commits the store.
  void Checkpoint();
  // Checkpoint() and commit the store (replay, tests).
  Status Commit();
  // Has every processor put what it keeps in memory between records into
  // its records (Processor::BeforeCommit): Checkpoint does it first, and a
  // reader of state outside the processors (AddOpenSlaClocks) before it
  // reads.
  void SettleProcessors();

  // Timers waiting to fire.
  std::int64_t pending_timers() const { return state_.pending_timers(); }

  // One state record of `processor` and `owner` (the profile API).
  Result<std::optional<std::string>> ReadState(std::string_view processor, std::string_view owner,
                                               std::string_view name);

  // Calls fn(name, value) for every state record of `processor` and `owner`
  // whose name starts with `name_prefix`, in key order (pending writes
  // included). For gauges derived from state, such as open SLA clocks.
  Status ScanState(std::string_view processor, std::string_view owner, std::string_view name_prefix,
                   const std::function<void(std::string_view name, std::string_view value)>& fn,
                   std::string_view from = {});
  // As ScanState, stopping at the first record for which fn returns false.
  Status ScanStateWhile(std::string_view processor, std::string_view owner, std::string_view name_prefix,
                        const std::function<bool(std::string_view name, std::string_view value)>& fn,
                        std::string_view from = {});

  Timestamp watermark() const { return watermark_; }
  Timestamp max_event_time() const { return max_ts_; }
  const TaskStats& stats() const { return stats_; }
  const ObjectCacheStats& object_cache_stats() const { return state_.stats(); }
  // A state failure that the task cannot recover from (sticky): the runtime
  // stops the task when it is not OK.
  const Status& error() const { return error_; }

 private:
  class Context;

  // The Kafka offset of a waiting event, in its input's arrival order.
  struct Waiting {
    std::int64_t offset;
    bool applied;
  };
  // An event waiting for the watermark, and where it came from.
  struct Pending {
    Event event;
    int input = 0;
    std::int64_t position = 0;  // identity of what it repartitions
    std::int64_t offset = -1;   // run: its Kafka offset
    std::int64_t ingest_ms = -1;
    Waiting* waiting = nullptr;  // run: its entry in waiting_offsets_
  };

  void DeadLetter(const InputRecord& record, const Rejection& why);
  bool IsDuplicate(const Event& e);
  void Apply(const Pending& p);
  // Applies the waiting events the watermark has reached, then fires the
  // timers due by it, and announces it downstream when due.
  void Drain();
  // Applies the waiting events up to `up_to` in order, each after the timers
  // due before it (at most up to the watermark).
  void ApplyWaiting(Timestamp up_to);
  // Fires the timers due at or before `limit`, in deadline order.
  void FireTimersUpTo(Timestamp limit);
  // repartition_sub_ of the timer firing (due_): from its identity, so that
  // the same timer fired again after a restart numbers its records alike.
  void SubFromTimer();
  // Recomputes the watermark from the inputs; fires timers if it moved.
  void UpdateWatermark();
  void Fail(const Status& s);
  // Deletes every record and timer of one owner (customer.erased).
  void EraseOwner(std::string_view owner);
  // The names of the processors, in order (the state cache's timer table).
  std::vector<std::string> ProcessorNames() const;
  // Per processor: whether it keeps a store key per record (StateLayout).
  std::vector<bool> PerRecordFlags() const;
  bool PerRecord(std::string_view processor) const;
  // Repartitioning: announcing this task's watermark, and receiving.
  void MaybeAnnounce();
  void ProcessRepartitioned(const InputRecord& record);
  void ProcessRepartitionedOne(std::string_view value, const InputRecord& record);
  // Queues a record for next-stage partition `partition`: what the task
  // sends there goes in envelopes (one Kafka record each), sent when it
  // announces its watermark, when it checkpoints, or when one is full.
  void SendRepartition(int partition, std::string_view value);
  void FlushRepartition(int partition);
  void FlushRepartitions();
  void DeliverUpTo(Timestamp stage_wm);
  Timestamp StageWatermark() const;

  const TaskOptions options_;
  state::Store& store_;
  OutputSink& sink_;
  std::vector<std::unique_ptr<processors::Processor>> processors_;
  StateCache state_;
  const std::vector<bool> per_record_;
  EventDecoder decoder_;
  std::unique_ptr<Context> ctx_;
  Timestamp watermark_ = Timestamp::Min();
  Timestamp max_ts_ = Timestamp::Min();
  std::vector<Timestamp> input_max_ts_;  // per input: largest ts seen
  std::vector<Timestamp> input_floor_;   // per input: wall-clock floor when caught up
  Timestamp now_ = Timestamp::Min();
  NowSource now_source_ = NowSource::kWallClock;
  // While a timer fires: its due time, stamped on the outputs it causes.
  std::optional<Timestamp> firing_;
  Timestamp current_ts_;
  // The current record's origin, for the identity of what it repartitions.
  int current_input_ = 0;
  std::int64_t current_position_ = 0;
  std::uint32_t repartition_sub_ = 0;
  // A timer is firing and repartition_sub_ is still to be made from it
  // (SubFromTimer: most timers repartition nothing).
  bool sub_from_timer_ = false;
  std::int64_t current_ingest_ms_ = -1;
  // Events waiting for the watermark, by (ts, arrival): equal times keep
  // their arrival order. Per input (run), the offsets of those waiting in
  // arrival (offset) order, applied ones dropped from the front: the front
  // is where the input resumes. A deque keeps the entries' addresses.
  using Buffer = std::map<std::pair<std::int64_t, std::uint64_t>, Pending>;
  Buffer buffer_;
  // Nodes of applied events, kept for the next events: an event is copied
  // into one's strings, so in steady state a waiting event costs no
  // allocation (neither the node's nor its strings').
  std::vector<Buffer::node_type> spare_nodes_;
  Buffer::node_type TakeNode();
  void Recycle(Buffer::node_type node);
  std::uint64_t arrivals_ = 0;
  std::vector<std::deque<Waiting>> waiting_offsets_;
  // Marks a waiting event applied (run) and drops the applied front.
  void Applied(const Pending& p);
  Timestamp announced_ = Timestamp::Min();     // the last watermark sent downstream
  Timestamp announced_at_ = Timestamp::Min();  // now_ when it was sent (run mode's pace)
  std::vector<Timestamp> source_wm_;           // the last watermark heard from each upstream task
  // Per next-stage partition: the records queued for its next envelope
  // (each length-prefixed), and how many.
  struct Outbox {
    std::string records;
    std::uint64_t count = 0;
  };
  std::vector<Outbox> outbox_;
  std::string envelope_;  // FlushRepartition's buffer, reused
  // Next-stage records received since the last commit and not delivered
  // yet, by their store key: the store gets them at Checkpoint.
  std::map<std::string, std::string, std::less<>> unsaved_facts_;
  // Records of per-record processors read as objects (the queue stage's
  // figures per queue), by store key: decoded on first use, written back at
  // Checkpoint and then dropped, so memory holds what one commit interval
  // touched (a bounded set of queues), not the store.
  struct RecordObject {
    std::unique_ptr<processors::StateObject> object;
    bool changed = false;
  };
  // Looked up by a key built in a reused buffer, without a string made.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
  };
  std::unordered_map<std::string, RecordObject, KeyHash, std::equal_to<>> record_objects_;
  Timestamp stage_wm_ = Timestamp::Min();
  TaskStats stats_;
  Status error_;
  DueTimer due_;  // FireTimersUpTo's timer, reused
};

// The JSON value of a dead-letter record (docs/outputs.md#dlq).
std::string DeadLetterJson(const RecordSource& source, const Rejection& why, std::string_view raw);

}  // namespace cx::engine
