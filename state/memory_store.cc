#include <map>

#include "state/pending_writes.h"
#include "state/store.h"

namespace cx::state {
namespace {

// Committed map plus an overlay of pending writes, so Rollback and
// ForEachPending behave as in the RocksDB store.
class MemoryStore final : public Store {
 public:
  Result<std::optional<std::string>> Get(std::string_view key) override {
    if (const std::optional<std::string>* p = pending_.Find(key)) return *p;
    auto it = committed_.find(key);
    if (it == committed_.end()) return std::optional<std::string>();
    return it->second;
  }
  void Put(std::string_view key, std::string_view value) override { pending_.Put(key, value); }
  void Delete(std::string_view key) override { pending_.Delete(key); }
  void Tombstone(std::string_view key) override { pending_.Tombstone(key); }
  Status Scan(std::string_view begin, std::string_view end, const ScanFn& fn) override {
    const PendingWrites::Map& pending = pending_.ordered();
    auto c = committed_.lower_bound(begin);
    auto p = pending.lower_bound(begin);
    while (true) {
      bool c_ok = c != committed_.end() && c->first < end;
      bool p_ok = p != pending.end() && p->first < end;
      if (!c_ok && !p_ok) break;
      if (p_ok && (!c_ok || p->first <= c->first)) {
        if (c_ok && c->first == p->first) ++c;
        if (p->second && !fn(p->first, *p->second)) break;
        ++p;
      } else {
        if (!fn(c->first, *c->second)) break;
        ++c;
      }
    }
    return Status::Ok();
  }
  Status Commit() override {
    PruneDeletes();
    // Each written key's node moves into the committed map as it is.
    pending_.DrainNodes([&](PendingWrites::Map::node_type&& node) {
      if (!node.mapped()) {
        committed_.erase(node.key());
        return;
      }
      auto r = committed_.insert(std::move(node));
      if (!r.inserted) r.position->second.swap(r.node.mapped());  // the old value goes with the node
    });
    return Status::Ok();
  }
  void Rollback() override { pending_.Clear(); }
  Status ForEachPending(const PendingFn& fn) override {
    PruneDeletes();
    pending_.ForEach(fn);
    return Status::Ok();
  }
  std::size_t PendingBytes() const override { return pending_.bytes(); }

 private:
  void PruneDeletes() {
    pending_.PruneDeletes([&](std::string_view key) { return committed_.find(key) == committed_.end(); });
  }

  // The committed values (always engaged): the pending map's type, so that a
  // commit moves nodes instead of copying keys and values.
  PendingWrites::Map committed_;
  PendingWrites pending_;
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace cx::state
