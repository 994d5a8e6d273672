#include "runtime/store_pool.h"

#include <string>
#include <utility>
#include <vector>

namespace cx::runtime {

Result<std::unique_ptr<state::Store>> StorePool::Take(int partition, const Open& open,
                                                      std::chrono::milliseconds patience,
                                                      const std::function<void()>& while_waiting) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  std::unique_lock<std::mutex> l(mu_);
  while (held_.count(partition) != 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Unavailable("the state store of task " + std::to_string(partition) +
                                 " is still held by another processing thread of this worker after " +
                                 std::to_string(patience.count()) + " ms");
    }
    if (while_waiting) {
      l.unlock();
      while_waiting();
      l.lock();
    }
    freed_.wait_for(l, std::chrono::milliseconds(20));
  }
  held_.insert(partition);
  if (auto it = idle_.find(partition); it != idle_.end()) {
    std::unique_ptr<state::Store> store = std::move(it->second.store);
    idle_.erase(it);
    return store;
  }
  l.unlock();
  // Opened outside the lock (RocksDB's open reads its log); the partition
  // is marked held meanwhile.
  auto opened = open();
  if (!opened.ok()) {
    l.lock();
    held_.erase(partition);
    freed_.notify_all();
  }
  return opened;
}

void StorePool::Give(int partition, std::unique_ptr<state::Store> store) {
  std::lock_guard<std::mutex> l(mu_);
  held_.erase(partition);
  if (store) idle_[partition] = Idle{std::move(store), std::chrono::steady_clock::now()};
  freed_.notify_all();
}

void StorePool::CloseIdle(std::chrono::steady_clock::duration age) {
  std::vector<std::unique_ptr<state::Store>> closing;
  {
    std::lock_guard<std::mutex> l(mu_);
    const auto before = std::chrono::steady_clock::now() - age;
    for (auto it = idle_.begin(); it != idle_.end();) {
      if (it->second.since > before) {
        ++it;
        continue;
      }
      closing.push_back(std::move(it->second.store));
      it = idle_.erase(it);
    }
  }
  // Closed outside the lock: RocksDB's close waits for its background work.
}

std::size_t StorePool::idle() const {
  std::lock_guard<std::mutex> l(mu_);
  return idle_.size();
}

}  // namespace cx::runtime
