#include "engine/object_cache.h"

#include <utility>

namespace cx::engine {
namespace {

// A record's fields and its share of the vector (libstdc++, 64-bit).
constexpr std::size_t kRecordOverhead = 112;
// An owner's hash node, LRU node and key.
constexpr std::size_t kGroupOverhead = 128;

}  // namespace

ObjectCache::ObjectCache(state::Store& store, std::shared_ptr<ObjectBudget> budget)
    : store_(store), budget_(std::move(budget)) {}

ObjectCache::~ObjectCache() { Uncharge(bytes_); }

void ObjectCache::Uncharge(std::size_t n) {
  bytes_ -= n;
  if (budget_) budget_->used.fetch_sub(n, std::memory_order_relaxed);
}

void ObjectCache::Charge(Record& r) {
  const std::size_t now =
      kRecordOverhead + r.name.capacity() + r.bytes.capacity() + (r.object ? r.object->MemoryBytes() : 0);
  if (now >= r.charged) {
    bytes_ += now - r.charged;
    if (budget_) budget_->used.fetch_add(now - r.charged, std::memory_order_relaxed);
  } else {
    Uncharge(r.charged - now);
  }
  r.charged = now;
}

ObjectCache::Group* ObjectCache::FindGroup(std::string_view owner_prefix, bool create) {
  key_.assign(owner_prefix);
  auto it = groups_.find(key_);
  if (it == groups_.end()) {
    if (!create) return nullptr;
    it = groups_.try_emplace(key_).first;
    lru_.push_front(&*it);
    it->second.lru = lru_.begin();
    bytes_ += kGroupOverhead + it->first.capacity();
    if (budget_) budget_->used.fetch_add(kGroupOverhead + it->first.capacity(), std::memory_order_relaxed);
    return &it->second;
  }
  if (it->second.lru != lru_.begin()) lru_.splice(lru_.begin(), lru_, it->second.lru);
  return &it->second;
}

ObjectCache::Record* ObjectCache::FindRecord(std::string_view key, std::size_t owner_len) {
  Group* g = FindGroup(key.substr(0, owner_len), false);
  if (g == nullptr) return nullptr;
  const std::string_view name = key.substr(owner_len);
  for (Record& r : g->records)
    if (r.name == name) return &r;
  return nullptr;
}

processors::StateObject* ObjectCache::Find(std::string_view key, std::size_t owner_len,
                                           processors::ObjectDecoder decode, Status& error) {
  if (Record* r = FindRecord(key, owner_len)) {
    ++stats_.hits;
    return r->object.get();
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
  Group* g = FindGroup(key.substr(0, owner_len), true);
  Record& r = g->records.emplace_back();
  ++records_;
  r.name.assign(key.substr(owner_len));
  r.object = std::move(object);
  r.bytes = std::move(*stored.value());
  r.has_bytes = true;
  Charge(r);
  return r.object.get();
}

processors::StateObject* ObjectCache::Add(std::string_view key, std::size_t owner_len,
                                          std::unique_ptr<processors::StateObject> object) {
  Record* r = FindRecord(key, owner_len);
  if (r != nullptr) {
    // Replaced: what was last saved stays the comparison, the object is new.
    released_.push_back(std::move(r->object));
  } else {
    Group* g = FindGroup(key.substr(0, owner_len), true);
    r = &g->records.emplace_back();
    ++records_;
    r->name.assign(key.substr(owner_len));
  }
  r->object = std::move(object);
  Charge(*r);
  return r->object.get();
}

void ObjectCache::MarkDirty(Node* node) {
  if (node->second.dirty_at != kClean) return;
  node->second.dirty_at = dirty_.size();
  dirty_.push_back(node);
}

void ObjectCache::MarkClean(Group& g) {
  if (g.dirty_at == kClean) return;
  Node* last = dirty_.back();
  dirty_[g.dirty_at] = last;
  last->second.dirty_at = g.dirty_at;
  dirty_.pop_back();
  g.dirty_at = kClean;
}

ObjectCache::Record* ObjectCache::FindRecord(std::string_view key, std::size_t owner_len, Node*& node) {
  key_.assign(key.substr(0, owner_len));
  auto it = groups_.find(key_);
  if (it == groups_.end()) return nullptr;
  if (it->second.lru != lru_.begin()) lru_.splice(lru_.begin(), lru_, it->second.lru);
  node = &*it;
  const std::string_view name = key.substr(owner_len);
  for (Record& x : it->second.records)
    if (x.name == name) return &x;
  return nullptr;
}

bool ObjectCache::Save(std::string_view key, std::size_t owner_len) {
  Node* node = nullptr;
  Record* r = FindRecord(key, owner_len, node);
  if (r == nullptr) return false;
  scratch_.clear();
  r->object->EncodeTo(scratch_);
  if (r->has_bytes && scratch_ == r->bytes) {
    if (r->stale) r->stale = false;  // changed, and back to what was last written
    return false;
  }
  std::swap(scratch_, r->bytes);
  r->has_bytes = true;
  r->stale = false;
  r->dirty = true;
  MarkDirty(node);
  Charge(*r);
  return true;
}

bool ObjectCache::MarkChanged(std::string_view key, std::size_t owner_len) {
  Node* node = nullptr;
  Record* r = FindRecord(key, owner_len, node);
  if (r == nullptr) return false;
  r->stale = true;
  r->dirty = true;
  MarkDirty(node);
  Charge(*r);  // the object may have grown: the budget follows it now, not at the write-back
  return true;
}

void ObjectCache::Refresh(Record& r) {
  if (!r.stale) return;
  r.bytes.clear();
  r.object->EncodeTo(r.bytes);
  r.has_bytes = true;
  r.stale = false;
  Charge(r);
}

void ObjectCache::Erase(std::string_view key, std::size_t owner_len) {
  Group* g = FindGroup(key.substr(0, owner_len), false);
  if (g == nullptr) return;
  const std::string_view name = key.substr(owner_len);
  for (auto it = g->records.begin(); it != g->records.end(); ++it) {
    if (it->name != name) continue;
    Uncharge(it->charged);
    released_.push_back(std::move(it->object));
    g->records.erase(it);
    --records_;
    break;
  }
  // An empty group stays until the owner is dropped: it is small.
}

void ObjectCache::DropGroup(Node* node) {
  Group& g = node->second;
  for (Record& r : g.records) {
    Uncharge(r.charged);
    released_.push_back(std::move(r.object));
    --records_;
  }
  Uncharge(kGroupOverhead + node->first.capacity());
  MarkClean(g);
  lru_.erase(g.lru);
  groups_.erase(groups_.find(node->first));
}

void ObjectCache::EraseOwner(std::string_view owner_prefix) {
  key_.assign(owner_prefix);
  auto it = groups_.find(key_);
  if (it != groups_.end()) DropGroup(&*it);
}

const std::string* ObjectCache::Bytes(std::string_view key, std::size_t owner_len) {
  auto it = groups_.find(std::string(key.substr(0, owner_len)));
  if (it == groups_.end()) return nullptr;
  const std::string_view name = key.substr(owner_len);
  for (Record& r : it->second.records) {
    if (r.name != name) continue;
    Refresh(r);
    return r.has_bytes ? &r.bytes : nullptr;
  }
  return nullptr;
}

void ObjectCache::WriteBack(const std::string& owner_prefix, Record& r) {
  Refresh(r);
  key_.assign(owner_prefix);
  key_.append(r.name);
  store_.Put(key_, r.bytes);
  r.dirty = false;
}

void ObjectCache::Flush() {
  for (Node* node : dirty_) {
    for (Record& r : node->second.records)
      if (r.dirty) WriteBack(node->first, r);
    node->second.dirty_at = kClean;
  }
  dirty_.clear();
}

void ObjectCache::FlushOwner(std::string_view owner_prefix, std::string_view begin, std::string_view end) {
  key_.assign(owner_prefix);
  auto it = groups_.find(key_);
  if (it == groups_.end()) return;
  for (Record& r : it->second.records) {
    if (!r.dirty) continue;
    key_.assign(owner_prefix);
    key_.append(r.name);
    if (std::string_view(key_) < begin || !(std::string_view(key_) < end)) continue;
    Refresh(r);
    store_.Put(key_, r.bytes);
    r.dirty = false;
  }
}

void ObjectCache::Trim() {
  released_.clear();
  if (!budget_) return;
  while (!lru_.empty() && budget_->used.load(std::memory_order_relaxed) > budget_->limit) {
    Node* node = lru_.back();
    for (Record& r : node->second.records) {
      if (!r.dirty) continue;
      WriteBack(node->first, r);
      ++stats_.write_throughs;
    }
    stats_.evictions += node->second.records.size();
    DropGroup(node);
  }
  released_.clear();
}

}  // namespace cx::engine
