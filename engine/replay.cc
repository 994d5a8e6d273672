#include "engine/replay.h"

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "core/json_writer.h"
#include "engine/pipeline.h"
#include "state/store.h"

namespace cx::engine {
namespace {

// Writes each contract stream to DIR/<stream>.ndjson, one record per line:
// the value as it would be produced to Kafka, or {"key":K,"value":null} for a
// tombstone. Repartition records are kept for the driver to feed back to the
// task (one task plays every partition of the next stage).
class FileSink final : public OutputSink {
 public:
  Status Open(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::InvalidArgument("cannot create output directory " + dir + ": " + ec.message());
    for (int i = 0; i < kContractStreamCount; ++i) {
      std::string path = dir + "/" + std::string(ToString(static_cast<Stream>(i))) + ".ndjson";
      files_[i].open(path, std::ios::binary | std::ios::trunc);
      if (!files_[i]) return Status::InvalidArgument("cannot write " + path);
    }
    return Status::Ok();
  }
  void Emit(const OutputView& r) override {
    if (r.stream == Stream::kRepartition) {
      if (r.value) repartitioned_.emplace_back(*r.value);
      return;
    }
    const auto i = static_cast<std::size_t>(r.stream);
    std::string& b = buffers_[i];
    if (r.value) {
      b.append(*r.value);
    } else {
      b.append("{\"key\":");
      AppendJsonString(r.key, b);
      b.append(",\"value\":null}");
    }
    b.push_back('\n');
    if (b.size() >= kBufferBytes) Write(i);
  }
  // Hands over what was sent to the next stage since the last call.
  void TakeRepartitioned(std::vector<std::string>& out) {
    out.clear();
    out.swap(repartitioned_);
  }

  Status Close() {
    for (std::size_t i = 0; i < files_.size(); ++i) Write(i);
    for (auto& f : files_) {
      f.flush();
      if (!f) return Status::IoError("writing replay output failed");
      f.close();
    }
    return Status::Ok();
  }

 private:
  // Lines are gathered per stream and written a buffer at a time.
  static constexpr std::size_t kBufferBytes = 1 << 16;
  void Write(std::size_t i) {
    files_[i].write(buffers_[i].data(), static_cast<std::streamsize>(buffers_[i].size()));
    buffers_[i].clear();
  }

  std::array<std::ofstream, kContractStreamCount> files_;
  std::array<std::string, kContractStreamCount> buffers_;
  std::vector<std::string> repartitioned_;
};

// Counts what passes through to the store it wraps.
class CountingStore final : public state::ForwardingStore {
 public:
  CountingStore(std::unique_ptr<state::Store> inner, StoreCounts& counts)
      : ForwardingStore(std::move(inner)), counts_(counts) {}
  Result<std::optional<std::string>> Get(std::string_view key) override {
    ++counts_.gets;
    return ForwardingStore::Get(key);
  }
  void Put(std::string_view key, std::string_view value) override {
    ++counts_.puts;
    ForwardingStore::Put(key, value);
  }
  void Delete(std::string_view key) override {
    ++counts_.deletes;
    ForwardingStore::Delete(key);
  }
  void Tombstone(std::string_view key) override {
    ++counts_.deletes;
    ForwardingStore::Tombstone(key);
  }
  Status Scan(std::string_view begin, std::string_view end, const ScanFn& fn) override {
    ++counts_.scans;
    return ForwardingStore::Scan(begin, end, fn);
  }
  Status Commit() override {
    ++counts_.commits;
    Status s = inner().ForEachPending([&](std::string_view key, std::optional<std::string_view>) {
      if (!key.empty() && key.front() == 'L')
        ++counts_.committed_local_records;  // local-only: never in the changelog
      else
        ++counts_.committed_records;
    });
    if (!s.ok()) return s;
    return ForwardingStore::Commit();
  }

 private:
  StoreCounts& counts_;
};

// What holds a replay's state, in the order it is made (and freed in
// reverse: the task before the store it writes to and the sink it writes
// to): kept past RunReplay with ReplayOptions::keep_state.
struct ReplayState {
  FileSink sink;
  StoreCounts counts;
  std::unique_ptr<state::Store> store;
  std::unique_ptr<Task> task;
};

}  // namespace

Result<ReplaySummary> RunReplay(const config::Config& config, const ReplayOptions& options) {
  if (options.inputs.empty()) return Status::InvalidArgument("no --input given");
  std::vector<std::ifstream> ins;
  for (const auto& path : options.inputs) {
    ins.emplace_back(path, std::ios::binary);
    if (!ins.back()) return Status::InvalidArgument("cannot read input " + path);
  }
  auto held = std::make_shared<ReplayState>();
  FileSink& sink = held->sink;
  if (Status s = sink.Open(options.out_dir); !s.ok()) return s;

  StoreCounts& counts = held->counts;
  // Replay never rolls back; only counting committed records needs the
  // store's undo log (ForEachPending).
  std::unique_ptr<state::Store>& store = held->store;
  store = state::NewMemoryStore({.undo = options.count_store});
  if (options.count_store) store = std::make_unique<CountingStore>(std::move(store), counts);
  // Input 0: the event files; input 1: the repartition loop (one upstream
  // task, one next-stage partition), as in run mode with one partition.
  TaskOptions topts = TaskOptionsFrom(config);
  topts.inputs = 2;
  topts.repartition_input = 1;
  topts.repartition_sources = 1;
  topts.source_id = 0;
  // The share of the memory budget a worker gives its decoded records.
  topts.object_budget =
      std::make_shared<ObjectBudget>(static_cast<std::size_t>(config.state.memory_budget_bytes) / 8);
  held->task = std::make_unique<Task>(topts, *store, sink, BuildCustomerProcessors(config, Mode::kReplay, 1));
  Task& task = *held->task;
  if (Status s = task.Open(); !s.ok()) return s;
  // Feeds what the task sent to the next stage back to it, as the
  // repartition topic would, before the next input record.
  std::vector<std::string> looped;
  InputRecord looped_rec;
  looped_rec.input = 1;
  auto loop = [&] {
    sink.TakeRepartitioned(looped);
    for (const std::string& v : looped) {
      looped_rec.value = v;
      task.Process(looped_rec);
    }
  };
  // "Now" for the future check (docs/replay.md#time): when the data was
  // captured, or else the wall clock as the replay starts.
  if (options.until)
    task.set_now(*options.until, Task::NowSource::kUntil);
  else
    task.set_now(options.now ? *options.now : SystemClock().Now(), Task::NowSource::kReplayStart);

  ReplaySummary summary;
  std::string line;
  InputRecord rec;
  for (std::size_t i = 0; i < ins.size(); ++i) {
    rec.source.file = options.inputs[i];
    std::int64_t n = 0;
    while (std::getline(ins[i], line)) {
      ++n;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos)
        continue;  // blank lines separate, carry nothing
      ++summary.lines;
      rec.value = line;
      rec.source.line = n;
      task.Process(rec);
      loop();
      if (!task.error().ok()) return task.error();
      // Commit now and then, as run mode does: the store then holds what
      // was deleted as gone, not as pending tombstones every scan walks.
      if (summary.lines % 4096 == 0) {
        if (Status s = task.Commit(); !s.ok()) return s;
      }
    }
  }
  Timestamp end = options.until ? *options.until : task.max_event_time();
  if (end != Timestamp::Min()) task.AdvanceWatermark(end);
  task.Flush();  // events after --until: applied, their timers left unfired
  task.AnnounceWatermark();
  loop();
  if (!task.error().ok()) return task.error();
  if (Status s = task.Commit(); !s.ok()) return s;
  if (Status s = sink.Close(); !s.ok()) return s;
  summary.stats = task.stats();
  summary.watermark = task.watermark();
  if (options.count_store) summary.store = counts;
  summary.objects = task.object_cache_stats();
  if (Status s = AddOpenSlaClocks(task, summary.open_clocks); !s.ok()) return s;
  if (options.keep_state) summary.state = std::move(held);
  return summary;
}

std::string FormatStoreCounts(const StoreCounts& c, const ObjectCacheStats& objects, std::uint64_t lines) {
  std::ostringstream o;
  o << "{\"records\":" << lines << ",\"store_gets\":" << c.gets << ",\"store_puts\":" << c.puts
    << ",\"store_deletes\":" << c.deletes << ",\"store_scans\":" << c.scans << ",\"commits\":" << c.commits
    << ",\"committed_records\":" << c.committed_records
    << ",\"committed_local_records\":" << c.committed_local_records << ",\"object_hits\":" << objects.hits
    << ",\"object_misses\":" << objects.misses << ",\"object_evictions\":" << objects.evictions
    << ",\"object_write_throughs\":" << objects.write_throughs << "}";
  return o.str();
}

std::string FormatSummary(const ReplaySummary& s) {
  std::ostringstream o;
  const TaskStats& t = s.stats;
  o << "replay: " << s.lines << " records: " << t.applied << " applied, " << t.duplicates
    << " duplicates ignored, " << t.dead_lettered << " dead-lettered, " << t.late
    << " later than the watermark (applied)\n";
  o << "  watermark at end: "
    << (s.watermark == Timestamp::Min() ? std::string("-") : FormatRfc3339(s.watermark))
    << ", timers fired: " << t.timers_fired << "\n";
  o << "  outputs:";
  for (int i = 0; i < kContractStreamCount; ++i) {
    o << " " << ToString(static_cast<Stream>(i)) << "=" << t.outputs[i];
  }
  o << "\n";
  if (t.queue_overflows > 0)
    o << "  staffing: " << t.queue_overflows << " facts counted under queue other (limits.max_queues)\n";
  o << "  open SLA clocks:";
  if (s.open_clocks.empty()) o << " none";
  for (const auto& [key, n] : s.open_clocks) {
    o << " " << ToString(key.first) << (key.second.empty() ? "" : "@" + key.second) << "=" << n;
  }
  o << "\n";
  return o.str();
}

}  // namespace cx::engine
