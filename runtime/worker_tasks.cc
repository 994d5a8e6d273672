// The task manager of a worker thread: the group's assignments and
// revokes, the tasks' stores (shared among the threads through the pool),
// restored tasks started and positioned at their inputs.
#include "runtime/worker_impl.h"

namespace cx::runtime {

// Called on the Run() thread, from rd_kafka_consumer_poll.
void Worker::Impl::OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  if (self->fatal_flag_.load()) {
    // Leaving after a fatal error: nothing is committed (the state may be
    // half written); whoever owns the partitions next resumes from the last
    // commit. No task may run meanwhile.
    for (auto& [p, slot] : self->slots_) slot->task.reset();
    rd_kafka_assign(rk, nullptr);
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    self->Assign(parts);
  } else {
    self->Revoke();
  }
}

Status Worker::Impl::OpenSlot(int partition, const std::set<int>& assigned) {
  auto slot = std::make_unique<Slot>();
  slot->partition = partition;
  std::string path = config_.state.dir + "/" + std::string(kStage) + "-" + std::to_string(partition);
  state::RocksDbOptions opts{.path = path};
  opts.on_repair = [partition, path](const std::string& note) {
    Log(LogLevel::kWarn, "state", "state store repaired on open",
        {{"task", static_cast<std::int64_t>(partition)},
         {"path", std::string_view(path)},
         {"detail", std::string_view(note)}});
  };
  // From the pool: another thread of this worker may have had the partition
  // (and may still be ending its restore).
  auto store = shared_.stores.Take(
      partition, [&] { return state::OpenRocksDbStore(opts, memory_); }, kStoreHandOverPatience,
      [&] { ReleaseEndedRestores(assigned); });
  if (!store.ok()) return Status::Fatal("state store " + path + ": " + store.status().message());
  slot->store = std::move(store).value();
  slot->next_offset.assign(topics_.size(), -1);
  slot->resume_offset.assign(topics_.size(), -1);
  slot->read_upto.assign(topics_.size(), -1);
  slot->caught_up.assign(topics_.size(), false);
  slot->sink = std::make_unique<KafkaSink>(*this, *slot);
  slots_[partition] = std::move(slot);
  return Status::Ok();
}

std::map<int, std::unique_ptr<Slot>>::iterator Worker::Impl::ReleaseSlot(
    std::map<int, std::unique_ptr<Slot>>::iterator it) {
  Slot& slot = *it->second;
  slot.task.reset();  // its processors before the store they use
  shared_.stores.Give(slot.partition, std::move(slot.store));
  return slots_.erase(it);
}

void Worker::Impl::ReleaseEndedRestores(const std::set<int>& assigned) {
  std::vector<Slot*> ended;
  {
    std::lock_guard<std::mutex> l(restore_mu_);
    for (auto it = restored_.begin(); it != restored_.end();) {
      if (assigned.count((*it)->partition) == 0) {
        ended.push_back(*it);
        it = restored_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Slot* slot : ended) {
    restoring_.fetch_sub(1);
    slot->restoring.store(false);
    ReleaseSlot(slots_.find(slot->partition));
  }
}

void Worker::Impl::Assign(rd_kafka_topic_partition_list_t* parts) {
  std::set<int> numbers;
  for (int i = 0; i < parts->cnt; ++i) numbers.insert(parts->elems[i].partition);
  // Close tasks no longer ours (they were committed at the revoke).
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (!numbers.count(it->first)) {
      it->second->cancel_restore.store(true);
      if (it->second->restoring.load()) {
        ++it;
        continue;
      }  // closed when its restore ends
      it = ReleaseSlot(it);
    } else {
      ++it;
    }
  }
  // Every assigned task checks its changelog before it processes: a task
  // that was elsewhere in between may be behind it. Its partitions stay
  // paused meanwhile, so the group never waits on a restore.
  // Start each partition at the offset its local store holds (the beginning
  // when it holds none), so no committed-offset lookup is pending when the
  // restore ends and the task seeks to the offset it restored.
  std::map<std::pair<std::string, int>, std::int64_t> start;
  for (int p : numbers) {
    if (!slots_.count(p)) {
      if (Status s = OpenSlot(p, numbers); !s.ok()) return Fatal(s);
    }
    Slot& slot = *slots_[p];
    if (slot.restoring.load()) continue;  // its store belongs to the restore thread
    for (const auto& t : topics_) {
      start[{t, p}] = ReadInt64(*slot.store, OffsetKey(t, p)).value_or(RD_KAFKA_OFFSET_BEGINNING);
    }
  }
  for (int i = 0; i < parts->cnt; ++i) {
    auto it = start.find({parts->elems[i].topic, parts->elems[i].partition});
    if (it != start.end()) parts->elems[i].offset = it->second;
  }
  for (int p : numbers) {
    Slot& slot = *slots_[p];
    slot.cancel_restore.store(false);
    if (!slot.restoring.load()) {
      slot.new_producer = true;
      slot.task.reset();
      QueueRestore(slot);
    }
  }
  if (auto e = rd_kafka_assign(consumer_.get(), parts)) {
    return Fatal(Status::Fatal(std::string("assign: ") + rd_kafka_err2str(e)));
  }
  rd_kafka_pause_partitions(consumer_.get(), parts);
  assigned_ = true;
  joined_.store(true);
  metrics_.SetPart(metrics_.assigned_tasks, member_, static_cast<double>(numbers.size()));
  Log(LogLevel::kInfo, "worker", "partitions assigned",
      {{"tasks", static_cast<std::int64_t>(numbers.size())}});
}

void Worker::Impl::Revoke() {
  Status s = CommitAll(/*wait=*/true);
  if (!s.ok()) Fatal(s);
  // A restore still queued or running stops (the next assignment queues
  // it again if the task stays here); a task producer being made is
  // finished before the partitions go.
  for (auto& [p, slot] : slots_) {
    if (slot->restoring.load()) slot->cancel_restore.store(true);
  }
  { std::lock_guard<std::mutex> l(producer_init_mu_); }
  // No task may run between a revoke and the next assignment: its partition
  // may now belong to another worker, and a timer fired here would produce
  // outputs and changelog frames for state this worker no longer owns.
  // Every store goes back to the pool, open, at once: the next assignment
  // may give the partition to another thread of this worker, which must not
  // wait for this thread's assignment (that one may wait, in the group, for
  // the other thread's). A store a restore thread holds goes back when its
  // cancelled restore ends (FinishRestores). The next assignment checks each
  // store against the changelog. After a failed commit the stores stay (the
  // worker stops; the commit thread may still hold them).
  for (auto it = slots_.begin(); it != slots_.end();) {
    Slot& slot = *it->second;
    if (slot.task) ReportStats(slot);
    slot.task.reset();
    slot.reported = {};
    slot.reported_objects = {};
    slot.dirty = false;
    it = (slot.restoring.load() || !s.ok()) ? std::next(it) : ReleaseSlot(it);
  }
  rd_kafka_assign(consumer_.get(), nullptr);
  assigned_ = false;
  metrics_.ClearStaffing();  // a queue's stage may now run elsewhere
  Log(LogLevel::kInfo, "worker", "partitions revoked");
}

// On the Run() thread: hands restored tasks over to processing.
void Worker::Impl::FinishRestores() {
  std::vector<Slot*> done;
  {
    std::lock_guard<std::mutex> l(restore_mu_);
    done.swap(restored_);
  }
  for (Slot* slot : done) {
    restoring_.fetch_sub(1);
    slot->restoring.store(false);
    if (slot->cancel_restore.load()) {
      ReleaseSlot(slots_.find(slot->partition));  // no longer assigned
      continue;
    }
    if (!slot->restore_error.ok()) return Fatal(slot->restore_error);
    if (!slot->restore_complete) {
      QueueRestore(*slot);  // cancelled by a revoke, then assigned again
      continue;
    }
    // Revoked while it restored, and not assigned again yet: nothing may be
    // positioned now. The store stays; the next assignment that includes the
    // partition checks it against the changelog again.
    if (!assigned_) continue;
    engine::TaskOptions opts = engine::TaskOptionsFrom(config_);
    opts.inputs = static_cast<int>(topics_.size());
    opts.repartition_input = static_cast<int>(topics_.size()) - 1;
    opts.repartition_sources = partitions_;
    opts.source_id = slot->partition;
    opts.object_budget = object_budget_;
    slot->task = std::make_unique<engine::Task>(
        opts, *slot->store, *slot->sink,
        engine::BuildCustomerProcessors(config_, engine::Mode::kRun, partitions_));
    slot->reported = {};
    slot->reported_objects = {};
    metrics_.RestoreRemaining(slot->partition).Set(0);  // restored: nothing left (and the series exists)
    if (Status s = slot->task->Open(); !s.ok()) return Fatal(s);
    slot->task->set_now(clock_.Now());
    for (const auto& key : slot->repair) {
      auto v = slot->store->Get(key);
      if (!v.ok()) return Fatal(v.status());
      if (v->has_value())
        slot->store->Put(key, **v);
      else
        slot->store->Tombstone(key);  // the changelog holds a value the store never applied
    }
    if (!slot->repair.empty()) slot->dirty = true;
    slot->repair.clear();
    // Resume each input where the state says it stopped.
    for (std::size_t i = 0; i < topics_.size(); ++i) {
      slot->next_offset[i] = ReadInt64(*slot->store, OffsetKey(topics_[i], slot->partition)).value_or(-1);
      slot->read_upto[i] = ReadInt64(*slot->store, ReadKey(topics_[i], slot->partition)).value_or(-1);
      slot->caught_up[i] = false;
    }
    slot->first_logged.assign(topics_.size(), false);
    slot->positioned = false;
    slot->position_deadline = std::chrono::steady_clock::now() + kPositionPatience;
    PositionTask(*slot);
  }
  metrics_.SetPart(metrics_.restoring_tasks, member_, restoring_.load());
  metrics_.SetPart(metrics_.ready, member_, Ready() ? 1 : 0, Metrics::Combine::kMin);
}

// Seeks a restored task's input partitions to where its state resumes them
// and lets them be read. A partition the consumer cannot seek yet is tried
// again on a later turn of the loop, never by waiting in it: one still
// resolving its start offset (ERR__STATE), or one of a topic created a
// moment ago that this consumer's metadata does not hold yet (ERR__UNKNOWN_
// PARTITION; a new cluster's repartition topic). After kPositionPatience
// the worker stops: reading from anywhere else would lose or repeat input.
void Worker::Impl::PositionTask(Slot& slot) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(topics_.size())));
  for (std::size_t i = 0; i < topics_.size(); ++i) {
    rd_kafka_topic_partition_list_add(list.get(), topics_[i].c_str(), slot.partition)->offset =
        slot.next_offset[i] >= 0 ? slot.next_offset[i] : RD_KAFKA_OFFSET_BEGINNING;
  }
  // A short wait: what is not positioned yet is tried again on a later turn,
  // and a loop held here does not serve its rebalances (a thread holding a
  // task's store for 10 s seeks while leaders moved made the thread taking
  // that task over give up after 30 s: kafka_leaders_move_under_producers).
  if (rd_kafka_error_t* e = rd_kafka_seek_partitions(consumer_.get(), list.get(), 1'000)) {
    Log(LogLevel::kWarn, "worker", "seek failed", {{"reason", std::string_view(rd_kafka_error_string(e))}});
    rd_kafka_error_destroy(e);
  }
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = list->elems[i];
    if (tp.err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    if (std::chrono::steady_clock::now() >= slot.position_deadline) {
      return Fatal(Status::Fatal(std::string("cannot position ") + tp.topic + " partition " +
                                 std::to_string(tp.partition) +
                                 " at the offset its state holds: " + rd_kafka_err2str(tp.err)));
    }
    slot.next_position_try = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    return;
  }
  slot.positioned = true;
  if (!paused_for_backpressure_) rd_kafka_resume_partitions(consumer_.get(), list.get());
  Log(LogLevel::kInfo, "worker", "task processing",
      {{"task", static_cast<std::int64_t>(slot.partition)},
       {"offset_0", slot.next_offset[0]},
       {"offset_1", slot.next_offset[1]},
       {"offset_2", slot.next_offset[2]}});
}

void Worker::Impl::PositionTasks() {
  const auto now = std::chrono::steady_clock::now();
  for (auto& [p, slot] : slots_) {
    if (slot->task && !slot->positioned && now >= slot->next_position_try) PositionTask(*slot);
  }
}

}  // namespace cx::runtime
