// ObjectCache: a task's state records kept decoded between events
// (processors::StateObject), in front of its Store.
//
// A record is decoded once when first used and then read and changed in
// place; the processor saves it (its bytes are compared with those last
// saved, so an unchanged record writes nothing) and the bytes reach the
// store once per commit, however many events changed it (Flush). The cache
// keeps what it holds within a byte budget shared by every task of a
// worker (ObjectBudget): past it, Trim drops the least recently used
// owners' records, writing the unsaved ones to the store first.
//
// Not thread-safe: used from its task's thread. The budget is shared.
#pragma once

#include <atomic>
#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "processors/processor.h"
#include "state/store.h"

namespace cx::engine {

// Bytes the object caches of one worker's tasks may hold together.
struct ObjectBudget {
  explicit ObjectBudget(std::size_t bytes) : limit(bytes) {}
  const std::size_t limit;
  std::atomic<std::size_t> used{0};
};

struct ObjectCacheStats {
  std::uint64_t hits = 0, misses = 0, evictions = 0, write_throughs = 0;
};

// Keys are store keys whose first `owner_len` bytes are the owner's prefix
// (every record of one owner shares it): the cache groups an owner's
// records, finds a group with one hash lookup, and evicts whole owners.
class ObjectCache {
 public:
  // `store` must outlive the cache; `budget` may be shared by caches.
  ObjectCache(state::Store& store, std::shared_ptr<ObjectBudget> budget);
  ~ObjectCache();
  ObjectCache(const ObjectCache&) = delete;
  ObjectCache& operator=(const ObjectCache&) = delete;

  // The record at `key`, decoded on a miss; nullptr when absent or not
  // decodable. A read failure is reported through `error`.
  processors::StateObject* Find(std::string_view key, std::size_t owner_len, processors::ObjectDecoder decode,
                                Status& error);
  // Replaces the record at `key` with `object`, unsaved.
  processors::StateObject* Add(std::string_view key, std::size_t owner_len,
                               std::unique_ptr<processors::StateObject> object);
  // See ProcessorContext::SaveObject. False also when `key` is not cached.
  bool Save(std::string_view key, std::size_t owner_len);
  // See ProcessorContext::MarkChanged: dirty, encoded when written back.
  // False when `key` is not cached.
  bool MarkChanged(std::string_view key, std::size_t owner_len);
  // Forgets the record (the caller deletes it from the store).
  void Erase(std::string_view key, std::size_t owner_len);
  // Forgets every record of the owner, unsaved ones included.
  void EraseOwner(std::string_view owner_prefix);

  // The record's current bytes (encoded now if it changed since); nullptr
  // when it is not cached.
  const std::string* Bytes(std::string_view key, std::size_t owner_len);

  // Writes every saved record not yet in the store to it (before a commit).
  void Flush();
  // Writes the owner's saved records with a key in [begin, end) to the
  // store (before a scan of that range).
  void FlushOwner(std::string_view owner_prefix, std::string_view begin, std::string_view end);
  // Between events: frees what Erase let go and, while the shared budget is
  // exceeded, drops this cache's least recently used owners.
  void Trim();

  std::size_t size() const { return records_; }
  std::size_t bytes() const { return bytes_; }
  const ObjectCacheStats& stats() const { return stats_; }

 private:
  struct Record {
    std::string name;  // the key after the owner's prefix
    std::unique_ptr<processors::StateObject> object;
    std::string bytes;        // the last saved or read value
    bool has_bytes = false;   // a record can encode to no bytes
    bool dirty = false;       // saved, not yet written to the store
    bool stale = false;       // changed since `bytes` was encoded (MarkChanged)
    std::size_t charged = 0;  // bytes charged to the budget
  };
  struct Group;
  using Groups = std::unordered_map<std::string, Group>;
  // Elements of an unordered_map keep their address when it rehashes (its
  // iterators do not): the LRU list holds addresses.
  using Node = Groups::value_type;
  struct Group {
    std::vector<Record> records;  // a few per owner
    std::list<Node*>::iterator lru;
    // Where the group is in dirty_ (it has a record saved and not yet
    // written to the store), or kClean.
    std::size_t dirty_at = kClean;
  };
  static constexpr std::size_t kClean = static_cast<std::size_t>(-1);

  // The owner's group, made when `create`; nullptr when absent.
  Group* FindGroup(std::string_view owner_prefix, bool create);
  Record* FindRecord(std::string_view key, std::size_t owner_len);
  // The owner's group node and its record `name`; nullptr when absent.
  Record* FindRecord(std::string_view key, std::size_t owner_len, Node*& node);
  // Encodes a stale record's bytes.
  void Refresh(Record& r);
  void Charge(Record& r);
  void Uncharge(std::size_t n);
  void DropGroup(Node* node);
  void WriteBack(const std::string& owner_prefix, Record& r);
  void MarkDirty(Node* node);
  void MarkClean(Group& g);

  state::Store& store_;
  std::shared_ptr<ObjectBudget> budget_;
  Groups groups_;
  std::list<Node*> lru_;  // most recently used first
  // The groups with a dirty record: a commit writes these, not every group
  // the cache holds.
  std::vector<Node*> dirty_;
  // Objects let go of during an event, freed by the next Trim: a processor
  // may still hold a pointer to one until its call returns.
  std::vector<std::unique_ptr<processors::StateObject>> released_;
  std::string scratch_;
  std::string key_;
  std::size_t bytes_ = 0;
  std::size_t records_ = 0;
  ObjectCacheStats stats_;
};

}  // namespace cx::engine
