// cx_state_bench: the state store under many customers, for bench/run.
// Writes the state of --customers customers through the same store the
// worker uses (state::OpenRocksDbStore with a worker's memory split of
// --budget-bytes), one owner record per customer in the worker's format
// (engine::EncodeOwner), committing every 4,096 customers as a task does;
// then opens a task's state over it as a restarted worker does (the format
// check and the timer index built from every owner: the start-up), and
// reads and rewrites random customers (the access of a live stream); it
// reports peak resident memory against the budget, the size on disk, the
// start-up time and the rates. Records are sized as the worker's are (a
// profile and its expiry timer, a dedup ring, for one customer in three an
// SLA subject and its deadline); their bytes vary per customer so that
// compression does not flatter the disk figure.
//
// usage: cx_state_bench --dir DIR --customers N --budget-bytes B [--updates N]

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/state_cache.h"
#include "state/store.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// This process's own peak (VmHWM). Not getrusage's ru_maxrss: Linux keeps
// that across execve, so it starts at whatever the parent held when it
// forked (a bench/run that had just compared a million output records).
double PeakRssBytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) * 1024.0;
  }
  return 0;
}

std::string Owner(std::uint64_t customer) { return "cust-" + std::to_string(customer); }

// Pseudo-random bytes of a given length (incompressible like real varints
// and hashes are, mostly).
std::string Value(std::mt19937_64& rng, std::size_t n) {
  std::string v(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t x = rng();
    for (std::size_t j = 0; j < 8 && i + j < n; ++j) v[i + j] = static_cast<char>(x >> (8 * j));
  }
  v[0] = 1;  // format byte
  return v;
}

// One customer's record, as the worker's state cache writes it.
std::string OwnerValue(std::mt19937_64& rng, std::uint64_t customer, std::int64_t now_ms) {
  cx::engine::OwnerState s;
  s.records.push_back({"#dedup", Value(rng, 8 * (1 + rng() % 16))});
  s.records.push_back({"profile/p", Value(rng, 180 + rng() % 120)});
  s.timers.push_back({cx::Timestamp{now_ms + 86'400'000LL * 30 + static_cast<std::int64_t>(rng() % 1000)},
                      "profile", "expire"});
  if (customer % 3 == 0) {
    s.records.push_back({"sla/s/conv-" + std::to_string(rng() % 100000), Value(rng, 60 + rng() % 60)});
    s.timers.push_back(
        {cx::Timestamp{now_ms + static_cast<std::int64_t>(rng() % 3'600'000)}, "sla", "conv/first_response"});
  }
  return cx::engine::EncodeOwner(s);
}

int Fail(const std::string& why) {
  std::fprintf(stderr, "cx_state_bench: %s\n", why.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  std::uint64_t customers = 0, updates = 1000000;
  std::size_t budget = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--dir")
      dir = argv[i + 1];
    else if (flag == "--customers")
      customers = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--budget-bytes")
      budget = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--updates")
      updates = std::strtoull(argv[i + 1], nullptr, 10);
    else
      return Fail("unknown option " + flag);
  }
  if (dir.empty() || customers == 0 || budget == 0)
    return Fail("usage: cx_state_bench --dir DIR --customers N --budget-bytes B [--updates N]");
  std::filesystem::remove_all(dir);
  // The worker's split (runtime/worker.cc): 3/8 block cache, a quarter
  // memtables, an eighth the tasks' state caches (with the timer index's front).
  auto shared = cx::state::NewRocksDbShared(budget / 8 * 3, budget / 4);
  auto opened = cx::state::OpenRocksDbStore({.path = dir}, shared);
  if (!opened.ok()) return Fail(opened.status().ToString());
  cx::state::Store& store = **opened;
  std::mt19937_64 rng(42);

  const std::int64_t now_ms = 1'795'000'000'000;
  const auto t0 = Clock::now();
  store.Put(cx::engine::kFormatKey, std::string(1, static_cast<char>(cx::engine::kStateFormat)));
  for (std::uint64_t c = 0; c < customers; ++c) {
    store.Put(cx::engine::OwnerKey(Owner(c)), OwnerValue(rng, c, now_ms));
    if (c % 4096 == 4095) {
      if (auto s = store.Commit(); !s.ok()) return Fail(s.ToString());
    }
  }
  if (auto s = store.Commit(); !s.ok()) return Fail(s.ToString());
  const double load_s = Seconds(t0);

  // A task opening over owners it did not write (after a restore): the
  // format check and the timer index derived from every owner.
  opened->reset();
  const auto t_rebuild = Clock::now();
  opened = cx::state::OpenRocksDbStore({.path = dir}, shared);
  if (!opened.ok()) return Fail(opened.status().ToString());
  auto budget_used = std::make_shared<cx::engine::ObjectBudget>(budget / 8);
  const std::vector<std::string> processors = {"sla", "alerts", "profile", "staffing"};
  {
    cx::engine::StateCache rebuilt(**opened, budget_used, processors);
    if (auto s = rebuilt.Open(); !s.ok()) return Fail(s.ToString());
    rebuilt.Flush();
    if (auto s = (*opened)->Commit(); !s.ok()) return Fail(s.ToString());
  }
  const double rebuild_s = Seconds(t_rebuild);

  // A restarted worker over its own store: the index is there.
  opened->reset();
  const auto t_open = Clock::now();
  opened = cx::state::OpenRocksDbStore({.path = dir}, shared);
  if (!opened.ok()) return Fail(opened.status().ToString());
  cx::state::Store& reopened = **opened;
  cx::engine::StateCache cache(reopened, budget_used, processors);
  if (auto s = cache.Open(); !s.ok()) return Fail(s.ToString());
  const double startup_s = Seconds(t_open);
  const std::int64_t timers = cache.pending_timers();

  // Live access through the task's cache: a customer's record read (one
  // store read on a miss), its profile rewritten, written back at each commit.
  const auto t1 = Clock::now();
  std::uint64_t found = 0;
  for (std::uint64_t i = 0; i < updates; ++i) {
    const std::uint64_t c = rng() % customers;
    cx::Status error;
    if (cache.Get(Owner(c), "profile/p", error) != nullptr) ++found;
    if (!error.ok()) return Fail(error.ToString());
    cache.Put(Owner(c), "profile/p", Value(rng, 180 + rng() % 120), error);
    cache.Trim();
    if (i % 4096 == 4095) {
      cache.Flush();
      if (auto s = reopened.Commit(); !s.ok()) return Fail(s.ToString());
    }
  }
  cache.Flush();
  if (auto s = reopened.Commit(); !s.ok()) return Fail(s.ToString());
  const double update_s = Seconds(t1);
  opened->reset();  // close: flushes, so the disk figure includes every record

  std::uintmax_t disk = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) disk += e.file_size();
  std::printf(
      "{\"customers\":%llu,\"budget_bytes\":%zu,\"peak_rss_bytes\":%.0f,\"disk_bytes\":%llu,"
      "\"load_customers_per_s\":%.0f,\"startup_s\":%.3f,\"startup_after_restore_s\":%.2f,\"timers\":%lld,"
      "\"updates\":%llu,\"updates_per_s\":%.0f,\"found\":%llu}\n",
      static_cast<unsigned long long>(customers), budget, PeakRssBytes(),
      static_cast<unsigned long long>(disk), static_cast<double>(customers) / load_s, startup_s, rebuild_s,
      static_cast<long long>(timers), static_cast<unsigned long long>(updates),
      static_cast<double>(updates) / update_s, static_cast<unsigned long long>(found));
  return found == updates ? 0 : 1;
}
