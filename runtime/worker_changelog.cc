// The changelog side of a worker thread: restore threads reading a task's
// changelog partition into its store, and the frames a commit writes (the
// task's changed state, its input offsets, an END marker), then the store.
#include "runtime/worker_impl.h"

namespace cx::runtime {

void Worker::Impl::StopRestoreThread() {
  {
    std::lock_guard<std::mutex> l(restore_mu_);
    restore_stop_ = true;
    for (auto& [p, slot] : slots_) slot->cancel_restore.store(true);
  }
  restore_cv_.notify_all();
  for (std::thread& t : restore_threads_)
    if (t.joinable()) t.join();
}

void Worker::Impl::RestoreLoop(rd_kafka_t* consumer) {
  while (true) {
    Slot* slot = nullptr;
    {
      std::unique_lock<std::mutex> l(restore_mu_);
      restore_cv_.wait(l, [this] { return restore_stop_ || !restore_queue_.empty(); });
      if (restore_stop_) return;
      slot = restore_queue_.front();
      restore_queue_.pop_front();
    }
    slot->restore_cancelled = false;
    Status s = Restore(*slot, consumer);
    while (!s.ok() && s.retryable() && !slot->cancel_restore.load() && !slot->restore_cancelled) {
      Log(LogLevel::kWarn, "restore", "retrying",
          {{"task", static_cast<std::int64_t>(slot->partition)}, {"reason", std::string_view(s.message())}});
      std::this_thread::sleep_for(std::chrono::seconds(1));
      s = Restore(*slot, consumer);
    }
    slot->restore_complete = s.ok();
    slot->restore_error = Status::Ok();
    if (!s.ok() && !slot->cancel_restore.load() && !slot->restore_cancelled) {
      // The Run() thread stops the worker with it: one critical line, and
      // the stores left as after a crash (a disk that failed under a
      // restore refuses the writes a clean close would make).
      slot->restore_error =
          Status::Fatal("restore of task " + std::to_string(slot->partition) + " failed: " + s.message());
    }
    std::lock_guard<std::mutex> l(restore_mu_);
    restored_.push_back(slot);
  }
}

// Runs on the restore thread; the slot's store is not touched by the Run()
// thread until the slot is handed back through restored_.
Status Worker::Impl::Restore(Slot& slot, rd_kafka_t* consumer) {
  const int p = slot.partition;
  if (exactly_once_ && (slot.new_producer || !slot.producer)) {
    // Fence first: the previous owner's open transaction is aborted (or
    // completes) before the changelog's last stable offset is read.
    std::lock_guard<std::mutex> l(producer_init_mu_);
    if (slot.cancel_restore.load()) {
      slot.restore_cancelled = true;
      return Status::Unavailable("restore cancelled");
    }
    if (Status s = OpenTaskProducer(slot); !s.ok()) return s;
  }
  auto began = std::chrono::steady_clock::now();
  auto& remaining = metrics_.RestoreRemaining(p);
  RestoreOptions options{.task = p, .cancel = &slot.cancel_restore, .on_frame = nullptr};
  options.on_frame = [&](std::int64_t records, std::int64_t left) {
    metrics_.restored_records.Increment(static_cast<double>(records));
    remaining.Set(static_cast<double>(left));
  };
  auto source = NewKafkaChangelogSource(consumer, changelog_, p, kMetadataTimeoutMs);
  auto restored = RestoreStore(*slot.store, *source, options);
  source.reset();  // the partition unassigned
  remaining.Set(0);
  if (!restored.ok()) return restored.status();
  if (restored->cancelled) {
    slot.restore_cancelled = true;
    return Status::Unavailable("restore cancelled");
  }
  slot.repair = std::move(restored->incomplete);
  if (restored->from >= restored->end) return Status::Ok();  // nothing to read
  double secs = Seconds(std::chrono::steady_clock::now() - began);
  Log(LogLevel::kInfo, "restore", "restored from changelog",
      {{"task", static_cast<std::int64_t>(p)},
       {"records", restored->records},
       {"from", restored->from},
       {"to", restored->to},
       {"end", restored->end},
       {"incomplete_frame_keys", static_cast<std::int64_t>(slot.repair.size())},
       {"seconds", secs},
       {"records_per_s", secs > 0 ? static_cast<double>(restored->records) / secs : 0.0}});
  return Status::Ok();
}

// The committer thread's produce: no back-pressure pause (the consumer is
// the Run() thread's), a short wait while the queue is full instead.
Status Worker::Impl::PipelineKafka::Append(int partition, std::string_view key,
                                           std::optional<std::string_view> value, DeliveryMark* mark) {
  return RecordCollector::Produce(w_.producer_.get(), w_.changelog_, partition, key, value, mark, nullptr,
                                  [this](rd_kafka_t*) {
                                    if (w_.fatal_flag_.load()) return false;
                                    // The Run() thread serves the delivery reports.
                                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                                    return true;
                                  });
}

void Worker::Impl::PutResumeOffsets(Slot& slot) {
  // Each input resumes at its earliest event still waiting for the
  // watermark (not applied, so not in this state); what is read again and
  // was applied is recognised as a repeat.
  for (std::size_t i = 0; i < topics_.size(); ++i) {
    slot.resume_offset[i] = slot.task->ResumeOffset(static_cast<int>(i), slot.next_offset[i]);
    if (slot.resume_offset[i] >= 0)
      PutInt64(*slot.store, OffsetKey(topics_[i], slot.partition), slot.resume_offset[i]);
    const std::int64_t read_upto =
        engine::ReadUptoAtCommit(slot.read_upto[i], slot.resume_offset[i], slot.next_offset[i]);
    if (read_upto != slot.read_upto[i]) {
      PutInt64(*slot.store, ReadKey(topics_[i], slot.partition), read_upto);
      slot.read_upto[i] = read_upto;
    }
  }
}

Status Worker::Impl::WriteFrame(Slot& slot) {
  slot.task->Checkpoint();
  rd_kafka_t* rk = ProducerFor(slot);
  PutResumeOffsets(slot);
  Status produced;
  Status s = slot.store->ForEachPending([&](std::string_view key, std::optional<std::string_view> value) {
    if (!produced.ok() || (!key.empty() && key[0] == 'L')) return;  // local-only
    produced =
        RecordCollector::Produce(rk, changelog_, slot.partition, key, value, nullptr, nullptr, while_full_);
  });
  if (!s.ok()) return s;
  if (!produced.ok()) return produced;
  slot.end_offset = -1;
  return RecordCollector::Produce(rk, changelog_, slot.partition, kEndMarkerKey, std::string_view("1"),
                                  &slot.end_offset, nullptr, while_full_);
}

Status Worker::Impl::CommitStore(Slot& slot) {
  if (slot.end_offset < 0) return Status::Fatal("changelog END marker was not acknowledged");
  PutInt64(*slot.store, kChangelogPositionKey, slot.end_offset + 1);
  StateWrite timing(write_started_);  // the disk only: Kafka's waits are done
  if (Status s = slot.store->Commit(); !s.ok()) {
    return Status::Fatal("state commit of task " + std::to_string(slot.partition) + ": " + s.message());
  }
  slot.dirty = false;
  return Status::Ok();
}

void Worker::Impl::QueueRestore(Slot& slot) {
  slot.restoring.store(true);
  restoring_.fetch_add(1);
  std::lock_guard<std::mutex> l(restore_mu_);
  restore_queue_.push_back(&slot);
  restore_cv_.notify_one();
}

}  // namespace cx::runtime
