#include "engine/state_cache.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/encoding.h"
#include "core/swar.h"

namespace cx::engine {
namespace {

// A record's fields and its share of the vector (libstdc++, 64-bit).
constexpr std::size_t kRecordOverhead = 112;
// An owner's hash node, LRU node and key.
constexpr std::size_t kGroupOverhead = 128;
// A timer in its owner's vector.
constexpr std::size_t kTimerOverhead = 48;
// Room an owner's vectors get when it is loaded: a customer with a
// conversation has about seven records (dedup ring, profile, alerts, the
// SLA subject and its clocks, the staffing conversation) and a few timers,
// so that adding them grows neither vector one element at a time. Room not
// yet used is charged too (ChargeGroup).
constexpr std::size_t kRecordsReserved = 8, kTimersReserved = 4;
// An index entry: a tree node with its key.
constexpr std::size_t kIndexOverhead = 80;

constexpr char kOwnerPrefix = 'S';
constexpr std::string_view kIndexBegin = "Ld", kIndexEnd = "Le";  // "d": due

// The store key of an owner's record.
void OwnerKeyTo(std::string_view owner, std::string& out) {
  out.assign(1, kOwnerPrefix);
  PutString(out, owner);
}

// The store key of an index entry (IndexEntry: `when`, `entry`).
void IndexKey(std::int64_t when, std::string_view entry, std::string& out) {
  out.assign(kIndexBegin);
  PutOrderedInt64(out, when);
  out.append(entry);
}

std::size_t IndexBytes(std::string_view key) {
  return kIndexOverhead + (key.size() > 15 ? key.size() + 1 : 0);
}

// The parts of the format, shared by EncodeOwner and the cache's writer.
void PutTimer(std::string& out, Timestamp when, std::string_view processor, std::string_view tag) {
  PutVarintSigned(out, when.ms);
  PutString(out, processor);
  PutString(out, tag);
}

Status WrongFormat(std::uint8_t found) {
  return Status::Corruption("an owner record of state format " + std::to_string(found) +
                            " where this version reads format " + std::to_string(kStateFormat));
}

// Reads the format byte and the timers; calls fn(when, processor, tag).
template <typename Fn>
Status ReadTimers(Reader& r, Fn&& fn) {
  const std::uint8_t format = r.Byte();
  if (!r.ok()) return Status::Corruption("an empty owner record");
  if (format != kStateFormat) return WrongFormat(format);
  const std::uint64_t n = r.Varint();
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
    const Timestamp when{r.VarintSigned()};
    const std::string_view processor = r.String();
    const std::string_view tag = r.String();
    if (r.ok()) fn(when, processor, tag);
  }
  return r.ok() ? Status::Ok() : Status::Corruption("a truncated owner record (timers)");
}

// Reads the records that follow the timers, to the end; calls fn(name, value).
template <typename Fn>
Status ReadRecords(Reader& r, Fn&& fn) {
  const std::uint64_t n = r.Varint();
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
    const std::string_view name = r.String();
    const std::string_view value = r.String();
    if (r.ok()) fn(name, value);
  }
  if (!r.ok() || r.remaining() != 0) return Status::Corruption("a truncated or overlong owner record");
  return Status::Ok();
}

}  // namespace

std::string OwnerKey(std::string_view owner) {
  std::string k;
  OwnerKeyTo(owner, k);
  return k;
}

std::string EncodeOwner(const OwnerState& state) {
  std::string out;
  out.push_back(static_cast<char>(kStateFormat));
  PutVarint(out, state.timers.size());
  for (const OwnerTimer& t : state.timers) PutTimer(out, t.when, t.processor, t.tag);
  PutVarint(out, state.records.size());
  for (const OwnerRecord& rec : state.records) {
    PutString(out, rec.name);
    PutString(out, rec.value);
  }
  return out;
}

Status DecodeOwner(std::string_view bytes, OwnerState& out) {
  out = OwnerState{};
  Reader r(bytes);
  Status s = ReadTimers(r, [&](Timestamp when, std::string_view processor, std::string_view tag) {
    out.timers.push_back({when, std::string(processor), std::string(tag)});
  });
  if (!s.ok()) return s;
  return ReadRecords(r, [&](std::string_view name, std::string_view value) {
    out.records.push_back({std::string(name), std::string(value)});
  });
}

StateCache::StateCache(state::Store& store, std::shared_ptr<ObjectBudget> budget,
                       std::vector<std::string> processors)
    : store_(store), budget_(std::move(budget)), processors_(std::move(processors)) {
  for (const std::string& p : processors_) {
    std::string e;
    PutString(e, p);
    encoded_processors_.push_back(std::move(e));
  }
}

StateCache::~StateCache() { Uncharge(bytes_); }

std::size_t StateCache::ProcessorIndex(std::string_view name) {
  for (std::size_t i = 0; i < processors_.size(); ++i)
    if (processors_[i] == name) return i;
  // A processor this task no longer runs: its timers fire to nobody.
  processors_.emplace_back(name);
  std::string e;
  PutString(e, name);
  encoded_processors_.push_back(std::move(e));
  return processors_.size() - 1;
}

Status StateCache::Open() {
  auto format = store_.Get(kFormatKey);
  if (!format.ok()) return format.status();
  const std::string expected(1, static_cast<char>(kStateFormat));
  std::string found;
  if (format.value()) {
    found = *format.value();
  } else {
    // Without a marker the store is new, or the marker was lost (a
    // changelog that no longer holds its first frame). Format 1 had none:
    // its records were "C" keys (a key per processor record) and "T" keys
    // (a key per timer), which later formats never write. From format 2 on,
    // an owner record starts with its format: the first one says.
    bool format1 = false;
    for (std::string_view range : {"CD", "TU"}) {
      Status s = store_.Scan(range.substr(0, 1), range.substr(1), [&](std::string_view, std::string_view) {
        format1 = true;
        return false;
      });
      if (!s.ok()) return s;
    }
    if (format1) found = std::string(1, '\x01');
    const char owners[] = {kOwnerPrefix, static_cast<char>(kOwnerPrefix + 1)};
    Status s = store_.Scan(std::string_view(owners, 1), std::string_view(owners + 1, 1),
                           [&](std::string_view, std::string_view value) {
                             if (!value.empty()) found.assign(1, value[0]);
                             return false;
                           });
    if (!s.ok()) return s;
  }
  if (!found.empty() && found != expected) {
    const int version = static_cast<unsigned char>(found[0]);
    return Status::Fatal(
        "the task's state (its state directory, or the changelog it was restored from) is in state format " +
        std::to_string(version) + ", written by an older cxstream; this version reads format " +
        std::to_string(kStateFormat) +
        " and does not guess at the old one. Stop every worker of the application, then either delete the "
        "state directories and the changelog topics, or give the application a new application_id, and "
        "start it again: the state is rebuilt from the input topics (from what they retain). To keep the "
        "old state, go on running the older version (docs/operations.md#upgrades)");
  }
  auto index = store_.Get(kTimerIndexKey);
  if (!index.ok()) return index.status();
  if (index.value() && index.value()->size() == 8) {
    timers_ = static_cast<std::int64_t>(GetFixed64BE(index.value()->data()));
    timers_written_ = timers_;
  } else if (Status s = RebuildIndex(); !s.ok()) {
    return s;
  }
  // After the index (which may commit local writes of its own): the marker
  // goes to the changelog with the task's first commit.
  if (found.empty()) store_.Put(kFormatKey, expected);
  return Status::Ok();
}

Status StateCache::RebuildIndex() {
  // Batches of index writes, each committed on its own when the store has
  // nothing else pending (a task opening after a restore): memory stays
  // bounded whatever the number of owners. The entries are derived from
  // committed owners and local-only, so committing them early is safe.
  // Committed batches go through a BulkLoader: one write batch each, with
  // no pending writes of the store's and no read behind a delete.
  const bool commit_batches = store_.PendingBytes() == 0;
  std::unique_ptr<state::BulkLoader> loader = commit_batches ? store_.NewBulkLoader() : nullptr;
  constexpr std::size_t kBatch = 65536;
  std::vector<std::string> batch;
  auto write = [&](bool put) -> Status {
    for (const std::string& k : batch) {
      if (loader && put)
        loader->Put(k, {});
      else if (loader)
        loader->Delete(k);
      else if (put)
        store_.Put(k, {});
      else
        store_.Delete(k);
    }
    batch.clear();
    return loader ? loader->CommitFrame() : Status::Ok();
  };
  // Walks [begin, end) in batches: the store is not written while a scan
  // is open. fn(key, value) appends to `batch`.
  auto walk = [&](std::string begin, std::string_view end, bool put,
                  const std::function<bool(std::string_view, std::string_view)>& fn) -> Status {
    for (;;) {
      std::size_t seen = 0;
      std::string last;
      bool stopped = false;
      Status s = store_.Scan(begin, end, [&](std::string_view key, std::string_view value) {
        if (!fn(key, value)) {
          stopped = true;
          return false;
        }
        last.assign(key);
        return ++seen < kBatch;
      });
      if (!s.ok()) return s;
      if (stopped) return Status::Ok();
      if (Status w = write(put); !w.ok()) return w;
      if (seen < kBatch) return Status::Ok();
      begin = last;
      begin.push_back('\0');  // the next key after it
    }
  };
  // What an older index left (a restore wrote owners behind it) goes first.
  Status s = walk(std::string(kIndexBegin), kIndexEnd, false, [&](std::string_view key, std::string_view) {
    batch.emplace_back(key);
    return true;
  });
  if (!s.ok()) return s;
  Status bad;
  std::vector<Timer> timers;
  std::string entry;
  timers_ = 0;
  s = walk(std::string(1, kOwnerPrefix), std::string(1, static_cast<char>(kOwnerPrefix + 1)), true,
           [&](std::string_view key, std::string_view value) {
             Reader k(key.substr(1));
             const std::string_view owner = k.String();
             Reader r(value);
             bad = ReadOwnerTimers(r, timers);
             if (bad.ok() && !k.ok()) bad = Status::Corruption("an undecodable owner key");
             if (!bad.ok()) return false;
             if (timers.empty()) return true;
             timers_ += static_cast<std::int64_t>(timers.size());
             EntryKey(owner, timers.front(), entry);
             std::string key_of_entry;
             IndexKey(timers.front().when.ms, entry, key_of_entry);
             batch.push_back(std::move(key_of_entry));
             return true;
           });
  if (!s.ok()) return s;
  if (!bad.ok()) return bad;
  if (loader) {
    if (Status f = loader->Finish(); !f.ok()) return f;
  }
  timers_written_ = -1;  // the next Flush marks the index complete
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Owners

StateCache::Node* StateCache::CachedSlow(std::string_view owner) {
  Node* node = nullptr;
  if (previous_ != nullptr && swar::Same(previous_->first, owner)) {
    node = previous_;
  } else {
    auto it = groups_.find(owner);
    if (it == groups_.end()) return nullptr;
    node = &*it;
  }
  if (node->second.lru != lru_.begin()) lru_.splice(lru_.begin(), lru_, node->second.lru);
  previous_ = last_;
  last_ = node;
  return node;
}

StateCache::Node* StateCache::LoadSlow(std::string_view owner, Status& error) {
  if (Node* n = CachedSlow(owner)) {
    ++stats_.hits;
    return n;
  }
  ++stats_.misses;
  OwnerKeyTo(owner, scratch_);
  auto stored = store_.Get(scratch_);
  if (!stored.ok()) {
    error = stored.status();
    return nullptr;
  }
  key_.assign(owner);
  Node* node = &*groups_.try_emplace(key_).first;
  Group& g = node->second;
  g.records.reserve(kRecordsReserved);
  g.timers.reserve(kTimersReserved);
  lru_.push_front(node);
  g.lru = lru_.begin();
  previous_ = last_;
  last_ = node;
  if (const std::optional<std::string>& bytes = stored.value()) {
    g.stored = true;
    Reader r(*bytes);
    Status s = ReadOwnerTimers(r, g.timers);
    if (s.ok()) {
      s = ReadRecords(r, [&](std::string_view name, std::string_view value) {
        Record& rec = g.records.emplace_back();
        rec.name.assign(name);
        rec.hash = RecordName::Hash(name);
        rec.bytes.assign(value);
        rec.has_bytes = true;
        Charge(rec);
        ++records_;
      });
    }
    if (!g.timers.empty()) {  // what the store's index holds for it
      g.indexed = true;
      g.indexed_when = g.timers.front().when;
      g.indexed_processor = g.timers.front().processor;
    }
    if (!s.ok()) {
      error = Status::Corruption("the state of owner '" + std::string(owner) + "': " + s.message());
      DropGroup(node);
      return nullptr;
    }
  }
  ChargeGroup(*node);
  return node;
}

std::vector<StateCache::Record>::iterator StateCache::RecordAt(Group& g, std::string_view name) {
  return std::lower_bound(g.records.begin(), g.records.end(), name,
                          [](const Record& r, std::string_view n) { return r.name < n; });
}

StateCache::Record* StateCache::FindRecord(Group& g, RecordName name) {
  // An owner has a few records (a customer about twenty): a scan of their
  // hashes costs less than a binary search comparing names. Many (an owner
  // of counts per queue): the search.
  if (g.records.size() <= 64) {
    for (Record& r : g.records)
      if (r.hash == name.hash && swar::Same(r.name, name.name)) return &r;
    return nullptr;
  }
  auto it = RecordAt(g, name.name);
  return it != g.records.end() && it->name == name.name ? &*it : nullptr;
}

StateCache::Record& StateCache::InsertRecord(Group& g, RecordName name) {
  if (Record* r = FindRecord(g, name)) return *r;
  auto it = g.records.emplace(RecordAt(g, name.name));
  it->name.assign(name.name);
  it->hash = name.hash;
  ++records_;
  return *it;
}

const std::string* StateCache::Get(std::string_view owner, RecordName name, Status& error) {
  Node* n = Load(owner, error);
  if (n == nullptr) return nullptr;
  Record* r = FindRecord(n->second, name);
  if (r == nullptr) return nullptr;
  Refresh(*r);
  return r->has_bytes ? &r->bytes : nullptr;
}

void StateCache::Put(std::string_view owner, RecordName name, std::string_view value, Status& error) {
  Node* n = Load(owner, error);
  if (n == nullptr) return;
  Record& r = InsertRecord(n->second, name);
  if (r.object) released_.push_back(std::move(r.object));
  r.bytes.assign(value);
  r.has_bytes = true;
  r.stale = false;
  Charge(r);
  MarkDirty(n);
}

void StateCache::Delete(std::string_view owner, RecordName name, Status& error) {
  Node* n = Load(owner, error);
  if (n == nullptr) return;
  Group& g = n->second;
  Record* r = FindRecord(g, name);
  if (r == nullptr) return;
  auto it = g.records.begin() + (r - g.records.data());
  Uncharge(it->charged);
  if (it->object) released_.push_back(std::move(it->object));
  g.records.erase(it);
  --records_;
  MarkDirty(n);
}

void StateCache::ForEachWhile(std::string_view owner, std::string_view begin, std::string_view end,
                              const std::function<bool(std::string_view, std::string_view)>& fn,
                              Status& error) {
  Node* n = Load(owner, error);
  if (n == nullptr) return;
  Group& g = n->second;
  std::string at(begin);
  bool first = true;
  for (;;) {
    // Found again after each call: fn may have added or removed records.
    auto it = RecordAt(g, at);
    if (!first && it != g.records.end() && it->name == at) ++it;
    first = false;
    while (it != g.records.end() && std::string_view(it->name) < end) {
      Refresh(*it);
      if (it->has_bytes) break;
      ++it;
    }
    if (it == g.records.end() || !(std::string_view(it->name) < end)) return;
    at = it->name;
    if (!fn(it->name, it->bytes)) return;
  }
}

// ---------------------------------------------------------------------------
// Decoded records

processors::StateObject* StateCache::Find(std::string_view owner, RecordName name,
                                          const processors::ObjectDecoder& decode, Status& error) {
  Node* n = Load(owner, error);
  if (n == nullptr) return nullptr;
  Record* r = FindRecord(n->second, name);
  if (r == nullptr) return nullptr;
  if (!r->object) {
    if (!r->has_bytes) return nullptr;
    r->object = decode(r->bytes);
    if (!r->object) return nullptr;
    Charge(*r);
  }
  processors::ObjectHome::Set(*r->object, n, static_cast<std::uint32_t>(r - n->second.records.data()));
  return r->object.get();
}

processors::StateObject* StateCache::Add(std::string_view owner, RecordName name,
                                         std::unique_ptr<processors::StateObject> object, Status& error) {
  Node* n = Load(owner, error);
  if (n == nullptr) {
    // The store failed (the task has failed): the object lives to the next Trim.
    released_.push_back(std::move(object));
    return released_.back().get();
  }
  Record& r = InsertRecord(n->second, name);
  // Replaced: what was last saved stays the comparison, the object is new.
  if (r.object) released_.push_back(std::move(r.object));
  r.object = std::move(object);
  processors::ObjectHome::Set(*r.object, n, static_cast<std::uint32_t>(&r - n->second.records.data()));
  r.stale = false;
  Charge(r);
  return r.object.get();
}

bool StateCache::MarkChanged(std::string_view owner, RecordName name) {
  Node* n = Cached(owner);
  Record* r = n == nullptr ? nullptr : FindRecord(n->second, name);
  if (r == nullptr || !r->object) return false;
  MarkChanged(*n, *r);
  return true;
}

bool StateCache::MarkChanged(processors::StateObject& object) {
  // The home is the owner's group (elements of an unordered_map keep their
  // address), and where its record was when the object was last found;
  // a record added to the group since then may have moved it: a scan of
  // the pointers finds it again, without a name.
  Node* n = static_cast<Node*>(processors::ObjectHome::Get(object));
  if (n == nullptr) return false;
  std::vector<Record>& records = n->second.records;
  if (const std::uint32_t i = processors::ObjectHome::Index(object);
      i < records.size() && records[i].object.get() == &object) {
    MarkChanged(*n, records[i]);
    return true;
  }
  for (Record& r : records) {
    if (r.object.get() == &object) {
      MarkChanged(*n, r);
      return true;
    }
  }
  return false;
}

void StateCache::MarkChanged(Node& n, Record& r) {
  // Once per record and write-back: a record changed again before its
  // write-back is dirty already. The budget follows the object from its
  // first change in the interval (it may have grown since it was read) and
  // again at the write-back (Refresh); objects are bounded, so what one
  // grows in between is small.
  if (r.stale) return;
  r.stale = true;
  MarkDirty(&n);
  Charge(r);
}

void StateCache::Refresh(Record& r) {
  if (!r.stale) return;
  // Into a buffer that keeps its size, then one copy: a record's own string
  // would grow by doubling from empty, an allocation per step.
  encoded_.clear();
  r.object->EncodeTo(encoded_);
  r.bytes.assign(encoded_);
  r.has_bytes = true;
  r.stale = false;
  Charge(r);
}

// ---------------------------------------------------------------------------
// Timers

int StateCache::TimerOrder(const Timer& a, Timestamp when, std::uint32_t processor,
                           std::string_view tag) const {
  if (a.when != when) return a.when < when ? -1 : 1;
  if (a.processor != processor)
    return encoded_processors_[a.processor] < encoded_processors_[processor] ? -1 : 1;
  return std::string_view(a.tag).compare(tag);
}

Status StateCache::ReadOwnerTimers(Reader& r, std::vector<Timer>& out) {
  out.clear();
  Status s = ReadTimers(r, [&](Timestamp when, std::string_view processor, std::string_view tag) {
    out.push_back({when, static_cast<std::uint32_t>(ProcessorIndex(processor)), std::string(tag)});
  });
  // Written in firing order by the cache; put in it whatever wrote them.
  auto less = [this](const Timer& a, const Timer& b) { return TimerLess(a, b); };
  if (!std::is_sorted(out.begin(), out.end(), less)) std::sort(out.begin(), out.end(), less);
  return s;
}

void StateCache::EntryKey(std::string_view owner, const Timer& t, std::string& out) const {
  out.assign(encoded_processors_[t.processor]);
  PutString(out, owner);
}

StateCache::IndexEntry StateCache::MakeEntry(std::int64_t when, std::uint32_t processor,
                                             std::string_view owner) {
  std::uint32_t slot;
  if (free_owner_slots_.empty()) {
    slot = static_cast<std::uint32_t>(index_owners_.size());
    index_owners_.emplace_back();
  } else {
    slot = free_owner_slots_.back();
    free_owner_slots_.pop_back();
  }
  std::string& key = index_owners_[slot];
  key.clear();
  PutString(key, owner);
  const std::size_t bytes = IndexBytes(key);
  bytes_ += bytes;
  if (budget_) budget_->used.fetch_add(bytes, std::memory_order_relaxed);
  return IndexEntry{when, processor, slot};
}

void StateCache::ReleaseEntry(const IndexEntry& e) {
  Uncharge(IndexBytes(index_owners_[e.owner]));
  free_owner_slots_.push_back(e.owner);
}

// The index in memory: only its front (entries before front_end_). The
// store's copy is written per owner by SyncIndex, at write-back and before a
// refill reads it.
void StateCache::IndexInsert(std::string_view owner, const Timer& t) {
  if (t.when.ms >= front_end_) return;  // beyond what memory holds: read when it comes near
  front_.push_back(MakeEntry(t.when.ms, t.processor, owner));
  std::push_heap(front_.begin(), front_.end(), IndexLater{{this}});
  if (front_.size() > 2 * kIndexBatch) TrimFront();
}

void StateCache::PopFront() {
  std::pop_heap(front_.begin(), front_.end(), IndexLater{{this}});
  ReleaseEntry(front_.back());
  front_.pop_back();
}

void StateCache::TrimFront() {
  // Keep the first batch; the rest is read again when it comes near (its
  // entries are in the store, or in changed owners, which a refill writes
  // first). A bound at a deadline keeps whole deadlines together: when one
  // deadline holds more than a batch, that deadline whole.
  const IndexLess less{this};
  std::nth_element(front_.begin(), front_.begin() + kIndexBatch, front_.end(), less);
  std::int64_t bound = front_[kIndexBatch].when;
  auto before = [&](const IndexEntry& e) { return e.when < bound; };
  if (std::none_of(front_.begin(), front_.begin() + kIndexBatch, before)) ++bound;
  auto from = std::partition(front_.begin(), front_.end(), before);
  for (auto x = from; x != front_.end(); ++x) ReleaseEntry(*x);
  front_.erase(from, front_.end());
  std::make_heap(front_.begin(), front_.end(), IndexLater{less});
  front_end_ = bound;
}

void StateCache::SyncIndex(Node& node) {
  Group& g = node.second;
  const bool has = !g.timers.empty();
  if (has == g.indexed && (!has || (g.timers.front().when == g.indexed_when &&
                                    g.timers.front().processor == g.indexed_processor)))
    return;
  if (g.indexed) {
    // The store holds the entry (or a write since the last commit gives it
    // it): a delete without the look-up Store::Delete would make.
    EntryKey(node.first, Timer{g.indexed_when, g.indexed_processor, {}}, probe_);
    IndexKey(g.indexed_when.ms, probe_, key_);
    store_.Tombstone(key_);
  }
  g.indexed = has;
  if (has) {
    g.indexed_when = g.timers.front().when;
    g.indexed_processor = g.timers.front().processor;
    EntryKey(node.first, g.timers.front(), probe_);
    IndexKey(g.indexed_when.ms, probe_, key_);
    store_.Put(key_, {});
  }
}

Status StateCache::Refill() {
  // The next entries in order, whole deadlines at a time: every entry
  // before the new bound is then in memory.
  for (Node* node : dirty_) SyncIndex(*node);
  std::string begin(kIndexBegin);
  if (front_end_ != Timestamp::Min().ms) PutOrderedInt64(begin, front_end_);
  std::vector<IndexEntry> batch;
  std::int64_t bound = Timestamp::Max().ms;
  bool bad = false;
  Status s = store_.Scan(begin, kIndexEnd, [&](std::string_view key, std::string_view) {
    if (key.size() < kIndexBegin.size() + 8) {
      bad = true;
      return false;
    }
    const std::int64_t when = GetOrderedInt64(key.data() + kIndexBegin.size());
    if (batch.size() >= kIndexBatch && when != batch.back().when) {
      bound = when;
      return false;
    }
    Reader r(key.substr(kIndexBegin.size() + 8));
    const std::string_view processor = r.String(), owner = r.String();
    if (!r.ok() || !r.done()) {
      bad = true;
      return false;
    }
    batch.push_back(MakeEntry(when, static_cast<std::uint32_t>(ProcessorIndex(processor)), owner));
    return true;
  });
  if (!s.ok() || bad) {
    for (const IndexEntry& e : batch) ReleaseEntry(e);
    return s.ok() ? Status::Corruption("an undecodable timer index key") : s;
  }
  // An owner whose entry memory holds already gets a second: the one that
  // comes to the top later is no longer its earliest, and is dropped then.
  for (const IndexEntry& e : batch) {
    front_.push_back(e);
    std::push_heap(front_.begin(), front_.end(), IndexLater{{this}});
  }
  front_end_ = bound;
  return Status::Ok();
}

std::vector<StateCache::Timer>::iterator StateCache::TimerAt(Group& g, Timestamp when,
                                                             std::uint32_t processor, std::string_view tag,
                                                             bool& found) const {
  auto before = [&](const Timer& a) { return TimerOrder(a, when, processor, tag) < 0; };
  auto it = std::partition_point(g.timers.begin(), g.timers.end(), before);
  found = it != g.timers.end() && TimerOrder(*it, when, processor, tag) == 0;
  return it;
}

void StateCache::SetTimer(Timestamp when, std::size_t processor, std::string_view owner, std::string_view tag,
                          Status& error) {
  Node* n = Load(owner, error);
  if (n == nullptr) return;
  auto& timers = n->second.timers;
  bool found = false;
  auto it = TimerAt(n->second, when, static_cast<std::uint32_t>(processor), tag, found);
  if (found) return;  // set already
  const bool earliest = it == timers.begin();
  it = timers.insert(it, Timer{when, static_cast<std::uint32_t>(processor), std::string(tag)});
  if (earliest) IndexInsert(owner, *it);  // the previous earliest's entry is dropped when it comes up
  ++timers_;
  ChargeGroup(*n);
  MarkDirty(n);
}

void StateCache::CancelTimer(Timestamp when, std::size_t processor, std::string_view owner,
                             std::string_view tag, Status& error) {
  Node* n = Load(owner, error);
  if (n == nullptr) return;
  auto& timers = n->second.timers;
  bool found = false;
  auto it = TimerAt(n->second, when, static_cast<std::uint32_t>(processor), tag, found);
  if (!found) return;
  const bool earliest = it == timers.begin();
  timers.erase(it);  // its index entry, when it has one, is dropped when it comes up
  if (earliest && !timers.empty()) IndexInsert(owner, timers.front());
  --timers_;
  ChargeGroup(*n);
  MarkDirty(n);
}

bool StateCache::PopDue(Timestamp limit, DueTimer& out, Status& error) {
  for (;;) {
    while (front_.empty()) {
      // The earliest entry is at or after front_end_.
      if (front_end_ == Timestamp::Max().ms || front_end_ > limit.ms) return false;
      if (Status s = Refill(); !s.ok()) {
        error = s;
        return false;
      }
    }
    const IndexEntry& e = front_.front();
    if (e.when > limit.ms) return false;
    const std::int64_t when = e.when;
    const std::uint32_t processor = e.processor;
    out.owner.assign(Reader(index_owners_[e.owner]).String());
    PopFront();
    Node* n = Load(out.owner, error);
    if (n == nullptr) return false;
    auto& timers = n->second.timers;
    // The owner's earliest timer against the entry: later (or none), the
    // entry was superseded; earlier, its own entry is missing, which no
    // sequence of calls leaves.
    int order = 1;
    if (!timers.empty()) {
      const Timer& first = timers.front();
      if (first.when.ms != when)
        order = first.when.ms < when ? -1 : 1;
      else if (first.processor != processor)
        order = encoded_processors_[first.processor] < encoded_processors_[processor] ? -1 : 1;
      else
        order = 0;
    }
    if (order > 0) continue;
    if (order < 0) {
      error = Status::Corruption("the timer index and the state of owner '" + out.owner + "' disagree");
      return false;
    }
    Timer t = std::move(timers.front());
    timers.erase(timers.begin());
    if (!timers.empty()) IndexInsert(out.owner, timers.front());
    --timers_;
    ChargeGroup(*n);
    MarkDirty(n);
    out.when = t.when;
    out.processor = t.processor;
    out.tag = std::move(t.tag);
    return true;
  }
}

void StateCache::EraseOwner(std::string_view owner, Status& error) {
  Node* n = Load(owner, error);
  if (n == nullptr) return;
  Group& g = n->second;
  // Its index entry is dropped when it comes up.
  timers_ -= static_cast<std::int64_t>(g.timers.size());
  g.timers.clear();
  for (Record& r : g.records) {
    Uncharge(r.charged);
    if (r.object) released_.push_back(std::move(r.object));
    --records_;
  }
  g.records.clear();
  ChargeGroup(*n);
  MarkDirty(n);  // written as a deletion
}

// ---------------------------------------------------------------------------
// Memory and write-back

void StateCache::Uncharge(std::size_t n) {
  bytes_ -= n;
  if (budget_) budget_->used.fetch_sub(n, std::memory_order_relaxed);
}

void StateCache::Recharge(std::size_t& charged, std::size_t now) {
  if (now >= charged) {
    bytes_ += now - charged;
    if (budget_) budget_->used.fetch_add(now - charged, std::memory_order_relaxed);
  } else {
    Uncharge(charged - now);
  }
  charged = now;
}

void StateCache::Charge(Record& r) {
  Recharge(r.charged, kRecordOverhead + r.name.capacity() + r.bytes.capacity() +
                          (r.object ? r.object->MemoryBytes() : 0));
}

void StateCache::ChargeGroup(Node& node) {
  Group& g = node.second;
  std::size_t now = kGroupOverhead + node.first.capacity() +
                    (g.records.capacity() - g.records.size()) * sizeof(Record) +
                    (g.timers.capacity() - g.timers.size()) * sizeof(Timer);
  for (const Timer& t : g.timers) now += kTimerOverhead + (t.tag.size() > 15 ? t.tag.capacity() : 0);
  Recharge(g.charged, now);
}

void StateCache::MarkDirty(Node* node) {
  if (node->second.dirty_at != kClean) return;
  node->second.dirty_at = dirty_.size();
  dirty_.push_back(node);
}

void StateCache::MarkClean(Group& g) {
  if (g.dirty_at == kClean) return;
  Node* last = dirty_.back();
  dirty_[g.dirty_at] = last;
  last->second.dirty_at = g.dirty_at;
  dirty_.pop_back();
  g.dirty_at = kClean;
}

void StateCache::WriteBack(Node& node) {
  SyncIndex(node);
  Group& g = node.second;
  std::size_t records = 0;
  for (Record& r : g.records) {
    Refresh(r);
    if (r.has_bytes) ++records;
  }
  OwnerKeyTo(node.first, key_);
  if (records == 0 && g.timers.empty()) {
    if (g.stored) store_.Tombstone(key_);
    g.stored = false;
  } else {
    g.stored = true;
    scratch_.clear();
    scratch_.push_back(static_cast<char>(kStateFormat));
    PutVarint(scratch_, g.timers.size());
    for (const Timer& t : g.timers) PutTimer(scratch_, t.when, processors_[t.processor], t.tag);
    PutVarint(scratch_, records);
    for (const Record& r : g.records) {
      if (!r.has_bytes) continue;
      PutString(scratch_, r.name);
      PutString(scratch_, r.bytes);
    }
    store_.Put(key_, scratch_);
  }
}

void StateCache::Flush() {
  for (Node* node : dirty_) {
    WriteBack(*node);
    node->second.dirty_at = kClean;
  }
  dirty_.clear();
  if (timers_ != timers_written_) {
    scratch_.clear();
    PutFixed64BE(scratch_, static_cast<std::uint64_t>(timers_));
    store_.Put(kTimerIndexKey, scratch_);
    timers_written_ = timers_;
  }
}

void StateCache::DropGroup(Node* node) {
  Group& g = node->second;
  for (Record& r : g.records) {
    Uncharge(r.charged);
    if (r.object) released_.push_back(std::move(r.object));
    --records_;
  }
  Uncharge(g.charged);
  MarkClean(g);
  lru_.erase(g.lru);
  if (last_ == node) last_ = nullptr;
  if (previous_ == node) previous_ = nullptr;
  groups_.erase(groups_.find(node->first));
}

void StateCache::Trim() {
  released_.clear();
  if (!budget_) return;
  while (!lru_.empty() && budget_->used.load(std::memory_order_relaxed) > budget_->limit) {
    Node* node = lru_.back();
    if (node->second.dirty_at != kClean) {
      WriteBack(*node);
      ++stats_.write_throughs;
    }
    stats_.evictions += node->second.records.size();
    DropGroup(node);
  }
  released_.clear();
}

}  // namespace cx::engine
