// Processor: one piece of domain logic (SLA clocks, profiles, alerts,
// staffing partials), written against ProcessorContext only, so the same code
// runs in `replay` over files and in `run` over Kafka.
//
// A processor keeps no state of its own between calls: everything that must
// survive a restart goes through the context's state and timers, which are
// committed atomically with the input offsets. A processor instance is owned
// by one task and called from that task's thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/output.h"
#include "core/time.h"

namespace cx::processors {

// A fact one processor tells the others of the same task, synchronously
// (an SLA breach for the profile and the alerts). Views valid during the call.
// An SLA decision, as the SLA engine emitted it (for profiles and alerts).
struct SlaDecision {
  std::string_view clock;  // "<customer>/<subject>/<metric>[#cycle]": one clock
  std::string_view subject_type, policy, queue, channel, priority, tenant, customer_tier, agent_id;
  DurationMs target = 0, elapsed = 0;
  Timestamp deadline;
};

struct Signal {
  std::string_view kind;     // e.g. "sla"
  std::string_view owner;    // the customer
  std::string_view subject;  // e.g. the conversation id
  std::string_view what;     // e.g. "breach"
  std::string_view detail;   // e.g. the metric
  Timestamp ts;
  const SlaDecision* sla = nullptr;  // kind "sla"
};

// A state record kept decoded (ProcessorContext::FindObject): the task's
// object cache holds it between events and writes its bytes back to the
// store when the task commits, or earlier when the cache's memory budget
// demands it. Not shared between threads.
class StateObject {
 public:
  virtual ~StateObject() = default;
  // Appends the record's bytes to `out` (equal objects, equal bytes).
  virtual void EncodeTo(std::string& out) const = 0;
  // Heap and inline bytes the object holds, approximately: what the cache
  // charges to its budget.
  virtual std::size_t MemoryBytes() const = 0;

 private:
  friend struct ObjectHome;
  // Where the task's cache keeps the object, so that MarkChanged finds its
  // record without a lookup by owner and name: a place, and where in it
  // the object last was (a hint). Set by the cache.
  void* home_ = nullptr;
  std::uint32_t home_index_ = 0;
};
// The task's access to StateObject's home (processors have none).
struct ObjectHome {
  static void* Get(const StateObject& o) { return o.home_; }
  static std::uint32_t Index(const StateObject& o) { return o.home_index_; }
  static void Set(StateObject& o, void* home, std::uint32_t index = 0) {
    o.home_ = home;
    o.home_index_ = index;
  }
};
// What a string holds on the heap, for MemoryBytes: nothing while it fits
// inline (15 bytes in libstdc++ on 64 bits).
inline std::size_t HeapBytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }
// Decodes a stored record; nullptr when the bytes are not one. A decoder
// may take an argument of its processor's (its Vocabulary), passed with it.
class ObjectDecoder {
 public:
  using Plain = std::unique_ptr<StateObject> (*)(std::string_view bytes);
  using WithArg = std::unique_ptr<StateObject> (*)(std::string_view bytes, void* arg);
  ObjectDecoder(Plain f) : plain_(f) {}  // NOLINT: implicit, as the function it holds
  ObjectDecoder(WithArg f, void* arg) : with_arg_(f), arg_(arg) {}
  std::unique_ptr<StateObject> operator()(std::string_view bytes) const {
    return plain_ != nullptr ? plain_(bytes) : with_arg_(bytes, arg_);
  }

 private:
  Plain plain_ = nullptr;
  WithArg with_arg_ = nullptr;
  void* arg_ = nullptr;
};

// What the task gives a processor while it handles one event or timer.
class ProcessorContext {
 public:
  virtual ~ProcessorContext() = default;

  // The task's event-time watermark (largest ts seen minus the allowed
  // lateness, or later in run mode). Decisions that depend on "now" use it.
  virtual Timestamp watermark() const = 0;

  // Keyed state of this processor. `owner` is the partitioning key
  // (customer or agent id); `name` distinguishes records of one owner.
  virtual std::optional<std::string> Get(std::string_view owner, std::string_view name) = 0;
  virtual void Put(std::string_view owner, std::string_view name, std::string_view value) = 0;
  virtual void Delete(std::string_view owner, std::string_view name) = 0;

  // Typed state. A record read as an object is only ever accessed as one
  // (never with Get, Put or Delete): the cache, not the store, holds its
  // latest value until the task commits. Pointers stay valid until the
  // current event, timer or repartitioned record has been handled.
  //
  // The object `name` of `owner`, decoded from the store on first use;
  // nullptr when absent or not decodable.
  virtual StateObject* FindObject(std::string_view owner, std::string_view name,
                                  const ObjectDecoder& decode) = 0;
  // The object `name` of `owner` kept by `processor`, another processor of
  // the task with the per-owner layout, as it would find it: for reading a
  // record the processors share (processors/conversations), which only its
  // keeper changes. nullptr when absent or not decodable.
  virtual const StateObject* FindObjectOf(std::string_view processor, std::string_view owner,
                                          std::string_view name, const ObjectDecoder& decode) = 0;
  // Makes `object` the record `name` of `owner` (unsaved until MarkChanged).
  virtual StateObject* AddObject(std::string_view owner, std::string_view name,
                                 std::unique_ptr<StateObject> object) = 0;
  // Records that `object` (one FindObject or AddObject gave during this
  // event) changed, without comparing: its bytes are made once, when the
  // task commits (or the cache writes it through), however many events
  // changed it. Costs no lookup: the object knows where it is kept.
  virtual void MarkChanged(StateObject& object) = 0;
  virtual void DeleteObject(std::string_view owner, std::string_view name) = 0;

  // Event-time timers of this processor. Setting an existing timer again is
  // a no-op; cancelling an absent one is harmless.
  virtual void SetTimer(Timestamp when, std::string_view owner, std::string_view tag) = 0;
  virtual void CancelTimer(Timestamp when, std::string_view owner, std::string_view tag) = 0;

  // Emits an output record; nullopt value is a tombstone. Key and value
  // are copied before Emit returns (the caller's buffers can be reused: a
  // record is written into a JsonWriter and emitted from it, no string of
  // its own). `tags` feed the runtime's metrics (cxstream_sla_events_total,
  // cxstream_alerts_total, the staffing gauges).
  virtual void Emit(Stream stream, std::string_view key, std::optional<std::string_view> value,
                    const OutputTags& tags = {}) = 0;

  // Calls fn(name, value) for every record of `owner` whose name starts with
  // `prefix`, in name order (writes of this transaction included). With
  // `from`, names before it are skipped without being read: deleted records
  // leave tombstones that a scan from the prefix would walk through.
  virtual void ForEach(std::string_view owner, std::string_view prefix,
                       const std::function<void(std::string_view name, std::string_view value)>& fn,
                       std::string_view from = {}) = 0;
  // As ForEach, stopping at the first record for which fn returns false.
  virtual void ForEachWhile(std::string_view owner, std::string_view prefix,
                            const std::function<bool(std::string_view name, std::string_view value)>& fn,
                            std::string_view from = {}) = 0;

  // Sends `value` to the task that owns `key` in the next stage (the queue
  // stage), stamped with the current event's (or firing timer's) time, or
  // with `at`, the time of what the value says, when given: an SLA breach
  // noticed while applying a later event is sent at its deadline. The
  // watermark this task last announced is a floor. It arrives there through
  // Processor::OnRepartitioned, in order of those times, exactly once.
  // Only while handling an event or a timer.
  void Repartition(std::string_view key, std::string value) {
    RepartitionAt(key, std::move(value), Timestamp::Min());
  }
  virtual void RepartitionAt(std::string_view key, std::string value, Timestamp at) = 0;

  // Combining (docs/runtime.md#combining): a processor that folds what it
  // would repartition into partial aggregates per key and time bucket
  // sends one record per bucket instead of one per fact.
  //
  // The time a record repartitioned now would carry (the cause's, or the
  // last announced watermark if later): the bucket a fact belongs to. Only
  // while handling an event or a timer.
  virtual Timestamp RepartitionTime() const = 0;
  // Sends the partial aggregate of `key` over the bucket [start, end): it
  // is delivered at end - 1, after every record before `end`. Its identity
  // is (task, sender, key, start): a copy re-sent after a restart is
  // recognised. From Processor::BeforeAnnounce, for buckets that end at or
  // before the watermark being announced (none can grow after it).
  virtual void RepartitionPartial(std::string_view key, std::string value, Timestamp start,
                                  Timestamp end) = 0;

  // Calls OnSignal of every other processor of the task, now.
  virtual void Broadcast(const Signal& signal) = 0;

  // Forgets a customer as `customer.erased` at `ts` would: every processor
  // handles that event, then every record of the customer is deleted. For
  // retention; the caller must not touch the customer's state afterwards.
  virtual void EraseCustomer(std::string_view customer, Timestamp ts) = 0;

  // The task's number among the stage's partitions (0 in replay), for the
  // records of what the task alone counts (the queue stage's `other`).
  virtual int partition() const = 0;

  // Counts `n` of something the runtime reports as a metric (TaskStats).
  enum class Counter { kQueueOverflow };
  virtual void Count(Counter counter, std::uint64_t n) = 0;
};

// FindObject with T's decoder (static std::unique_ptr<StateObject>
// DecodeObject(std::string_view)) and type.
template <typename T>
T* FindObject(ProcessorContext& ctx, std::string_view owner, std::string_view name) {
  return static_cast<T*>(ctx.FindObject(owner, name, &T::DecodeObject));
}
// The same with a decoder that takes `arg` (static std::unique_ptr<StateObject>
// DecodeObject(std::string_view, A*)).
template <typename T, typename A>
T* FindObject(ProcessorContext& ctx, std::string_view owner, std::string_view name, A* arg) {
  ObjectDecoder decode(
      [](std::string_view bytes, void* a) { return T::DecodeObject(bytes, static_cast<A*>(a)); }, arg);
  return static_cast<T*>(ctx.FindObject(owner, name, decode));
}
template <typename T>
T* AddObject(ProcessorContext& ctx, std::string_view owner, std::string_view name,
             std::unique_ptr<T> object) {
  return static_cast<T*>(ctx.AddObject(owner, name, std::move(object)));
}
// AddObject of a new T, marked changed.
template <typename T>
T* AddChanged(ProcessorContext& ctx, std::string_view owner, std::string_view name, T value) {
  T* o = AddObject(ctx, owner, name, std::make_unique<T>(std::move(value)));
  ctx.MarkChanged(*o);
  return o;
}

class Processor {
 public:
  virtual ~Processor() = default;

  // Short and stable: it is part of state and timer keys.
  virtual std::string_view name() const = 0;

  // Where the task keeps this processor's records (docs/replay.md#state-layout).
  enum class StateLayout : std::uint8_t {
    // Inside its owner's one record, with every other processor's records
    // of that owner and its timers: read with the owner, written once per
    // commit. For owners with a bounded handful of records (customers).
    kPerOwner,
    // One store key per record: a change writes that record only. For
    // owners with many records (a queue's waiting conversations, held and
    // grouped alerts), which one record would make large to rewrite.
    // Such a processor sets no timers. A record it reads as an object (a
    // queue's figures) is decoded on first use within a commit interval,
    // written back when the task commits, and then dropped from memory.
    kPerRecord,
  };
  virtual StateLayout state_layout() const { return StateLayout::kPerOwner; }

  virtual void OnEvent(const Event& event, ProcessorContext& ctx) = 0;
  // A timer set by this processor is due: the watermark reached `when`.
  virtual void OnTimer(Timestamp when, std::string_view owner, std::string_view tag,
                       ProcessorContext& ctx) = 0;

  // The processor of the previous stage whose records (ProcessorContext::
  // Repartition) this one receives; empty: none. A record goes only to the
  // processors that receive from its sender.
  virtual std::string_view receives_from() const { return {}; }
  // Next-stage records (see ProcessorContext::Repartition), delivered in
  // (ts, origin) order once every upstream task's watermark has passed `ts`,
  // so the order and the set do not depend on how many workers there are.
  virtual void OnRepartitioned(std::string_view /*key*/, Timestamp /*ts*/, std::string_view /*value*/,
                               ProcessorContext& /*ctx*/) {}
  // The stage watermark (the minimum over every upstream task) moved to
  // `wm`: every repartitioned record with ts < wm has been delivered.
  virtual void OnStageWatermark(Timestamp /*wm*/, ProcessorContext& /*ctx*/) {}
  // Another processor of the task broadcast `signal` (see ProcessorContext).
  virtual void OnSignal(const Signal& /*signal*/, ProcessorContext& /*ctx*/) {}
  // The task is about to announce `wm` to the next stage: every record sent
  // before `wm` must have been sent by now. A processor that combines
  // (ProcessorContext::RepartitionPartial) sends its finished buckets here.
  virtual void BeforeAnnounce(Timestamp /*wm*/, ProcessorContext& /*ctx*/) {}
  // The task is about to write its state back (a commit), or a reader
  // outside the processors is about to look at it: what the processor keeps
  // in memory between records of a commit interval goes into its records
  // now (through ctx, as from any other call).
  virtual void BeforeCommit(ProcessorContext& /*ctx*/) {}
};

}  // namespace cx::processors
