// cx_state_bench: the state store under many customers, for bench/run.
// Writes the state of --customers customers through the same store the
// worker uses (state::OpenRocksDbStore with a worker's memory split of
// --budget-bytes), committing every 4,096 customers as a task does, then
// reads and rewrites random customers (the access of a live stream), and
// reports peak resident memory against the budget, the size on disk and
// the rates. Values are sized as the worker's per-customer records are
// (a profile, a dedup ring, an SLA subject); their bytes vary per customer
// so that compression does not flatter the disk figure.
//
// usage: cx_state_bench --dir DIR --customers N --budget-bytes B [--updates N]
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "state/store.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double PeakRssBytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;
}

std::string Key(std::uint64_t customer, const char* name) {
  std::string id = "cust-" + std::to_string(customer);
  std::string k = "C";
  k.push_back(static_cast<char>(id.size()));
  k += id;
  k += name;
  return k;
}

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
  // The worker's split (runtime/worker.cc): half block cache, a quarter memtables.
  auto shared = cx::state::NewRocksDbShared(budget / 2, budget / 4);
  auto opened = cx::state::OpenRocksDbStore({.path = dir}, shared);
  if (!opened.ok()) return Fail(opened.status().ToString());
  cx::state::Store& store = **opened;
  std::mt19937_64 rng(42);

  const auto t0 = Clock::now();
  for (std::uint64_t c = 0; c < customers; ++c) {
    store.Put(Key(c, "profile/p"), Value(rng, 180 + rng() % 120));
    store.Put(Key(c, "#dedup"), Value(rng, 8 * (1 + rng() % 16)));
    if (c % 3 == 0) store.Put(Key(c, "sla/s"), Value(rng, 60 + rng() % 60));
    if (c % 4096 == 4095) {
      if (auto s = store.Commit(); !s.ok()) return Fail(s.ToString());
    }
  }
  if (auto s = store.Commit(); !s.ok()) return Fail(s.ToString());
  const double load_s = Seconds(t0);

  const auto t1 = Clock::now();
  std::uint64_t found = 0;
  for (std::uint64_t i = 0; i < updates; ++i) {
    const std::uint64_t c = rng() % customers;
    auto v = store.Get(Key(c, "profile/p"));
    if (!v.ok()) return Fail(v.status().ToString());
    if (*v) ++found;
    store.Put(Key(c, "profile/p"), Value(rng, 180 + rng() % 120));
    if (i % 4096 == 4095) {
      if (auto s = store.Commit(); !s.ok()) return Fail(s.ToString());
    }
  }
  if (auto s = store.Commit(); !s.ok()) return Fail(s.ToString());
  const double update_s = Seconds(t1);
  opened->reset();  // close: flushes, so the disk figure includes every record

  std::uintmax_t disk = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) disk += e.file_size();
  std::printf(
      "{\"customers\":%llu,\"budget_bytes\":%zu,\"peak_rss_bytes\":%.0f,\"disk_bytes\":%llu,"
      "\"load_customers_per_s\":%.0f,\"updates\":%llu,\"updates_per_s\":%.0f,\"found\":%llu}\n",
      static_cast<unsigned long long>(customers), budget, PeakRssBytes(),
      static_cast<unsigned long long>(disk), static_cast<double>(customers) / load_s,
      static_cast<unsigned long long>(updates), static_cast<double>(updates) / update_s,
      static_cast<unsigned long long>(found));
  return found == updates ? 0 : 1;
}
