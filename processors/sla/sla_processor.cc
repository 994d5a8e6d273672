#include "processors/sla/sla_processor.h"

#include "core/encoding.h"
#include "core/json_writer.h"

namespace cx::processors {
namespace {

constexpr std::uint8_t kFormat = 1;
constexpr std::string_view kMetric = "first_response";
constexpr std::string_view kWarningTag = "w";
constexpr std::string_view kBreachTag = "b";

enum class Phase : std::uint8_t {
  kRunning = 1,
  kFulfilled = 2,       // fulfilled; kept so a repeated reply does nothing
  kReplyBeforeOpen = 3, // a reply arrived before its conversation.opened
};

std::string ClockName(std::string_view conversation_id) {
  std::string n = "fr/";
  n.append(conversation_id);
  return n;
}

}  // namespace

// The record kept per conversation for its first_response clock.
struct SlaProcessor::Clock {
  Phase phase = Phase::kRunning;
  bool warned = false;
  bool breached = false;
  Timestamp start;
  Timestamp deadline;
  DurationMs target = 0;
  Timestamp reply_at;  // kReplyBeforeOpen: when the agent replied
  std::string customer_id, conversation_id, queue, agent_id, policy, tenant;
  Channel channel = Channel::kUnknown;
  Priority priority = Priority::kNormal;

  std::string Encode() const {
    std::string v;
    v.push_back(static_cast<char>(kFormat));
    v.push_back(static_cast<char>(phase));
    v.push_back(static_cast<char>((warned ? 1 : 0) | (breached ? 2 : 0)));
    PutVarintSigned(v, start.ms);
    PutVarintSigned(v, deadline.ms);
    PutVarintSigned(v, target);
    PutVarintSigned(v, reply_at.ms);
    PutString(v, customer_id);
    PutString(v, conversation_id);
    PutString(v, queue);
    PutString(v, agent_id);
    PutString(v, policy);
    PutString(v, tenant);
    v.push_back(static_cast<char>(channel));
    v.push_back(static_cast<char>(priority));
    return v;
  }
  bool Decode(std::string_view in) {
    Reader r(in);
    if (r.Byte() != kFormat) return false;
    phase = static_cast<Phase>(r.Byte());
    std::uint8_t flags = r.Byte();
    warned = flags & 1;
    breached = flags & 2;
    start.ms = r.VarintSigned();
    deadline.ms = r.VarintSigned();
    target = r.VarintSigned();
    reply_at.ms = r.VarintSigned();
    customer_id.assign(r.String());
    conversation_id.assign(r.String());
    queue.assign(r.String());
    agent_id.assign(r.String());
    policy.assign(r.String());
    tenant.assign(r.String());
    channel = static_cast<Channel>(r.Byte());
    priority = static_cast<Priority>(r.Byte());
    return r.ok() && r.done();
  }
};

DurationMs SlaProcessor::TargetFor(const Event& opened, std::string& policy) const {
  const auto& t = options_.first_response;
  auto p = static_cast<std::size_t>(opened.priority);
  switch (opened.channel) {
    case Channel::kEmail:
      policy = "default-email";
      return t.email[p];
    case Channel::kPhone:
      policy = "default-phone";
      return t.phone[p];
    default:
      if (opened.customer_tier == "vip") {
        policy = "default-chat-vip";
        return t.chat[p] / t.vip_divisor;
      }
      policy = "default-chat";
      return t.chat[p];
  }
}

void SlaProcessor::OnEvent(const Event& e, ProcessorContext& ctx) {
  switch (e.type) {
    case EventType::kConversationOpened: return Open(e, ctx);
    case EventType::kMessageAgent:
      // Bot replies and internal notes do not answer the customer.
      if (e.is_public && !e.is_auto) AgentReply(e, ctx);
      return;
    case EventType::kConversationAbandoned:
    case EventType::kConversationClosed: return End(e, ctx);
    default: return;
  }
}

void SlaProcessor::Open(const Event& e, ProcessorContext& ctx) {
  std::string name = ClockName(e.conversation_id);
  Clock c;
  auto existing = ctx.Get(e.customer_id, name);
  bool reply_seen = false;
  if (existing) {
    if (!c.Decode(*existing) || c.phase != Phase::kReplyBeforeOpen) return;  // already open
    reply_seen = true;
  }
  Timestamp reply_at = c.reply_at;
  std::string agent = c.agent_id;
  c = Clock{};
  c.customer_id = e.customer_id;
  c.conversation_id = e.conversation_id;
  c.queue = e.queue;
  c.tenant = e.tenant;
  c.channel = e.channel;
  c.priority = e.priority;
  c.start = e.ts;
  c.target = TargetFor(e, c.policy);
  c.deadline = e.ts + c.target;
  EmitRecord(c, "activate", e.ts, ctx);
  if (reply_seen && reply_at >= e.ts) {
    // The reply came first in arrival order but not in event time.
    Event reply;
    reply.ts = reply_at;
    reply.agent_id = agent;
    Fulfill(c, reply, ctx);
  } else {
    SetTimers(c, ctx);
  }
  ctx.Put(e.customer_id, name, c.Encode());
}

void SlaProcessor::AgentReply(const Event& e, ProcessorContext& ctx) {
  std::string name = ClockName(e.conversation_id);
  auto existing = ctx.Get(e.customer_id, name);
  Clock c;
  if (!existing) {
    // Out of order: remember the reply for the open that follows.
    c.phase = Phase::kReplyBeforeOpen;
    c.reply_at = e.ts;
    c.agent_id = e.agent_id;
    c.customer_id = e.customer_id;
    c.conversation_id = e.conversation_id;
    ctx.Put(e.customer_id, name, c.Encode());
    return;
  }
  if (!c.Decode(*existing)) return;
  if (c.phase == Phase::kReplyBeforeOpen) {
    if (e.ts < c.reply_at) {
      c.reply_at = e.ts;
      c.agent_id = e.agent_id;
      ctx.Put(e.customer_id, name, c.Encode());
    }
    return;
  }
  if (c.phase != Phase::kRunning) return;
  CancelTimers(c, ctx);
  Fulfill(c, e, ctx);
  ctx.Put(e.customer_id, name, c.Encode());
}

Timestamp SlaProcessor::WarningAt(const Clock& c) const {
  return c.start + static_cast<DurationMs>(static_cast<double>(c.target) * options_.warning_fraction);
}

void SlaProcessor::CatchUp(Clock& c, Timestamp t, ProcessorContext& ctx) {
  const bool warnings = options_.warning_fraction > 0 && options_.warning_fraction < 1;
  if (warnings && !c.warned && t >= WarningAt(c)) {
    c.warned = true;
    EmitRecord(c, "warning", WarningAt(c), ctx);
  }
  if (!c.breached && t > c.deadline) {
    c.breached = true;
    EmitRecord(c, "breach", c.deadline, ctx);
  }
}

void SlaProcessor::Fulfill(Clock& c, const Event& e, ProcessorContext& ctx) {
  // The deadline (or the warning point) may have passed in event time before
  // its timer fired: those decisions are real and come first.
  CatchUp(c, e.ts, ctx);
  c.agent_id = e.agent_id;
  c.phase = Phase::kFulfilled;
  EmitRecord(c, "fulfill", e.ts, ctx);
}

void SlaProcessor::End(const Event& e, ProcessorContext& ctx) {
  std::string name = ClockName(e.conversation_id);
  auto existing = ctx.Get(e.customer_id, name);
  if (!existing) return;
  Clock c;
  if (c.Decode(*existing) && c.phase == Phase::kRunning) {
    CancelTimers(c, ctx);
    CatchUp(c, e.ts, ctx);
    EmitRecord(c, "cancel", e.ts, ctx);
  }
  // The conversation is over: its clock record is no longer needed.
  ctx.Delete(e.customer_id, name);
}

void SlaProcessor::OnTimer(Timestamp when, std::string_view owner, std::string_view tag,
                           ProcessorContext& ctx) {
  // tag = "<w|b>/<conversation_id>"
  if (tag.size() < 3 || tag[1] != '/') return;
  std::string_view kind = tag.substr(0, 1);
  std::string name = ClockName(tag.substr(2));
  auto existing = ctx.Get(owner, name);
  Clock c;
  if (!existing || !c.Decode(*existing) || c.phase != Phase::kRunning) return;
  if (kind == kWarningTag && !c.warned) {
    c.warned = true;
    EmitRecord(c, "warning", when, ctx);
  } else if (kind == kBreachTag && !c.breached) {
    c.breached = true;
    EmitRecord(c, "breach", c.deadline, ctx);
  } else {
    return;
  }
  ctx.Put(owner, name, c.Encode());
}

void SlaProcessor::SetTimers(const Clock& c, ProcessorContext& ctx) {
  std::string tag = "b/" + c.conversation_id;
  ctx.SetTimer(c.deadline, c.customer_id, tag);
  if (options_.warning_fraction > 0 && options_.warning_fraction < 1) {
    tag[0] = 'w';
    ctx.SetTimer(WarningAt(c), c.customer_id, tag);
  }
}

void SlaProcessor::CancelTimers(const Clock& c, ProcessorContext& ctx) {
  std::string tag = "b/" + c.conversation_id;
  ctx.CancelTimer(c.deadline, c.customer_id, tag);
  tag[0] = 'w';
  ctx.CancelTimer(WarningAt(c), c.customer_id, tag);
}

void SlaProcessor::EmitRecord(const Clock& c, std::string_view what, Timestamp ts,
                              ProcessorContext& ctx) {
  JsonWriter w;
  // Unique even where conversation ids are unique only per customer.
  std::string id = c.customer_id;
  id.push_back('/');
  id.append(c.conversation_id);
  id.push_back('/');
  id.append(kMetric);
  id.push_back('/');
  id.append(what);
  w.BeginObject()
      .Field("id", id)
      .Field("customer_id", c.customer_id)
      .Field("metric", kMetric)
      .Field("subject_type", "conversation")
      .Field("subject_id", c.conversation_id)
      .Field("policy", c.policy)
      .Field("event", what)
      .Field("target_s", static_cast<double>(c.target) / 1000.0)
      .Field("elapsed_s", static_cast<double>(ts - c.start) / 1000.0)
      .TimeField("deadline", c.deadline)
      .TimeField("ts", ts)
      .Field("queue", c.queue)
      .Field("channel", ToString(c.channel))
      .Field("priority", ToString(c.priority));
  if (!c.agent_id.empty()) w.Field("agent_id", c.agent_id);
  if (!c.tenant.empty()) w.Field("tenant", c.tenant);
  if (what == "fulfill") w.Field("breached", c.breached);
  w.EndObject();
  ctx.Emit(Stream::kSla, c.customer_id, w.Take());
}

}  // namespace cx::processors
