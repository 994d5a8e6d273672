#include "runtime/changelog_restore.h"

#include <algorithm>
#include <memory>

#include "core/encoding.h"
#include "engine/state_cache.h"
#include "runtime/log.h"

namespace cx::runtime {

Result<Restored> RestoreStore(state::Store& store, ChangelogSource& source, const RestoreOptions& options) {
  auto watermarks = source.Watermarks();
  if (!watermarks.ok()) return watermarks.status();
  const auto [lo, hi] = *watermarks;
  std::int64_t local = -1;
  {
    auto v = store.Get(kChangelogPositionKey);
    if (!v.ok()) return v.status();
    if (v->has_value() && (*v)->size() == 8) local = static_cast<std::int64_t>(GetFixed64BE((*v)->data()));
  }
  Restored out;
  out.end = hi;
  std::int64_t start = local >= 0 ? local : lo;
  if (local >= 0 && local < lo) {
    Log(LogLevel::kError, "restore",
        "changelog no longer holds what this store needs; restoring from its start",
        {{"task", static_cast<std::int64_t>(options.task)}, {"local", local}, {"changelog_start", lo}});
    start = lo;
  }
  out.from = out.to = start;
  if (local > hi) {
    Log(LogLevel::kError, "restore",
        "local state is ahead of the changelog (was the topic recreated?); keeping it",
        {{"task", static_cast<std::int64_t>(options.task)}, {"local", local}, {"changelog_end", hi}});
    out.from = out.to = local;
    return out;
  }
  if (start >= hi) return out;
  if (Status s = source.Seek(start); !s.ok()) return s;

  // Records of the frame being read; the loader holds them until its END
  // marker commits them, with the new position, in one write.
  std::unique_ptr<state::BulkLoader> loader = store.NewBulkLoader();
  std::int64_t in_frame = 0;
  std::int64_t offset = start;
  Status failed;
  // One record (or the end): false when the restore ends with it.
  auto apply = [&](const ChangelogRecord& r) {
    if (r.end) return r.offset < hi;
    offset = r.offset + 1;
    if (r.key == kEndMarkerKey) {
      // A whole commit: applied atomically with the new position. The local
      // timer index no longer covers every owner: it is derived again below.
      std::string position;
      PutFixed64BE(position, static_cast<std::uint64_t>(offset));
      loader->Put(kChangelogPositionKey, position);
      loader->Delete(engine::kTimerIndexKey);
      if (Status s = loader->CommitFrame(); !s.ok()) {
        failed = s;
        return false;
      }
      out.records += in_frame;
      out.to = offset;
      if (options.on_frame) options.on_frame(in_frame, hi - offset);
      in_frame = 0;
    } else if (r.value) {
      loader->Put(r.key, *r.value);
      ++in_frame;
    } else {
      // As the changelog says, without asking the store whether it holds
      // the key (Store::Delete would: two RocksDB reads per delete).
      loader->Delete(r.key);
      ++in_frame;
    }
    return offset < hi;
  };
  bool reading = true;
  while (reading && offset < hi) {
    if (options.cancel != nullptr && options.cancel->load()) {
      out.cancelled = true;
      break;
    }
    Status s = source.Read(std::chrono::milliseconds(500), [&](const ChangelogRecord& r) {
      reading = apply(r);
      return reading;
    });
    if (!failed.ok()) return failed;
    if (!s.ok()) return s;
  }
  // Records after the last END belong to a commit that never completed: not
  // applied; their keys are re-written with their true values in the task's
  // first commit, so a later restore never takes them for current.
  std::vector<std::string> incomplete = loader->DiscardFrame();
  if (Status s = loader->Finish(); !s.ok()) return s;
  loader.reset();
  if (!out.cancelled) {
    std::sort(incomplete.begin(), incomplete.end());
    incomplete.erase(std::unique(incomplete.begin(), incomplete.end()), incomplete.end());
    out.incomplete = std::move(incomplete);
  }
  // The timer index of what was restored, derived here, on the restore
  // thread, rather than when the task opens on the processing thread (every
  // owner is read once; docs/replay.md#state-layout).
  if (!out.cancelled && out.records > 0) {
    engine::StateCache index(store, nullptr, {});
    if (Status s = index.Open(); !s.ok()) return s;
    index.Flush();
    if (Status s = store.Commit(); !s.ok()) return s;
  }
  return out;
}

}  // namespace cx::runtime
