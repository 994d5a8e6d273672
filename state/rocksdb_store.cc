#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/listener.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "state/pending_writes.h"
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

// RocksDB's own log (the LOG file in the store's directory), with the lines
// that report a repair during recovery also handed to `on_repair`.
class RepairWatchingLogger final : public rocksdb::Logger {
 public:
  RepairWatchingLogger(std::shared_ptr<rocksdb::Logger> inner,
                       std::function<void(const std::string&)> on_repair)
      : rocksdb::Logger(inner ? inner->GetInfoLogLevel() : rocksdb::InfoLogLevel::INFO_LEVEL),
        inner_(std::move(inner)),
        on_repair_(std::move(on_repair)) {}
  void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    va_list copy;
    va_copy(copy, ap);
    if (on_repair_) {
      char line[1024];
      std::vsnprintf(line, sizeof line, format, copy);
      const std::string_view l(line);
      // What the write-ahead log's recovery writes when it drops or stops at
      // damaged records (db_impl_open.cc: "... dropping N bytes; ...",
      // "Point in time recovered to log #...").
      if (l.find("dropping") != std::string_view::npos || l.find("Corruption") != std::string_view::npos ||
          l.find("Point in time recovered") != std::string_view::npos)
        on_repair_(std::string(l));
    }
    va_end(copy);
    if (inner_) inner_->Logv(level, format, ap);
  }

 private:
  std::shared_ptr<rocksdb::Logger> inner_;
  std::function<void(const std::string&)> on_repair_;
};

// Remembers the first background error RocksDB reports (a failed flush or
// compaction), which otherwise only shows when a later write is refused.
class BackgroundErrors final : public rocksdb::EventListener {
 public:
  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) override {
    std::lock_guard<std::mutex> l(mu_);
    if (first_.ok() && error != nullptr && !error->ok())
      first_ = FromRocks(*error, std::string("state store background ") + Reason(reason));
  }
  Status First() const {
    std::lock_guard<std::mutex> l(mu_);
    return first_;
  }

 private:
  static const char* Reason(rocksdb::BackgroundErrorReason r) {
    switch (r) {
      case rocksdb::BackgroundErrorReason::kFlush:
        return "flush";
      case rocksdb::BackgroundErrorReason::kCompaction:
        return "compaction";
      case rocksdb::BackgroundErrorReason::kWriteCallback:
        return "write";
      case rocksdb::BackgroundErrorReason::kMemTable:
        return "memtable";
      default:
        return "work";
    }
  }
  mutable std::mutex mu_;
  Status first_;
};

// Pending writes live in memory (PendingWrites: a hash lookup per read or
// overwrite) and go to RocksDB as one atomic WriteBatch at Commit(). Reads
// and scans see them over the committed state. A WriteBatchWithIndex did
// this before: its skip list, searched on every read and write, was a fifth
// of the worker's time, and the worker runs about twice as fast without it
// (bench: 5,618 against 10,939 events/s, medians of three).
class RocksDbStore final : public Store {
 public:
  RocksDbStore(std::unique_ptr<rocksdb::DB> db, std::shared_ptr<BackgroundErrors> errors)
      : db_(std::move(db)), errors_(std::move(errors)) {}

  Status BackgroundError() const override { return errors_->First(); }

  Result<std::optional<std::string>> Get(std::string_view key) override {
    if (const std::optional<std::string>* v = pending_.Find(key)) return *v;
    if (const std::optional<std::string>* v = sealed_.Find(key)) return *v;
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "state read");
    return std::optional<std::string>(std::move(value));
  }
  void Put(std::string_view key, std::string_view value) override { pending_.Put(key, value); }
  void Delete(std::string_view key) override { pending_.Delete(key); }
  void Tombstone(std::string_view key) override { pending_.Tombstone(key); }

  Status Scan(std::string_view begin, std::string_view end, const ScanFn& fn) override {
    rocksdb::ReadOptions ro;
    rocksdb::Slice upper(end.data(), end.size());
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    it->Seek(rocksdb::Slice(begin.data(), begin.size()));
    // Three layers, newest first: the pending writes, the sealed batch, the
    // committed state. The smallest key next wins; a newer layer's write of
    // a key hides the older layers' (a delete hides it and shows nothing).
    const PendingWrites::Map& pending = pending_.ordered();
    const PendingWrites::Map& sealed = sealed_.ordered();
    auto p = pending.lower_bound(begin);
    auto q = sealed.lower_bound(begin);
    while (true) {
      const bool db_ok = it->Valid();
      const bool p_ok = p != pending.end() && std::string_view(p->first) < end;
      const bool q_ok = q != sealed.end() && std::string_view(q->first) < end;
      if (!db_ok && !p_ok && !q_ok) break;
      const std::string_view dk = db_ok ? std::string_view(it->key().data(), it->key().size()) : "";
      // The smallest key among the layers that have one.
      std::string_view key;
      bool any = false;
      auto consider = [&](bool ok, std::string_view k) {
        if (ok && (!any || k < key)) {
          key = k;
          any = true;
        }
      };
      consider(p_ok, p_ok ? std::string_view(p->first) : std::string_view());
      consider(q_ok, q_ok ? std::string_view(q->first) : std::string_view());
      consider(db_ok, dk);
      const bool in_p = p_ok && std::string_view(p->first) == key;
      const bool in_q = q_ok && std::string_view(q->first) == key;
      const bool in_db = db_ok && dk == key;
      bool go_on = true;
      if (in_p) {
        if (p->second) go_on = fn(p->first, *p->second);
      } else if (in_q) {
        if (q->second) go_on = fn(q->first, *q->second);
      } else {
        go_on = fn(dk, std::string_view(it->value().data(), it->value().size()));
      }
      if (!go_on) return Status::Ok();
      // fn has returned: the key's view may now be moved past.
      if (in_p) ++p;
      if (in_q) ++q;
      if (in_db) it->Next();
    }
    if (!it->status().ok()) return FromRocks(it->status(), "state scan");
    return Status::Ok();
  }

  Status Commit() override {
    if (!sealed_.empty()) Misuse("Commit with a sealed batch held");
    PruneDeletes();
    if (pending_.empty()) return Status::Ok();
    // One batch per store, kept: its buffer (a commit's bytes, often past
    // malloc's mmap threshold) is not mapped and unmapped every commit. Up
    // to kKeptBatchBytes: memory outside the budget's accounting.
    batch_.Clear();
    for (const auto& [k, v] : pending_.ordered()) {
      if (v)
        batch_.Put(rocksdb::Slice(k), rocksdb::Slice(*v));
      else
        batch_.Delete(rocksdb::Slice(k));
    }
    rocksdb::WriteOptions wo;  // WAL on, no fsync: survives kill -9, not power loss
    rocksdb::Status s = db_->Write(wo, &batch_);
    if (batch_.GetDataSize() > kKeptBatchBytes) batch_ = rocksdb::WriteBatch();
    if (!s.ok()) return FromRocks(s, "state commit");
    pending_.Clear();
    return Status::Ok();
  }
  std::unique_ptr<BulkLoader> NewBulkLoader() override;
  void Rollback() override { pending_.Clear(); }

  Status ForEachPending(const PendingFn& fn) override {
    PruneDeletes();
    pending_.ForEach(fn);
    return Status::Ok();
  }

  std::size_t PendingBytes() const override { return pending_.bytes(); }

  void Seal() override {
    if (has_sealed_) Misuse("Seal with a sealed batch held");
    PruneDeletes();
    sealed_ = std::move(pending_);
    pending_.Clear();  // a moved-from map is valid but unspecified
    has_sealed_ = true;
  }
  void ForEachSealed(const PendingFn& fn) const override { sealed_.ForEach(fn); }
  Status CommitSealed(const std::vector<std::pair<std::string, std::string>>& extra) override {
    // Its own batch: this may run on another thread than Commit().
    rocksdb::WriteBatch batch;
    for (const auto& [k, v] : sealed_.ordered()) {
      if (v)
        batch.Put(rocksdb::Slice(k), rocksdb::Slice(*v));
      else
        batch.Delete(rocksdb::Slice(k));
    }
    for (const auto& [k, v] : extra) batch.Put(rocksdb::Slice(k), rocksdb::Slice(v));
    if (batch.Count() == 0) return Status::Ok();
    rocksdb::WriteOptions wo;  // as Commit: the write-ahead log, no fsync
    rocksdb::Status s = db_->Write(wo, &batch);
    return s.ok() ? Status::Ok() : FromRocks(s, "state commit");
  }
  void ReleaseSealed() override {
    sealed_.Clear();
    has_sealed_ = false;
  }
  bool HasSealed() const override { return has_sealed_; }
  std::size_t SealedBytes() const override { return sealed_.bytes(); }

 private:
  [[noreturn]] static void Misuse(const char* what) {
    std::fprintf(stderr, "cxstream: RocksDbStore: %s\n", what);
    std::abort();
  }

  // Store::Delete: a key the database does not hold (KeyMayExist says so,
  // or a read finds nothing) needs no delete, nor one the sealed batch
  // deletes. A failed read keeps it.
  void PruneDeletes() {
    const rocksdb::ReadOptions ro;
    pending_.PruneDeletes([&](std::string_view key) {
      if (const std::optional<std::string>* v = sealed_.Find(key)) return !v->has_value();
      const rocksdb::Slice k(key.data(), key.size());
      std::string ignored;
      if (!db_->KeyMayExist(ro, db_->DefaultColumnFamily(), k, &ignored)) return true;
      rocksdb::PinnableSlice v;
      return db_->Get(ro, db_->DefaultColumnFamily(), k, &v).IsNotFound();
    });
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::shared_ptr<BackgroundErrors> errors_;
  PendingWrites pending_;
  // The batch Seal() closed, until ReleaseSealed(): read by the owner's
  // reads and by CommitSealed() and ForEachSealed() on another thread, never
  // written meanwhile.
  PendingWrites sealed_;
  bool has_sealed_ = false;
  static constexpr std::size_t kKeptBatchBytes = 1 << 20;
  rocksdb::WriteBatch batch_;
};

// A restore's frames gathered in memory and applied as SST files that
// RocksDB takes in whole (IngestExternalFile), each one atomic: no
// memtable inserts, no write-ahead log, no flush. A restore into a store
// spent most of its time inserting into the memtable (perf: 48% of the
// restore thread, the write-ahead log another 11%). Closed frames are
// written out when they reach kRunBytes and at Finish(); a run keeps the
// last write of each key (a delete as a tombstone, for the runs before it).
// Runs overlap each other (a key written again after a run went out), so
// each is ingested on its own, in order: a later run's write wins.
constexpr std::string_view kRunPrefix = "cx-restore-";

class SstRunLoader final : public BulkLoader {
 public:
  // Reserved, not touched: a run and a frame past it without regrowing.
  explicit SstRunLoader(rocksdb::DB& db) : db_(db) { bytes_.reserve(kRunBytes + kRunBytes / 4); }
  ~SstRunLoader() override {
    if (!file_.empty()) std::remove(file_.c_str());
  }

  void Put(std::string_view key, std::string_view value) override { Add(key, value, false); }
  void Delete(std::string_view key) override { Add(key, {}, true); }
  Status CommitFrame() override {
    closed_ = entries_.size();
    closed_bytes_ = bytes_.size();
    if (closed_bytes_ < kRunBytes) return Status::Ok();
    return WriteRun();
  }
  std::vector<std::string> DiscardFrame() override {
    std::vector<std::string> keys;
    for (std::size_t i = closed_; i < entries_.size(); ++i) keys.emplace_back(KeyOf(entries_[i]));
    entries_.resize(closed_);
    bytes_.resize(closed_bytes_);
    return keys;
  }
  Status Finish() override { return closed_ == 0 ? Status::Ok() : WriteRun(); }

 private:
  static constexpr std::size_t kRunBytes = 16 << 20;
  struct Entry {
    std::uint32_t at;  // key, then value, in bytes_
    std::uint32_t key_size;
    std::uint32_t value_size;
    bool deleted;
  };
  std::string_view KeyOf(const Entry& e) const { return {bytes_.data() + e.at, e.key_size}; }
  std::string_view ValueOf(const Entry& e) const { return {bytes_.data() + e.at + e.key_size, e.value_size}; }
  void Add(std::string_view key, std::string_view value, bool deleted) {
    entries_.push_back({static_cast<std::uint32_t>(bytes_.size()), static_cast<std::uint32_t>(key.size()),
                        static_cast<std::uint32_t>(value.size()), deleted});
    bytes_.append(key);
    bytes_.append(value);
  }

  // The closed frames as one SST file, ingested; the open frame's writes
  // are kept for it.
  Status WriteRun() {
    std::vector<std::uint32_t> order(closed_);
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    // By key, and for one key in write order: its last write is kept.
    std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
      return KeyOf(entries_[a]) < KeyOf(entries_[b]);
    });
    static std::atomic<std::uint64_t> files{0};
    file_ = db_.GetName() + "/" + std::string(kRunPrefix) + std::to_string(files.fetch_add(1)) + ".sst";
    rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), db_.GetOptions());
    rocksdb::Status s = writer.Open(file_);
    for (std::size_t i = 0; s.ok() && i < order.size(); ++i) {
      const Entry& e = entries_[order[i]];
      if (i + 1 < order.size() && KeyOf(entries_[order[i + 1]]) == KeyOf(e)) continue;
      const std::string_view k = KeyOf(e);
      const rocksdb::Slice key(k.data(), k.size());
      if (e.deleted) {
        s = writer.Delete(key);
      } else {
        const std::string_view v = ValueOf(e);
        s = writer.Put(key, rocksdb::Slice(v.data(), v.size()));
      }
    }
    if (s.ok()) s = writer.Finish();
    if (s.ok()) {
      rocksdb::IngestExternalFileOptions io;
      io.move_files = true;  // linked into the store, not copied
      s = db_.IngestExternalFile({file_}, io);
    }
    std::remove(file_.c_str());  // moved (a link of it kept), or failed
    file_.clear();
    if (!s.ok()) return FromRocks(s, "state restore");
    // The open frame's writes move to the front.
    const std::uint32_t shift = static_cast<std::uint32_t>(closed_bytes_);
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(closed_));
    for (Entry& e : entries_) e.at -= shift;
    bytes_.erase(0, closed_bytes_);
    closed_ = closed_bytes_ = 0;
    return Status::Ok();
  }

  rocksdb::DB& db_;
  std::vector<Entry> entries_;
  std::string bytes_;
  std::size_t closed_ = 0;        // entries_[0, closed_): closed frames
  std::size_t closed_bytes_ = 0;  // their bytes in bytes_
  std::string file_;              // the run being written, removed when done
};

std::unique_ptr<BulkLoader> RocksDbStore::NewBulkLoader() { return std::make_unique<SstRunLoader>(*db_); }

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
    // Most reads are of a customer the store does not hold yet (a first
    // event) or of an index entry just deleted, and most of them end in the
    // memtables: a bloom filter per memtable (2% of its size) answers them
    // without searching its skip list (perf of a run worker on a backlog:
    // the skip-list search went from 3.8% of the processing threads to
    // 0.23% of the worker). Table files get no filters: on the
    // 10,000,000-customer state benchmark they took the peak resident
    // memory from 489 MB to 560 MB, past the 512 MB budget (bench/run;
    // docs/runtime.md#memory).
    o.memtable_whole_key_filtering = true;
    o.memtable_prefix_bloom_size_ratio = 0.02;
    o.write_buffer_manager = shared->write_buffers;
    o.write_buffer_size = std::clamp<std::size_t>(shared->write_buffer_bytes / 4, 1 << 20, 64 << 20);
    o.max_write_buffer_number = 3;
    o.statistics = shared->statistics;
  }
  if (options.on_repair) {
    std::shared_ptr<rocksdb::Logger> file_log;
    if (o.create_if_missing) rocksdb::Env::Default()->CreateDirIfMissing(options.path).PermitUncheckedError();
    if (!rocksdb::CreateLoggerFromOptions(options.path, rocksdb::DBOptions(o), &file_log).ok())
      file_log.reset();
    o.info_log = std::make_shared<RepairWatchingLogger>(file_log, options.on_repair);
  }
  auto errors = std::make_shared<BackgroundErrors>();
  o.listeners.push_back(errors);
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, options.path, &raw);
  if (!s.ok()) return FromRocks(s, "open state store " + options.path);
  // A run a restore was writing when the process died: never ingested,
  // and RocksDB leaves files it did not name alone.
  std::vector<std::string> children;
  if (raw->GetEnv()->GetChildren(options.path, &children).ok()) {
    for (const std::string& name : children) {
      if (name.rfind(kRunPrefix, 0) == 0) std::remove((options.path + "/" + name).c_str());
    }
  }
  return std::unique_ptr<Store>(new RocksDbStore(std::unique_ptr<rocksdb::DB>(raw), std::move(errors)));
}

}  // namespace cx::state
