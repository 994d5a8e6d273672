// The Store interface's default BulkLoader: through the store's own writes.
#include "state/store.h"

namespace cx::state {
namespace {

class PendingLoader final : public BulkLoader {
 public:
  explicit PendingLoader(Store& store) : store_(store) {}
  void Put(std::string_view key, std::string_view value) override {
    store_.Put(key, value);
    keys_.emplace_back(key);
  }
  void Delete(std::string_view key) override {
    store_.Tombstone(key);
    keys_.emplace_back(key);
  }
  Status CommitFrame() override {
    keys_.clear();
    return store_.Commit();
  }
  std::vector<std::string> DiscardFrame() override {
    store_.Rollback();
    return std::move(keys_);
  }
  Status Finish() override { return Status::Ok(); }

 private:
  Store& store_;
  std::vector<std::string> keys_;
};

}  // namespace

std::unique_ptr<BulkLoader> Store::NewBulkLoader() { return std::make_unique<PendingLoader>(*this); }

}  // namespace cx::state
