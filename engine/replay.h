// Replay: files in, files out, deterministic (docs/replay.md).
//
// Each input line is one message value; lines are processed in file order
// (files in the order given) by one task, with the watermark at the largest
// `ts` seen minus the allowed lateness. At the end of input the watermark
// moves to the last `ts` (or to `until`) and due timers fire. One output file
// per stream in `out_dir`.
//
// `until` is also "now" for the future-timestamp check; without it "now" is
// the wall clock when the replay starts. Gaps in the data, however long,
// never reject an event.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/status.h"
#include "core/time.h"
#include "engine/pipeline.h"
#include "engine/task.h"

namespace cx::engine {

struct ReplayOptions {
  std::vector<std::string> inputs;
  std::optional<Timestamp> until;
  // "Now" without `until`; unset: the wall clock at the start (tests fix it).
  std::optional<Timestamp> now;
  std::string out_dir;
  // Counts the task's store operations (ReplaySummary::store); for the
  // replay benchmark (bench/replay), a few per cent slower.
  bool count_store = false;
  // Hands the replay's state (store, task, every customer's records) to the
  // caller in ReplaySummary::state instead of freeing it when RunReplay
  // returns: a command that exits next leaves it to the operating system,
  // which takes it back at once, where freeing it costs a call per
  // allocation (about 6% of a replay of 100,000 events).
  bool keep_state = false;
};

// What the task asked of its store over a replay (ReplayOptions::count_store).
// `committed_records` is what run mode would write to the changelog with a
// commit every 4,096 input records, as replay commits: one record per key
// changed in a commit interval; `committed_local_records` are the writes that
// stay in the local store (the timer index), which the changelog never gets.
struct StoreCounts {
  std::uint64_t gets = 0, puts = 0, deletes = 0, scans = 0, commits = 0;
  std::uint64_t committed_records = 0, committed_local_records = 0;
};

struct ReplaySummary {
  TaskStats stats;
  Timestamp watermark;
  std::uint64_t lines = 0;
  OpenClockCounts open_clocks;  // SLA clocks still open at the end
  std::optional<StoreCounts> store;  // with ReplayOptions::count_store
  ObjectCacheStats objects;          // the task's object cache
  std::shared_ptr<void> state;       // with ReplayOptions::keep_state
};

// The counts as one JSON object (`cxstream replay --stats`).
std::string FormatStoreCounts(const StoreCounts& c, const ObjectCacheStats& objects, std::uint64_t lines);

// Fails only for unusable arguments (unreadable input, unwritable output);
// bad records go to dlq.ndjson.
Result<ReplaySummary> RunReplay(const config::Config& config, const ReplayOptions& options);

// A human summary of a replay, for the command line.
std::string FormatSummary(const ReplaySummary& s);

}  // namespace cx::engine
