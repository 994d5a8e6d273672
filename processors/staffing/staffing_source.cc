#include "processors/staffing/staffing_source.h"

#include <algorithm>

#include "core/encoding.h"
#include "core/hash.h"
#include "processors/staffing/facts.h"

namespace cx::processors {
namespace {

constexpr std::uint8_t kFormat = 1;

// One agent: online or not, in which queues, how many chats at once.
struct Agent {
  bool online = false;
  std::vector<std::string> queues;
  std::int32_t slots = 1;

  std::string Encode() const {
    std::string v;
    v.push_back(static_cast<char>(kFormat));
    v.push_back(online ? 1 : 0);
    PutVarint(v, queues.size());
    for (const auto& q : queues) PutString(v, q);
    PutVarintSigned(v, slots);
    return v;
  }
  bool Decode(std::string_view in) {
    Reader r(in);
    if (r.Byte() != kFormat) return false;
    online = r.Byte() != 0;
    const std::uint64_t n = r.Varint();
    queues.clear();
    for (std::uint64_t i = 0; i < n && r.ok(); ++i) queues.emplace_back(r.String());
    slots = static_cast<std::int32_t>(r.VarintSigned());
    return r.ok() && r.done();
  }
};

// The queue stage knows a conversation by a hash: no customer id lives in
// its state (erasure deletes a customer's keys from the customer stage).
std::string FactId(std::string_view customer, std::string_view conversation) {
  // 16 lower-case hex digits of StableHash64(customer + "/" + conversation).
  std::string hex;
  PutHex64(hex, StableHasher().Add(customer).Add("/").Add(conversation).Finish());
  return hex;
}

// The task's open buckets (task-level record, owner "").
constexpr std::string_view kBuckets = "buckets";
constexpr std::uint8_t kBucketsFormat = 1;

}  // namespace

// Every open bucket of the task: by start, then queue. Few (the queues, in
// the one or two buckets the watermark has not passed), written back once
// per commit like any other object: a restart resumes them, and a bucket is
// sent once, whole, whatever happened in between.
struct StaffingSource::Buckets final : StateObject {
  std::map<std::int64_t, std::map<std::string, StaffingPartial, std::less<>>> open;

  static std::unique_ptr<StateObject> DecodeObject(std::string_view in) {
    auto b = std::make_unique<Buckets>();
    if (!b->Decode(in)) return nullptr;
    return b;
  }
  std::size_t MemoryBytes() const override {
    std::size_t bytes = sizeof(Buckets);
    for (const auto& [start, queues] : open) {
      bytes += 64;
      for (const auto& [queue, p] : queues) bytes += 64 + HeapBytes(queue) + p.MemoryBytes();
    }
    return bytes;
  }
  void EncodeTo(std::string& v) const override {
    v.push_back(static_cast<char>(kBucketsFormat));
    PutVarint(v, open.size());
    std::string p;
    for (const auto& [start, queues] : open) {
      PutVarintSigned(v, start);
      PutVarint(v, queues.size());
      for (const auto& [queue, partial] : queues) {
        PutString(v, queue);
        p.clear();
        partial.EncodeTo(p);
        PutString(v, p);
      }
    }
  }
  bool Decode(std::string_view in) {
    Reader r(in);
    if (r.Byte() != kBucketsFormat) return false;
    for (std::uint64_t n = r.Varint(); n > 0 && r.ok(); --n) {
      auto& queues = open[r.VarintSigned()];
      for (std::uint64_t m = r.Varint(); m > 0 && r.ok(); --m) {
        std::string queue(r.String());
        if (!queues[std::move(queue)].Decode(r.String())) return false;
      }
    }
    return r.ok() && r.done();
  }
};

Timestamp StaffingSource::BucketStart(Timestamp t) const {
  Timestamp start{StepsSinceEpoch(t, options_.interval) * options_.interval};
  if (options_.provisional_every > 0)
    start = std::max(start,
                     Timestamp{StepsSinceEpoch(t, options_.provisional_every) * options_.provisional_every});
  return start;
}

Timestamp StaffingSource::BucketEnd(Timestamp start) const {
  Timestamp end{(StepsSinceEpoch(start, options_.interval) + 1) * options_.interval};
  if (options_.provisional_every > 0)
    end = std::min(end, Timestamp{(StepsSinceEpoch(start, options_.provisional_every) + 1) *
                                  options_.provisional_every});
  return end;
}

void StaffingSource::AddFact(ProcessorContext& ctx, std::string_view queue, const StaffingFact& f) {
  Buckets* b = FindObject<Buckets>(ctx, "", kBuckets);
  if (b == nullptr) b = AddObject(ctx, "", kBuckets, std::make_unique<Buckets>());
  const Timestamp ts = ctx.RepartitionTime();
  auto& queues = b->open[BucketStart(ts).ms];
  auto it = queues.find(queue);
  if (it == queues.end()) it = queues.emplace(std::string(queue), StaffingPartial{}).first;
  const auto threshold = options_.thresholds.find(queue);
  it->second.Add(f, ts, threshold == options_.thresholds.end() ? options_.sl_threshold : threshold->second);
  ctx.MarkChanged(*b);
}

void StaffingSource::BeforeAnnounce(Timestamp wm, ProcessorContext& ctx) {
  Buckets* b = FindObject<Buckets>(ctx, "", kBuckets);
  if (b == nullptr || b->open.empty() || BucketEnd(Timestamp{b->open.begin()->first}) > wm) return;
  std::string v;
  for (auto it = b->open.begin(); it != b->open.end();) {
    const Timestamp start{it->first}, end = BucketEnd(start);
    if (end > wm) break;
    for (const auto& [queue, partial] : it->second) {
      v.clear();
      partial.EncodeTo(v);
      ctx.RepartitionPartial(queue, v, start, end);
    }
    it = b->open.erase(it);
  }
  ctx.MarkChanged(*b);
}

void StaffingSource::OnEvent(const Event& e, ProcessorContext& ctx) {
  if (e.type == EventType::kAgentStatus) return OnAgent(e, ctx);
  if (e.type == EventType::kCustomerErased) {
    // Its open conversations leave their queues (like a transfer out); the
    // task deletes the records.
    const CustomerConversations* all = conversations_.Find(ctx, e.customer_id);
    if (all == nullptr) return;
    for (const auto& [id, c] : all->all()) {
      StaffingFact f;
      f.kind = StaffingFact::Kind::kTransferOut;
      f.conversation = FactId(e.customer_id, id);
      f.answered = c.answered;
      AddFact(ctx, c.queue, f);
    }
    return;
  }
  if (!ConversationKeeper::Concerns(e)) return;  // bots and notes do not answer either
  // The conversation before this event (the keeper applies it after us).
  const OpenConversation* c = conversations_.Find(ctx, e.customer_id, e.conversation_id);
  StaffingFact f;
  if (e.type == EventType::kConversationOpened) {
    if (c != nullptr) return;  // opened twice: the first counts
    f.conversation = FactId(e.customer_id, e.conversation_id);
    f.kind = StaffingFact::Kind::kArrival;
    AddFact(ctx, e.queue, f);
    return;
  }
  if (c == nullptr) return;
  f.conversation = FactId(e.customer_id, e.conversation_id);
  // Handle time runs to the close from the opening or the first answer.
  auto handled = [&] {
    return std::max<DurationMs>(0, e.ts - (options_.handle_time_from_open ? c->opened : c->answered_at));
  };
  switch (e.type) {
    case EventType::kMessageAgent:
      if (c->answered) return;  // an answered conversation is answered
      f.kind = StaffingFact::Kind::kAnswer;
      f.duration = std::max<DurationMs>(0, e.ts - c->entered);
      AddFact(ctx, c->queue, f);
      return;
    case EventType::kConversationTransferred:
      if (e.queue == c->queue.view()) return;
      f.kind = StaffingFact::Kind::kTransferOut;
      f.answered = c->answered;
      AddFact(ctx, c->queue, f);
      f.kind = StaffingFact::Kind::kArrival;
      f.transfer = true;
      AddFact(ctx, e.queue, f);
      return;
    case EventType::kConversationAbandoned:
      if (c->answered) {  // left after an answer: the conversation is simply over
        f.kind = StaffingFact::Kind::kClose;
        f.answered = true;
        f.duration = handled();
      } else {
        f.kind = StaffingFact::Kind::kAbandon;
        f.duration = std::max<DurationMs>(0, e.ts - c->entered);
      }
      AddFact(ctx, c->queue, f);
      return;
    case EventType::kConversationClosed:
      f.kind = StaffingFact::Kind::kClose;
      f.answered = c->answered;
      if (c->answered) f.duration = handled();
      AddFact(ctx, c->queue, f);
      return;
    default:
      return;
  }
}

void StaffingSource::OnAgent(const Event& e, ProcessorContext& ctx) {
  Agent before;
  if (auto v = ctx.Get(e.agent_id, "agent")) before.Decode(*v);
  Agent after;
  after.online = e.agent_status == AgentStatus::kOnline;
  after.queues = e.queues;
  std::sort(after.queues.begin(), after.queues.end());
  after.queues.erase(std::unique(after.queues.begin(), after.queues.end()), after.queues.end());
  after.slots = std::max(1, e.max_concurrency.value_or(1));

  // Per queue: -1 agent (and its slots) where it was online before, +1 where
  // it is online now; a queue in both sees only a change of slots.
  auto contribution = [](const Agent& a, const std::string& q) -> std::pair<int, int> {
    if (!a.online || !std::binary_search(a.queues.begin(), a.queues.end(), q)) return {0, 0};
    return {1, a.slots};
  };
  std::vector<std::string> all = before.queues;
  all.insert(all.end(), after.queues.begin(), after.queues.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  for (const std::string& q : all) {
    const auto [a0, s0] = contribution(before, q);
    const auto [a1, s1] = contribution(after, q);
    if (a0 == a1 && s0 == s1) continue;
    StaffingFact f;
    f.kind = StaffingFact::Kind::kAgents;
    f.agents = a1 - a0;
    f.slots = s1 - s0;
    AddFact(ctx, q, f);
  }
  if (after.online)  // an agent not online counts nowhere: nothing to keep
    ctx.Put(e.agent_id, "agent", after.Encode());
  else
    ctx.Delete(e.agent_id, "agent");
}

}  // namespace cx::processors
