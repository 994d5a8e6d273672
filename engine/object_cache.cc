#include "engine/object_cache.h"

#include <utility>

namespace cx::engine {
namespace {

// A map node, a list node and the entry's own fields (libstdc++, 64-bit).
constexpr std::size_t kEntryOverhead = 160;

}  // namespace

ObjectCache::ObjectCache(state::Store& store, std::shared_ptr<ObjectBudget> budget)
    : store_(store), budget_(std::move(budget)) {}

ObjectCache::~ObjectCache() {
  if (budget_) budget_->used.fetch_sub(bytes_, std::memory_order_relaxed);
}

void ObjectCache::Touch(Map::iterator it) {
  if (it->second.lru != lru_.begin()) lru_.splice(lru_.begin(), lru_, it->second.lru);
}

void ObjectCache::Charge(Entry& e) {
  const std::size_t now = kEntryOverhead + e.bytes.capacity() + (e.object ? e.object->MemoryBytes() : 0);
  bytes_ = bytes_ - e.charged + now;
  if (budget_) {
    if (now >= e.charged)
      budget_->used.fetch_add(now - e.charged, std::memory_order_relaxed);
    else
      budget_->used.fetch_sub(e.charged - now, std::memory_order_relaxed);
  }
  e.charged = now;
}

ObjectCache::Map::iterator ObjectCache::Insert(std::string_view key,
                                               std::unique_ptr<processors::StateObject> object) {
  auto [it, inserted] = entries_.try_emplace(std::string(key));
  (void)inserted;
  it->second.object = std::move(object);
  lru_.push_front(it);
  it->second.lru = lru_.begin();
  return it;
}

processors::StateObject* ObjectCache::Find(std::string_view key, processors::ObjectDecoder decode,
                                           Status& error) {
  if (auto it = entries_.find(key); it != entries_.end()) {
    ++stats_.hits;
    Touch(it);
    return it->second.object.get();
  }
  ++stats_.misses;
  auto stored = store_.Get(key);
  if (!stored.ok()) {
    error = stored.status();
    return nullptr;
  }
  if (!stored.value()) return nullptr;
  std::unique_ptr<processors::StateObject> object = decode(*stored.value());
  if (!object) return nullptr;
  auto it = Insert(key, std::move(object));
  it->second.bytes = std::move(*stored.value());
  it->second.has_bytes = true;
  Charge(it->second);
  return it->second.object.get();
}

processors::StateObject* ObjectCache::Add(std::string_view key,
                                          std::unique_ptr<processors::StateObject> object) {
  if (auto it = entries_.find(key); it != entries_.end()) {
    // Replaced: what was last saved stays the comparison, the object is new.
    released_.push_back(std::move(it->second.object));
    it->second.object = std::move(object);
    Touch(it);
    Charge(it->second);
    return it->second.object.get();
  }
  auto it = Insert(key, std::move(object));
  Charge(it->second);
  return it->second.object.get();
}

bool ObjectCache::Save(std::string_view key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  Entry& e = it->second;
  scratch_.clear();
  e.object->EncodeTo(scratch_);
  if (e.has_bytes && scratch_ == e.bytes) return false;
  std::swap(scratch_, e.bytes);
  e.has_bytes = true;
  e.dirty = true;
  Charge(e);
  return true;
}

void ObjectCache::Drop(Map::iterator it) {
  Entry& e = it->second;
  bytes_ -= e.charged;
  if (budget_) budget_->used.fetch_sub(e.charged, std::memory_order_relaxed);
  released_.push_back(std::move(e.object));
  lru_.erase(e.lru);
  entries_.erase(it);
}

void ObjectCache::Erase(std::string_view key) {
  if (auto it = entries_.find(key); it != entries_.end()) Drop(it);
}

void ObjectCache::EraseRange(std::string_view begin, std::string_view end) {
  auto it = entries_.lower_bound(begin);
  while (it != entries_.end() && std::string_view(it->first) < end) Drop(it++);
}

const std::string* ObjectCache::Bytes(std::string_view key) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.has_bytes) return nullptr;
  return &it->second.bytes;
}

void ObjectCache::Flush() {
  for (auto& [key, e] : entries_) {
    if (!e.dirty) continue;
    store_.Put(key, e.bytes);
    e.dirty = false;
  }
}

void ObjectCache::FlushRange(std::string_view begin, std::string_view end) {
  for (auto it = entries_.lower_bound(begin); it != entries_.end() && std::string_view(it->first) < end;
       ++it) {
    if (!it->second.dirty) continue;
    store_.Put(it->first, it->second.bytes);
    it->second.dirty = false;
  }
}

void ObjectCache::Trim() {
  released_.clear();
  if (!budget_) return;
  while (!lru_.empty() && budget_->used.load(std::memory_order_relaxed) > budget_->limit) {
    auto it = lru_.back();
    if (it->second.dirty) {
      store_.Put(it->first, it->second.bytes);
      ++stats_.write_throughs;
    }
    ++stats_.evictions;
    Drop(it);
  }
  released_.clear();
}

}  // namespace cx::engine
