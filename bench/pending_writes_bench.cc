// cx_pending_bench: the writes a RocksDB store buffers between commits
// (state/pending_writes.h), under the operations a worker's task makes on
// the benchmark mix: per event, the queue stage's per-record keys (a held
// breach and its index written, read, then deleted when it resolves) and,
// per commit interval, every changed customer's record and its timer-index
// entry, then the seal's pruning of deletes. Compare builds by the
// instructions callgrind counts (`valgrind --tool=callgrind
// build/bench/cx_pending_bench`); the wall time it prints is indicative.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/encoding.h"
#include "state/pending_writes.h"

namespace {

std::string Key(const char* prefix, std::uint64_t n) {
  std::string k(prefix);
  cx::PutHex64(k, n * 0x9E3779B97F4A7C15ull);
  return k;
}

}  // namespace

int main() {
  constexpr int kIntervals = 40, kEvents = 4096, kOwners = 2500;
  const std::string held_value(480, 'h'), owner_value(320, 'o');
  cx::state::PendingWrites w;
  std::uint64_t next = 1, found = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int interval = 0; interval < kIntervals; ++interval) {
    std::vector<std::string> held;
    for (int e = 0; e < kEvents; ++e) {
      if (e % 10 == 0) {  // a breach through the queue stage: held, indexed
        const std::string h = Key("r/alert_queue/q/held/", next), x = Key("r/alert_queue/q/hidx/", next);
        ++next;
        if (w.Find(x) != nullptr) ++found;
        w.Put(h, held_value);
        w.Put(x, h);
        w.Put("r/alert_queue//idx/q", "");
        held.push_back(h);
      }
      if (e % 10 == 5 && !held.empty()) {  // a resolve: the held breach goes
        if (w.Find(held.back()) != nullptr) ++found;
        w.Delete(held.back());
        held.pop_back();
      }
    }
    // The commit: each changed customer's record, its timer-index entry
    // moved (the old one deleted, a new one written).
    for (int o = 0; o < kOwners; ++o) {
      const std::uint64_t owner = (static_cast<std::uint64_t>(interval) * kOwners + o) % 150000;
      w.Put(Key("o/", owner), owner_value);
      w.Tombstone(Key("Ld", owner * 7 + static_cast<std::uint64_t>(interval)));
      w.Put(Key("Ld", owner * 7 + static_cast<std::uint64_t>(interval) + 1), "");
    }
    w.PruneDeletes([](std::string_view) { return true; });
    std::size_t n = 0;
    w.ForEach([&](std::string_view, std::optional<std::string_view>) { ++n; });
    found += n;
    w.Clear();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"intervals\":%d,\"seconds\":%.3f,\"checksum\":%llu}\n", kIntervals, s,
              static_cast<unsigned long long>(found));
}
