#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <unordered_map>
#include <vector>

#include "core/swar.h"
#include "state/store.h"

namespace cx::state {
namespace {

// One ordered map written in place, with an undo log of the keys written
// since the last commit (each key's value before its first write), so that
// Rollback, ForEachPending and the dropped deletes behave as in the RocksDB
// store: a write is one map update and, the first time in an interval, one
// log entry, and a commit forgets the log. Without undo (MemoryStoreOptions)
// there is no log: a write is the map update alone.
class MemoryStore final : public Store {
 public:
  explicit MemoryStore(MemoryStoreOptions options) : undo_(options.undo) {}
  Result<std::optional<std::string>> Get(std::string_view key) override {
    auto it = data_.find(key);
    if (it == data_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  void Put(std::string_view key, std::string_view value) override {
    auto it = data_.lower_bound(key);
    const bool found = it != data_.end() && swar::Compare(it->first, key) == 0;
    Log(key, found ? &it->second : nullptr, value.size());
    if (found)
      it->second.assign(value);
    else
      data_.emplace_hint(it, key, value);
  }
  void Delete(std::string_view key) override { Remove(key, false); }
  void Tombstone(std::string_view key) override { Remove(key, true); }
  Status Scan(std::string_view begin, std::string_view end, const ScanFn& fn) override {
    for (auto it = data_.lower_bound(begin); it != data_.end() && swar::Compare(it->first, end) < 0; ++it)
      if (!fn(it->first, it->second)) break;
    return Status::Ok();
  }
  Status Commit() override {
    if (sealed_held_) Unsupported("Commit with a sealed batch held");
    ClearLog();
    return Status::Ok();
  }
  // The map already holds every write: a sealed batch is the log's keys and
  // final values, kept for ForEachSealed; committing it is writing nothing.
  void Seal() override {
    if (sealed_held_) Unsupported("Seal with a sealed batch held");
    sealed_.clear();
    sealed_bytes_ = pending_bytes_;
    if (undo_) {
      (void)ForEachPending([&](std::string_view key, std::optional<std::string_view> value) {
        sealed_.emplace_back(std::string(key),
                             value ? std::optional<std::string>(std::string(*value)) : std::nullopt);
      });
    }
    ClearLog();
    sealed_held_ = true;
  }
  void ForEachSealed(const PendingFn& fn) const override {
    for (const auto& [k, v] : sealed_) fn(k, v ? std::optional<std::string_view>(*v) : std::nullopt);
  }
  Status CommitSealed(const std::vector<std::pair<std::string, std::string>>& extra) override {
    (void)extra;  // nothing outlives the process: the extra keys are for a restart
    return Status::Ok();
  }
  void ReleaseSealed() override {
    sealed_.clear();
    sealed_bytes_ = 0;
    sealed_held_ = false;
  }
  bool HasSealed() const override { return sealed_held_; }
  std::size_t SealedBytes() const override { return sealed_bytes_; }
  void Rollback() override {
    if (!undo_) Unsupported("Rollback");
    for (auto& [key, undo] : log_) {
      if (undo.before)
        data_.insert_or_assign(key, std::move(*undo.before));
      else
        data_.erase(key);
    }
    ClearLog();
  }
  Status ForEachPending(const PendingFn& fn) override {
    if (!undo_) Unsupported("ForEachPending");
    std::vector<const std::string*> keys;
    keys.reserve(log_.size());
    for (const auto& [key, undo] : log_) {
      // A delete of what the committed state did not hold is dropped, unless
      // a tombstone.
      if (!undo.before && !undo.tombstone && data_.find(key) == data_.end()) continue;
      keys.push_back(&key);
    }
    std::sort(keys.begin(), keys.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
    for (const std::string* key : keys) {
      auto it = data_.find(*key);
      fn(*key, it == data_.end() ? std::nullopt : std::optional<std::string_view>(it->second));
    }
    return Status::Ok();
  }
  std::size_t PendingBytes() const override { return pending_bytes_; }

 private:
  struct Undo {
    std::optional<std::string> before;  // the committed value; nullopt: absent
    bool tombstone = false;
  };

  // Records the first write of `key` in the interval, taking the committed
  // value (`current`, nullptr when absent) before it is overwritten.
  Undo& Log(std::string_view key, std::string* current, std::size_t value_bytes) {
    pending_bytes_ += kEntryBytes + key.size() + value_bytes;
    if (!undo_) return no_log_;
    auto [it, first] = log_.try_emplace(std::string(key));
    if (first && current != nullptr) it->second.before = std::move(*current);
    return it->second;
  }
  void Remove(std::string_view key, bool tombstone) {
    auto it = data_.find(key);
    Undo& u = Log(key, it == data_.end() ? nullptr : &it->second, 0);
    u.tombstone = u.tombstone || tombstone;
    if (it != data_.end()) data_.erase(it);
  }
  // A store made without undo was asked for what only the log knows: a
  // programming error (replay, its one user, never rolls back).
  [[noreturn]] static void Unsupported(const char* what) {
    std::fprintf(stderr, "cxstream: MemoryStore::%s needs a store made with undo\n", what);
    std::abort();
  }
  void ClearLog() {
    log_.clear();
    pending_bytes_ = 0;
  }

  // A map node and a log entry with their pointers and padding (libstdc++,
  // 64-bit), so that PendingBytes measures memory as the RocksDB store's does.
  static constexpr std::size_t kEntryBytes = 160;

  // Keys in byte order (as RocksDB's default comparator), compared inline.
  std::map<std::string, std::string, swar::KeyLess> data_;
  const bool undo_;
  std::unordered_map<std::string, Undo> log_;
  Undo no_log_;  // what Log gives without undo: written to, never read
  std::size_t pending_bytes_ = 0;
  std::vector<std::pair<std::string, std::optional<std::string>>> sealed_;  // in key order
  std::size_t sealed_bytes_ = 0;
  bool sealed_held_ = false;
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore(MemoryStoreOptions options) {
  return std::make_unique<MemoryStore>(options);
}

}  // namespace cx::state
