// The processing loop of a worker thread: records consumed in batches and
// processed, outputs produced, delivery reports, gauges and the profile
// API's queries.
#include "runtime/worker_impl.h"

namespace cx::runtime {

// Called on the thread that polls the producer (the Run() thread).
void Worker::Impl::OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  if (m->err && self->exactly_once_) {
    // The transaction can no longer commit: its commit fails as abortable,
    // and the task starts again from its last commit (AbortAndRestart).
    Log(LogLevel::kWarn, "worker", "delivery failed in a transaction",
        {{"topic", std::string_view(rd_kafka_topic_name(m->rkt))},
         {"error", std::string_view(rd_kafka_err2str(m->err))}});
    return;
  }
  if (m->err) {
    std::string why =
        std::string("delivery to ") + rd_kafka_topic_name(m->rkt) + " failed: " + rd_kafka_err2str(m->err);
    // The epoch the record belongs to fails: its stores are never written.
    if (m->_private) {
      const auto* mark = static_cast<const DeliveryMark*>(m->_private);
      mark->epoch->Delivered(*mark, false, m->offset, why);
    }
    std::lock_guard<std::mutex> l(self->delivery_mu_);
    if (self->delivery_error_.empty()) self->delivery_error_ = std::move(why);
    return;
  }
  const char* topic = rd_kafka_topic_name(m->rkt);
  self->produced_counters_.Increment({topic},
                                     [&] { return CounterCache::Entry{&self->metrics_.Produced(topic)}; });
  if (self->exactly_once_ && rk != self->producer_.get()) {
    // A task producer's: its record is in the task's open transaction. (A
    // restoring task, whose producer the restore thread is making, has
    // none in flight.)
    for (auto& [p, slot] : self->slots_) {
      if (slot->task && slot->producer.get() == rk) {
        ++slot->delivered;
        self->metrics_.transaction_delivered.Increment();
        break;
      }
    }
  }
  if (m->_private == nullptr) return;
  if (self->exactly_once_) {
    *static_cast<std::int64_t*>(m->_private) = m->offset;  // an END marker's (WriteFrame)
  } else {
    const auto* mark = static_cast<const DeliveryMark*>(m->_private);
    mark->epoch->Delivered(*mark, true, m->offset, {});
  }
}

void Worker::Impl::OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
    self->fatal_flag_.store(true);
    Log(LogLevel::kCritical, "kafka", "fatal client error",
        {{"error", std::string_view(rd_kafka_err2name(orig))}, {"reason", std::string_view(buf)}});
    return;
  }
  Log(LogLevel::kWarn, "kafka", "client error (retried)",
      {{"error", std::string_view(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)))},
       {"reason", std::string_view(reason)}});
}

int Worker::Impl::InputIndex(const char* topic) const {
  for (std::size_t i = 0; i < topics_.size(); ++i) {
    if (topics_[i] == topic) return static_cast<int>(i);
  }
  return -1;
}

void Worker::Impl::HandleMessage(rd_kafka_message_t* m) {
  const char* topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    int input = InputIndex(topic);
    auto it = slots_.find(m->partition);
    if (input >= 0 && it != slots_.end() && it->second->task) {
      Slot& slot = *it->second;
      slot.caught_up[input] = true;
      // Everything below the end was delivered before this event: a
      // transaction marker last in the partition (exactly_once) is passed,
      // so the lag reads 0 and the next commit resumes after it.
      if (slot.next_offset[input] >= 0 && m->offset > slot.next_offset[input])
        slot.next_offset[input] = m->offset;
    }
    return;
  }
  if (m->err) {
    switch (m->err) {
      case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
      case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART: {
        // Every topic was there at start; one just created (by another
        // worker starting at the same time, say) reaches every broker's
        // metadata a moment later. Gone for longer: fatal.
        const auto now = std::chrono::steady_clock::now();
        if (unknown_topic_since_ == std::chrono::steady_clock::time_point{}) unknown_topic_since_ = now;
        if (now - unknown_topic_since_ < std::chrono::milliseconds(3 * kMetadataTimeoutMs)) {
          Log(LogLevel::kWarn, "worker", "topic not in the metadata yet (retried)",
              {{"reason", std::string_view(rd_kafka_message_errstr(m))}});
          return;
        }
        return Fatal(Status::Fatal(std::string("consumer: ") + rd_kafka_message_errstr(m)));
      }
      case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        return Fatal(Status::Fatal(std::string("consumer: ") + rd_kafka_message_errstr(m)));
      default:
        Log(LogLevel::kWarn, "worker", "consumer error (retried)",
            {{"error", std::string_view(rd_kafka_err2name(m->err))}});
        return;
    }
  }
  unknown_topic_since_ = {};
  int input = InputIndex(topic);
  auto it = slots_.find(m->partition);
  if (input < 0 || it == slots_.end() || !it->second->task) return;  // paused: re-read after the seek
  Slot& slot = *it->second;
  if (!slot.first_logged[input]) {
    slot.first_logged[input] = true;
    Log(LogLevel::kDebug, "worker", "first record of an input",
        {{"topic", std::string_view(topic)},
         {"partition", static_cast<std::int64_t>(m->partition)},
         {"offset", m->offset},
         {"expected", slot.next_offset[input]}});
  }
  if (slot.next_offset[input] >= 0 && m->offset < slot.next_offset[input]) return;  // already in state
  // (In exactly_once, transaction markers take offsets no record has.)
  if (!exactly_once_ && slot.next_offset[input] >= 0 && m->offset > slot.next_offset[input]) {
    Log(LogLevel::kWarn, "worker", "input offset jumped forward",
        {{"topic", std::string_view(topic)},
         {"partition", static_cast<std::int64_t>(m->partition)},
         {"expected", slot.next_offset[input]},
         {"got", m->offset}});
  }
  consumed_counters_.Increment({topic}, [&] { return CounterCache::Entry{&metrics_.Consumed(topic)}; });

  engine::InputRecord rec;
  rec.value = std::string_view(static_cast<const char*>(m->payload ? m->payload : ""), m->len);
  rec.source.topic = topic;
  rec.source.partition = m->partition;
  rec.source.offset = m->offset;
  rec.topic = kinds_[static_cast<std::size_t>(input)];
  rec.input = input;
  rd_kafka_timestamp_type_t tstype;
  rec.ingest_ms = rd_kafka_message_timestamp(m, &tstype);
  rec.read_before = m->offset < slot.read_upto[static_cast<std::size_t>(input)];

  // "Now" for the future-timestamp check must be set before every record:
  // a task just restored carries an old watermark, and without "now" the
  // check would measure from it and dead-letter valid events.
  slot.task->set_now(loop_now_);
  slot.task->Process(rec);
  slot.next_offset[input] = m->offset + 1;
  slot.caught_up[input] = false;
  slot.dirty = true;
  if (!slot.task->error().ok()) Fatal(slot.task->error());
}

rd_kafka_t* Worker::Impl::ProducerFor(Slot& slot) {
  if (!exactly_once_) return producer_.get();
  metrics_.transaction_records.Increment();
  if (slot.produced++ == 0) {
    if (rd_kafka_error_t* e = rd_kafka_begin_transaction(slot.producer.get())) {
      Fatal(Status::Fatal("task " + std::to_string(slot.partition) +
                          ": begin_transaction: " + rd_kafka_error_string(e)));
      rd_kafka_error_destroy(e);
    }
  }
  return slot.producer.get();
}

std::size_t Worker::Impl::OutqLen() const {
  std::size_t n = static_cast<std::size_t>(rd_kafka_outq_len(producer_.get()));
  if (exactly_once_) {
    for (const auto& [p, slot] : slots_) {
      if (slot->task && slot->producer)
        n += static_cast<std::size_t>(rd_kafka_outq_len(slot->producer.get()));
    }
  }
  return n;
}

void Worker::Impl::Produce(const OutputView& r, Slot& slot) {
  rd_kafka_t* rk = ProducerFor(slot);
  Status s = collector_.Send(rk, r, EpochMark(), while_full_);
  if (!s.ok() && !fatal_flag_.load()) Fatal(s);
}

bool Worker::Impl::WhileProducerFull(rd_kafka_t* rk) {
  // Back-pressure: stop fetching input until the producer drains.
  if (!paused_for_backpressure_) {
    PauseAll(true);
    metrics_.SetPart(metrics_.backpressure, member_, 1, Metrics::Combine::kMax);
  }
  rd_kafka_poll(rk, 100);
  return !fatal_flag_.load();
}

void Worker::Impl::PauseAll(bool pause) {
  paused_for_backpressure_ = pause;
  rd_kafka_topic_partition_list_t* assigned = nullptr;
  if (rd_kafka_assignment(consumer_.get(), &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  PartitionList holder(assigned);
  if (pause) {
    rd_kafka_pause_partitions(consumer_.get(), assigned);
    return;
  }
  // Resume only the partitions of tasks that are processing.
  PartitionList resume(rd_kafka_topic_partition_list_new(assigned->cnt));
  for (int i = 0; i < assigned->cnt; ++i) {
    auto it = slots_.find(assigned->elems[i].partition);
    if (it != slots_.end() && it->second->task && it->second->positioned) {
      rd_kafka_topic_partition_list_add(resume.get(), assigned->elems[i].topic, assigned->elems[i].partition);
    }
  }
  rd_kafka_resume_partitions(consumer_.get(), resume.get());
}

void Worker::Impl::Fatal(Status s) {
  if (fatal_.ok()) fatal_ = s.ok() ? Status::Fatal("unknown") : s;
  fatal_flag_.store(true);
}

void Worker::Impl::ReportStats(Slot& slot) {
  const engine::TaskStats& now = slot.task->stats();
  metrics_.duplicates.Increment(static_cast<double>(now.duplicates - slot.reported.duplicates));
  metrics_.late.Increment(static_cast<double>(now.late - slot.reported.late));
  metrics_.reorder_overflows.Increment(
      static_cast<double>(now.reorder_overflows - slot.reported.reorder_overflows));
  metrics_.queue_overflows.Increment(
      static_cast<double>(now.queue_overflows - slot.reported.queue_overflows));
  metrics_.timers_fired.Increment(static_cast<double>(now.timers_fired - slot.reported.timers_fired));
  metrics_.repartition_dropped.Increment(
      static_cast<double>(now.repartition_dropped - slot.reported.repartition_dropped));
  slot.reported = now;
  const engine::ObjectCacheStats& objects = slot.task->object_cache_stats();
  metrics_.object_cache_hits.Increment(static_cast<double>(objects.hits - slot.reported_objects.hits));
  metrics_.object_cache_misses.Increment(static_cast<double>(objects.misses - slot.reported_objects.misses));
  metrics_.object_cache_evictions.Increment(
      static_cast<double>(objects.evictions - slot.reported_objects.evictions));
  slot.reported_objects = objects;
}

std::size_t Worker::Impl::PendingBytes() const {
  std::size_t pending = 0;
  for (const auto& [p, slot] : slots_) {
    if (slot->task)
      pending += slot->store->PendingBytes();  // a restoring store belongs to the restore thread
  }
  return pending;
}

void Worker::Impl::UpdateGauges() {
  double timers = 0, buffered = 0;
  engine::OpenClockCounts open;
  for (auto& [p, slot] : slots_) {
    if (!slot->task) continue;
    ReportStats(*slot);
    if (Status s = engine::AddOpenSlaClocks(*slot->task, open); !s.ok())
      Log(LogLevel::kWarn, "metrics", "cannot read open SLA clocks",
          {{"reason", std::string_view(s.message())}});
    timers += static_cast<double>(slot->task->pending_timers());
    buffered += static_cast<double>(slot->task->buffered());
    const Timestamp wm = slot->task->watermark();
    if (wm != Timestamp::Min()) metrics_.Watermark(p).Set(static_cast<double>(wm.ms) / 1000.0);
    for (std::size_t i = 0; i < topics_.size(); ++i) {
      std::int64_t lo = 0, hi = 0;
      if (rd_kafka_get_watermark_offsets(consumer_.get(), topics_[i].c_str(), p, &lo, &hi) == 0 && hi >= 0 &&
          slot->next_offset[i] >= 0) {
        metrics_.Lag(topics_[i], p)
            .Set(static_cast<double>(std::max<std::int64_t>(0, hi - slot->next_offset[i])));
      }
    }
  }
  metrics_.SetPart(metrics_.pending_timers, member_, timers);
  metrics_.SetPart(metrics_.buffered_events, member_, buffered);
  // A queue that went idle (or whose records stopped for any reason) sends
  // nothing more: its gauges go after two intervals without an update.
  metrics_.DropStaleStaffing(std::chrono::steady_clock::now() -
                             2 * std::chrono::milliseconds(config_.staffing.interval));
  // A (metric, queue) that had open clocks and has none now reads 0.
  for (auto& [key, n] : open_clock_gauges_) n = 0;
  for (const auto& [key, n] : open)
    open_clock_gauges_[{std::string(ToString(key.first)), metrics_.QueueLabel(key.second)}] += n;
  for (const auto& [key, n] : open_clock_gauges_)
    metrics_.SetPart(metrics_.OpenClocks(key.first, key.second), member_, static_cast<double>(n));
  metrics_.SetPart(metrics_.state_pending_bytes, member_, static_cast<double>(PendingBytes()));
  metrics_.SetPart(metrics_.ready, member_, Ready() ? 1 : 0, Metrics::Combine::kMin);
  metrics_.SetPart(metrics_.restoring_tasks, member_, restoring_.load());
  if (member_ != 0) return;
  // What the worker's threads share: reported by the first.
  metrics_.state_memory_bytes.Set(static_cast<double>(state::MemoryUsage(*memory_)));
  metrics_.object_cache_bytes.Set(static_cast<double>(object_budget_->used.load(std::memory_order_relaxed)));
  metrics_.resident_memory_bytes.Set(ResidentMemoryBytes());
  // The statistics count from zero; the counters follow them.
  const state::CacheCounts cache = state::CacheStats(*memory_);
  metrics_.cache_hits.Increment(static_cast<double>(cache.hits) - metrics_.cache_hits.Value());
  metrics_.cache_misses.Increment(static_cast<double>(cache.misses) - metrics_.cache_misses.Value());
}

Status Worker::Impl::Run(const std::atomic<bool>& stop, const std::atomic<bool>& sibling_failed) {
  next_commit_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.commit.interval);
  // Records a batch at a time: what librdkafka has fetched, up to
  // kConsumeBatch, without waiting; the loop's other work (delivery
  // reports, restores, the wall-clock tick and commits, profile queries)
  // then runs once per batch, not once per record. With nothing fetched,
  // one record is waited for (20 ms at most), so a quiet stream is not
  // delayed. Rebalance callbacks are served by both calls, never within a
  // batch.
  constexpr std::size_t kConsumeBatch = 512;
  consumer_queue_ = rd_kafka_queue_get_consumer(consumer_.get());
  consumed_.resize(kConsumeBatch);
  auto release_queue = [this] {
    if (consumer_queue_ != nullptr) rd_kafka_queue_destroy(consumer_queue_);
    consumer_queue_ = nullptr;
  };
  while (!stop.load() && !sibling_failed.load() && !fatal_flag_.load()) {
    const ssize_t n = rd_kafka_consume_batch_queue(consumer_queue_, 0, consumed_.data(), consumed_.size());
    if (n > 0) {
      loop_now_ = clock_.Now();
      for (ssize_t i = 0; i < n; ++i) {
        KafkaMessage m(consumed_[static_cast<std::size_t>(i)]);
        if (!fatal_flag_.load()) HandleMessage(m.get());
      }
    } else {
      KafkaMessage m(rd_kafka_consumer_poll(consumer_.get(), 20));
      loop_now_ = clock_.Now();
      if (m) HandleMessage(m.get());
    }
    rd_kafka_poll(producer_.get(), 0);
    FinishRestores();
    PositionTasks();
    Tick(false);
    AnswerQueries();
  }
  // Another thread stopped on an error: this one stops as that one does,
  // without a commit, as a one-thread worker would. Most such errors are
  // the state directory's, which the threads share; and a commit here would
  // write state and offsets past records the failed thread produced and
  // never committed. Whoever owns the partitions next resumes from the
  // last commit. The error is the other thread's.
  const bool with_sibling = !fatal_flag_.load() && sibling_failed.load() && !stop.load();
  if (with_sibling) fatal_flag_.store(true);  // the revoke callback commits nothing either
  if (fatal_flag_.load()) {
    Status s = fatal_.ok() ? Status::Fatal("fatal Kafka client error (see the log line above)") : fatal_;
    // One critical line per worker: a second thread that meets the same
    // failure (the same disk, say) says so at a lower level.
    if (with_sibling) {
      Log(LogLevel::kInfo, "worker", "processing thread stopping with the one that failed, without a commit",
          {{"thread", static_cast<std::int64_t>(member_)}});
      s = Status::Ok();
    } else if (!shared_.fatal_logged.exchange(true)) {
      Log(LogLevel::kCritical, "worker", "stopping on a fatal error",
          {{"reason", std::string_view(s.message())}});
    } else {
      Log(LogLevel::kWarn, "worker", "another processing thread stopping on a fatal error too",
          {{"thread", static_cast<std::int64_t>(member_)}, {"reason", std::string_view(s.message())}});
    }
    // An epoch in flight is not committed: no store write after a failure.
    if (pipeline_) pipeline_->Stop();
    StopRestoreThread();
    release_queue();
    // Leave the group now, while every member of this object is alive: a
    // consumer destroyed unclosed runs its revoke callback from the
    // destructor, on slots already destroyed (that crashed, or hung, after
    // a failed state write).
    rd_kafka_consumer_close(consumer_.get());
    // The state stores are left as a crash leaves them, not closed: after a
    // failed write RocksDB refuses (and, built with assertions, aborts on)
    // the writes a clean close makes, and nothing after the last commit is
    // needed; the next start recovers from the write-ahead log.
    for (auto& [p, slot] : slots_) {
      (void)slot->task.release();
      (void)slot->store.release();
    }
    return s;
  }
  // SIGTERM: finish the batch, commit, leave the group.
  Log(LogLevel::kInfo, "worker", "shutting down: committing and leaving the group");
  Status s = CommitAll(/*wait=*/true);
  StopRestoreThread();
  release_queue();
  rd_kafka_consumer_close(consumer_.get());
  rd_kafka_flush(producer_.get(), 10'000);
  if (!s.ok()) return s;
  Log(LogLevel::kInfo, "worker", "stopped cleanly");
  return Status::Ok();
}

std::future<Worker::Answer> Worker::Impl::PostQuery(const std::string& customer_id) {
  auto q = std::make_shared<Query>();
  q->customer_id = customer_id;
  std::future<Worker::Answer> f = q->answer.get_future();
  std::lock_guard<std::mutex> l(queries_mu_);
  if (queries_.size() >= 1000) {
    q->answer.set_value({503, R"({"error":"busy","reason":"too many profile queries waiting"})"});
  } else {
    queries_.push_back(q);
  }
  return f;
}

void Worker::Impl::AnswerQueries() {
  std::deque<std::shared_ptr<Query>> batch;
  {
    std::lock_guard<std::mutex> l(queries_mu_);
    batch.swap(queries_);
  }
  for (auto& q : batch) q->answer.set_value(Answer(q->customer_id));
}

Worker::Answer Worker::Impl::Answer(const std::string& customer_id) {
  if (partitions_ <= 0) return {503, R"({"error":"starting","reason":"the worker has not joined yet"})"};
  // The partition the input producers chose for this key.
  const int32_t p = config_.kafka.key_partitioner == "crc32"
                        ? rd_kafka_msg_partitioner_consistent(nullptr, customer_id.data(), customer_id.size(),
                                                              partitions_, nullptr, nullptr)
                        : rd_kafka_msg_partitioner_murmur2(nullptr, customer_id.data(), customer_id.size(),
                                                           partitions_, nullptr, nullptr);
  auto it = slots_.find(p);
  if (it == slots_.end()) {
    JsonWriter w;
    w.BeginObject()
        .Field("error", "not_owned")
        .Field("reason", "another worker of the group owns this customer's partition")
        .Field("partition", static_cast<std::int64_t>(p))
        .EndObject();
    return {421, w.Take()};
  }
  Slot& slot = *it->second;
  if (!slot.task) return {503, R"({"error":"restoring","reason":"the partition's state is being restored"})"};
  auto v = slot.task->ReadState("profile", customer_id, processors::ProfileProcessor::kRecordName);
  if (!v.ok()) return {500, R"({"error":"state","reason":"the state could not be read"})"};
  if (!v->has_value())
    return {404, R"({"error":"unknown_customer","reason":"no profile for this customer"})"};
  const Timestamp now = slot.task->watermark() == Timestamp::Min() ? loop_now_ : slot.task->watermark();
  auto body = profile_renderer_.Render(**v, customer_id, now);
  if (!body) return {500, R"({"error":"state","reason":"the stored profile could not be decoded"})"};
  return {200, *body};
}

}  // namespace cx::runtime
