// Restoring one task's state store from its changelog partition
// (docs/runtime.md#restore).
//
// The changelog holds frames: one commit's changed keys (a value, or a
// tombstone), closed by an END marker. A restore reads from the store's
// changelog position (the offset after the last frame it holds), or from
// the partition's start, to the partition's end, and applies each frame
// only when its END marker is read, together with the new position, in one
// write: a restored store is always at a commit boundary. Records after the
// last END come from a commit that never completed; they are not applied,
// and their keys are handed back so the task re-writes them with their true
// values at its first commit. Afterwards the local timer index is derived
// from what was restored.
//
// Kafka stays behind ChangelogSource, so the protocol is unit-tested with a
// fake; the worker's restore threads read it with a consumer of their own.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "state/store.h"

namespace cx::runtime {

// The END marker closes one commit's frame in the changelog. It cannot clash
// with a state key: those start with a letter (docs/replay.md#state-layout).
inline constexpr std::string_view kEndMarkerKey = std::string_view("\0end", 4);
// Local-only key (never in the changelog): the next changelog offset after
// the last frame the store holds.
inline constexpr std::string_view kChangelogPositionKey = "Lchangelog";

// One record read from a changelog partition, or the partition's end.
struct ChangelogRecord {
  std::int64_t offset = 0;
  std::string_view key;
  std::optional<std::string_view> value;  // nullopt: a tombstone
  bool end = false;                       // no record: the partition ends at `offset`
};

// One changelog partition, read from one thread.
class ChangelogSource {
 public:
  virtual ~ChangelogSource() = default;
  // The partition's first offset and its end (the offset after the last
  // record a restore may read: the last stable offset under
  // read_committed). Unavailable: try again later.
  virtual Result<std::pair<std::int64_t, std::int64_t>> Watermarks() = 0;
  // Reads from `offset` on.
  virtual Status Seek(std::int64_t offset) = 0;
  // Hands what has been read since to fn, in offset order, waiting up to
  // `wait` while nothing has been; stops handing records when fn returns
  // false. An error reading is Unavailable.
  virtual Status Read(std::chrono::milliseconds wait,
                      const std::function<bool(const ChangelogRecord&)>& fn) = 0;
};

struct RestoreOptions {
  int task = -1;  // for the logs
  // Set by another thread: the restore stops after the record it is at.
  const std::atomic<bool>* cancel = nullptr;
  // After each whole frame is applied: its records and the offsets left to read.
  std::function<void(std::int64_t records, std::int64_t remaining)> on_frame;
};

struct Restored {
  std::int64_t records = 0;  // applied
  std::int64_t from = 0;     // the offsets read: [from, to)
  std::int64_t to = 0;
  std::int64_t end = 0;  // the partition's end when the restore began
  // Stopped by RestoreOptions::cancel: whole frames up to `to` applied, the
  // rest not (the next restore goes on from the store's position).
  bool cancelled = false;
  // The keys of the records after the last END marker read (a commit that
  // never completed), sorted and unique; empty when cancelled.
  std::vector<std::string> incomplete;
};

// Brings `store` (written by no one else meanwhile) up to the end of its
// changelog partition.
Result<Restored> RestoreStore(state::Store& store, ChangelogSource& source, const RestoreOptions& options);

}  // namespace cx::runtime
