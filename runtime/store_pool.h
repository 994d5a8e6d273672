// StorePool: the state stores of one worker process by partition number.
//
// A store is open in one place at a time (RocksDB locks its directory), and
// a rebalance may move a partition from one processing thread of the worker
// to another (docs/runtime.md#threads). A thread takes a partition's store
// from the pool when the partition is assigned to it and gives it back,
// still open, when it lets the partition go; the next thread to be assigned
// the partition takes it without opening it again. A thread that needs a
// store another still holds (a restore being cancelled there) waits for it,
// for a bounded time. Stores given back and not taken again are closed
// after a while (the partition went to another worker). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "core/status.h"
#include "state/store.h"

namespace cx::runtime {

class StorePool {
 public:
  using Open = std::function<Result<std::unique_ptr<state::Store>>()>;

  // Partition p's store: the one given back, or open() when there is none.
  // Waits up to `patience` while another thread holds it, calling
  // `while_waiting` every 20 ms (the caller lets go of what others may be
  // waiting for meanwhile); Unavailable then.
  Result<std::unique_ptr<state::Store>> Take(int partition, const Open& open,
                                             std::chrono::milliseconds patience,
                                             const std::function<void()>& while_waiting = nullptr);
  // Gives partition p's store back, open (null: the caller lost it, as after
  // a fatal error; the partition is free all the same).
  void Give(int partition, std::unique_ptr<state::Store> store);
  // Closes the stores given back at least `age` ago and not taken since.
  void CloseIdle(std::chrono::steady_clock::duration age);
  // Stores given back and not taken (open).
  std::size_t idle() const;

 private:
  struct Idle {
    std::unique_ptr<state::Store> store;
    std::chrono::steady_clock::time_point since;
  };
  mutable std::mutex mu_;
  std::condition_variable freed_;
  std::set<int> held_;        // taken by a thread
  std::map<int, Idle> idle_;  // given back, open
};

}  // namespace cx::runtime
