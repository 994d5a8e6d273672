#include "processors/sla/sla_processor.h"

#include <algorithm>
#include <charconv>
#include <memory>
#include <vector>

#include "core/encoding.h"
#include "core/json_writer.h"
#include "processors/flat_map.h"

namespace cx::processors {
namespace {

// The format of a customer's record (SlaProcessor::Customer). State format
// 4 made it one record per customer, where format 3 had one per subject and
// one per clock. Format 2 (state format 5): an open conversation's
// attributes are the shared record's (processors/conversations), not kept
// again here.
constexpr std::uint8_t kCustomerFormat = 2;
// The customer's record, under the processor's name.
constexpr std::string_view kRecord = "customer";

enum class Phase : std::uint8_t { kRunning = 1, kPaused = 2 };

void AppendClockKey(std::string& k, Metric m, std::string_view subject_id) {
  k.append("c/");
  k.push_back(static_cast<char>('a' + static_cast<int>(m)));
  k.push_back('/');
  k.append(subject_id);
}

}  // namespace

// What later events need to know about a conversation, case or order.
struct SlaProcessor::Subject {
  SubjectType type = SubjectType::kConversation;
  std::string id;
  std::string customer_id;
  SubjectAttributes attrs;
  std::string agent_id;
  bool placeholder = false;    // a reply arrived before conversation.opened
  Timestamp reply_at;          // placeholder: when
  bool agent_replied = false;  // a public human reply happened
  bool approved = false;       // case
  bool item_received = false;  // case
  // Case: aftersales.opened carried an amount above zero (compensation
  // asked for), so a refund is owed whatever the kind (OwesRefund).
  bool compensation = false;
  bool shipped = false;  // order: shipped or delivered (paid later starts no ship clock)
  // The cycle of the subject's repeating metric: for a case, the opening
  // its resolution clock measures (reopened starts another); for a
  // conversation, the number of next-response waits so far.
  std::uint32_t cycle = 1;
  // An open conversation decoded from state: `attrs` are still to be taken
  // from the shared record (processors/conversations), which keeps them.
  bool attrs_shared = false;

  // Whether `attrs` are kept here: an open conversation's are the shared
  // record's.
  bool KeepsAttrs() const { return type != SubjectType::kConversation || placeholder; }

  std::size_t MemoryBytes() const {
    // Names are the vocabulary's, shared: not counted per subject.
    return sizeof(Subject) + HeapBytes(id) + HeapBytes(customer_id) + HeapBytes(agent_id);
  }
  void EncodeTo(ByteWriter& w) const {
    w.Byte(static_cast<std::uint8_t>(type));
    w.Byte(static_cast<std::uint8_t>((placeholder ? 1 : 0) | (agent_replied ? 2 : 0) | (approved ? 4 : 0) |
                                     (item_received ? 8 : 0) | (compensation ? 16 : 0) | (shipped ? 32 : 0)));
    w.String(id);
    w.String(customer_id);
    if (KeepsAttrs()) {
      w.Byte(static_cast<std::uint8_t>(attrs.channel));
      w.String(attrs.queue);
      w.Byte(static_cast<std::uint8_t>(attrs.priority));
      w.String(attrs.customer_tier);
      w.String(attrs.tenant);
      w.Byte(static_cast<std::uint8_t>(attrs.kind));
    }
    w.String(agent_id);
    w.VarintSigned(reply_at.ms);
    w.Varint(cycle);
  }
  void DecodeFrom(Reader& r, Vocabulary& v) {
    type = static_cast<SubjectType>(r.Byte());
    std::uint8_t f = r.Byte();
    placeholder = f & 1;
    agent_replied = f & 2;
    approved = f & 4;
    item_received = f & 8;
    compensation = f & 16;
    shipped = f & 32;
    id.assign(r.String());
    customer_id.assign(r.String());
    attrs_shared = !KeepsAttrs();
    if (!attrs_shared) {
      attrs.channel = static_cast<Channel>(r.Byte());
      attrs.queue = v.Intern(r.String());
      attrs.priority = static_cast<Priority>(r.Byte());
      attrs.customer_tier = v.Intern(r.String());
      attrs.tenant = v.Intern(r.String());
      attrs.kind = static_cast<CaseKind>(r.Byte());
    }
    agent_id.assign(r.String());
    reply_at.ms = r.VarintSigned();
    cycle = static_cast<std::uint32_t>(r.Varint());
  }
};

// One running or paused clock.
struct SlaProcessor::Clock {
  Metric metric = Metric::kFirstResponse;
  SubjectType type = SubjectType::kConversation;
  std::string subject_id, customer_id;
  std::uint32_t cycle = 1;  // next_response: the n-th wait; resolution of a case: the n-th opening
  Phase phase = Phase::kRunning;
  bool warned = false, breached = false;
  Timestamp start, deadline, warn_at, paused_at;
  DurationMs target = 0, paused_total = 0;
  std::uint32_t pauses = 0;
  Name policy, queue;
  std::string agent_id;
  Name customer_tier, tenant;
  Name calendar;  // business-hours calendar; empty: calendar time
  Channel channel = Channel::kUnknown;
  Priority priority = Priority::kNormal;
  CaseKind kind = CaseKind::kUnknown;

  std::size_t MemoryBytes() const {
    std::size_t n = sizeof(Clock);
    // Names are the vocabulary's, shared: not counted per clock.
    for (const std::string* x : {&subject_id, &customer_id, &agent_id}) n += HeapBytes(*x);
    return n;
  }
  void EncodeTo(ByteWriter& w) const {
    w.Byte(static_cast<std::uint8_t>(metric));
    w.Byte(static_cast<std::uint8_t>(type));
    w.String(subject_id);
    w.String(customer_id);
    w.Varint(cycle);
    w.Byte(static_cast<std::uint8_t>(phase));
    w.Byte(static_cast<std::uint8_t>((warned ? 1 : 0) | (breached ? 2 : 0)));
    for (Timestamp t : {start, deadline, warn_at, paused_at}) w.VarintSigned(t.ms);
    w.VarintSigned(target);
    w.VarintSigned(paused_total);
    w.Varint(pauses);
    w.String(policy);
    w.String(queue);
    w.String(agent_id);
    w.String(customer_tier);
    w.String(tenant);
    w.Byte(static_cast<std::uint8_t>(channel));
    w.Byte(static_cast<std::uint8_t>(priority));
    w.Byte(static_cast<std::uint8_t>(kind));
    w.String(calendar);
  }
  void DecodeFrom(Reader& r, Vocabulary& v) {
    metric = static_cast<Metric>(r.Byte());
    type = static_cast<SubjectType>(r.Byte());
    subject_id.assign(r.String());
    customer_id.assign(r.String());
    cycle = static_cast<std::uint32_t>(r.Varint());
    phase = static_cast<Phase>(r.Byte());
    std::uint8_t f = r.Byte();
    warned = f & 1;
    breached = f & 2;
    for (Timestamp* t : {&start, &deadline, &warn_at, &paused_at}) t->ms = r.VarintSigned();
    target = r.VarintSigned();
    paused_total = r.VarintSigned();
    pauses = static_cast<std::uint32_t>(r.Varint());
    policy = v.Intern(r.String());
    queue = v.Intern(r.String());
    agent_id.assign(r.String());
    customer_tier = v.Intern(r.String());
    tenant = v.Intern(r.String());
    channel = static_cast<Channel>(r.Byte());
    priority = static_cast<Priority>(r.Byte());
    kind = static_cast<CaseKind>(r.Byte());
    calendar = v.Intern(r.String());
  }
};

// Everything the SLA engine keeps of one customer, as one state record: its
// open subjects (what later events need of them) and their running or
// paused clocks. A customer has a handful of each: found by a scan. Held
// through unique_ptrs, so that one added or ended leaves references to the
// others valid.
struct SlaProcessor::Customer final : StateObject {
  std::vector<std::unique_ptr<Subject>> subjects;
  std::vector<std::unique_ptr<Clock>> clocks;

  bool empty() const { return subjects.empty() && clocks.empty(); }
  std::vector<std::unique_ptr<Subject>>::iterator SubjectAt(SubjectType t, std::string_view id) {
    return std::find_if(subjects.begin(), subjects.end(),
                        [&](const std::unique_ptr<Subject>& s) { return s->type == t && s->id == id; });
  }
  std::vector<std::unique_ptr<Clock>>::iterator ClockAt(Metric m, std::string_view subject_id) {
    return std::find_if(clocks.begin(), clocks.end(), [&](const std::unique_ptr<Clock>& c) {
      return c->metric == m && c->subject_id == subject_id;
    });
  }

  static std::unique_ptr<StateObject> DecodeObject(std::string_view in, Vocabulary* v) {
    auto c = std::make_unique<Customer>();
    Reader r(in);
    if (r.Byte() != kCustomerFormat) return nullptr;
    for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i)
      c->subjects.emplace_back(std::make_unique<Subject>())->DecodeFrom(r, *v);
    for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i)
      c->clocks.emplace_back(std::make_unique<Clock>())->DecodeFrom(r, *v);
    if (!r.ok() || !r.done()) return nullptr;
    return c;
  }
  std::size_t MemoryBytes() const override {
    std::size_t n = sizeof(Customer) + (subjects.capacity() + clocks.capacity()) * sizeof(void*);
    for (const auto& x : subjects) n += x->MemoryBytes();
    for (const auto& x : clocks) n += x->MemoryBytes();
    return n;
  }
  void EncodeTo(std::string& v) const override {
    // A subject is about 60 bytes, a clock about 100.
    ByteWriter w(v, 8 + 64 * subjects.size() + 112 * clocks.size());
    w.Byte(kCustomerFormat);
    w.Varint(subjects.size());
    for (const auto& x : subjects) x->EncodeTo(w);
    w.Varint(clocks.size());
    for (const auto& x : clocks) x->EncodeTo(w);
  }
};

// The customer's record for one call (an event or a timer): found on first
// use, made on the first change, and when the call ends marked changed once
// (its bytes are made at the commit) or deleted when nothing is left in it.
// Subjects and clocks that end during the call are kept until then: the
// caller may still hold a reference.
class SlaProcessor::Scope {
 public:
  Scope(SlaProcessor& processor, std::string_view customer, ProcessorContext& ctx)
      : processor_(processor), outer_(processor.scope_), customer_(customer), ctx_(ctx) {
    processor.scope_ = this;
  }
  ~Scope() {
    processor_.scope_ = outer_;
    if (record_ == nullptr) return;
    if (record_->empty())
      ctx_.DeleteObject(customer_, kRecord);
    else if (changed_)
      ctx_.MarkChanged(*record_);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

  // The record; nullptr when the customer has none.
  Customer* peek() {
    if (!looked_) {
      looked_ = true;
      record_ = FindObject<Customer>(ctx_, customer_, kRecord, &processor_.vocabulary_);
    }
    return record_;
  }
  // The record, made when absent, to be changed.
  Customer& edit() {
    if (peek() == nullptr) record_ = AddObject(ctx_, customer_, kRecord, std::make_unique<Customer>());
    changed_ = true;
    return *record_;
  }
  Subject* FindSubject(SubjectType t, std::string_view id) {
    Customer* c = peek();
    if (c == nullptr) return nullptr;
    auto it = c->SubjectAt(t, id);
    return it == c->subjects.end() ? nullptr : it->get();
  }
  Clock* FindClock(Metric m, std::string_view subject_id) {
    Customer* c = peek();
    if (c == nullptr) return nullptr;
    auto it = c->ClockAt(m, subject_id);
    return it == c->clocks.end() ? nullptr : it->get();
  }
  // `s` is `found` (changed in place) or, when that is nullptr, a new subject.
  void SaveSubject(Subject* found, Subject& s) {
    Customer& c = edit();
    if (found == nullptr) c.subjects.push_back(std::make_unique<Subject>(std::move(s)));
  }
  void EndSubject(SubjectType t, std::string_view id) {
    Customer* c = peek();
    if (c == nullptr) return;
    auto it = c->SubjectAt(t, id);
    if (it == c->subjects.end()) return;
    ended_subjects_.push_back(std::move(*it));
    c->subjects.erase(it);
    changed_ = true;
  }
  // Adds the clock, in place of one of the same metric and subject (a case's
  // finished resolution when it reopens).
  void AddClock(Clock clock) {
    Customer& c = edit();
    auto it = c.ClockAt(clock.metric, clock.subject_id);
    if (it != c.clocks.end()) {
      ended_clocks_.push_back(std::move(*it));
      *it = std::make_unique<Clock>(std::move(clock));
    } else {
      c.clocks.push_back(std::make_unique<Clock>(std::move(clock)));
    }
  }
  void EndClock(Metric m, std::string_view subject_id) {
    Customer* c = peek();
    if (c == nullptr) return;
    auto it = c->ClockAt(m, subject_id);
    if (it == c->clocks.end()) return;
    ended_clocks_.push_back(std::move(*it));
    c->clocks.erase(it);
    changed_ = true;
  }
  void Changed() { changed_ = true; }

 private:
  SlaProcessor& processor_;
  Scope* const outer_;
  const std::string_view customer_;
  ProcessorContext& ctx_;
  bool looked_ = false, changed_ = false;
  Customer* record_ = nullptr;
  std::vector<std::unique_ptr<Subject>> ended_subjects_;
  std::vector<std::unique_ptr<Clock>> ended_clocks_;
};

namespace {

// Open clocks of one metric and queue (SlaProcessor::kOpenCountPrefix).
struct OpenCount final : StateObject {
  std::int64_t n = 0;
  explicit OpenCount(std::int64_t count = 0) : n(count) {}
  void EncodeTo(std::string& out) const override { PutVarintSigned(out, n); }
  std::size_t MemoryBytes() const override { return sizeof(OpenCount); }
  static std::unique_ptr<StateObject> DecodeObject(std::string_view in) {
    Reader r(in);
    auto c = std::make_unique<OpenCount>(r.VarintSigned());
    if (!r.ok()) return nullptr;
    return c;
  }
};

bool Warnings(double fraction) { return fraction > 0 && fraction < 1; }

// Which cases owe the customer a refund (docs/sla.md#which-cases-owe-a-refund):
// a refund case, a return (once the item is back), and any other kind whose
// opening named an amount. An exchange or a repair without one owes none.
bool OwesRefund(CaseKind kind, bool compensation) {
  return kind == CaseKind::kRefund || kind == CaseKind::kReturn || compensation;
}

}  // namespace

// ---------------------------------------------------------------------------
// Events

SlaProcessor::SlaProcessor(SlaOptions options, ConversationKeeper& conversations)
    : options_(std::move(options)), conversations_(conversations), vocabulary_(conversations.names()) {
  for (const Policy& p : options_.policies) {
    policy_names_.push_back(vocabulary_.Intern(p.name));
    policy_calendars_.push_back(vocabulary_.Intern(p.calendar));
  }
}

void SlaProcessor::OnEvent(const Event& e, ProcessorContext& ctx) {
  Scope scope(*this, e.customer_id, ctx);
  switch (TopicOf(e.type)) {
    case TopicKind::kChat:
      return OnConversation(e, ctx);
    case TopicKind::kAftersales:
      return OnCase(e, ctx);
    case TopicKind::kOrders:
      return OnOrder(e, ctx);
    default:
      if (e.type == EventType::kCustomerErased) Erase(ctx);
      return;
  }
}

void SlaProcessor::Erase(ProcessorContext& ctx) {
  // The task deletes the customer's records; what lives elsewhere goes
  // here: the clocks' timers and their place in the open-clock counts. No
  // record is emitted for an erased customer's clocks.
  Customer* c = scope_->peek();
  if (c == nullptr) return;
  for (const auto& clock : c->clocks) {
    CancelTimers(*clock, ctx);
    CountOpen(clock->metric, clock->queue, -1, ctx);
  }
}

void SlaProcessor::OnConversation(const Event& e, ProcessorContext& ctx) {
  Subject* found = scope_->FindSubject(SubjectType::kConversation, e.conversation_id);
  Subject local;
  Subject& s = found != nullptr ? *found : local;
  const bool exists = found != nullptr;
  if (exists && s.attrs_shared) {
    // As the shared record holds them before this event (the keeper runs
    // after this processor): the queue is the one a transfer leaves.
    if (const OpenConversation* c = conversations_.Find(ctx, e.customer_id, e.conversation_id))
      s.attrs = {c->channel, c->queue, c->priority, c->customer_tier, c->tenant, CaseKind::kUnknown};
    s.attrs_shared = false;
  }

  switch (e.type) {
    case EventType::kConversationOpened: {
      if (exists && !s.placeholder) return;  // opened twice: the first counts
      const bool replied_first = exists && s.placeholder;
      const Timestamp reply_at = s.reply_at;
      const std::string reply_agent = s.agent_id;
      s = Subject{};
      s.type = SubjectType::kConversation;
      s.id = e.conversation_id;
      s.customer_id = e.customer_id;
      s.attrs = {e.channel,
                 vocabulary_.Intern(e.queue),
                 e.priority,
                 vocabulary_.Intern(e.customer_tier),
                 vocabulary_.Intern(e.tenant),
                 CaseKind::kUnknown};
      s.cycle = 0;  // no next-response wait yet
      Start(Metric::kFirstResponse, s, e, ctx);
      Start(Metric::kResolution, s, e, ctx);
      if (replied_first && reply_at >= e.ts) {
        // The reply came first in arrival order, not in event time.
        Event reply;
        reply.ts = reply_at;
        reply.agent_id = reply_agent;
        Fulfill(Metric::kFirstResponse, s, reply, ctx);
        s.agent_replied = true;
        s.agent_id = reply_agent;
      }
      scope_->SaveSubject(found, s);
      return;
    }
    case EventType::kMessageAgent: {
      if (!e.is_public || e.is_auto) return;  // internal notes and bot replies do not answer
      if (!exists) {
        s.type = SubjectType::kConversation;
        s.id = e.conversation_id;
        s.customer_id = e.customer_id;
        s.placeholder = true;
        s.reply_at = e.ts;
        s.agent_id = e.agent_id;
        scope_->SaveSubject(found, s);
        return;
      }
      if (s.placeholder) {
        if (e.ts < s.reply_at) {
          s.reply_at = e.ts;
          s.agent_id = e.agent_id;
          scope_->SaveSubject(found, s);
        }
        return;
      }
      Fulfill(Metric::kFirstResponse, s, e, ctx);
      Fulfill(Metric::kNextResponse, s, e, ctx);
      s.agent_replied = true;
      s.agent_id = e.agent_id;
      scope_->SaveSubject(found, s);
      return;
    }
    case EventType::kMessageCustomer:
      if (!exists || s.placeholder) return;
      // The customer answered: a resolution paused on them resumes.
      Resume(Metric::kResolution, s, e, ctx);
      // After an agent reply, the customer waits again (customer messages
      // before the first reply belong to first_response; a running clock is
      // not restarted). Each wait is the next cycle.
      if (s.agent_replied) {
        ++s.cycle;
        if (Start(Metric::kNextResponse, s, e, ctx))
          scope_->SaveSubject(found, s);
        else
          --s.cycle;  // no new wait: the subject is as it was
      }
      return;
    case EventType::kConversationStatus:
      if (!exists || s.placeholder) return;
      if (e.status == ConversationStatus::kPending)
        Pause(Metric::kResolution, s, e, ctx);
      else
        Resume(Metric::kResolution, s, e, ctx);
      return;
    case EventType::kConversationAssigned:
      if (!exists || s.placeholder) return;
      s.agent_id = e.agent_id;
      scope_->SaveSubject(found, s);
      return;
    case EventType::kConversationTransferred:
      if (!exists || s.placeholder) return;
      s.attrs.queue = vocabulary_.Intern(e.queue);
      for (Metric m : {Metric::kFirstResponse, Metric::kNextResponse, Metric::kResolution})
        Retarget(m, s, e, ctx);
      scope_->SaveSubject(found, s);
      return;
    case EventType::kConversationAbandoned:
    case EventType::kConversationClosed:
      if (!exists) return;
      Cancel(Metric::kFirstResponse, s, e, ctx);
      Cancel(Metric::kNextResponse, s, e, ctx);
      if (e.type == EventType::kConversationClosed)
        Fulfill(Metric::kResolution, s, e, ctx);
      else
        Cancel(Metric::kResolution, s, e, ctx);
      scope_->EndSubject(SubjectType::kConversation, e.conversation_id);  // the conversation is over
      return;
    default:
      return;
  }
}

void SlaProcessor::OnCase(const Event& e, ProcessorContext& ctx) {
  Subject* found = scope_->FindSubject(SubjectType::kCase, e.case_id);
  Subject local;
  Subject& s = found != nullptr ? *found : local;
  const bool exists = found != nullptr;
  if (e.type == EventType::kAftersalesOpened) {
    if (exists) return;
    s.type = SubjectType::kCase;
    s.id = e.case_id;
    s.customer_id = e.customer_id;
    s.attrs = {e.channel, Name(), Priority::kNormal, Name(), vocabulary_.Intern(e.tenant), e.kind};
    s.compensation = e.amount.value_or(0) > 0;
    Start(Metric::kAftersalesApproval, s, e, ctx);
    Start(Metric::kAftersalesResolution, s, e, ctx);
    scope_->SaveSubject(found, s);
    return;
  }
  if (!exists) return;
  switch (e.type) {
    case EventType::kAftersalesApproved:
      Fulfill(Metric::kAftersalesApproval, s, e, ctx);
      s.approved = true;
      // A return is refunded once the item is back; other kinds that owe a
      // refund from approval.
      if (OwesRefund(s.attrs.kind, s.compensation) && (s.attrs.kind != CaseKind::kReturn || s.item_received))
        Start(Metric::kAftersalesRefund, s, e, ctx);
      break;
    case EventType::kAftersalesRejected:
      Fulfill(Metric::kAftersalesApproval, s, e, ctx);
      break;
    case EventType::kAftersalesItemReceived:
      s.item_received = true;
      if (s.attrs.kind == CaseKind::kReturn && s.approved) Start(Metric::kAftersalesRefund, s, e, ctx);
      break;
    case EventType::kAftersalesRefunded:
      Fulfill(Metric::kAftersalesRefund, s, e, ctx);
      break;
    case EventType::kAftersalesClosed:
      Cancel(Metric::kAftersalesApproval, s, e, ctx);
      Cancel(Metric::kAftersalesRefund, s, e, ctx);
      Fulfill(Metric::kAftersalesResolution, s, e, ctx);
      break;
    case EventType::kAftersalesReopened:
      // A case that is still open is not reopened: its resolution clock
      // goes on (replacing it would leave the running clock open for ever).
      if (scope_->FindClock(Metric::kAftersalesResolution, s.id)) return;
      ++s.cycle;
      Start(Metric::kAftersalesResolution, s, e, ctx);
      break;
    default:
      return;
  }
  scope_->SaveSubject(found, s);
}

void SlaProcessor::OnOrder(const Event& e, ProcessorContext& ctx) {
  Subject* found = scope_->FindSubject(SubjectType::kOrder, e.order_id);
  Subject local;
  Subject& s = found != nullptr ? *found : local;
  const bool exists = found != nullptr;
  if (!exists) {
    s.type = SubjectType::kOrder;
    s.id = e.order_id;
    s.customer_id = e.customer_id;
    s.attrs.tenant = vocabulary_.Intern(e.tenant);
  }
  switch (e.type) {
    case EventType::kOrderPaid:
      if (!s.shipped)
        Start(Metric::kOrderShip, s, e, ctx);  // paid after shipped (out of order): no ship clock
      break;
    case EventType::kOrderShipped:
      s.shipped = true;
      Fulfill(Metric::kOrderShip, s, e, ctx);
      Start(Metric::kOrderDelivery, s, e, ctx);
      break;
    case EventType::kOrderDelivered:
      // Delivered implies shipped: a ship clock still open (no shipped event)
      // ends here too.
      Fulfill(Metric::kOrderShip, s, e, ctx);
      Fulfill(Metric::kOrderDelivery, s, e, ctx);
      scope_->EndSubject(SubjectType::kOrder, e.order_id);
      return;
    case EventType::kOrderCancelled:
      Cancel(Metric::kOrderShip, s, e, ctx);
      Cancel(Metric::kOrderDelivery, s, e, ctx);
      scope_->EndSubject(SubjectType::kOrder, e.order_id);
      return;
    default:
      return;
  }
  scope_->SaveSubject(found, s);
}

// ---------------------------------------------------------------------------
// Clock lifecycle

bool SlaProcessor::Start(Metric m, const Subject& s, const Event& e, ProcessorContext& ctx) {
  const bool cycled = m == Metric::kAftersalesResolution || m == Metric::kNextResponse;
  if (const Clock* existing = scope_->FindClock(m, s.id)) {
    // A running clock is not restarted; a new cycle (reopened case) replaces
    // the finished one.
    if (m != Metric::kAftersalesResolution || existing->cycle >= s.cycle) return false;
  }
  auto applied = FindPolicy(options_.policies, m, s.attrs);
  if (!applied) return false;  // no policy measures this metric for this subject
  Clock c;
  c.metric = m;
  c.type = s.type;
  c.subject_id = s.id;
  c.customer_id = s.customer_id;
  c.cycle = cycled ? s.cycle : 1;
  Apply(*applied, c);
  c.start = e.ts;
  Schedule(c);
  c.queue = s.attrs.queue;
  c.channel = s.attrs.channel;
  c.priority = s.attrs.priority;
  c.customer_tier = s.attrs.customer_tier;
  c.tenant = s.attrs.tenant;
  c.kind = s.attrs.kind;
  c.agent_id = s.agent_id;
  Emit(c, "activate", e.ts, ctx);
  SetTimers(c, ctx);
  CountOpen(m, c.queue, +1, ctx);
  scope_->AddClock(std::move(c));
  return true;
}

void SlaProcessor::Fulfill(Metric m, const Subject& s, const Event& e, ProcessorContext& ctx) {
  End(m, s, e, "fulfill", ctx);
}

void SlaProcessor::Cancel(Metric m, const Subject& s, const Event& e, ProcessorContext& ctx) {
  End(m, s, e, "cancel", ctx);
}

void SlaProcessor::End(Metric m, const Subject& s, const Event& e, std::string_view what,
                       ProcessorContext& ctx) {
  Clock* c = scope_->FindClock(m, s.id);
  if (c == nullptr) return;
  CancelTimers(*c, ctx);
  CatchUp(*c, e.ts, ctx);
  if (!e.agent_id.empty()) c->agent_id = e.agent_id;  // only agent events carry one
  Emit(*c, what, e.ts, ctx);
  CountOpen(m, c->queue, -1, ctx);
  scope_->EndClock(m, s.id);
}

void SlaProcessor::Pause(Metric m, const Subject& s, const Event& e, ProcessorContext& ctx) {
  Clock* c = scope_->FindClock(m, s.id);
  if (c == nullptr || c->phase != Phase::kRunning) return;
  CancelTimers(*c, ctx);
  CatchUp(*c, e.ts, ctx);
  c->phase = Phase::kPaused;
  c->paused_at = e.ts;
  ++c->pauses;
  Emit(*c, "pause", e.ts, ctx);
  scope_->Changed();
}

void SlaProcessor::Resume(Metric m, const Subject& s, const Event& e, ProcessorContext& ctx) {
  Clock* c = scope_->FindClock(m, s.id);
  if (c == nullptr || c->phase != Phase::kPaused) return;
  // The deadline (and the warning point) move by the time spent paused,
  // counted in the clock's calendar (closed hours while paused do not count
  // twice).
  const BusinessCalendar* cal = CalendarOf(*c);
  c->paused_total += cal ? cal->Between(c->paused_at, e.ts) : std::max<DurationMs>(0, e.ts - c->paused_at);
  Schedule(*c);
  c->phase = Phase::kRunning;
  Emit(*c, "resume", e.ts, ctx);
  SetTimers(*c, ctx);
  scope_->Changed();
}

void SlaProcessor::Retarget(Metric m, const Subject& s, const Event& e, ProcessorContext& ctx) {
  Clock* c = scope_->FindClock(m, s.id);
  if (c == nullptr) return;
  auto applied = FindPolicy(options_.policies, m, s.attrs);
  if (c->queue != s.attrs.queue) {
    CountOpen(m, c->queue, -1, ctx);
    CountOpen(m, s.attrs.queue, +1, ctx);
  }
  c->queue = s.attrs.queue;
  if (applied) {
    // The clock keeps its start and the time already elapsed; only the
    // target changes to the new queue's, so the deadline moves.
    if (c->phase == Phase::kRunning) CancelTimers(*c, ctx);
    Apply(*applied, *c);
    Schedule(*c);
    // A paused clock's deadline excludes the current pause; Resume adds it.
    if (c->phase == Phase::kRunning) {
      CatchUp(*c, e.ts, ctx);
      SetTimers(*c, ctx);
    }
  }
  scope_->Changed();
}

void SlaProcessor::CountOpen(Metric m, std::string_view queue, int delta, ProcessorContext& ctx) {
  FlatMap<std::int64_t>& counts = open_counts_[static_cast<std::size_t>(m)];
  auto it = counts.find(queue);
  std::int64_t* n = it != counts.end() ? &it->second : nullptr;
  if (n == nullptr) {  // the pair's first change in the interval: what its record holds
    const OpenCount* kept = FindObject<OpenCount>(ctx, "", OpenCountName(m, queue));
    n = &(counts[queue] = kept != nullptr ? kept->n : 0);
  }
  // A count that would fall below one has no record: it reads 0 after.
  *n = std::max<std::int64_t>(0, *n + delta);
  open_counts_changed_ = true;
}

void SlaProcessor::BeforeCommit(ProcessorContext& ctx) {
  if (!open_counts_changed_) return;
  for (std::size_t m = 0; m < open_counts_.size(); ++m) {
    for (const auto& [queue, n] : open_counts_[m]) {
      const std::string& name = OpenCountName(static_cast<Metric>(m), queue);
      OpenCount* kept = FindObject<OpenCount>(ctx, "", name);
      if (n <= 0) {
        if (kept != nullptr) ctx.DeleteObject("", name);  // no record for a queue with nothing open
      } else if (kept == nullptr) {
        AddChanged(ctx, "", name, OpenCount(n));
      } else if (kept->n != n) {
        kept->n = n;
        ctx.MarkChanged(*kept);
      }
    }
    open_counts_[m].clear();
  }
  open_counts_changed_ = false;
}

const std::string& SlaProcessor::OpenCountName(Metric m, std::string_view queue) {
  std::string& name = count_scratch_;
  name.assign(kOpenCountPrefix);
  name.append(ToString(m));
  name.push_back('/');
  name.append(queue);
  return name;
}

bool SlaProcessor::ParseOpenCount(std::string_view name, std::string_view value, Metric& metric,
                                  std::string& queue, std::int64_t& count) {
  if (name.substr(0, kOpenCountPrefix.size()) != kOpenCountPrefix) return false;
  name.remove_prefix(kOpenCountPrefix.size());
  const auto slash = name.find('/');
  if (slash == std::string_view::npos) return false;
  auto m = ParseMetric(name.substr(0, slash));
  if (!m) return false;
  Reader r(value);
  count = r.VarintSigned();
  if (!r.ok() || !r.done()) return false;
  metric = *m;
  queue.assign(name.substr(slash + 1));
  return true;
}

void SlaProcessor::Apply(const Applied& applied, Clock& c) const {
  const auto i = static_cast<std::size_t>(applied.policy - options_.policies.data());
  c.policy = policy_names_[i];
  c.calendar = policy_calendars_[i];
  c.target = applied.target;
}

const BusinessCalendar* SlaProcessor::CalendarOf(const Clock& c) const {
  if (c.calendar.empty()) return nullptr;
  auto it = options_.calendars.find(c.calendar.view());
  // A calendar removed from the configuration since the clock started:
  // the clock goes on in calendar time.
  return it == options_.calendars.end() ? nullptr : &it->second;
}

void SlaProcessor::Schedule(Clock& c) const {
  // The clock's elapsed time (open time since the start, minus time paused)
  // reaches x at Add(start, paused_total + x).
  const DurationMs warn = static_cast<DurationMs>(static_cast<double>(c.target) * options_.warning_fraction);
  if (const BusinessCalendar* cal = CalendarOf(c)) {
    c.deadline = cal->Add(c.start, c.paused_total + c.target);
    c.warn_at = cal->Add(c.start, c.paused_total + warn);
  } else {
    c.deadline = c.start + c.paused_total + c.target;
    c.warn_at = c.start + c.paused_total + warn;
  }
}

DurationMs SlaProcessor::Elapsed(const Clock& c, Timestamp ts) const {
  const Timestamp end = c.phase == Phase::kPaused ? c.paused_at : ts;
  if (const BusinessCalendar* cal = CalendarOf(c)) return cal->Between(c.start, end) - c.paused_total;
  return end - c.start - c.paused_total;
}

void SlaProcessor::CatchUp(Clock& c, Timestamp t, ProcessorContext& ctx) {
  if (c.phase != Phase::kRunning) return;
  if (Warnings(options_.warning_fraction) && !c.warned && t >= c.warn_at) {
    c.warned = true;
    Emit(c, "warning", c.warn_at, ctx);
  }
  if (!c.breached && t > c.deadline) {
    c.breached = true;
    Emit(c, "breach", c.deadline, ctx);
  }
}

// ---------------------------------------------------------------------------
// Timers

// A running clock has one timer: its warning point's while the warning is
// to come, else its deadline's. The deadline's is set when the warning
// fires (the deadline is always later: targets are positive and the warning
// fraction below 1), so a clock that ends before its warning point, as most
// do, sets and cancels one timer, not two.
bool SlaProcessor::NextTimer(const Clock& c, Timestamp& when, char& kind) const {
  // Timestamp::Max(): a calendar that never opens again (within its search
  // horizon); no timer, the clock waits for its subject's next event.
  if (Warnings(options_.warning_fraction) && !c.warned && c.warn_at != Timestamp::Max()) {
    when = c.warn_at;
    kind = 'w';
    return true;
  }
  if (!c.breached && c.deadline != Timestamp::Max()) {
    when = c.deadline;
    kind = 'b';
    return true;
  }
  return false;
}

const std::string& SlaProcessor::TimerTag(char kind, const Clock& c) {
  std::string& tag = tag_scratch_;
  tag.assign(1, kind);
  AppendClockKey(tag, c.metric, c.subject_id);
  return tag;
}

void SlaProcessor::SetTimers(const Clock& c, ProcessorContext& ctx) {
  Timestamp when;
  char kind;
  if (!NextTimer(c, when, kind)) return;
  ctx.SetTimer(when, c.customer_id, TimerTag(kind, c));
}

void SlaProcessor::CancelTimers(const Clock& c, ProcessorContext& ctx) {
  Timestamp when;
  char kind;
  if (c.phase != Phase::kRunning || !NextTimer(c, when, kind)) return;
  ctx.CancelTimer(when, c.customer_id, TimerTag(kind, c));
}

void SlaProcessor::OnTimer(Timestamp when, std::string_view owner, std::string_view tag,
                           ProcessorContext& ctx) {
  // The tag: 'w' (warning) or 'b' (breach), then the clock's key,
  // "c/<metric letter>/<subject id>" (AppendClockKey).
  if (tag.size() < 6 || tag.substr(1, 2) != "c/" || tag[4] != '/') return;
  const int metric = tag[3] - 'a';
  if (metric < 0 || metric >= kMetricCount) return;
  Scope scope(*this, owner, ctx);
  Clock* c = scope.FindClock(static_cast<Metric>(metric), tag.substr(5));
  if (c == nullptr || c->phase != Phase::kRunning) return;
  if (tag[0] == 'w' && !c->warned && when == c->warn_at) {
    c->warned = true;
    Emit(*c, "warning", c->warn_at, ctx);
    SetTimers(*c, ctx);  // the deadline's
  } else if (tag[0] == 'b' && !c->breached && when == c->deadline) {
    c->breached = true;
    Emit(*c, "breach", c->deadline, ctx);
  } else {
    return;  // a timer of a deadline that has since moved
  }
  scope.Changed();
}

// ---------------------------------------------------------------------------
// Output

void SlaProcessor::Emit(const Clock& c, std::string_view what, Timestamp ts, ProcessorContext& ctx) {
  // The id names the decision: the same decision always has the same id
  // (a re-sent record after a crash is recognisable), and no two decisions
  // share one.
  auto number = [](std::string& out, char sep, std::uint32_t n) {
    char buf[12];
    buf[0] = sep;
    out.append(buf, static_cast<std::size_t>(std::to_chars(buf + 1, buf + sizeof buf, n).ptr - buf));
  };
  std::string& id = id_scratch_;
  id.clear();
  id.append(c.customer_id);
  id.push_back('/');
  id.append(c.subject_id);
  id.push_back('/');
  id.append(ToString(c.metric));
  if (c.cycle > 1) number(id, '#', c.cycle);
  const std::size_t clock_end = id.size();  // the clock: customer/subject/metric[#cycle]
  id.push_back('/');
  id.append(what);
  if (what == "pause" || what == "resume") number(id, '/', c.pauses);

  JsonWriter w(512);  // an SLA record is about 400 bytes
  // Constant runs (JsonWriter::Lit) between the values.
  w.Lit(R"({"id":)").String(id);
  w.Lit(R"(,"customer_id":)").String(c.customer_id);
  w.Lit(R"(,"metric":)").PlainString(JsonKey::Known(ToString(c.metric)));
  w.Lit(R"(,"subject_type":)").PlainString(JsonKey::Known(ToString(c.type)));
  w.Lit(R"(,"subject_id":)").String(c.subject_id);
  c.policy.WriteJson(w.Lit(R"(,"policy":)"));
  w.Lit(R"(,"event":)").PlainString(JsonKey::Known(what));
  w.Lit(R"(,"target_s":)").Millis(c.target);
  w.Lit(R"(,"elapsed_s":)").Millis(Elapsed(c, ts));
  if (c.deadline != Timestamp::Max())
    w.Lit(R"(,"deadline":)").Time(c.deadline);
  else
    w.Lit(R"(,"deadline":null)");
  w.Lit(R"(,"ts":)").Time(ts);
  if (!c.queue.empty()) c.queue.WriteJson(w.Lit(R"(,"queue":)"));
  if (c.channel != Channel::kUnknown)
    w.Lit(R"(,"channel":)").PlainString(JsonKey::Known(ToString(c.channel)));
  if (c.type != SubjectType::kOrder)
    w.Lit(R"(,"priority":)").PlainString(JsonKey::Known(ToString(c.priority)));
  if (c.kind != CaseKind::kUnknown) w.Lit(R"(,"kind":)").PlainString(JsonKey::Known(ToString(c.kind)));
  if (!c.agent_id.empty()) w.Lit(R"(,"agent_id":)").String(c.agent_id);
  if (!c.tenant.empty()) c.tenant.WriteJson(w.Lit(R"(,"tenant":)"));
  if (!c.calendar.empty()) c.calendar.WriteJson(w.Lit(R"(,"calendar":)"));
  if (what == "fulfill") w.Lit(R"(,"breached":)").Bool(c.breached);
  w.Lit("}");
  OutputTags tags;
  tags.metric = ToString(c.metric);
  tags.event = what;
  tags.queue = c.queue;
  ctx.Emit(Stream::kSla, c.customer_id, w.str(), tags);
  // The profile counts breaches suffered; alerts follow every decision.
  SlaDecision d;
  d.clock = std::string_view(id).substr(0, clock_end);
  d.subject_type = ToString(c.type);
  d.policy = c.policy;
  d.queue = c.queue;
  d.channel = c.channel != Channel::kUnknown ? ToString(c.channel) : std::string_view();
  d.priority = c.type != SubjectType::kOrder ? ToString(c.priority) : std::string_view();
  d.tenant = c.tenant;
  d.customer_tier = c.customer_tier;
  d.agent_id = c.agent_id;
  d.target = c.target;
  d.elapsed = Elapsed(c, ts);
  d.deadline = c.deadline;
  ctx.Broadcast(Signal{"sla", c.customer_id, c.subject_id, what, ToString(c.metric), ts, &d});
}

}  // namespace cx::processors
