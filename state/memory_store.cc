#include <map>

#include "state/store.h"

namespace cx::state {
namespace {

class MemoryStore final : public Store {
 public:
  Result<std::optional<std::string>> Get(std::string_view key) override {
    auto it = map_.find(key);
    if (it == map_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  void Put(std::string_view key, std::string_view value) override {
    pending_ += key.size() + value.size();
    auto it = map_.find(key);
    if (it != map_.end()) it->second.assign(value);
    else map_.emplace(std::string(key), std::string(value));
  }
  void Delete(std::string_view key) override {
    pending_ += key.size();
    auto it = map_.find(key);
    if (it != map_.end()) map_.erase(it);
  }
  Status Scan(std::string_view begin, std::string_view end, const ScanFn& fn) override {
    for (auto it = map_.lower_bound(begin); it != map_.end() && it->first < end; ++it) {
      if (!fn(it->first, it->second)) break;
    }
    return Status::Ok();
  }
  Status Commit() override {
    pending_ = 0;
    return Status::Ok();
  }
  std::size_t PendingBytes() const override { return pending_; }

 private:
  std::map<std::string, std::string, std::less<>> map_;
  std::size_t pending_ = 0;
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace cx::state
