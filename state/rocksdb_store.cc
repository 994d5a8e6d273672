#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/write_batch_with_index.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>

#include "state/store.h"

namespace cx::state {
namespace {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsIOError() || s.IsNoSpace()) return Status::IoError(std::move(msg));
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return Status::Unavailable(std::move(msg));
  return Status::IoError(std::move(msg));
}

// Pending writes live in a WriteBatchWithIndex, which gives reads and scans
// over "batch + DB" for free and commits as one atomic WriteBatch.
class RocksDbStore final : public Store {
 public:
  explicit RocksDbStore(std::unique_ptr<rocksdb::DB> db)
      : db_(std::move(db)), batch_(rocksdb::BytewiseComparator(), 0, /*overwrite_key=*/true) {}

  Result<std::optional<std::string>> Get(std::string_view key) override {
    std::string value;
    rocksdb::Status s = batch_.GetFromBatchAndDB(db_.get(), rocksdb::ReadOptions(),
                                                 rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "state read");
    return std::optional<std::string>(std::move(value));
  }
  void Put(std::string_view key, std::string_view value) override {
    batch_.Put(rocksdb::Slice(key.data(), key.size()), rocksdb::Slice(value.data(), value.size()));
  }
  void Delete(std::string_view key) override { batch_.Delete(rocksdb::Slice(key.data(), key.size())); }

  Status Scan(std::string_view begin, std::string_view end, const ScanFn& fn) override {
    rocksdb::ReadOptions ro;
    rocksdb::Slice upper(end.data(), end.size());
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(
        batch_.NewIteratorWithBase(db_->DefaultColumnFamily(), db_->NewIterator(ro)));
    for (it->Seek(rocksdb::Slice(begin.data(), begin.size())); it->Valid(); it->Next()) {
      rocksdb::Slice k = it->key();
      // The batch part of the iterator ignores iterate_upper_bound.
      if (k.compare(upper) >= 0) break;
      rocksdb::Slice v = it->value();
      if (!fn(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()))) break;
    }
    if (!it->status().ok()) return FromRocks(it->status(), "state scan");
    return Status::Ok();
  }

  Status Commit() override {
    if (batch_.GetWriteBatch()->Count() == 0) return Status::Ok();
    rocksdb::WriteOptions wo;  // WAL on, no fsync: survives kill -9, not power loss
    rocksdb::Status s = db_->Write(wo, batch_.GetWriteBatch());
    if (!s.ok()) return FromRocks(s, "state commit");
    batch_.Clear();
    return Status::Ok();
  }
  void Rollback() override { batch_.Clear(); }

  Status ForEachPending(const PendingFn& fn) override {
    // The batch-only iterator yields the final entry of each key in order
    // (the batch is indexed with overwrite_key=true).
    std::unique_ptr<rocksdb::WBWIIterator> it(batch_.NewIterator());
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      rocksdb::WriteEntry e = it->Entry();
      std::string_view k(e.key.data(), e.key.size());
      switch (e.type) {
        case rocksdb::kPutRecord:
          fn(k, std::string_view(e.value.data(), e.value.size()));
          break;
        case rocksdb::kDeleteRecord:
        case rocksdb::kSingleDeleteRecord:
          fn(k, std::nullopt);
          break;
        default:
          return Status::Corruption("unexpected entry type in the state batch");
      }
    }
    if (!it->status().ok()) return FromRocks(it->status(), "pending scan");
    return Status::Ok();
  }

  std::size_t PendingBytes() const override {
    rocksdb::WriteBatch* b = const_cast<rocksdb::WriteBatchWithIndex&>(batch_).GetWriteBatch();
    return b->Count() == 0 ? 0 : b->GetDataSize();
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteBatchWithIndex batch_;
};

}  // namespace

class RocksDbShared {
 public:
  RocksDbShared(std::size_t cache_bytes, std::size_t write_buffer_bytes)
      : cache(rocksdb::NewLRUCache(cache_bytes)),
        // Memtables are charged to the block cache, so one number bounds both.
        write_buffers(std::make_shared<rocksdb::WriteBufferManager>(write_buffer_bytes, cache)),
        write_buffer_bytes(write_buffer_bytes),
        statistics(rocksdb::CreateDBStatistics()) {
    // Tickers only: no per-operation timers on the hot path.
    statistics->set_stats_level(rocksdb::StatsLevel::kExceptTimers);
  }

  std::shared_ptr<rocksdb::Cache> cache;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers;
  std::size_t write_buffer_bytes;
  std::shared_ptr<rocksdb::Statistics> statistics;
};

std::shared_ptr<RocksDbShared> NewRocksDbShared(std::size_t block_cache_bytes,
                                                std::size_t write_buffer_bytes) {
  return std::make_shared<RocksDbShared>(block_cache_bytes + write_buffer_bytes, write_buffer_bytes);
}

std::size_t MemoryUsage(const RocksDbShared& shared) { return shared.cache->GetUsage(); }

CacheCounts CacheStats(const RocksDbShared& shared) {
  return {shared.statistics->getTickerCount(rocksdb::BLOCK_CACHE_HIT),
          shared.statistics->getTickerCount(rocksdb::BLOCK_CACHE_MISS)};
}

Result<std::unique_ptr<Store>> OpenRocksDbStore(const RocksDbOptions& options,
                                                std::shared_ptr<RocksDbShared> shared) {
  rocksdb::Options o;
  o.create_if_missing = options.create_if_missing;
  o.max_open_files = 256;
  if (shared) {
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = shared->cache;
    t.cache_index_and_filter_blocks = true;
    t.pin_l0_filter_and_index_blocks_in_cache = true;
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    o.write_buffer_manager = shared->write_buffers;
    o.write_buffer_size = std::clamp<std::size_t>(shared->write_buffer_bytes / 4, 1 << 20, 64 << 20);
    o.max_write_buffer_number = 3;
    o.statistics = shared->statistics;
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, options.path, &raw);
  if (!s.ok()) return FromRocks(s, "open state store " + options.path);
  return std::unique_ptr<Store>(new RocksDbStore(std::unique_ptr<rocksdb::DB>(raw)));
}

}  // namespace cx::state
