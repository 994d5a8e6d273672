// Store: a task's ordered key-value state.
//
// Writes are buffered and become durable together at Commit(), atomically
// (the Kafka runtime puts the input offsets in the same commit, so state and
// offsets never disagree after a crash). Reads and scans see the buffered
// writes. One Store belongs to one task and is used from that task's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace cx::state {

// A restore's writes to a store, applied a changelog frame at a time:
// exactly what the changelog says, with no read of the store (a delete is
// written whether or not the store holds the key) and no pending writes of
// the store's own. Made by Store::NewBulkLoader; used from one thread, with
// no other writes to the store meanwhile.
class BulkLoader {
 public:
  virtual ~BulkLoader() = default;
  virtual void Put(std::string_view key, std::string_view value) = 0;
  virtual void Delete(std::string_view key) = 0;
  // Closes the frame: its writes are applied all or nothing, together
  // with the frames closed before it, durable as Store::Commit, at the
  // latest by Finish() (a loader may apply them here already, or gather
  // several frames into one write).
  virtual Status CommitFrame() = 0;
  // Forgets the writes of the frame not closed yet; returns their keys (in
  // write order, repeats possible).
  virtual std::vector<std::string> DiscardFrame() = 0;
  // Applies every closed frame not applied yet. A loader dropped without it
  // may leave closed frames unapplied (the store then is as after an
  // earlier frame).
  virtual Status Finish() = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // nullopt when absent; a read failure is a non-OK Result.
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
  virtual void Put(std::string_view key, std::string_view value) = 0;
  // A delete of a key the committed state does not hold is dropped at the
  // commit (nothing to delete, nothing for the changelog): a record created
  // and deleted within one commit interval costs nothing.
  virtual void Delete(std::string_view key) = 0;
  // A delete that is written (and sent to the changelog) even when the
  // committed state does not hold the key: to supersede a record that the
  // changelog holds and the store never applied (an unfinished frame).
  virtual void Tombstone(std::string_view key) = 0;

  // Calls fn for each key in [begin, end) in bytewise order until fn returns
  // false. fn must not write to the store.
  using ScanFn = std::function<bool(std::string_view key, std::string_view value)>;
  virtual Status Scan(std::string_view begin, std::string_view end, const ScanFn& fn) = 0;

  // Makes every write since the last Commit durable, all or nothing. Not
  // while a sealed batch is held (a programming error).
  virtual Status Commit() = 0;
  // Discards every write since the last Commit.
  virtual void Rollback() = 0;

  // A BulkLoader of this store (with nothing pending). This one goes
  // through Put, Tombstone and Commit; RocksDB's writes a batch.
  virtual std::unique_ptr<BulkLoader> NewBulkLoader();

  // Calls fn once per key written since the last Commit, in key order, with
  // its final value (nullopt: deleted; not for the deletes a commit drops).
  // The changelog is made from this.
  using PendingFn = std::function<void(std::string_view key, std::optional<std::string_view> value)>;
  virtual Status ForEachPending(const PendingFn& fn) = 0;
  // Bytes of writes buffered since the last Commit (or Seal).
  virtual std::size_t PendingBytes() const = 0;

  // A commit in two steps, for a runtime that goes on processing while the
  // changelog frame of its previous commit is being acknowledged
  // (docs/runtime.md#commits). Seal() closes the writes since the last
  // commit or seal into a sealed batch, with the deletes a commit drops
  // dropped; reads and scans then see new writes over the sealed batch over
  // the committed state. At most one sealed batch at a time: Seal() with
  // one present is a programming error (the store aborts). Owner's thread.
  virtual void Seal() = 0;
  // Calls fn once per key of the sealed batch, in key order, as
  // ForEachPending does for the pending writes. Any thread, concurrently
  // with the owner's reads and writes.
  virtual void ForEachSealed(const PendingFn& fn) const = 0;
  // Makes the sealed batch durable together with `extra` (puts written in
  // the same atomic write: the changelog position, say), all or nothing.
  // Any thread, concurrently with the owner's reads and writes; the sealed
  // batch stays readable until ReleaseSealed().
  virtual Status CommitSealed(const std::vector<std::pair<std::string, std::string>>& extra) = 0;
  // Forgets the sealed batch once CommitSealed() has returned (or when it
  // will never run: a revoke after a failure). Owner's thread.
  virtual void ReleaseSealed() = 0;
  virtual bool HasSealed() const = 0;
  // Bytes of the sealed batch (0: none).
  virtual std::size_t SealedBytes() const = 0;
  // A failure of the store's own background work (RocksDB's flushes and
  // compactions: a read-only or full disk shows there first); OK when none.
  // Thread-safe.
  virtual Status BackgroundError() const { return Status::Ok(); }
};

// A store that passes every call to another: the base of wrappers that
// watch or change a few calls (replay's counting store, test fakes).
class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}
  Result<std::optional<std::string>> Get(std::string_view key) override { return inner_->Get(key); }
  void Put(std::string_view key, std::string_view value) override { inner_->Put(key, value); }
  void Delete(std::string_view key) override { inner_->Delete(key); }
  void Tombstone(std::string_view key) override { inner_->Tombstone(key); }
  Status Scan(std::string_view begin, std::string_view end, const ScanFn& fn) override {
    return inner_->Scan(begin, end, fn);
  }
  Status Commit() override { return inner_->Commit(); }
  void Rollback() override { inner_->Rollback(); }
  Status ForEachPending(const PendingFn& fn) override { return inner_->ForEachPending(fn); }
  std::size_t PendingBytes() const override { return inner_->PendingBytes(); }
  void Seal() override { inner_->Seal(); }
  void ForEachSealed(const PendingFn& fn) const override { inner_->ForEachSealed(fn); }
  Status CommitSealed(const std::vector<std::pair<std::string, std::string>>& extra) override {
    return inner_->CommitSealed(extra);
  }
  void ReleaseSealed() override { inner_->ReleaseSealed(); }
  bool HasSealed() const override { return inner_->HasSealed(); }
  std::size_t SealedBytes() const override { return inner_->SealedBytes(); }
  Status BackgroundError() const override { return inner_->BackgroundError(); }

 protected:
  Store& inner() { return *inner_; }

 private:
  std::unique_ptr<Store> inner_;
};

// A store in memory only (replay, tests). Commit forgets the undo log.
struct MemoryStoreOptions {
  // Keep what each write replaced since the last commit, for Rollback and
  // ForEachPending. Without it (a replay that counts nothing), a write is
  // one map update, and calling either of them is a programming error.
  bool undo = true;
};
std::unique_ptr<Store> NewMemoryStore(MemoryStoreOptions options = {});

// Memory that all of a worker's RocksDB stores share: one block cache and
// one write-buffer manager, so the total stays within the configured budget
// however many tasks the worker holds. Thread-safe.
class RocksDbShared;
std::shared_ptr<RocksDbShared> NewRocksDbShared(std::size_t block_cache_bytes,
                                                std::size_t write_buffer_bytes);
// Bytes in use: block cache (data, index and filter blocks) and memtables.
std::size_t MemoryUsage(const RocksDbShared& shared);
// Block-cache lookups that hit and missed, over all stores sharing it.
struct CacheCounts {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
};
CacheCounts CacheStats(const RocksDbShared& shared);

struct RocksDbOptions {
  std::string path;
  bool create_if_missing = true;
  // Called during the open with each thing RocksDB repaired on its way up
  // (a damaged tail of the write-ahead log dropped, say), one line each: the
  // caller logs them, so a repair is never silent.
  std::function<void(const std::string& note)> on_repair = nullptr;
};

// Opens (or creates) a RocksDB store at options.path. `shared` may be null
// (RocksDB's own defaults, for tests).
Result<std::unique_ptr<Store>> OpenRocksDbStore(const RocksDbOptions& options,
                                                std::shared_ptr<RocksDbShared> shared = nullptr);

}  // namespace cx::state
