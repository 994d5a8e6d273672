// The state directory's guards: one process per directory, and a probe
// that notices a disk gone read-only or full before RocksDB is handed a
// write it would refuse (docs/operations.md#disk).
#pragma once

#include <cstddef>
#include <string>

#include "core/status.h"

namespace cx::runtime {

// Locks `dir` for this process (flock on dir/cxstream.lock, released by the
// kernel when the process dies, kill -9 included, so a restarted pod never
// finds a stale lock). Returns the descriptor that holds the lock: closing
// it releases the directory. Refused, naming the holder's pid, when
// another process holds it.
Result<int> LockStateDir(const std::string& dir);

// Creates, writes, syncs and removes a small file in `dir` (one per
// processing thread `member`: their commit threads probe at once): a disk
// gone read-only or full is noticed at the next commit interval, even while
// RocksDB still writes into files it has open.
Status ProbeStateDir(const std::string& dir, std::size_t member);

}  // namespace cx::runtime
