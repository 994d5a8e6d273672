#include "runtime/commit_pipeline.h"

#include <pthread.h>

#include <utility>

namespace cx::runtime {

void Epoch::Delivered(const DeliveryMark& mark, bool ok, std::int64_t offset, std::string_view error) {
  if (ok && mark.task >= 0) tasks_[static_cast<std::size_t>(mark.task)]->end_offset.store(offset);
  if (!ok) {
    std::lock_guard<std::mutex> l(mu_);
    if (error_.empty()) error_ = std::string(error);
  }
  if (unacked_.fetch_sub(1, std::memory_order_acq_rel) == 1 || !ok) {
    std::lock_guard<std::mutex> l(mu_);
    acked_.notify_all();
  }
}

CommitPipeline::CommitPipeline(ChangelogWriter& writer, OffsetCommitter& offsets,
                               CommitPipelineOptions options)
    : writer_(writer),
      offsets_(offsets),
      options_(std::move(options)),
      current_(std::make_unique<Epoch>(next_number_++)),
      thread_([this] { Loop(); }) {}

CommitPipeline::~CommitPipeline() { Stop(); }

void CommitPipeline::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_.store(true);
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Its delivery reports may still come: kept with the retired ones.
  if (sealed_) retired_.push_back(std::move(sealed_));
}

void CommitPipeline::Seal(std::vector<SealedTask> tasks) {
  std::unique_ptr<Epoch> epoch = std::move(current_);
  current_ = std::make_unique<Epoch>(next_number_++);
  for (SealedTask& t : tasks) {
    auto task = std::make_unique<Epoch::Task>();
    task->store = t.store;
    task->partition = t.partition;
    task->offsets = std::move(t.offsets);
    task->end_mark = {epoch.get(), static_cast<int>(epoch->tasks_.size())};
    epoch->tasks_.push_back(std::move(task));
  }
  epoch->sealed_at_ = std::chrono::steady_clock::now();
  sealed_ = std::move(epoch);
  {
    std::lock_guard<std::mutex> l(mu_);
    todo_ = sealed_.get();
    done_ = false;
  }
  wake_.notify_all();
}

bool CommitPipeline::Finish(Status* result, std::chrono::steady_clock::duration* took) {
  if (!sealed_) return false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!done_) return false;
    done_ = false;
    *result = result_;
  }
  if (took) *took = std::chrono::steady_clock::now() - sealed_->sealed_at_;
  for (const auto& task : sealed_->tasks_) {
    task->store->ReleaseSealed();
    if (result->ok() && !task->offsets.empty()) offsets_.Commit(task->offsets, task->partition);
  }
  // After a success every delivery report has come; after a failure some
  // may still (the epoch stays until the pipeline goes).
  if (result->ok())
    sealed_.reset();
  else
    retired_.push_back(std::move(sealed_));
  return true;
}

Status CommitPipeline::Drain(const std::function<void()>& serve, const std::function<bool()>& stop) {
  while (InFlight()) {
    Status result;
    if (Finish(&result)) return result;
    if (stop()) return Status::Fatal("commit interrupted: the worker is stopping on an error");
    serve();
  }
  return Status::Ok();
}

void CommitPipeline::Loop() {
  pthread_setname_np(pthread_self(), "cx-commit");  // in top -H and perf
  while (true) {
    Epoch* epoch = nullptr;
    {
      std::unique_lock<std::mutex> l(mu_);
      wake_.wait(l, [this] { return stop_.load() || todo_ != nullptr; });
      if (stop_.load()) return;
      epoch = std::exchange(todo_, nullptr);
    }
    Status s = CommitEpoch(*epoch);
    if (stop_.load()) return;  // not committed, not to be finished
    std::lock_guard<std::mutex> l(mu_);
    result_ = std::move(s);
    done_ = true;
  }
}

Status CommitPipeline::AwaitAcknowledged(Epoch& epoch) {
  std::unique_lock<std::mutex> l(epoch.mu_);
  while (epoch.unacked_.load(std::memory_order_acquire) > 0 && epoch.error_.empty()) {
    if (stop_.load()) return Status::Fatal("stopped before the epoch was acknowledged");
    epoch.acked_.wait_for(l, std::chrono::milliseconds(50));
  }
  if (!epoch.error_.empty()) return Status::Fatal(epoch.error_);
  return Status::Ok();
}

Status CommitPipeline::CommitEpoch(Epoch& epoch) {
  // The epoch's outputs and repartition records first: a frame in the
  // changelog is state a restore applies, so it must never be there while
  // an output of the events in it may still be lost.
  if (Status s = AwaitAcknowledged(epoch); !s.ok()) return s;
  // The frames: each sealed task's changed keys, closed by its END marker.
  for (const auto& task : epoch.tasks_) {
    Status s;
    task->store->ForEachSealed([&](std::string_view key, std::optional<std::string_view> value) {
      if (!s.ok() || (options_.local && options_.local(key))) return;
      epoch.Expect();
      s = writer_.Append(task->partition, key, value, epoch.AnyRecord());
    });
    if (!s.ok()) return s;
    epoch.Expect();
    if (s = writer_.Append(task->partition, options_.end_key, std::string_view("1"), &task->end_mark);
        !s.ok())
      return s;
  }
  if (Status s = AwaitAcknowledged(epoch); !s.ok()) return s;
  if (options_.before_write) {
    if (options_.write_started)
      options_.write_started->store(std::chrono::steady_clock::now().time_since_epoch().count());
    Status s = options_.before_write();
    if (options_.write_started) options_.write_started->store(0);
    if (!s.ok()) return s;
  }
  for (const auto& task : epoch.tasks_) {
    if (Status s = task->store->BackgroundError(); !s.ok()) return s;
  }
  for (const auto& task : epoch.tasks_) {
    const std::int64_t end = task->end_offset.load();
    if (end < 0) return Status::Fatal("changelog END marker was not acknowledged");
    std::vector<std::pair<std::string, std::string>> extra;
    if (options_.position) extra.push_back(options_.position(end));
    if (options_.write_started)
      options_.write_started->store(std::chrono::steady_clock::now().time_since_epoch().count());
    Status s = task->store->CommitSealed(extra);
    if (options_.write_started) options_.write_started->store(0);
    if (!s.ok())
      return Status::Fatal("state commit of task " + std::to_string(task->partition) + ": " + s.message());
  }
  return Status::Ok();
}

}  // namespace cx::runtime
