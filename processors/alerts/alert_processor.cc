#include "processors/alerts/alert_processor.h"

#include <algorithm>
#include <charconv>

#include "core/encoding.h"
#include "processors/alerts/alert.h"
#include "processors/alerts/sentiment.h"
#include "processors/contacts/repeat_contacts.h"

namespace cx::processors {
namespace {

constexpr std::uint8_t kFormat = 1;

// What the alerts need to know about an open conversation.
struct Conv {
  Timestamp opened;
  bool answered = false, vip = false;
  std::string queue, channel, tenant, tier;

  std::string Encode() const {
    std::string v;
    v.push_back(static_cast<char>(kFormat));
    PutVarintSigned(v, opened.ms);
    v.push_back(static_cast<char>((answered ? 1 : 0) | (vip ? 2 : 0)));
    for (const std::string* s : {&queue, &channel, &tenant, &tier}) PutString(v, *s);
    return v;
  }
  bool Decode(std::string_view in) {
    Reader r(in);
    if (r.Byte() != kFormat) return false;
    opened.ms = r.VarintSigned();
    const std::uint8_t f = r.Byte();
    answered = f & 1;
    vip = f & 2;
    for (std::string* s : {&queue, &channel, &tenant, &tier}) s->assign(r.String());
    return r.ok() && r.done();
  }
};

// The customer's recent contacts ("contacts"), for repeat_contact.
constexpr std::uint8_t kContactsFormat = 2;  // 1: (opened, closed, conversation, order), not read

std::string EncodeContacts(const RecentContacts& c) {
  std::string v;
  v.push_back(static_cast<char>(kContactsFormat));
  c.EncodeTo(v);
  return v;
}
// A record of another format starts an empty history.
RecentContacts DecodeContacts(std::string_view in) {
  RecentContacts c;
  Reader r(in);
  if (r.Byte() != kContactsFormat || !c.DecodeFrom(r) || !r.done()) return RecentContacts{};
  return c;
}

// "sent/<dedup_key>" -> where the alert went ("d" or "q<queue>").
constexpr std::string_view kSentPrefix = "sent/";

std::string ConvKey(std::string_view id) { return "conv/" + std::string(id); }
// An open alert of a subject: "open/<subject>/<dedup_key>" -> where it went
// ("d": straight to the topic; "q<queue>": through the queue stage).
std::string OpenKey(std::string_view subject, std::string_view dedup) {
  std::string k = "open/";
  k.append(subject);
  k.push_back('/');
  k.append(dedup);
  return k;
}

// "90 s", "1.5 s", "1.2e+06 s": printf's %g (to_chars with precision 6 is
// specified as that, without the locale and the format parsing).
std::string Seconds(DurationMs d) {
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof buf - 2, static_cast<double>(d) / 1000.0, std::chars_format::general, 6);
  *r.ptr++ = ' ';
  *r.ptr++ = 's';
  return std::string(buf, r.ptr);
}

}  // namespace

std::string_view ToString(AlertKind k) {
  static constexpr std::string_view kNames[] = {"sla_breach",         "sla_warning", "vip_waiting",
                                                "repeat_contact",     "low_csat",    "negative_sentiment",
                                                "aftersales_overdue", "escalation",  "queue_breach_storm"};
  return kNames[static_cast<int>(k)];
}

void AlertProcessor::Trigger(const std::string& customer, std::string_view subject_id, Alert a,
                             AlertKind kind, ProcessorContext& ctx, const std::string& via_queue, bool via) {
  if (!Enabled(kind)) return;
  a.kind = std::string(ToString(kind));
  a.severity = options_.SeverityOf(kind);
  a.action = "trigger";
  a.Label("kind", a.kind);
  a.Label("severity", a.severity);
  const std::string key = OpenKey(subject_id, a.dedup_key);
  if (ctx.Get(customer, key)) return;  // already open: no second trigger
  // Remember where it went and what it said: its resolve carries the same
  // labels (Alertmanager knows an alert by its labels).
  std::string open;
  const std::string where = via ? "q" + via_queue : "d";
  PutString(open, where);
  open.append(a.Encode());
  ctx.Put(customer, key, open);
  // Every key written for the customer on the compacted alert topic, so an
  // erasure can end each with a tombstone (kept after the resolve).
  ctx.Put(customer, std::string(kSentPrefix) + a.dedup_key, where);
  if (via)
    ctx.RepartitionAt(via_queue, a.Encode(), a.ts);
  else
    a.EmitTo(ctx, options_.source);
}

void AlertProcessor::Resolve(const std::string& customer, const std::string& name, Timestamp ts,
                             ProcessorContext& ctx) {
  // `name` is the open-alert record: "open/<subject>/<dedup_key>".
  auto stored = ctx.Get(customer, name);
  if (!stored) return;
  ctx.Delete(customer, name);
  Reader r(*stored);
  const std::string where(r.String());
  Alert a;
  if (!r.ok() || !a.Decode(std::string_view(*stored).substr(stored->size() - r.remaining()))) return;
  a.action = "resolve";
  a.ts = std::max(ts, a.ts);  // never before its trigger (a late event can end it "earlier")
  a.summary = "resolved: " + a.summary;
  if (!where.empty() && where[0] == 'q')
    ctx.RepartitionAt(where.substr(1), a.Encode(), a.ts);
  else
    a.EmitTo(ctx, options_.source);
}

void AlertProcessor::ResolveSubject(const std::string& customer, std::string_view subject, Timestamp ts,
                                    ProcessorContext& ctx) {
  std::vector<std::string> open;
  const std::string prefix = "open/" + std::string(subject) + "/";
  ctx.ForEach(customer, prefix, [&](std::string_view name, std::string_view) { open.emplace_back(name); });
  for (const std::string& name : open) Resolve(customer, name, ts, ctx);
}

void AlertProcessor::OnSignal(const Signal& s, ProcessorContext& ctx) {
  if (s.kind != "sla" || !s.sla) return;
  // Alerts follow warnings, breaches and the ends of clocks; starts, pauses
  // and resumes change nothing here.
  if (s.what != "warning" && s.what != "breach" && s.what != "fulfill" && s.what != "cancel") return;
  const SlaDecision& d = *s.sla;
  if (s.what == "fulfill" || s.what == "cancel") {
    // The end of a clock resolves its open alerts: most customers have none,
    // and knowing that costs one look, not two keys built and read.
    bool any_open = false;
    ctx.ForEachWhile(s.owner, "open/", [&](std::string_view, std::string_view) {
      any_open = true;
      return false;
    });
    if (!any_open) return;
  }
  const std::string customer(s.owner);
  const std::string subject(s.subject);
  auto base = [&](AlertKind kind) {
    Alert a;
    a.dedup_key = DedupKey(ToString(kind), {d.clock});
    a.ts = s.ts;
    a.Label("queue", d.queue);
    a.Label("channel", d.channel);
    a.Label("tenant", d.tenant);
    a.Label("metric", s.detail);
    a.Label("priority", d.priority);
    a.DetailString("customer_id", customer);
    a.DetailString("subject_type", d.subject_type);
    a.DetailString("subject_id", subject);
    a.DetailString("metric", s.detail);
    a.DetailString("policy", d.policy);
    a.DetailNumber("target_s", static_cast<double>(d.target) / 1000.0);
    a.DetailNumber("elapsed_s", static_cast<double>(d.elapsed) / 1000.0);
    a.DetailTime("deadline", d.deadline);
    a.DetailString("customer_tier", d.customer_tier);
    a.DetailString("agent_id", d.agent_id);
    return a;
  };
  const std::string breach_key = OpenKey(subject, DedupKey("sla_breach", {d.clock}));
  const std::string warning_key = OpenKey(subject, DedupKey("sla_warning", {d.clock}));
  if (s.what == "warning") {
    Alert a = base(AlertKind::kSlaWarning);
    a.summary = std::string(s.detail) + " of " + std::string(d.subject_type) + " " + subject + " at " +
                Seconds(d.elapsed) + " of " + Seconds(d.target);
    Trigger(customer, subject, std::move(a), AlertKind::kSlaWarning, ctx);
  } else if (s.what == "breach") {
    Resolve(customer, warning_key, s.ts, ctx);  // the breach supersedes the warning
    Alert a = base(AlertKind::kSlaBreach);
    a.summary = std::string(s.detail) + " breached for " + std::string(d.subject_type) + " " + subject +
                " (target " + Seconds(d.target) + ")";
    // Through the queue stage, which groups a queue's breaches into storms.
    Trigger(customer, subject, std::move(a), AlertKind::kSlaBreach, ctx, std::string(d.queue), true);
  } else if (s.what == "fulfill" || s.what == "cancel") {
    Resolve(customer, warning_key, s.ts, ctx);
    Resolve(customer, breach_key, s.ts, ctx);
  }
}

void AlertProcessor::OnEvent(const Event& e, ProcessorContext& ctx) {
  if (e.type == EventType::kAgentStatus) return;
  const std::string& customer = e.customer_id;
  auto base = [&](AlertKind kind, std::string_view subject_type, std::string_view subject) {
    Alert a;
    a.dedup_key = DedupKey(ToString(kind), {customer, subject});
    a.ts = e.ts;
    a.Label("tenant", e.tenant);
    a.DetailString("customer_id", customer);
    a.DetailString("subject_type", subject_type);
    a.DetailString("subject_id", subject);
    return a;
  };
  switch (e.type) {
    case EventType::kConversationOpened: {
      if (ctx.Get(customer, ConvKey(e.conversation_id))) return;  // opened twice
      Conv c;
      c.opened = e.ts;
      c.queue = e.queue;
      c.channel = std::string(ToString(e.channel));
      c.tenant = e.tenant;
      c.tier = e.customer_tier;
      c.vip = !e.customer_tier.empty() && e.customer_tier == options_.vip_tier;
      ctx.Put(customer, ConvKey(e.conversation_id), c.Encode());
      if (c.vip && Enabled(AlertKind::kVipWaiting))
        ctx.SetTimer(e.ts + options_.vip_wait, customer, "vip/" + e.conversation_id);
      // Repeat contacts (processors/contacts): the repeat_count-th contact
      // about the same order or topic within the window.
      RecentContacts contacts;
      if (auto v = ctx.Get(customer, "contacts")) contacts = DecodeContacts(*v);
      const std::string about = RecentContacts::About(e);
      const int n = contacts.Record(about, e.ts, options_.repeat_window);
      if (n >= options_.repeat_count) {
        Alert a = base(AlertKind::kRepeatContact, "conversation", e.conversation_id);
        a.Label("queue", e.queue);
        a.Label("channel", c.channel);
        a.DetailNumber("contacts_in_window", n);
        a.DetailString("order_id", e.order_id);
        a.DetailString("topic", e.order_id.empty() ? std::string_view(e.topic) : std::string_view());
        a.summary = "customer " + customer + ": contact " + std::to_string(n) + " within " +
                    FormatDuration(options_.repeat_window) + " about " +
                    (e.order_id.empty() ? "topic " + e.topic : "order " + e.order_id);
        Trigger(customer, e.conversation_id, std::move(a), AlertKind::kRepeatContact, ctx);
      }
      if (!about.empty()) ctx.Put(customer, "contacts", EncodeContacts(contacts));
      return;
    }
    case EventType::kMessageAgent: {
      if (!e.is_public || e.is_auto) return;
      Conv c;
      auto v = ctx.Get(customer, ConvKey(e.conversation_id));
      if (!v || !c.Decode(*v) || c.answered) return;
      c.answered = true;
      ctx.Put(customer, ConvKey(e.conversation_id), c.Encode());
      if (c.vip) {
        ctx.CancelTimer(c.opened + options_.vip_wait, customer, "vip/" + e.conversation_id);
        Resolve(customer, OpenKey(e.conversation_id, DedupKey("vip_waiting", {customer, e.conversation_id})),
                e.ts, ctx);
      }
      return;
    }
    case EventType::kMessageCustomer: {
      const Negativity why =
          JudgeMessage(e.sentiment, e.text, options_.negative_sentiment, options_.keywords);
      if (why == Negativity::kNone) return;
      const bool keyword = why == Negativity::kKeyword;
      Conv c;
      auto v = ctx.Get(customer, ConvKey(e.conversation_id));
      if (!v || !c.Decode(*v)) return;
      Alert a = base(AlertKind::kNegativeSentiment, "conversation", e.conversation_id);
      a.Label("queue", c.queue);
      a.Label("channel", c.channel);
      if (e.sentiment) a.DetailNumber("sentiment", *e.sentiment);
      a.DetailString("reason", keyword ? "escalation_keyword" : "negative_sentiment");
      a.summary = "customer " + customer + " in conversation " + e.conversation_id + ": " +
                  (keyword ? "escalation keyword" : "negative sentiment");
      Trigger(customer, e.conversation_id, std::move(a), AlertKind::kNegativeSentiment, ctx);
      return;
    }
    case EventType::kConversationClosed:
    case EventType::kConversationAbandoned: {
      Conv c;
      auto v = ctx.Get(customer, ConvKey(e.conversation_id));
      if (!v || !c.Decode(*v)) return;
      if (c.vip && !c.answered)
        ctx.CancelTimer(c.opened + options_.vip_wait, customer, "vip/" + e.conversation_id);
      ctx.Delete(customer, ConvKey(e.conversation_id));
      // Low-CSAT alerts of the conversation resolve by their own timer.
      std::vector<std::string> open;
      ctx.ForEach(customer, "open/" + e.conversation_id + "/", [&](std::string_view name, std::string_view) {
        if (name.find("/low_csat:") == std::string_view::npos && name.find("/sla_") == std::string_view::npos)
          open.emplace_back(name);
      });
      for (const std::string& name : open) Resolve(customer, name, e.ts, ctx);
      return;
    }
    case EventType::kConversationRated: {
      if (e.csat > options_.low_csat) return;
      Alert a = base(AlertKind::kLowCsat, "conversation", e.conversation_id);
      a.DetailNumber("csat", e.csat);
      a.summary = "customer " + customer + " rated conversation " + e.conversation_id + " " +
                  std::to_string(e.csat) + "/5";
      if (!Enabled(AlertKind::kLowCsat)) return;
      const std::string key = OpenKey(e.conversation_id, a.dedup_key);
      if (ctx.Get(customer, key)) return;
      Trigger(customer, e.conversation_id, std::move(a), AlertKind::kLowCsat, ctx);
      ctx.SetTimer(e.ts + options_.low_csat_resolve_after, customer, "csat/" + e.conversation_id);
      return;
    }
    case EventType::kAftersalesOpened:
      if (Enabled(AlertKind::kAftersalesOverdue)) {
        ctx.SetTimer(e.ts + options_.aftersales_overdue, customer, "case/" + e.case_id);
        ctx.Put(customer, "case/" + e.case_id, std::string(ToString(e.kind)));
      }
      return;
    case EventType::kAftersalesEscalated: {
      Alert a = base(AlertKind::kEscalation, "case", e.case_id);
      a.summary = "after-sales case " + e.case_id + " of customer " + customer + " escalated";
      Trigger(customer, e.case_id, std::move(a), AlertKind::kEscalation, ctx);
      return;
    }
    case EventType::kAftersalesClosed: {
      if (auto v = ctx.Get(customer, "case/" + e.case_id)) ctx.Delete(customer, "case/" + e.case_id);
      ResolveSubject(customer, e.case_id, e.ts, ctx);
      return;
    }
    case EventType::kCustomerErased: {
      // Resolve what is open, so that pagers close it; the task then deletes
      // the records and the timers.
      std::vector<std::string> open;
      ctx.ForEach(customer, "open/",
                  [&](std::string_view name, std::string_view) { open.emplace_back(name); });
      for (const std::string& name : open) Resolve(customer, name, e.ts, ctx);
      // Then every alert key that names the customer ends with a tombstone
      // on the compacted topic, after the resolves: written here, or sent
      // through the queue stage behind the resolve it routed there.
      std::vector<std::pair<std::string, std::string>> sent;
      ctx.ForEach(customer, kSentPrefix, [&](std::string_view name, std::string_view where) {
        sent.emplace_back(name.substr(kSentPrefix.size()), where);
      });
      for (const auto& [dedup, where] : sent) {
        if (!where.empty() && where[0] == 'q') {
          Alert t;
          t.dedup_key = dedup;
          t.action = "tombstone";
          t.ts = e.ts;
          ctx.Repartition(where.substr(1), t.Encode());
        } else {
          ctx.Emit(Stream::kAlerts, dedup, std::nullopt);
        }
      }
      return;
    }
    default:
      return;
  }
}

void AlertProcessor::OnTimer(Timestamp when, std::string_view owner, std::string_view tag,
                             ProcessorContext& ctx) {
  const std::string customer(owner);
  const std::string_view t(tag);
  if (t.substr(0, 4) == "vip/") {
    const std::string conv(t.substr(4));
    Conv c;
    auto v = ctx.Get(customer, ConvKey(conv));
    if (!v || !c.Decode(*v) || c.answered) return;
    Alert a;
    a.dedup_key = DedupKey("vip_waiting", {customer, conv});
    a.ts = when;
    a.Label("queue", c.queue);
    a.Label("channel", c.channel);
    a.Label("tenant", c.tenant);
    a.DetailString("customer_id", customer);
    a.DetailString("subject_type", "conversation");
    a.DetailString("subject_id", conv);
    a.DetailString("customer_tier", c.tier);
    a.DetailNumber("waiting_s", static_cast<double>(when - c.opened) / 1000.0);
    a.summary = "VIP customer " + customer + " waiting " + Seconds(when - c.opened) + " in " + c.queue;
    Trigger(customer, conv, std::move(a), AlertKind::kVipWaiting, ctx);
  } else if (t.substr(0, 5) == "csat/") {
    const std::string conv(t.substr(5));
    Resolve(customer, OpenKey(conv, DedupKey("low_csat", {customer, conv})), when, ctx);
  } else if (t.substr(0, 5) == "case/") {
    const std::string id(t.substr(5));
    auto kind = ctx.Get(customer, "case/" + id);
    if (!kind) return;  // closed meanwhile
    Alert a;
    a.dedup_key = DedupKey("aftersales_overdue", {customer, id});
    a.ts = when;
    a.DetailString("customer_id", customer);
    a.DetailString("subject_type", "case");
    a.DetailString("subject_id", id);
    a.DetailString("case_kind", *kind);
    a.Label("case_kind", *kind);
    a.summary = "after-sales case " + id + " of customer " + customer + " open for " +
                FormatDuration(options_.aftersales_overdue);
    Trigger(customer, id, std::move(a), AlertKind::kAftersalesOverdue, ctx);
  }
}

}  // namespace cx::processors
