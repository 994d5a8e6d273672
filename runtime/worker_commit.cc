// The commit loop of a worker thread: the wall-clock tick, epochs sealed
// and finished through the commit pipeline (at_least_once) or committed as
// transactions (exactly_once), and a task restarted after an abort.
#include "runtime/worker_impl.h"

namespace cx::runtime {

Status Worker::Impl::OpenTaskProducer(Slot& slot) {
  slot.producer.reset();  // a previous assignment's
  EndTransaction(slot);
  auto conf = BaseConf(config_, ClientKind::kProducer);
  if (!conf.ok()) return Status::Fatal(conf.status().message());
  const std::string id =
      config_.kafka.application_id + "-" + std::string(kStage) + "-" + std::to_string(slot.partition);
  std::vector<std::pair<std::string, std::string>> props = {
      {"transactional.id", id},          {"enable.idempotence", "true"},          {"linger.ms", "5"},
      {"partitioner", "murmur2_random"}, {"queue.buffering.max.kbytes", "16384"},
  };
  // A transaction lasts one commit interval; a worker that dies holding one
  // blocks read_committed consumers of its partitions until its task is
  // fenced by the next owner or this timeout passes (Kafka Streams: 10 s).
  if (!config_.kafka.properties.count("transaction.timeout.ms") &&
      !config_.kafka.properties.count("producer.transaction.timeout.ms")) {
    props.emplace_back("transaction.timeout.ms",
                       std::to_string(std::max<std::int64_t>(10'000, 10 * config_.commit.interval)));
  }
  for (const auto& [k, v] : props) {
    if (Status s = SetProperty(conf->get(), k, v); !s.ok()) return Status::Fatal(s.message());
  }
  rd_kafka_conf_set_opaque(conf->get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &Impl::OnDelivery);
  rd_kafka_conf_set_error_cb(conf->get(), &Impl::OnError);
  char err[512];
  KafkaHandle rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf->release(), err, sizeof err));
  if (!rk)
    return Status::Fatal(std::string("producer of task ") + std::to_string(slot.partition) + ": " + err);
  auto began = std::chrono::steady_clock::now();
  if (rd_kafka_error_t* e = rd_kafka_init_transactions(rk.get(), kMetadataTimeoutMs)) {
    const std::string why = rd_kafka_error_string(e);
    const bool retriable =
        rd_kafka_error_is_retriable(e) || rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__TIMED_OUT;
    rd_kafka_error_destroy(e);
    if (retriable) return Status::Unavailable("init_transactions of " + id + ": " + why);
    return Status::Fatal("init_transactions of " + id + ": " + why);
  }
  Log(LogLevel::kInfo, "worker", "task producer ready",
      {{"task", static_cast<std::int64_t>(slot.partition)},
       {"transactional_id", std::string_view(id)},
       {"seconds", Seconds(std::chrono::steady_clock::now() - began)}});
  slot.producer = std::move(rk);
  slot.new_producer = false;
  return Status::Ok();
}

void Worker::Impl::EndTransaction(Slot& slot) {
  metrics_.transaction_records.Decrement(static_cast<double>(slot.produced));
  metrics_.transaction_delivered.Decrement(static_cast<double>(slot.delivered));
  slot.produced = 0;
  slot.delivered = 0;
}

void Worker::Impl::PipelineKafka::Commit(const std::vector<std::pair<std::string, std::int64_t>>& offsets,
                                         int partition) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [topic, offset] : offsets)
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = offset;
  rd_kafka_commit(w_.consumer_.get(), list.get(), /*async=*/1);
}

void Worker::Impl::Tick(bool force_commit) {
  auto steady = std::chrono::steady_clock::now();
  heartbeat_.store(steady.time_since_epoch().count());
  if (paused_for_backpressure_ && OutqLen() < 1000) {
    PauseAll(false);
    metrics_.SetPart(metrics_.backpressure, member_, 0, Metrics::Combine::kMax);
  }
  if (steady - last_tick_ >= std::chrono::milliseconds(50)) {
    last_tick_ = steady;
    const Timestamp now = clock_.Now();
    for (auto& [p, slot] : slots_) {
      if (!slot->task) continue;
      if (slot->producer) rd_kafka_poll(slot->producer.get(), 0);  // delivery reports
      slot->task->set_now(now);
      const auto fired = slot->task->stats().timers_fired;
      const auto applied = slot->task->stats().applied + slot->task->stats().duplicates;
      slot->task->OnWallClock(now - config_.time.grace, slot->caught_up);
      // Fired timers and events the wall clock let through are state changes.
      if (slot->task->stats().timers_fired != fired ||
          slot->task->stats().applied + slot->task->stats().duplicates != applied)
        slot->dirty = true;
      if (!slot->task->error().ok()) Fatal(slot->task->error());
    }
  }
  FinishCommit();
  const bool over = PendingBytes() > max_pending_bytes_;
  // A commit point while an epoch is in flight waits for it only when the
  // writes buffered since have outgrown their share of the budget (or it is
  // forced); otherwise it is taken when that epoch ends.
  if (!force_commit && !over && pipeline_ && pipeline_->InFlight()) return;
  if (force_commit || steady >= next_commit_ || over) {
    // The disk first: RocksDB is not handed a write a failed disk would
    // refuse (after a failed write-ahead log write, the Debian build of
    // RocksDB 7.8 aborts on its assertions rather than returning the error).
    // At every commit point, whether or not anything changed: a disk that
    // fails under an idle worker is noticed too. at_least_once: the commit
    // pipeline probes it again just before it writes the stores.
    Status s;
    {
      StateWrite timing(write_started_);
      s = ProbeStateDir(config_.state.dir, member_);
    }
    for (auto& [p, slot] : slots_) {
      if (s.ok() && slot->task) s = slot->store->BackgroundError();
    }
    if (s.ok()) s = CommitAll(/*wait=*/force_commit);
    if (!s.ok()) {
      metrics_.commit_failures.Increment();
      Fatal(s);
    }
    next_commit_ = steady + std::chrono::milliseconds(config_.commit.interval);
    UpdateGauges();
    // Stores of partitions that left this worker (not taken by another of
    // its threads within a minute) are closed.
    if (member_ == 0) shared_.stores.CloseIdle(kIdleStoreLifetime);
  }
}

// The commit protocol (docs/runtime.md#commits), at_least_once: each
// changed task's state, timers and input offsets are sealed into an epoch
// (the records produced since the last seal) and handed to the commit
// pipeline, which writes the frames to the changelog, waits until every
// record of the epoch is acknowledged, and then writes the stores; the
// tasks go on processing meanwhile. exactly_once: each task's outputs and
// changelog frame go into its transaction with its input offsets, the
// transaction commits, then its store (CommitTransactions); the tasks wait.
Status Worker::Impl::CommitAll(bool wait) {
  std::vector<Slot*> frames;
  for (auto& [p, slot] : slots_) {
    // A transaction must not stay open with records in it (a watermark
    // announcement, say): read_committed consumers wait at its first one.
    if (slot->task && (slot->dirty || slot->produced > 0)) frames.push_back(slot.get());
  }
  if (exactly_once_) {
    if (frames.empty()) return Status::Ok();
    auto began = std::chrono::steady_clock::now();
    if (Status s = CommitTransactions(frames); !s.ok()) return s;
    metrics_.commits.Increment();
    metrics_.commit_seconds.Observe(Seconds(std::chrono::steady_clock::now() - began));
    return Status::Ok();
  }
  if (Status s = DrainCommit(); !s.ok()) return s;
  {
    std::lock_guard<std::mutex> l(delivery_mu_);
    if (!delivery_error_.empty()) return Status::Fatal(delivery_error_);
  }
  // Nothing changed: no epoch (what was produced stays in the current one).
  if (frames.empty()) return Status::Ok();
  std::vector<SealedTask> sealed;
  sealed.reserve(frames.size());
  for (Slot* slot : frames) {
    SealTask(*slot);
    SealedTask t{.partition = slot->partition, .store = slot->store.get(), .offsets = {}};
    for (std::size_t i = 0; i < topics_.size(); ++i) {
      if (slot->resume_offset[i] >= 0) t.offsets.emplace_back(topics_[i], slot->resume_offset[i]);
    }
    sealed.push_back(std::move(t));
  }
  epoch_sealed_at_ = std::chrono::steady_clock::now();
  pipeline_->Seal(std::move(sealed));
  return wait ? DrainCommit() : Status::Ok();
}

Status Worker::Impl::DrainCommit() {
  if (!pipeline_ || !pipeline_->InFlight()) return Status::Ok();
  Status s =
      pipeline_->Drain([this] { rd_kafka_poll(producer_.get(), 10); }, [this] { return fatal_flag_.load(); });
  if (s.ok()) {
    metrics_.commits.Increment();
    metrics_.commit_seconds.Observe(Seconds(std::chrono::steady_clock::now() - epoch_sealed_at_));
  }
  return s;
}

void Worker::Impl::FinishCommit() {
  if (!pipeline_ || !pipeline_->InFlight()) return;
  Status s;
  if (!pipeline_->Finish(&s)) return;
  if (!s.ok()) {
    metrics_.commit_failures.Increment();
    return Fatal(s);
  }
  metrics_.commits.Increment();
  metrics_.commit_seconds.Observe(Seconds(std::chrono::steady_clock::now() - epoch_sealed_at_));
}

// at_least_once: the task's changed state and the offsets its inputs resume
// at, sealed in its store for the commit pipeline.
void Worker::Impl::SealTask(Slot& slot) {
  slot.task->Checkpoint();
  PutResumeOffsets(slot);
  slot.store->Seal();
  slot.dirty = false;
}

// Each task's transaction holds what it produced since its last commit (its
// outputs and repartition records), its changelog frame and its input
// offsets (sent to the group within the transaction). The state store is
// written only after the transaction has committed: a store is never ahead
// of what read_committed consumers (a restore among them) can see.
Status Worker::Impl::CommitTransactions(const std::vector<Slot*>& frames) {
  for (Slot* slot : frames) {
    if (Status s = WriteFrame(*slot); !s.ok()) return s;
  }
  if (fatal_flag_.load()) return fatal_.ok() ? Status::Fatal("fatal Kafka client error") : fatal_;
  // Every producer sends on its own threads: flushing one after the other
  // waits about as long as the slowest.
  for (Slot* slot : frames) rd_kafka_flush(slot->producer.get(), kMetadataTimeoutMs);
  rd_kafka_consumer_group_metadata_t* group = rd_kafka_consumer_group_metadata(consumer_.get());
  std::unique_ptr<rd_kafka_consumer_group_metadata_t, void (*)(rd_kafka_consumer_group_metadata_t*)> holder(
      group, &rd_kafka_consumer_group_metadata_destroy);
  for (Slot* slot : frames) {
    rd_kafka_t* rk = slot->producer.get();
    PartitionList offsets(rd_kafka_topic_partition_list_new(static_cast<int>(topics_.size())));
    AddResumeOffsets(*slot, offsets.get());
    // A retriable error (a coordinator moving) is tried again, 20 times at
    // most; an abortable one aborts; any other (fenced: another worker owns
    // the task now) stops the worker.
    std::string step;
    rd_kafka_error_t* e = nullptr;
    bool offsets_sent = offsets->cnt == 0;
    for (int attempt = 0; attempt < 20; ++attempt) {
      if (e) {
        rd_kafka_error_destroy(e);
        e = nullptr;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (!offsets_sent) {
        step = "send_offsets_to_transaction";
        e = rd_kafka_send_offsets_to_transaction(rk, offsets.get(), group, kMetadataTimeoutMs);
        offsets_sent = e == nullptr;
      }
      if (!e) {
        step = "commit_transaction";
        e = rd_kafka_commit_transaction(rk, kMetadataTimeoutMs);
      }
      if (!e || !rd_kafka_error_is_retriable(e)) break;
      Log(LogLevel::kWarn, "worker", "transaction commit retried",
          {{"task", static_cast<std::int64_t>(slot->partition)},
           {"step", std::string_view(step)},
           {"reason", std::string_view(rd_kafka_error_string(e))}});
    }
    if (e) {
      const std::string why = step + ": " + rd_kafka_error_string(e);
      const bool abortable = rd_kafka_error_txn_requires_abort(e) || rd_kafka_error_is_retriable(e);
      rd_kafka_error_destroy(e);
      if (!abortable) {
        return Status::Fatal("task " + std::to_string(slot->partition) + " cannot commit (" + why +
                             "): another worker has taken it over or the producer failed; this worker stops, "
                             "and nothing since its last commit is visible to read_committed consumers");
      }
      if (Status s = AbortAndRestart(*slot, why); !s.ok()) return s;
      continue;
    }
    EndTransaction(*slot);
    if (Status s = CommitStore(*slot); !s.ok()) return s;
  }
  return Status::Ok();
}

void Worker::Impl::AddResumeOffsets(const Slot& slot, rd_kafka_topic_partition_list_t* list) const {
  for (std::size_t i = 0; i < topics_.size(); ++i) {
    if (slot.resume_offset[i] >= 0)
      rd_kafka_topic_partition_list_add(list, topics_[i].c_str(), slot.partition)->offset =
          slot.resume_offset[i];
  }
}

Status Worker::Impl::AbortAndRestart(Slot& slot, const std::string& reason) {
  metrics_.transaction_aborts.Increment();
  Log(LogLevel::kWarn, "worker", "transaction aborted; the task starts again from its last commit",
      {{"task", static_cast<std::int64_t>(slot.partition)}, {"reason", std::string_view(reason)}});
  if (rd_kafka_error_t* e = rd_kafka_abort_transaction(slot.producer.get(), kMetadataTimeoutMs)) {
    const std::string why = rd_kafka_error_string(e);
    rd_kafka_error_destroy(e);
    return Status::Fatal("task " + std::to_string(slot.partition) + ": abort_transaction: " + why);
  }
  EndTransaction(slot);
  // What the task did since its last commit is undone: its store's pending
  // writes dropped, the task made again from the store, its inputs read
  // again from the committed offsets once the restore hands it back.
  ReportStats(slot);
  slot.task.reset();
  slot.reported = {};
  slot.reported_objects = {};
  slot.dirty = false;
  slot.store->Rollback();
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(topics_.size())));
  for (const auto& t : topics_) rd_kafka_topic_partition_list_add(list.get(), t.c_str(), slot.partition);
  rd_kafka_pause_partitions(consumer_.get(), list.get());
  QueueRestore(slot);
  return Status::Ok();
}

}  // namespace cx::runtime
