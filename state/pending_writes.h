// PendingWrites: the writes a store buffers between commits, with their
// final value per key (nullopt: deleted).
//
// A point read or an overwrite is one hash lookup; only the first write of
// a key in a commit interval pays for an ordered insert. Scans and the
// changelog need key order, reads and writes need speed: a task reads and
// writes about twenty records per event and scans about two
// (measured over a simulated shop), most of them keys already written in
// the interval. Owned by one store, used from its task's thread.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/swar.h"

namespace cx::state {

class PendingWrites {
 public:
  // Keys in byte order (as RocksDB's default comparator), compared a word
  // at a time inline (swar::KeyLess): the keys of one kind share a long prefix
  // ("r/alert_queue/<queue>/held/..."), which memcmp would go through
  // byte by byte from a call per comparison.
  using Map = std::map<std::string, std::optional<std::string>, swar::KeyLess>;

  // nullptr: not written since the last Clear(); else the final value.
  const std::optional<std::string>* Find(std::string_view key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &it->second->second;
  }

  void Put(std::string_view key, std::string_view value) { Set(key, &value); }
  void Delete(std::string_view key) { Set(key, nullptr); }
  // A delete PruneDeletes keeps, whatever the committed state holds.
  void Tombstone(std::string_view key) {
    Set(key, nullptr);
    forced_.emplace(key);
  }

  // Drops the deletes of keys for which absent(key) is true (the committed
  // state does not hold them): a record created and deleted within one
  // commit interval then costs the store and the changelog nothing, and the
  // changelog's latest record of such a key is already no value. Not the
  // deletes made with Tombstone. Does nothing when nothing was written
  // since it last ran (a commit prunes before the changelog reads the writes
  // and again before the store applies them).
  template <typename Absent>
  void PruneDeletes(Absent&& absent) {
    if (pruned_) return;
    pruned_ = true;
    for (auto it = ordered_.begin(); it != ordered_.end();) {
      if (it->second || forced_.count(it->first) != 0 || !absent(std::string_view(it->first))) {
        ++it;
        continue;
      }
      bytes_ -= kNodeBytes + it->first.size();
      index_.erase(std::string_view(it->first));
      it = ordered_.erase(it);
    }
  }

  // In key order.
  const Map& ordered() const { return ordered_; }
  // Calls fn(key, final value or nullopt for a delete) in key order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const auto& [k, v] : ordered_) fn(k, v ? std::optional<std::string_view>(*v) : std::nullopt);
  }
  bool empty() const { return ordered_.empty(); }
  std::size_t size() const { return ordered_.size(); }
  // Bytes held: keys, final values and the two containers' nodes.
  std::size_t bytes() const { return bytes_; }

  void Clear() {
    index_.clear();
    ordered_.clear();
    forced_.clear();
    bytes_ = 0;
    pruned_ = false;
  }

 private:
  // Writes `value` (nullptr: a delete); an overwrite keeps the room the
  // key's last value had.
  void Set(std::string_view key, const std::string_view* value) {
    pruned_ = false;
    const std::size_t add = value ? value->size() : 0;
    if (auto it = index_.find(key); it != index_.end()) {
      std::optional<std::string>& v = it->second->second;
      bytes_ = bytes_ - (v ? v->size() : 0) + add;
      if (value == nullptr)
        v.reset();
      else if (v)
        v->assign(value->data(), value->size());
      else
        v.emplace(*value);
      return;
    }
    auto [node, inserted] =
        ordered_.emplace(std::string(key), value ? std::optional<std::string>(*value) : std::nullopt);
    (void)inserted;
    // The map's nodes never move: its key can back the index's view.
    index_.emplace(std::string_view(node->first), node);
    bytes_ += kNodeBytes + key.size() + add;
  }

  // A map node and a hash node with their pointers, sizes and padding
  // (libstdc++, 64-bit), so that the commit threshold measures memory.
  static constexpr std::size_t kNodeBytes = 160;

  Map ordered_;
  std::unordered_map<std::string_view, Map::iterator, swar::KeyHash, swar::KeyEqual> index_;
  std::set<std::string, swar::KeyLess> forced_;  // Tombstone's keys (the timer index's moved entries)
  std::size_t bytes_ = 0;
  bool pruned_ = false;  // PruneDeletes ran since the last write
};

}  // namespace cx::state
