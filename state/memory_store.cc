#include <map>

#include "state/store.h"

namespace cx::state {
namespace {

// Committed map plus an overlay of pending writes, so Rollback and
// ForEachPending behave as in the RocksDB store.
class MemoryStore final : public Store {
 public:
  Result<std::optional<std::string>> Get(std::string_view key) override {
    if (auto p = pending_.find(key); p != pending_.end()) return p->second;
    auto it = committed_.find(key);
    if (it == committed_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  void Put(std::string_view key, std::string_view value) override {
    pending_bytes_ += key.size() + value.size();
    Set(key, std::string(value));
  }
  void Delete(std::string_view key) override {
    pending_bytes_ += key.size();
    Set(key, std::nullopt);
  }
  Status Scan(std::string_view begin, std::string_view end, const ScanFn& fn) override {
    auto c = committed_.lower_bound(begin);
    auto p = pending_.lower_bound(begin);
    while (true) {
      bool c_ok = c != committed_.end() && c->first < end;
      bool p_ok = p != pending_.end() && p->first < end;
      if (!c_ok && !p_ok) break;
      if (p_ok && (!c_ok || p->first <= c->first)) {
        if (c_ok && c->first == p->first) ++c;
        if (p->second && !fn(p->first, *p->second)) break;
        ++p;
      } else {
        if (!fn(c->first, c->second)) break;
        ++c;
      }
    }
    return Status::Ok();
  }
  Status Commit() override {
    for (auto& [k, v] : pending_) {
      if (v)
        committed_[k] = std::move(*v);
      else
        committed_.erase(k);
    }
    pending_.clear();
    pending_bytes_ = 0;
    return Status::Ok();
  }
  void Rollback() override {
    pending_.clear();
    pending_bytes_ = 0;
  }
  Status ForEachPending(const PendingFn& fn) override {
    for (const auto& [k, v] : pending_) {
      fn(k, v ? std::optional<std::string_view>(*v) : std::nullopt);
    }
    return Status::Ok();
  }
  std::size_t PendingBytes() const override { return pending_bytes_; }

 private:
  void Set(std::string_view key, std::optional<std::string> value) {
    auto it = pending_.find(key);
    if (it != pending_.end())
      it->second = std::move(value);
    else
      pending_.emplace(std::string(key), std::move(value));
  }

  std::map<std::string, std::string, std::less<>> committed_;
  std::map<std::string, std::optional<std::string>, std::less<>> pending_;
  std::size_t pending_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace cx::state
