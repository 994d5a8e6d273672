// StateCache: a task's keyed state, one owner (customer, agent or queue) at
// a time, kept decoded between events in front of its Store.
//
// Everything of one owner (the records of every processor, kept as bytes or
// as decoded objects, and the owner's timers) is one store record under
// OwnerKey(owner), in one versioned format (EncodeOwner). An event loads its
// owner with one store read; processors then read and change records in
// memory; a commit encodes each owner that changed once, and those bytes
// are what RocksDB and the changelog receive: one record per changed owner
// per commit, however many records and timers of it changed.
//
// Timers live in their owner's record, so the changelog carries them inside
// it. Which owner's timer is due next is an index of each owner's earliest
// timer (one entry per owner with timers, ordered as timers fire): kept in
// the store under local-only keys ("L", never in the changelog) written
// with each commit, and derived from the owners' records when it is missing
// (a new store, or one a restore has written to). In memory the cache keeps
// only the front of it: every entry before a bound, read from the store in
// batches as timers fire, so memory stays bounded whatever the number of
// open clocks, a start-up reads nothing, and cancelling an owner's timers
// touches that owner only.
//
// The cache keeps what it holds within a byte budget shared by every task of
// a worker (ObjectBudget): past it, Trim drops the least recently used
// owners, writing the changed ones to the store first.
//
// Not thread-safe: used from its task's thread. The budget is shared.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <list>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/encoding.h"
#include "core/status.h"
#include "core/swar.h"
#include "core/time.h"
#include "processors/processor.h"
#include "state/store.h"

namespace cx::engine {

// Bytes the state caches of one worker's tasks may hold together.
struct ObjectBudget {
  explicit ObjectBudget(std::size_t bytes) : limit(bytes) {}
  const std::size_t limit;
  std::atomic<std::size_t> used{0};
};

struct ObjectCacheStats {
  std::uint64_t hits = 0, misses = 0, evictions = 0, write_throughs = 0;
};

// The state format this version writes and reads (docs/runtime.md#state-layout).
// 3: the customer stage of the alerts keeps one record per customer
// ("alerts/customer") where format 2 had one per conversation, case, open
// and sent alert, and its contacts. 4: so does the SLA engine
// ("sla/customer": subjects and clocks) where format 3 had one record per
// subject and one per clock, and a running clock has one timer, not two.
// 5: a customer's open conversations are one record ("conv/open") that the
// SLA engine, the staffing source, the alerts and the profile read, where
// format 4 had a copy in each (a "staffing/v/<id>" record per conversation).
inline constexpr std::uint8_t kStateFormat = 5;
// The store key of the format marker, and of an owner's record.
inline constexpr std::string_view kFormatKey = "Mformat";
std::string OwnerKey(std::string_view owner);
// Local-only: the timer index is complete (its value: the number of timers).
// Whatever writes owner records behind the cache's back (a restore) deletes
// it, and the next Open derives the index again.
inline constexpr std::string_view kTimerIndexKey = "Ltimers";

// One owner's state, as EncodeOwner writes it and DecodeOwner reads it.
struct OwnerTimer {
  Timestamp when;
  std::string processor;
  std::string tag;
  friend bool operator==(const OwnerTimer&, const OwnerTimer&) = default;
};
struct OwnerRecord {
  std::string name;  // "<processor>/<name>", or the task's own "#..."
  std::string value;
  friend bool operator==(const OwnerRecord&, const OwnerRecord&) = default;
};
struct OwnerState {
  std::vector<OwnerTimer> timers;
  std::vector<OwnerRecord> records;  // by name
  friend bool operator==(const OwnerState&, const OwnerState&) = default;
};
// Format: kStateFormat, varint timer count, per timer (signed varint when,
// string processor, string tag), varint record count, per record (string
// name, string value); strings are a varint length and the bytes.
std::string EncodeOwner(const OwnerState& state);
// Corruption when the bytes are not an owner record of this format (one of
// an older format says so).
Status DecodeOwner(std::string_view bytes, OwnerState& out);

// A record's name ("<processor>/<name>") with its hash, which lookups
// within an owner compare first: made once where the name is made (a
// processor's context keeps the last name of each processor with it).
struct RecordName {
  RecordName(std::string_view n) : name(n), hash(Hash(n)) {}             // NOLINT: implicit, by design
  RecordName(const char* n) : RecordName(std::string_view(n)) {}         // NOLINT
  RecordName(const std::string& n) : RecordName(std::string_view(n)) {}  // NOLINT
  RecordName(std::string_view n, std::uint32_t h) : name(n), hash(h) {}
  static std::uint32_t Hash(std::string_view n) { return static_cast<std::uint32_t>(swar::Hash(n)); }
  std::string_view name;
  std::uint32_t hash;
};

// A timer taken from the cache because it is due.
struct DueTimer {
  Timestamp when;
  std::size_t processor = 0;  // index into the names given to the cache
  std::string owner;
  std::string tag;
};

class StateCache {
 public:
  // `store` must outlive the cache; `budget` may be shared by caches (null:
  // no bound). `processors` names the task's processors, in order: timers
  // are set and fired by index into it.
  StateCache(state::Store& store, std::shared_ptr<ObjectBudget> budget, std::vector<std::string> processors);
  ~StateCache();
  StateCache(const StateCache&) = delete;
  StateCache& operator=(const StateCache&) = delete;

  // Checks the store's format (an older one is refused, with what to do)
  // and, when the store has no complete timer index, derives it from every
  // owner's record. Call once, before use.
  Status Open();
  // How many index entries to read from the store at a time.
  static constexpr std::size_t kIndexBatch = 4096;

  // Records of an owner; `name` as in OwnerRecord. Failures to read the
  // store are reported through `error` (the record is then absent).
  //
  // The record's current bytes (encoded now if its object changed), valid
  // until the next call; nullptr when absent.
  const std::string* Get(std::string_view owner, RecordName name, Status& error);
  void Put(std::string_view owner, RecordName name, std::string_view value, Status& error);
  void Delete(std::string_view owner, RecordName name, Status& error);
  // Calls fn(name, value) for the owner's records with begin <= name < end,
  // in name order, until it returns false. fn may change the owner's
  // records; the walk goes on after the name it was given.
  void ForEachWhile(std::string_view owner, std::string_view begin, std::string_view end,
                    const std::function<bool(std::string_view name, std::string_view value)>& fn,
                    Status& error);

  // Decoded records (see processors::ProcessorContext).
  processors::StateObject* Find(std::string_view owner, RecordName name,
                                const processors::ObjectDecoder& decode, Status& error);
  processors::StateObject* Add(std::string_view owner, RecordName name,
                               std::unique_ptr<processors::StateObject> object, Status& error);
  bool MarkChanged(std::string_view owner, RecordName name);
  // The same for an object Find or Add gave since the last Trim, found
  // through its home (its owner's group) rather than by owner and name.
  bool MarkChanged(processors::StateObject& object);

  // Timers of an owner: setting one that exists, or cancelling one that
  // does not, changes nothing.
  void SetTimer(Timestamp when, std::size_t processor, std::string_view owner, std::string_view tag,
                Status& error);
  void CancelTimer(Timestamp when, std::size_t processor, std::string_view owner, std::string_view tag,
                   Status& error);
  // Takes the earliest timer due at or before `limit` (in the order of
  // (when, processor, owner, tag)), if there is one.
  bool PopDue(Timestamp limit, DueTimer& out, Status& error);
  std::int64_t pending_timers() const { return timers_; }
  // Index entries held in memory (the front of the index, with entries
  // superseded since): at most two batches, unless more share one deadline.
  std::size_t index_in_memory() const { return front_.size(); }

  // Forgets every record and timer of the owner (written as a deletion).
  void EraseOwner(std::string_view owner, Status& error);

  // Writes every owner changed since the last Flush to the store.
  void Flush();
  // Between events: frees what was let go of and, while the shared budget
  // is exceeded, drops this cache's least recently used owners.
  void Trim();

  std::size_t size() const { return records_; }
  std::size_t bytes() const { return bytes_; }
  const ObjectCacheStats& stats() const { return stats_; }

 private:
  struct Record {
    std::string name;
    std::uint32_t hash = 0;  // RecordName::Hash(name): a lookup compares names only where this matches
    std::unique_ptr<processors::StateObject> object;
    std::string bytes;        // the last saved or read value (the current one without an object)
    bool has_bytes = false;   // an object added and never saved has none
    bool stale = false;       // the object changed since `bytes` was encoded (MarkChanged)
    std::size_t charged = 0;  // bytes charged to the budget
  };
  struct Timer {
    Timestamp when;
    std::uint32_t processor;
    std::string tag;
  };
  struct Group;
  // Owners looked up by string_view, without a string made for the lookup.
  using Groups = std::unordered_map<std::string, Group, swar::KeyHash, swar::KeyEqual>;
  // Elements of an unordered_map keep their address when it rehashes.
  using Node = Groups::value_type;
  struct Group {
    std::vector<Record> records;  // by name
    std::vector<Timer> timers;    // by (when, processor, tag): TimerLess
    std::list<Node*>::iterator lru;
    std::size_t dirty_at = kClean;  // where it is in dirty_, or kClean
    std::size_t charged = 0;        // the group's own bytes charged (not its records')
    // The index entry the store holds for this owner (its earliest timer
    // when last written): SyncIndex brings it up to date.
    bool indexed = false;
    Timestamp indexed_when;
    std::uint32_t indexed_processor = 0;
    // The store holds the owner's record, or a write since the last commit
    // gives it one. When it empties, a record the store never had needs no
    // delete, and one it has needs no look-up to know that: a delete the
    // store would have to check (Store::Delete) costs two RocksDB reads.
    bool stored = false;
  };
  static constexpr std::size_t kClean = static_cast<std::size_t>(-1);
  // An index entry: per owner with timers, its earliest, ordered as the
  // timers fire: (when, processor's encoded name, encoded owner). Stored
  // under "Ld" PutOrderedInt64(when) key.
  // An entry of the index in memory: the store's key (IndexKey) without
  // building it. The processor is its index, and the owner is kept encoded
  // (PutString) so that an id of up to 14 bytes stays inside the string.
  struct IndexEntry {
    std::int64_t when;
    std::uint32_t processor;
    std::uint32_t owner;  // where index_owners_ holds it, as PutString(owner)
  };
  // The order of the store's keys: due time, then the encoded processor
  // name, then the encoded owner (encodings are prefix-free, so comparing
  // the parts is comparing their concatenation).
  struct IndexLess {
    const StateCache* cache;
    // Inline for the usual case, two due times that differ.
    [[gnu::always_inline]] bool operator()(const IndexEntry& a, const IndexEntry& b) const {
      if (a.when != b.when) return a.when < b.when;
      return Tie(a, b);
    }
    bool Tie(const IndexEntry& a, const IndexEntry& b) const {
      if (a.processor != b.processor)
        return cache->encoded_processors_[a.processor] < cache->encoded_processors_[b.processor];
      return cache->index_owners_[a.owner] < cache->index_owners_[b.owner];
    }
  };
  // The heap's order: the entry that fires first on top.
  struct IndexLater {
    IndexLess less;
    bool operator()(const IndexEntry& a, const IndexEntry& b) const { return less(b, a); }
  };
  // An entry of the heap, its owner in a free slot of index_owners_ (and
  // its bytes charged); ReleaseEntry gives both back.
  IndexEntry MakeEntry(std::int64_t when, std::uint32_t processor, std::string_view owner);
  void ReleaseEntry(const IndexEntry& e);

  // The owner's group, loaded from the store on a miss (an absent owner
  // gets an empty group); nullptr when the store failed.
  Node* Load(std::string_view owner, Status& error) {
    if (IsLast(owner)) {
      ++stats_.hits;
      return last_;
    }
    return LoadSlow(owner, error);
  }
  Node* LoadSlow(std::string_view owner, Status& error);
  // The cached group, or nullptr.
  Node* Cached(std::string_view owner) { return IsLast(owner) ? last_ : CachedSlow(owner); }
  Node* CachedSlow(std::string_view owner);
  // The owner of the last call: inline, as most calls are.
  bool IsLast(std::string_view owner) const { return last_ != nullptr && swar::Same(last_->first, owner); }
  // The index of a processor's name (a name this task does not run is added:
  // its timers fire to nobody).
  std::size_t ProcessorIndex(std::string_view name);
  // Where the record `name` is in the group, or would go.
  static std::vector<Record>::iterator RecordAt(Group& g, std::string_view name);
  Record* FindRecord(Group& g, RecordName name);
  Record& InsertRecord(Group& g, RecordName name);
  // <0, 0, >0 as timer `a` fires before, with or after (when, processor, tag).
  int TimerOrder(const Timer& a, Timestamp when, std::uint32_t processor, std::string_view tag) const;
  bool TimerLess(const Timer& a, const Timer& b) const {
    return TimerOrder(a, b.when, b.processor, b.tag) < 0;
  }
  // Reads an owner record's format byte and timers into `out`, in firing order.
  Status ReadOwnerTimers(Reader& r, std::vector<Timer>& out);
  // The index entry's key of the owner's timer t: PutString(processor) PutString(owner).
  void EntryKey(std::string_view owner, const Timer& t, std::string& out) const;
  // Where the timer (when, processor, tag) is in the owner's timers, or
  // would go; `found` says whether it is there.
  std::vector<Timer>::iterator TimerAt(Group& g, Timestamp when, std::uint32_t processor,
                                       std::string_view tag, bool& found) const;
  // Adds the owner's earliest timer t to the index in memory. An entry is
  // never erased there: one that no longer is its owner's earliest timer
  // (set earlier, cancelled, fired, or its owner erased) is dropped when it
  // comes to the top (PopDue), so that an owner's earliest timer changing
  // costs one push onto the heap.
  void IndexInsert(std::string_view owner, const Timer& t);
  // Takes the top entry off the heap.
  void PopFront();
  // Writes the owner's index entry to the store if its earliest timer changed.
  void SyncIndex(Node& node);
  // Past two batches in memory, drops all but the first from it.
  void TrimFront();
  // Reads the next batch of the index into memory (front_ is empty), after
  // the changed owners' entries are written.
  Status Refill();
  // Derives the index from every owner's record.
  Status RebuildIndex();
  void Refresh(Record& r);
  // Moves what is charged for something from `charged` to `now` bytes.
  void Recharge(std::size_t& charged, std::size_t now);
  void Charge(Record& r);
  void ChargeGroup(Node& node);
  void Uncharge(std::size_t n);
  void MarkDirty(Node* node);
  void MarkChanged(Node& node, Record& record);
  void MarkClean(Group& g);
  void WriteBack(Node& node);
  void DropGroup(Node* node);

  state::Store& store_;
  std::shared_ptr<ObjectBudget> budget_;
  std::vector<std::string> processors_;
  std::vector<std::string> encoded_processors_;  // PutString of each name: the timer order
  Groups groups_;
  // The groups of the last two owners called for: most calls are for one
  // owner in a row, or alternate between a customer and the task's shared
  // records (owner ""; the SLA's open counts).
  Node* last_ = nullptr;
  Node* previous_ = nullptr;
  std::list<Node*> lru_;  // most recently used first
  std::vector<Node*> dirty_;
  // Every index entry with when < front_end_ (Min: none known yet; Max:
  // the whole index), and entries that no longer are an owner's earliest
  // (IndexInsert): a binary heap, the first to fire on top.
  // Entries are 16 bytes, moved as the heap moves them; their owners stay
  // put in slots, reused.
  std::vector<IndexEntry> front_;
  std::vector<std::string> index_owners_;
  std::vector<std::uint32_t> free_owner_slots_;
  std::int64_t front_end_ = Timestamp::Min().ms;
  std::int64_t timers_ = 0;
  std::int64_t timers_written_ = -1;  // the count kTimerIndexKey holds
  // Objects let go of during an event, freed by the next Trim: a processor
  // may still hold a pointer to one until its call returns.
  std::vector<std::unique_ptr<processors::StateObject>> released_;
  std::string scratch_;
  std::string encoded_;  // an object's bytes (Refresh)
  std::string key_;
  std::string probe_;  // index entry keys looked up or written
  std::size_t bytes_ = 0;
  std::size_t records_ = 0;
  ObjectCacheStats stats_;
};

}  // namespace cx::engine
