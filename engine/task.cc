#include "engine/task.h"

#include <algorithm>
#include <cstring>

#include "core/encoding.h"
#include "core/hash.h"
#include "core/json_writer.h"
#include "core/swar.h"

namespace cx::engine {
namespace {

// State key layout (docs/runtime.md#state-layout):
//   "S" <len><owner>     every record and timer of one owner (StateCache)
//   "K" <len><owner> <processor> "/" <name>
//                        a record of a per-record processor (StateLayout)
//   "Mformat"            the state format (kStateFormat)
//   "M" <name>           task metadata (watermark, repartition watermarks)
//   "R" ...              next-stage records waiting for the stage watermark
constexpr std::string_view kDedupName = "#dedup";  // recent event-id hashes of an owner

// "K" <len><owner> <processor> "/": where a per-record processor's records
// of one owner start.
void RecordKeyPrefix(std::string_view owner, std::string_view processor, std::string& out) {
  out.assign(1, 'K');
  PutString(out, owner);
  out.append(processor);
  out.push_back('/');
}

constexpr std::string_view kWatermarkKey = "Mwatermark";
// Repartitioning: the watermark last announced downstream, the last one
// heard from each upstream task, and records waiting for the stage watermark.
constexpr std::string_view kAnnouncedKey = "Mrp-announced";
constexpr std::string_view kSourceWmPrefix = "Mrp-source/";
constexpr char kBufferPrefix = 'R';

// Repartition record values: a fact or a watermark announcement. A fact
// names the processor that sent it, and goes only to the processors that
// receive from that one (Processor::receives_from); one of an older version
// (kFact) names none and goes to every processor.
constexpr char kFact = 'F';
constexpr char kSentFact = 'S';
constexpr char kMarker = 'W';
// A partial aggregate (ProcessorContext::RepartitionPartial): its sender,
// key and bucket are its identity. Held under the input kPartialInput, the
// bucket's start as position, and its key after the sender's name.
constexpr char kPartial = 'P';
constexpr std::uint32_t kPartialInput = 0xFFFFFFFF;
// An envelope: records of the kinds above, each length-prefixed, sent to one
// next-stage partition as one Kafka record (docs/runtime.md#repartitioning).
// Each keeps its own identity; the envelope is transport only.
constexpr char kEnvelope = 'B';
// An envelope is sent once it holds this much, whatever else is due.
constexpr std::size_t kEnvelopeBytes = 256 * 1024;
// A held fact's key: the prefix, (ts, source, input, position, sub), then
// the sender's name (PutString) when the fact names one.
constexpr std::size_t kBufferKeyBytes = 1 + 8 + 4 + 4 + 8 + 4;

// Reads an ordered timestamp written with PutOrderedInt64; absent: unchanged.
Status ReadTimestamp(state::Store& store, std::string_view key, Timestamp& out) {
  auto v = store.Get(key);
  if (!v.ok()) return v.status();
  const std::optional<std::string>& got = *v;
  if (got && got->size() == 8) out = Timestamp{GetOrderedInt64(got->data())};
  return Status::Ok();
}

std::string SourceWmKey(std::uint32_t source) {
  std::string k(kSourceWmPrefix);
  PutFixed32BE(k, source);
  return k;
}

}  // namespace

class Task::Context final : public processors::ProcessorContext {
 public:
  explicit Context(Task& task) : task_(task) {
    for (const auto& p : task_.processors_) {
      NameMemo& m = names_.emplace_back();
      m.full = std::string(p->name()) + "/";
      m.prefix_size = m.full.size();
      m.hash = RecordName::Hash(m.full);  // of the empty name
    }
  }

  void set_current(std::size_t index) {
    current_index_ = index;
    current_ = task_.processors_[index].get();
  }

  Timestamp watermark() const override { return task_.watermark_; }

  std::optional<std::string> Get(std::string_view owner, std::string_view name) override {
    if (task_.per_record_[current_index_]) {
      auto r = task_.store_.Get(RecordKey(owner, name));
      if (!r.ok()) {
        task_.Fail(r.status());
        return std::nullopt;
      }
      return std::move(r.value());
    }
    Status error;
    const std::string* v = task_.state_.Get(owner, Name(name), error);
    if (!error.ok()) task_.Fail(error);
    return v == nullptr ? std::nullopt : std::optional<std::string>(*v);
  }
  void Put(std::string_view owner, std::string_view name, std::string_view value) override {
    if (task_.per_record_[current_index_]) return task_.store_.Put(RecordKey(owner, name), value);
    Status error;
    task_.state_.Put(owner, Name(name), value, error);
    if (!error.ok()) task_.Fail(error);
  }
  void Delete(std::string_view owner, std::string_view name) override {
    if (task_.per_record_[current_index_]) return task_.store_.Delete(RecordKey(owner, name));
    Status error;
    task_.state_.Delete(owner, Name(name), error);
    if (!error.ok()) task_.Fail(error);
  }
  processors::StateObject* FindObject(std::string_view owner, std::string_view name,
                                      const processors::ObjectDecoder& decode) override {
    if (task_.per_record_[current_index_]) {
      const std::string_view key = RecordKey(owner, name);
      if (auto it = task_.record_objects_.find(key); it != task_.record_objects_.end())
        return it->second.object.get();  // its home is set
      auto r = task_.store_.Get(key);
      if (!r.ok()) {
        task_.Fail(r.status());
        return nullptr;
      }
      if (!r.value()) return nullptr;
      std::unique_ptr<processors::StateObject> o = decode(*r.value());
      if (!o) return nullptr;
      RecordObject& kept = task_.record_objects_[std::string(key)];
      kept.object = std::move(o);
      processors::ObjectHome::Set(*kept.object, &kept);
      return kept.object.get();
    }
    Status error;
    processors::StateObject* o = task_.state_.Find(owner, Name(name), decode, error);
    if (!error.ok()) task_.Fail(error);
    return o;
  }
  const processors::StateObject* FindObjectOf(std::string_view processor, std::string_view owner,
                                              std::string_view name,
                                              const processors::ObjectDecoder& decode) override {
    std::size_t index = other_index_;
    if (index >= task_.processors_.size() || task_.processors_[index]->name() != processor) {
      index = 0;
      while (index < task_.processors_.size() && task_.processors_[index]->name() != processor) ++index;
      if (index == task_.processors_.size() || task_.per_record_[index]) {
        task_.Fail(Status::Fatal("no per-owner processor '" + std::string(processor) + "' in the task"));
        return nullptr;
      }
      other_index_ = index;
    }
    Status error;
    processors::StateObject* o = task_.state_.Find(owner, NameAt(index, name), decode, error);
    if (!error.ok()) task_.Fail(error);
    return o;
  }
  processors::StateObject* AddObject(std::string_view owner, std::string_view name,
                                     std::unique_ptr<processors::StateObject> object) override {
    if (task_.per_record_[current_index_]) {
      RecordObject& kept = task_.record_objects_[std::string(RecordKey(owner, name))];
      kept.object = std::move(object);
      processors::ObjectHome::Set(*kept.object, &kept);
      return kept.object.get();
    }
    Status error;
    processors::StateObject* o = task_.state_.Add(owner, Name(name), std::move(object), error);
    if (!error.ok()) task_.Fail(error);
    return o;
  }
  void MarkChanged(processors::StateObject& object) override {
    if (task_.per_record_[current_index_]) {
      // Kept in record_objects_, whose elements keep their address.
      if (void* home = processors::ObjectHome::Get(object)) static_cast<RecordObject*>(home)->changed = true;
      return;
    }
    task_.state_.MarkChanged(object);
  }
  void DeleteObject(std::string_view owner, std::string_view name) override {
    if (task_.per_record_[current_index_]) {
      if (auto it = task_.record_objects_.find(RecordKey(owner, name)); it != task_.record_objects_.end())
        task_.record_objects_.erase(it);
    }
    Delete(owner, name);
  }
  void SetTimer(Timestamp when, std::string_view owner, std::string_view tag) override {
    Status error;
    task_.state_.SetTimer(when, current_index_, owner, tag, error);
    if (!error.ok()) task_.Fail(error);
  }
  void CancelTimer(Timestamp when, std::string_view owner, std::string_view tag) override {
    Status error;
    task_.state_.CancelTimer(when, current_index_, owner, tag, error);
    if (!error.ok()) task_.Fail(error);
  }
  void Emit(Stream stream, std::string_view key, std::optional<std::string_view> value,
            const OutputTags& tags) override {
    ++task_.stats_.outputs[static_cast<int>(stream)];
    // Handed over as views of the processor's buffers: the sink copies
    // what it keeps.
    OutputView r;
    r.stream = stream;
    r.key = key;
    r.value = value;
    r.tags = &tags;
    r.from_timer = task_.firing_.has_value();
    r.cause_time = task_.firing_ ? *task_.firing_ : task_.current_ts_;
    r.ingest_ms = task_.firing_ ? -1 : task_.current_ingest_ms_;
    task_.sink_.Emit(r);
  }
  void ForEach(std::string_view owner, std::string_view prefix,
               const std::function<void(std::string_view, std::string_view)>& fn,
               std::string_view from) override {
    Status s = task_.ScanState(current_->name(), owner, prefix, fn, from);
    if (!s.ok()) task_.Fail(s);
  }
  void ForEachWhile(std::string_view owner, std::string_view prefix,
                    const std::function<bool(std::string_view, std::string_view)>& fn,
                    std::string_view from) override {
    Status s = task_.ScanStateWhile(current_->name(), owner, prefix, fn, from);
    if (!s.ok()) task_.Fail(s);
  }
  void EraseCustomer(std::string_view customer, Timestamp ts) override {
    const std::size_t caller = current_index_;
    Event erased;
    erased.type = EventType::kCustomerErased;
    erased.customer_id = std::string(customer);
    erased.ts = ts;
    erased.event_id = "retention";
    for (std::size_t i = 0; i < task_.processors_.size(); ++i) {
      set_current(i);
      current_->OnEvent(erased, *this);
    }
    set_current(caller);
    task_.EraseOwner(customer);
  }
  int partition() const override { return task_.options_.source_id; }
  void Count(Counter counter, std::uint64_t n) override {
    switch (counter) {
      case Counter::kQueueOverflow:
        task_.stats_.queue_overflows += n;
        break;
    }
  }

  void Broadcast(const processors::Signal& signal) override {
    const std::size_t sender = current_index_;
    for (std::size_t i = 0; i < task_.processors_.size(); ++i) {
      if (i == sender) continue;
      set_current(i);
      current_->OnSignal(signal, *this);
    }
    set_current(sender);
  }
  void RepartitionAt(std::string_view key, std::string value, Timestamp at) override {
    const TaskOptions& o = task_.options_;
    if (o.repartition_sources <= 0) return;  // no next stage configured
    // Identity: where it came from (source task, input, position) and its
    // number within that record. The same record re-processed after a crash
    // gives the same identity, which the next stage recognises.
    // The time of what causes it: the event, or the timer firing.
    const Timestamp ts = std::max(at == Timestamp::Min() ? Cause() : at, task_.announced_);
    const std::string_view sender = task_.processors_[current_index_]->name();
    std::string v;
    v.reserve(48 + sender.size() + key.size() + value.size());  // the header's varints: at most 46 bytes
    v.push_back(kSentFact);
    PutVarint(v, static_cast<std::uint64_t>(o.source_id));
    PutVarint(v, static_cast<std::uint64_t>(task_.current_input_));
    PutVarintSigned(v, task_.current_position_);
    if (task_.sub_from_timer_) task_.SubFromTimer();
    PutVarint(v, task_.repartition_sub_++);
    PutVarintSigned(v, ts.ms);
    Send(v, sender, key, value);
  }
  Timestamp RepartitionTime() const override { return std::max(Cause(), task_.announced_); }
  void RepartitionPartial(std::string_view key, std::string value, Timestamp start, Timestamp end) override {
    const TaskOptions& o = task_.options_;
    if (o.repartition_sources <= 0) return;
    // At or after the last announcement: the bucket was still open then.
    const Timestamp ts = end - 1;
    const std::string_view sender = task_.processors_[current_index_]->name();
    std::string v;
    v.reserve(32 + sender.size() + key.size() + value.size());
    v.push_back(kPartial);
    PutVarint(v, static_cast<std::uint64_t>(o.source_id));
    PutVarintSigned(v, start.ms);
    PutVarintSigned(v, ts.ms);
    Send(v, sender, key, value);
  }

 private:
  // Ends `v`, a next-stage record begun with its kind and identity, with
  // its sender, key and value, and queues it for the partition that owns
  // `key`.
  void Send(std::string& v, std::string_view sender, std::string_view key, std::string_view value) {
    PutString(v, sender);
    PutString(v, key);
    v.append(value);
    const auto partitions = static_cast<std::uint64_t>(task_.options_.repartition_sources);
    task_.SendRepartition(static_cast<int>(StableHash64(key) % partitions), v);
  }

  // The time of what is being handled: the event, or the timer firing.
  Timestamp Cause() const { return task_.firing_ ? *task_.firing_ : task_.current_ts_; }

  // The state cache's name of the current processor's record `name`
  // ("<processor>/<name>") with its hash, valid until the next call. Each
  // processor's last name is kept made: most calls name the record the
  // previous call of the same processor named.
  [[gnu::always_inline]] RecordName Name(std::string_view name) { return NameAt(current_index_, name); }
  // The same for the processor at `index`.
  [[gnu::always_inline]] RecordName NameAt(std::size_t index, std::string_view name) {
    NameMemo& m = names_[index];
    if (!swar::Same(name, std::string_view(m.full.data() + m.prefix_size, m.full.size() - m.prefix_size))) {
      m.full.resize(m.prefix_size);
      m.full.append(name);
      m.hash = RecordName::Hash(m.full);
    }
    return RecordName(m.full, m.hash);
  }
  // The store key of a per-record processor's record (Processor::StateLayout).
  std::string_view RecordKey(std::string_view owner, std::string_view name) {
    RecordKeyPrefix(owner, current_->name(), name_);
    name_.append(name);
    return name_;
  }

  Task& task_;
  processors::Processor* current_ = nullptr;
  std::size_t current_index_ = 0;
  std::size_t other_index_ = SIZE_MAX;  // FindObjectOf's last processor
  std::string name_;
  // Name's, per processor: its last record name, after its "<processor>/".
  struct NameMemo {
    std::string full;
    std::size_t prefix_size = 0;
    std::uint32_t hash = 0;
  };
  std::vector<NameMemo> names_;
};

Task::Task(TaskOptions options, state::Store& store, OutputSink& sink,
           std::vector<std::unique_ptr<processors::Processor>> processors)
    : options_(options),
      store_(store),
      sink_(sink),
      processors_(std::move(processors)),
      state_(store, options.object_budget, ProcessorNames()),
      per_record_(PerRecordFlags()),
      decoder_(options.limits),
      ctx_(std::make_unique<Context>(*this)),
      input_max_ts_(static_cast<std::size_t>(std::max(1, options.inputs)), Timestamp::Min()),
      input_floor_(input_max_ts_.size(), Timestamp::Min()),
      waiting_offsets_(input_max_ts_.size()) {}

Task::~Task() = default;

std::vector<bool> Task::PerRecordFlags() const {
  std::vector<bool> flags;
  for (const auto& p : processors_)
    flags.push_back(p->state_layout() == processors::Processor::StateLayout::kPerRecord);
  return flags;
}

std::vector<std::string> Task::ProcessorNames() const {
  std::vector<std::string> names;
  for (const auto& p : processors_) names.emplace_back(p->name());
  return names;
}

Result<std::optional<std::string>> Task::ReadState(std::string_view processor, std::string_view owner,
                                                   std::string_view name) {
  if (PerRecord(processor)) {
    std::string key;
    RecordKeyPrefix(owner, processor, key);
    key.append(name);
    // A record kept decoded since the last commit is newer than the store.
    if (auto it = record_objects_.find(key); it != record_objects_.end()) {
      std::string bytes;
      it->second.object->EncodeTo(bytes);
      return std::optional<std::string>(std::move(bytes));
    }
    return store_.Get(key);
  }
  std::string full(processor);
  full.push_back('/');
  full.append(name);
  Status error;
  const std::string* v = state_.Get(owner, full, error);
  if (!error.ok()) return error;
  return v == nullptr ? std::nullopt : std::optional<std::string>(*v);
}

Status Task::ScanState(std::string_view processor, std::string_view owner, std::string_view name_prefix,
                       const std::function<void(std::string_view, std::string_view)>& fn,
                       std::string_view from) {
  return ScanStateWhile(
      processor, owner, name_prefix,
      [&](std::string_view name, std::string_view value) {
        fn(name, value);
        return true;
      },
      from);
}

Status Task::ScanStateWhile(std::string_view processor, std::string_view owner, std::string_view name_prefix,
                            const std::function<bool(std::string_view, std::string_view)>& fn,
                            std::string_view from) {
  const bool per_record = PerRecord(processor);
  std::string begin;
  if (per_record)
    RecordKeyPrefix(owner, processor, begin);
  else
    begin.assign(processor).push_back('/');
  const std::size_t name_at = begin.size();
  std::string end = begin;
  end.append(name_prefix);
  end.push_back('\xff');  // names are text: every name with the prefix sorts before
  begin.append(from > name_prefix ? from : name_prefix);
  if (per_record) {
    return store_.Scan(begin, end, [&](std::string_view key, std::string_view value) {
      return fn(key.substr(name_at), value);
    });
  }
  Status error;
  state_.ForEachWhile(
      owner, begin, end,
      [&](std::string_view name, std::string_view value) { return fn(name.substr(name_at), value); }, error);
  return error;
}

bool Task::PerRecord(std::string_view processor) const {
  for (std::size_t i = 0; i < processors_.size(); ++i)
    if (processors_[i]->name() == processor) return per_record_[i];
  return false;
}

Status Task::Open() {
  Status s = state_.Open();
  if (!s.ok()) return s;
  if (options_.repartition_sources > 0) {
    source_wm_ =
        std::vector<Timestamp>(static_cast<std::size_t>(options_.repartition_sources), Timestamp::Min());
    if (Status r = ReadTimestamp(store_, kAnnouncedKey, announced_); !r.ok()) return r;
    for (std::size_t i = 0; i < source_wm_.size(); ++i) {
      if (Status r = ReadTimestamp(store_, SourceWmKey(static_cast<std::uint32_t>(i)), source_wm_[i]);
          !r.ok())
        return r;
    }
    stage_wm_ = StageWatermark();
  }
  auto wm = store_.Get(kWatermarkKey);
  if (!wm.ok()) return wm.status();
  if (wm->has_value() && (*wm)->size() == 8) {
    watermark_ = Timestamp{GetOrderedInt64((*wm)->data())};
    max_ts_ = watermark_ + options_.allowed_lateness;
    for (auto& t : input_max_ts_) t = max_ts_;
  }
  return Status::Ok();
}

void Task::Fail(const Status& s) {
  if (error_.ok()) error_ = s;
}

void Task::Process(const InputRecord& record) {
  ++stats_.records;
  if (record.input == options_.repartition_input) return ProcessRepartitioned(record);
  // Decoded straight into a spare buffered event: the strings of one that
  // was applied are reused, and nothing is copied.
  Buffer::node_type node = TakeNode();
  Pending& p = node.mapped();
  const Event* ev = &p.event;
  if (!decoder_.DecodeInto(record.value, p.event)) {
    Recycle(std::move(node));
    return DeadLetter(record, decoder_.rejection());
  }

  if (record.topic) {
    TopicKind want = TopicOf(ev->type);
    bool ok =
        want == *record.topic || (want == TopicKind::kAnyCustomer && *record.topic != TopicKind::kAgents);
    if (!ok) {
      Rejection r{Rejection::Code::kWrongTopic, "type",
                  "event type " + std::string(ToString(ev->type)) + " does not belong on this topic"};
      Recycle(std::move(node));
      return DeadLetter(record, r);
    }
  }
  // A timestamp far ahead of "now" would drag the watermark with it and fire
  // every timer early; it is dead-lettered instead.
  if (now_ != Timestamp::Min() && ev->ts - now_ > options_.max_future_skew) {
    std::string reason =
        FormatRfc3339(ev->ts) + " is more than " + FormatDuration(options_.max_future_skew) + " ahead of ";
    switch (now_source_) {
      case NowSource::kWallClock:
        reason += "the current time " + FormatRfc3339(now_);
        break;
      case NowSource::kUntil:
        reason += "--until " + FormatRfc3339(now_);
        break;
      case NowSource::kReplayStart:
        reason += "the wall clock when the replay started (give --until for data from later)";
        break;
    }
    Recycle(std::move(node));
    return DeadLetter(record, Rejection{Rejection::Code::kFutureTimestamp, "ts", std::move(reason)});
  }

  p.input = record.input;
  p.position = record.source.offset >= 0 ? record.source.offset : static_cast<std::int64_t>(stats_.records);
  p.offset = record.source.offset;
  p.ingest_ms = record.ingest_ms;
  p.waiting = nullptr;
  const Timestamp ts = p.event.ts;
  const auto input = static_cast<std::size_t>(record.input);
  if (ts <= watermark_) {
    // Every timer due by the watermark has fired and every event before it
    // was applied: this one can only be applied now.
    if (ts < watermark_) ++stats_.late;
    Apply(p);
    Recycle(std::move(node));
  } else {
    if (p.offset >= 0 && input < waiting_offsets_.size()) {
      waiting_offsets_[input].push_back({p.offset, false});
      p.waiting = &waiting_offsets_[input].back();
    }
    node.key() = {ts.ms, arrivals_++};
    buffer_.insert(std::move(node));
  }
  if (ts > max_ts_) max_ts_ = ts;
  if (input < input_max_ts_.size() && ts > input_max_ts_[input]) {
    input_max_ts_[input] = ts;
    UpdateWatermark();
  }
  // Bounded memory: past the limit the oldest waiting event is applied, as
  // if the watermark had reached it (later events older than it are late).
  if (buffer_.size() > options_.max_buffered && options_.max_buffered > 0) {
    ++stats_.reorder_overflows;
    AdvanceWatermark(Timestamp{buffer_.begin()->first.first});
  }
}

void Task::Apply(const Pending& p) {
  current_input_ = p.input;
  current_position_ = p.position;
  repartition_sub_ = 0;
  sub_from_timer_ = false;
  if (IsDuplicate(p.event)) {
    ++stats_.duplicates;
    return;
  }
  ++stats_.applied;
  ++stats_.by_type[static_cast<int>(p.event.type)];
  current_ts_ = p.event.ts;
  current_ingest_ms_ = p.ingest_ms;
  for (std::size_t i = 0; i < processors_.size(); ++i) {
    ctx_->set_current(i);
    processors_[i]->OnEvent(p.event, *ctx_);
  }
  current_ingest_ms_ = -1;
  // Right to erasure: after each processor has let go of what it keeps
  // elsewhere (timers, counts), every record of the customer goes, the
  // dedup ring included. Deletes reach the changelog as tombstones.
  if (p.event.type == EventType::kCustomerErased) EraseOwner(p.event.customer_id);
  state_.Trim();
}

void Task::Drain() {
  ApplyWaiting(watermark_);
  FireTimersUpTo(watermark_);
  MaybeAnnounce();
}

void Task::Flush() { ApplyWaiting(Timestamp::Max()); }

void Task::ApplyWaiting(Timestamp up_to) {
  while (!buffer_.empty() && buffer_.begin()->first.first <= up_to.ms && error_.ok()) {
    auto node = buffer_.extract(buffer_.begin());
    const Pending& p = node.mapped();
    // Decisions due before this event's time are taken first (never past
    // the watermark); at the same time the event comes first (an answer at
    // the deadline is in time).
    FireTimersUpTo(std::min(watermark_, Timestamp{p.event.ts.ms - 1}));
    Applied(p);
    Apply(p);
    Recycle(std::move(node));
  }
}

Task::Buffer::node_type Task::TakeNode() {
  if (spare_nodes_.empty()) {
    Buffer made;
    made.emplace();
    return made.extract(made.begin());
  }
  Buffer::node_type node = std::move(spare_nodes_.back());
  spare_nodes_.pop_back();
  return node;
}

void Task::Recycle(Buffer::node_type node) {
  constexpr std::size_t kSpareNodes = 16;
  if (spare_nodes_.size() < kSpareNodes) spare_nodes_.push_back(std::move(node));
}

void Task::Applied(const Pending& p) {
  if (p.waiting == nullptr) return;
  p.waiting->applied = true;
  auto& offsets = waiting_offsets_[static_cast<std::size_t>(p.input)];
  while (!offsets.empty() && offsets.front().applied) offsets.pop_front();
}

std::int64_t Task::ResumeOffset(int input, std::int64_t next) const {
  const auto i = static_cast<std::size_t>(input);
  if (i >= waiting_offsets_.size() || waiting_offsets_[i].empty()) return next;
  const std::int64_t earliest = waiting_offsets_[i].front().offset;
  return next < 0 ? earliest : std::min(next, earliest);
}

void Task::EraseOwner(std::string_view owner) {
  // Every record and timer; what was saved since the last commit never
  // reaches the store, and the owner's record is deleted there.
  Status error;
  state_.EraseOwner(owner, error);
  if (!error.ok()) return Fail(error);
  // And the per-record processors' records of it (a customer has none
  // today: those processors keep queues).
  for (std::size_t i = 0; i < processors_.size(); ++i) {
    if (!per_record_[i]) continue;
    std::string begin;
    RecordKeyPrefix(owner, processors_[i]->name(), begin);
    std::string end = begin;
    end.push_back('\xff');
    std::vector<std::string> keys;
    Status s = store_.Scan(begin, end, [&](std::string_view k, std::string_view) {
      keys.emplace_back(k);
      return true;
    });
    if (!s.ok()) return Fail(s);
    for (const std::string& k : keys) store_.Delete(k);
  }
  ++stats_.erased;
}

namespace {

// The last N event-id hashes of one owner, kept decoded between events.
// Bytes: fixed64 index of the next slot to replace, then up to N fixed64
// hashes (big-endian).
struct DedupRing final : processors::StateObject {
  std::uint64_t next = 0;
  std::vector<std::uint64_t> hashes;

  void EncodeTo(std::string& out) const override {
    ByteWriter w(out, 8 * (1 + hashes.size()));
    w.Fixed64BE(next);
    for (std::uint64_t h : hashes) w.Fixed64BE(h);
  }
  std::size_t MemoryBytes() const override { return sizeof(DedupRing) + hashes.capacity() * 8; }
  static std::unique_ptr<processors::StateObject> DecodeObject(std::string_view in) {
    if (in.size() < 8 || in.size() % 8 != 0) return nullptr;
    auto ring = std::make_unique<DedupRing>();
    ring->next = GetFixed64BE(in.data());
    ring->hashes.reserve((in.size() - 8) / 8);
    for (std::size_t at = 8; at < in.size(); at += 8) ring->hashes.push_back(GetFixed64BE(in.data() + at));
    return ring;
  }
};

}  // namespace

bool Task::IsDuplicate(const Event& e) {
  // A ring of the last N event-id hashes per owner: bounded memory per
  // customer (8 bytes an id), exact for any repeat within the last N events.
  const std::uint64_t h = StableHash64(e.event_id);
  Status error;
  auto* ring = static_cast<DedupRing*>(state_.Find(e.key(), kDedupName, &DedupRing::DecodeObject, error));
  if (!error.ok()) {
    Fail(error);
    return false;
  }
  if (ring == nullptr) {
    ring = static_cast<DedupRing*>(state_.Add(e.key(), kDedupName, std::make_unique<DedupRing>(), error));
    ring->hashes.reserve(options_.dedup_per_key);
  }
  for (std::uint64_t x : ring->hashes)
    if (x == h) return true;
  if (ring->hashes.size() < options_.dedup_per_key)
    ring->hashes.push_back(h);
  else
    ring->hashes[ring->next % options_.dedup_per_key] = h;
  ring->next = (ring->next + 1) % options_.dedup_per_key;
  state_.MarkChanged(*ring);  // through the object's home: no name looked up
  return false;
}

void Task::UpdateWatermark() {
  // Idleness (as Flink's withIdleness): an input with nothing left to read
  // does not hold back inputs that are still being read. Only when all are
  // idle does the wall-clock floor move the watermark. With event time close
  // to the wall clock this changes nothing (the floor is then at least the
  // event time); it matters when event time runs ahead of the wall clock,
  // as in the sped-up demo, where an idle input would pin the watermark to
  // the wall clock.
  bool any_active = false;
  for (std::size_t i = 0; i < input_floor_.size(); ++i) {
    if (static_cast<int>(i) != options_.repartition_input && input_floor_[i] == Timestamp::Min())
      any_active = true;
  }
  Timestamp wm = Timestamp::Max();
  for (std::size_t i = 0; i < input_max_ts_.size(); ++i) {
    if (static_cast<int>(i) == options_.repartition_input) continue;  // not event time of this stage
    if (any_active && input_floor_[i] != Timestamp::Min()) continue;  // idle while others are read
    Timestamp event_wm = input_max_ts_[i] == Timestamp::Min() ? Timestamp::Min()
                                                              : input_max_ts_[i] - options_.allowed_lateness;
    wm = std::min(wm, std::max(event_wm, input_floor_[i]));
  }
  if (wm > watermark_ && wm != Timestamp::Max()) {
    watermark_ = wm;
    Drain();
  }
}

void Task::OnWallClock(Timestamp floor, const std::vector<bool>& caught_up) {
  for (std::size_t i = 0; i < input_floor_.size(); ++i) {
    input_floor_[i] = i < caught_up.size() && caught_up[i] ? floor : Timestamp::Min();
  }
  UpdateWatermark();
  // A watermark that moved while the pace held its announcement back is
  // announced once the pace allows, whether or not it moves again.
  MaybeAnnounce();
}

void Task::AdvanceWatermark(Timestamp to) {
  if (to <= watermark_) return;
  watermark_ = to;
  Drain();
}

// ---------------------------------------------------------------------------
// Repartitioning (docs/runtime.md#repartitioning)

void Task::MaybeAnnounce() {
  if (options_.repartition_sources <= 0 || watermark_ == Timestamp::Min()) return;
  if (announced_ != Timestamp::Min() && watermark_ - announced_ < options_.repartition_step) return;
  if (options_.announce_pace > 0 && now_source_ == NowSource::kWallClock &&
      announced_at_ != Timestamp::Min() && now_ - announced_at_ < options_.announce_pace)
    return;  // the wall-clock tick (OnWallClock) tries again
  AnnounceWatermark();
}

void Task::AnnounceWatermark() {
  if (options_.repartition_sources <= 0 || watermark_ == Timestamp::Min() || watermark_ <= announced_) return;
  // Combining processors send what can no longer grow before the marker.
  for (std::size_t i = 0; i < processors_.size(); ++i) {
    ctx_->set_current(i);
    processors_[i]->BeforeAnnounce(watermark_, *ctx_);
  }
  announced_ = watermark_;
  announced_at_ = now_;
  // To every partition: each next-stage task needs every upstream watermark.
  // The marker ends the envelope that carries what was queued before it.
  std::string v;
  v.push_back(kMarker);
  PutVarint(v, static_cast<std::uint64_t>(options_.source_id));
  PutVarintSigned(v, announced_.ms);
  for (int p = 0; p < options_.repartition_sources; ++p) {
    SendRepartition(p, v);
    FlushRepartition(p);
  }
}

void Task::SendRepartition(int partition, std::string_view value) {
  if (outbox_.empty()) outbox_.resize(static_cast<std::size_t>(options_.repartition_sources));
  Outbox& box = outbox_[static_cast<std::size_t>(partition)];
  PutString(box.records, value);
  ++box.count;
  if (box.records.size() >= kEnvelopeBytes) FlushRepartition(partition);
}

void Task::FlushRepartition(int partition) {
  if (outbox_.empty()) return;
  Outbox& box = outbox_[static_cast<std::size_t>(partition)];
  if (box.count == 0) return;
  envelope_.clear();
  envelope_.push_back(kEnvelope);
  PutVarint(envelope_, static_cast<std::uint64_t>(options_.source_id));
  PutVarint(envelope_, box.count);
  envelope_.append(box.records);
  box.records.clear();
  box.count = 0;
  OutputView r;
  r.stream = Stream::kRepartition;
  r.value = envelope_;
  r.partition = partition;
  r.cause_time = announced_;
  ++stats_.outputs[static_cast<int>(Stream::kRepartition)];
  sink_.Emit(r);
}

void Task::FlushRepartitions() {
  for (int p = 0; p < static_cast<int>(outbox_.size()); ++p) FlushRepartition(p);
}

Timestamp Task::StageWatermark() const {
  if (source_wm_.empty()) return Timestamp::Min();
  return *std::min_element(source_wm_.begin(), source_wm_.end());
}

void Task::ProcessRepartitioned(const InputRecord& record) {
  ++stats_.repartitioned_in;
  if (record.value.empty() || record.value[0] != kEnvelope)
    return ProcessRepartitionedOne(record.value, record);
  Reader r(record.value);
  r.Byte();
  r.Varint();  // the sending task; each record names it again
  for (std::uint64_t n = r.Varint(); n > 0 && r.ok() && error_.ok(); --n) {
    const std::string_view one = r.String();
    if (r.ok()) ProcessRepartitionedOne(one, record);
  }
  if (!r.ok() || !r.done()) {
    Fail(Status::Corruption("malformed repartition envelope at " + record.source.topic + "/" +
                            std::to_string(record.source.partition) + "/" +
                            std::to_string(record.source.offset)));
  }
}

void Task::ProcessRepartitionedOne(std::string_view value, const InputRecord& record) {
  Reader r(value);
  const char kind = static_cast<char>(r.Byte());
  const auto source = static_cast<std::uint32_t>(r.Varint());
  if (!r.ok() || source >= source_wm_.size()) {
    Fail(Status::Corruption("repartition record from an unknown source task " + std::to_string(source) +
                            " (is the repartition topic shared with another application, or were "
                            "partitions added?)"));
    return;
  }
  if (kind == kMarker) {
    const Timestamp wm{r.VarintSigned()};
    if (!r.ok() || wm <= source_wm_[source]) return;  // repeated or stale
    source_wm_[source] = wm;
    std::string v;
    PutOrderedInt64(v, wm.ms);
    store_.Put(SourceWmKey(source), v);
    const Timestamp stage = StageWatermark();
    if (stage > stage_wm_) DeliverUpTo(stage);
    return;
  }
  std::uint64_t input = kPartialInput, sub = 0;
  std::int64_t position = 0;
  Timestamp ts;
  std::string_view sender;
  if (kind == kPartial) {
    position = r.VarintSigned();  // the bucket's start
    ts = Timestamp{r.VarintSigned()};
    sender = r.String();
  } else {
    input = r.Varint();
    position = r.VarintSigned();
    sub = r.Varint();
    ts = Timestamp{r.VarintSigned()};
    if (kind == kSentFact) sender = r.String();
  }
  if (!r.ok() || (kind != kFact && kind != kSentFact && kind != kPartial)) {
    Fail(Status::Corruption("malformed repartition record at " + record.source.topic + "/" +
                            std::to_string(record.source.partition) + "/" +
                            std::to_string(record.source.offset)));
    return;
  }
  // Every new record has ts >= its source's last announcement >= the stage
  // watermark; one below it was delivered already and is re-sent (the
  // upstream task re-processed its input after a restart).
  if (ts < stage_wm_) {
    ++stats_.repartition_dropped;
    return;
  }
  // Held until the stage watermark passes it, under a key that orders by
  // time then origin: a re-sent copy lands on the same key.
  // In memory until the next commit: one delivered before then never
  // reaches the store (and so the changelog).
  std::string key;
  key.reserve(kBufferKeyBytes + 1 + sender.size());
  key.push_back(kBufferPrefix);
  PutOrderedInt64(key, ts.ms);
  PutFixed32BE(key, source);
  PutFixed32BE(key, static_cast<std::uint32_t>(input));
  PutOrderedInt64(key, position);
  PutFixed32BE(key, static_cast<std::uint32_t>(sub));
  if (kind != kFact) PutString(key, sender);
  const std::string_view rest = value.substr(value.size() - r.remaining());
  if (kind == kPartial) key.append(Reader(rest).String());  // one bucket of one key
  unsaved_facts_.insert_or_assign(std::move(key), std::string(rest));
}

void Task::DeliverUpTo(Timestamp stage_wm) {
  // Everything before the previous stage watermark was delivered (and its
  // key deleted): start there, not among the tombstones.
  std::string begin(1, kBufferPrefix), end(1, kBufferPrefix);
  if (stage_wm_ != Timestamp::Min()) PutOrderedInt64(begin, stage_wm_.ms);
  PutOrderedInt64(end, stage_wm.ms);  // ts < stage_wm
  // Due: what earlier commits stored, merged in key order with what came
  // since (a record re-sent after a restart may be in both: delivered once).
  std::vector<std::pair<std::string, std::string>> stored;
  Status s = store_.Scan(begin, end, [&](std::string_view k, std::string_view v) {
    stored.emplace_back(std::string(k), std::string(v));
    return true;
  });
  if (!s.ok()) return Fail(s);
  const auto fresh_begin = unsaved_facts_.lower_bound(begin);
  const auto fresh_end = unsaved_facts_.lower_bound(end);
  auto fresh = fresh_begin;
  std::size_t i = 0;
  while (i < stored.size() || fresh != fresh_end) {
    const bool from_store = fresh == fresh_end || (i < stored.size() && stored[i].first <= fresh->first);
    const std::string& k = from_store ? stored[i].first : fresh->first;
    const std::string& v = from_store ? stored[i].second : fresh->second;
    const Timestamp ts{GetOrderedInt64(k.data() + 1)};
    const bool named = k.size() > kBufferKeyBytes;
    const std::string_view sender =
        named ? Reader(std::string_view(k).substr(kBufferKeyBytes)).String() : std::string_view();
    Reader r(v);
    const std::string_view key = r.String();
    const std::string_view value = std::string_view(v).substr(v.size() - r.remaining());
    current_ts_ = ts;
    for (std::size_t j = 0; j < processors_.size(); ++j) {
      if (named && processors_[j]->receives_from() != sender) continue;
      ctx_->set_current(j);
      processors_[j]->OnRepartitioned(key, ts, value, *ctx_);
    }
    if (from_store) {
      store_.Tombstone(k);  // committed: a delete needs no look-up to know that
      if (fresh != fresh_end && fresh->first == k) ++fresh;  // the same record, also received since
      ++i;
    } else {
      ++fresh;
    }
    state_.Trim();
  }
  unsaved_facts_.erase(fresh_begin, fresh_end);
  stage_wm_ = stage_wm;
  for (std::size_t j = 0; j < processors_.size(); ++j) {
    ctx_->set_current(j);
    processors_[j]->OnStageWatermark(stage_wm, *ctx_);
  }
  state_.Trim();
}

void Task::SubFromTimer() {
  sub_from_timer_ = false;
  // StableHash64 of "<processor>/<owner>/<tag>".
  const std::uint64_t h = StableHasher()
                              .Add(processors_[due_.processor]->name())
                              .Add("/")
                              .Add(due_.owner)
                              .Add("/")
                              .Add(due_.tag)
                              .Finish();
  repartition_sub_ = static_cast<std::uint32_t>(h) << 4;
}

void Task::FireTimersUpTo(Timestamp limit) {
  Status error;
  while (error_.ok() && state_.PopDue(limit, due_, error)) {
    ++stats_.timers_fired;
    if (due_.processor >= processors_.size()) continue;  // of a processor this task no longer runs
    processors::Processor& p = *processors_[due_.processor];
    firing_ = due_.when;
    // What a timer repartitions is known by the timer itself, not by the
    // record that happened to move the watermark: the same timer fired
    // again after a restart sends copies the next stage recognises.
    current_input_ = options_.inputs;
    current_position_ = due_.when.ms;
    sub_from_timer_ = true;  // SubFromTimer, when the timer repartitions something
    ctx_->set_current(due_.processor);
    p.OnTimer(due_.when, due_.owner, due_.tag, *ctx_);
    firing_.reset();
    state_.Trim();
  }
  if (!error.ok()) Fail(error);
}

void Task::SettleProcessors() {
  for (std::size_t i = 0; i < processors_.size(); ++i) {
    ctx_->set_current(i);
    processors_[i]->BeforeCommit(*ctx_);
  }
}

void Task::Checkpoint() {
  SettleProcessors();
  // What was sent to the next stage belongs to this commit.
  FlushRepartitions();
  state_.Flush();
  std::string bytes;
  for (auto& [key, kept] : record_objects_) {
    if (!kept.changed) continue;
    bytes.clear();
    kept.object->EncodeTo(bytes);
    store_.Put(key, bytes);
  }
  record_objects_.clear();
  for (const auto& [k, v] : unsaved_facts_) store_.Put(k, v);
  unsaved_facts_.clear();
  if (watermark_ != Timestamp::Min()) {
    std::string v;
    PutOrderedInt64(v, watermark_.ms);
    store_.Put(kWatermarkKey, v);
  }
  if (announced_ != Timestamp::Min()) {
    std::string v;
    PutOrderedInt64(v, announced_.ms);
    store_.Put(kAnnouncedKey, v);
  }
}

Status Task::Commit() {
  if (!error_.ok()) return error_;
  Checkpoint();
  Status s = store_.Commit();
  if (!s.ok()) Fail(s);
  return s;
}

void Task::DeadLetter(const InputRecord& record, const Rejection& why) {
  if (record.read_before) {
    ++stats_.dead_letter_repeats;  // its dead letter was sent before the last commit
    return;
  }
  ++stats_.dead_lettered;
  ++stats_.outputs[static_cast<int>(Stream::kDlq)];
  // Keyed by the source position: stable across re-delivery, so a
  // re-processed poison record overwrites rather than multiplies downstream.
  const RecordSource& src = record.source;
  if (src.file.empty()) {
    // From Kafka: the original bytes, unchanged, with headers naming the
    // source and the reason (the convention of Kafka Connect's DLQ), so the
    // record can be re-produced to its topic once the producer is fixed.
    const std::string key =
        src.topic + "/" + std::to_string(src.partition) + "/" + std::to_string(src.offset);
    const std::vector<std::pair<std::string, std::string>> headers = {
        {"cx.source.topic", src.topic},
        {"cx.source.partition", std::to_string(src.partition)},
        {"cx.source.offset", std::to_string(src.offset)},
        {"cx.error.code", std::string(ToString(why.code))},
        {"cx.error.field", why.field},
        {"cx.error.reason", why.ToString()}};
    OutputView r;
    r.stream = Stream::kDlq;
    r.key = key;
    r.value = record.value;
    r.headers = &headers;
    r.cause_time = now_;
    sink_.Emit(r);
    return;
  }
  const std::string key = src.file + ":" + std::to_string(src.line);
  const std::string value = DeadLetterJson(src, why, record.value);
  OutputView r;
  r.stream = Stream::kDlq;
  r.key = key;
  r.value = value;
  sink_.Emit(r);
}

std::string DeadLetterJson(const RecordSource& source, const Rejection& why, std::string_view raw) {
  JsonWriter w;
  w.BeginObject();
  w.ObjectField("source");
  if (!source.file.empty()) {
    w.Field("file", source.file).Field("line", source.line);
  } else {
    w.Field("topic", source.topic)
        .Field("partition", static_cast<std::int64_t>(source.partition))
        .Field("offset", source.offset);
  }
  w.EndObject();
  w.Field("code", ToString(why.code));
  if (!why.field.empty()) w.Field("field", why.field);
  w.Field("reason", why.ToString());
  // The original bytes, as a JSON string (invalid UTF-8 replaced by U+FFFD);
  // truncated past 64 KiB so a huge record cannot make a huge dead letter.
  constexpr std::size_t kMaxRaw = 64 * 1024;
  w.Field("value", raw.substr(0, kMaxRaw));
  if (raw.size() > kMaxRaw) w.Field("value_truncated_from", static_cast<std::int64_t>(raw.size()));
  w.EndObject();
  return w.Take();
}

}  // namespace cx::engine
