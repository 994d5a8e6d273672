#include "processors/alerts/alert_processor.h"

#include <algorithm>
#include <charconv>

#include "core/encoding.h"
#include "processors/alerts/alert.h"
#include "processors/alerts/sentiment.h"
#include "processors/contacts/repeat_contacts.h"
#include "processors/flat_map.h"

namespace cx::processors {
namespace {

// Format 2: the open conversations moved to the shared record
// (processors/conversations).
constexpr std::uint8_t kFormat = 2;
constexpr std::string_view kRecord = "customer";

// An open alert's name in CustomerAlerts::open: "<subject>/<dedup_key>",
// so that a subject's open alerts are one range.
const std::string& OpenNameTo(std::string& k, std::string_view subject, std::string_view dedup) {
  k.clear();
  k.reserve(subject.size() + 1 + dedup.size());
  k.append(subject);
  k.push_back('/');
  k.append(dedup);
  return k;
}
std::string OpenName(std::string_view subject, std::string_view dedup) {
  std::string k;
  OpenNameTo(k, subject, dedup);
  return k;
}

// Appends "90 s", "1.5 s", "1.2e+06 s": printf's %g (to_chars with
// precision 6 is specified as that, without the locale and the format
// parsing).
void AppendSeconds(DurationMs d, std::string& out) {
  char buf[40];
  // Whole seconds below 10^6 (targets, and elapsed times at a deadline or
  // warning point) are what %g prints for them: the integer.
  if (d >= 0 && d % 1000 == 0 && d < 1'000'000'000) {
    auto r = std::to_chars(buf, buf + sizeof buf - 2, d / 1000);
    *r.ptr++ = ' ';
    *r.ptr++ = 's';
    out.append(buf, r.ptr);
    return;
  }
  auto r = std::to_chars(buf, buf + sizeof buf - 2, static_cast<double>(d) / 1000.0, std::chars_format::general, 6);
  *r.ptr++ = ' ';
  *r.ptr++ = 's';
  out.append(buf, r.ptr);
}
std::string Seconds(DurationMs d) {
  std::string s;
  AppendSeconds(d, s);
  return s;
}

// Appends each part to `out`, with room made once.
void AppendAll(std::string& out, std::initializer_list<std::string_view> parts) {
  std::size_t n = out.size();
  for (std::string_view p : parts) n += p.size();
  out.reserve(n + 32);  // and a number or two
  for (std::string_view p : parts) out.append(p);
}

}  // namespace

// An open alert: where it went ("d": straight to the topic; "q<queue>":
// through the queue stage) and what it said.
struct AlertProcessor::OpenAlert {
  std::string where;
  Alert alert;
};

// Everything the customer stage keeps about one customer, in one record
// decoded once and changed in place: the after-sales cases that may become
// overdue, recent contacts (for repeat_contact), each open alert with where
// it went and what it said (its resolve carries the same labels:
// Alertmanager knows an alert by its labels), and every alert key sent for
// the customer, so that an erasure can end each with a tombstone on the
// compacted topic (kept after the resolve). Its open conversations are the
// shared record's (processors/conversations). Entries are in key order, as
// the output order depends on it.
struct AlertProcessor::CustomerAlerts final : StateObject {
  FlatMap<CaseKind> cases;              // by case id: open, with an overdue timer
  FlatMap<OpenAlert> open;              // by OpenName
  FlatMap<std::string> sent;            // dedup_key -> where it went
  RecentContacts contacts;

  bool empty() const { return cases.empty() && open.empty() && sent.empty() && contacts.size() == 0; }

  static std::unique_ptr<StateObject> DecodeObject(std::string_view in) {
    auto s = std::make_unique<CustomerAlerts>();
    if (!s->Decode(in)) return nullptr;
    return s;
  }
  std::size_t MemoryBytes() const override {
    std::size_t n = sizeof(CustomerAlerts) + contacts.MemoryBytes();
    n += cases.capacity() * sizeof(*cases.begin()) + open.capacity() * sizeof(*open.begin()) +
         sent.capacity() * sizeof(*sent.begin());
    for (const auto& [id, k] : cases) n += HeapBytes(id);
    for (const auto& [name, o] : open) {
      n += HeapBytes(name) + HeapBytes(o.where);
      for (const std::string* x : {&o.alert.dedup_key, &o.alert.summary, &o.alert.labels, &o.alert.details,
                                   &o.alert.queue, &o.alert.kind})
        n += HeapBytes(*x);
    }
    for (const auto& [key, where] : sent) n += HeapBytes(key) + HeapBytes(where);
    return n;
  }
  void EncodeTo(std::string& v) const override {
    ByteWriter w(v, 16 + 48 * (cases.size() + sent.size()) + 256 * open.size());
    w.Byte(kFormat);
    w.Varint(cases.size());
    for (const auto& [id, kind] : cases) {
      w.String(id);
      w.Byte(static_cast<std::uint8_t>(kind));
    }
    w.Varint(open.size());
    std::string alert;  // each open alert goes in as a string of its own
    for (const auto& [name, o] : open) {
      w.String(name);
      w.String(o.where);
      alert.clear();
      o.alert.EncodeTo(alert);
      w.String(alert);
    }
    w.Varint(sent.size());
    for (const auto& [key, where] : sent) {
      w.String(key);
      w.String(where);
    }
    contacts.EncodeTo(w);
  }
  bool Decode(std::string_view in) {
    Reader r(in);
    if (r.Byte() != kFormat) return false;
    for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
      std::string id(r.String());
      cases.push_back({std::move(id), static_cast<CaseKind>(r.Byte())});
    }
    for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
      std::string name(r.String());
      OpenAlert o;
      o.where.assign(r.String());
      if (!o.alert.Decode(r.String())) return false;
      open.push_back({std::move(name), std::move(o)});
    }
    for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
      std::string key(r.String());
      sent.push_back({std::move(key), std::string(r.String())});
    }
    return contacts.DecodeFrom(r) && r.ok() && r.done();
  }
};

std::string_view ToString(AlertKind k) {
  static constexpr std::string_view kNames[] = {"sla_breach",         "sla_warning", "vip_waiting",
                                                "repeat_contact",     "low_csat",    "negative_sentiment",
                                                "aftersales_overdue", "escalation",  "queue_breach_storm"};
  return kNames[static_cast<int>(k)];
}

// The customer's record while one event, timer or signal is handled: read
// where it is, made on the first change, and marked changed (or deleted when
// nothing is left in it) when the handling ends, whatever path it took.
class AlertProcessor::Scope {
 public:
  Scope(const std::string& customer, ProcessorContext& ctx)
      : customer(customer), ctx(ctx), s_(FindObject<CustomerAlerts>(ctx, customer, kRecord)) {}
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  ~Scope() {
    if (!changed_) return;
    if (s_->empty())
      ctx.DeleteObject(customer, kRecord);
    else
      ctx.MarkChanged(*s_);
  }

  // What is kept, nullptr when nothing is.
  const CustomerAlerts* peek() const { return s_; }
  // What is kept, to change.
  CustomerAlerts& edit() {
    if (!s_) s_ = AddObject(ctx, customer, kRecord, std::make_unique<CustomerAlerts>());
    changed_ = true;
    return *s_;
  }
  bool IsOpen(std::string_view name) const { return s_ && s_->open.find(name) != s_->open.end(); }

  const std::string& customer;
  ProcessorContext& ctx;

 private:
  CustomerAlerts* s_;
  bool changed_ = false;
};

void AlertProcessor::Trigger(Scope& scope, std::string_view subject_id, Alert a, AlertKind kind,
                             std::string_view via_queue, bool via) const {
  if (!Enabled(kind)) return;
  std::string name = OpenName(subject_id, a.dedup_key);
  if (scope.IsOpen(name)) return;  // already open: no second trigger
  a.kind = std::string(ToString(kind));
  a.severity = options_.SeverityOf(kind);
  a.action = "trigger";
  a.Label("kind", a.kind);
  a.Label("severity", a.severity);
  std::string where = via ? "q" + std::string(via_queue) : std::string("d");
  CustomerAlerts& s = scope.edit();
  s.sent[a.dedup_key] = where;
  OpenAlert& open = s.open[name];
  open.where = std::move(where);
  open.alert = std::move(a);
  if (via)
    scope.ctx.RepartitionAt(via_queue, open.alert.Encode(), open.alert.ts);
  else
    open.alert.EmitTo(scope.ctx, options_.source);
}

void AlertProcessor::SendResolve(OpenAlert open, Timestamp ts, ProcessorContext& ctx) const {
  Alert& a = open.alert;
  a.action = "resolve";
  a.ts = std::max(ts, a.ts);  // never before its trigger (a late event can end it "earlier")
  a.summary = "resolved: " + a.summary;
  if (!open.where.empty() && open.where[0] == 'q')
    ctx.RepartitionAt(std::string_view(open.where).substr(1), a.Encode(), a.ts);
  else
    a.EmitTo(ctx, options_.source);
}

void AlertProcessor::Resolve(Scope& scope, std::string_view name, Timestamp ts) const {
  if (!scope.IsOpen(name)) return;
  auto& open = scope.edit().open;
  auto it = open.find(name);
  OpenAlert o = std::move(it->second);
  open.erase(it);
  SendResolve(std::move(o), ts, scope.ctx);
}

void AlertProcessor::ResolveSubject(Scope& scope, std::string_view subject, Timestamp ts,
                                    bool (*resolves)(std::string_view name)) const {
  const CustomerAlerts* kept = scope.peek();
  if (!kept || kept->open.empty()) return;
  // The subject's alerts, in name order: "<subject>/..." (what a subject
  // whose id continues with "/" opened too, as the names say).
  std::string prefix(subject);
  prefix.push_back('/');
  std::vector<OpenAlert> ended;
  auto& open = scope.edit().open;
  for (auto it = open.lower_bound(prefix); it != open.end() && it->first.starts_with(prefix);) {
    if (resolves && !resolves(it->first)) {
      ++it;
      continue;
    }
    ended.push_back(std::move(it->second));
    it = open.erase(it);
  }
  for (OpenAlert& o : ended) SendResolve(std::move(o), ts, scope.ctx);
}

void AlertProcessor::OnSignal(const Signal& s, ProcessorContext& ctx) {
  if (s.kind != "sla" || !s.sla) return;
  // Alerts follow warnings, breaches and the ends of clocks; starts, pauses
  // and resumes change nothing here.
  const bool warning = s.what == "warning", breach = s.what == "breach";
  if (!warning && !breach && s.what != "fulfill" && s.what != "cancel") return;
  const SlaDecision& d = *s.sla;
  const std::string customer(s.owner);
  Scope scope(customer, ctx);
  // The end of a clock resolves its open alerts: most customers have none.
  if (!warning && !breach && (!scope.peek() || scope.peek()->open.empty())) return;
  const std::string_view subject = s.subject;
  // Keys and names in buffers kept from signal to signal.
  std::string &key = key_scratch_, &name = name_scratch_;
  if (!warning) {
    DedupKeyTo(key, "sla_warning", {d.clock});
    Resolve(scope, OpenNameTo(name, subject, key), s.ts);  // a breach supersedes the warning
  }
  DedupKeyTo(key, warning ? "sla_warning" : "sla_breach", {d.clock});
  const AlertKind kind = warning ? AlertKind::kSlaWarning : AlertKind::kSlaBreach;
  if (!warning && !breach) {
    Resolve(scope, OpenNameTo(name, subject, key), s.ts);
    return;
  }
  if (!Enabled(kind) || scope.IsOpen(OpenNameTo(name, subject, key))) return;  // nothing to say again
  Alert a;
  a.dedup_key = key;
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
  a.DetailSeconds("target_s", d.target);
  a.DetailSeconds("elapsed_s", d.elapsed);
  a.DetailTime("deadline", d.deadline);
  a.DetailString("customer_tier", d.customer_tier);
  a.DetailString("agent_id", d.agent_id);
  if (warning) {
    AppendAll(a.summary, {s.detail, " of ", d.subject_type, " ", subject, " at "});
    AppendSeconds(d.elapsed, a.summary);
    a.summary.append(" of ");
    AppendSeconds(d.target, a.summary);
    Trigger(scope, subject, std::move(a), kind);
  } else {
    AppendAll(a.summary, {s.detail, " breached for ", d.subject_type, " ", subject, " (target "});
    AppendSeconds(d.target, a.summary);
    a.summary.push_back(')');
    // Through the queue stage, which groups a queue's breaches into storms.
    Trigger(scope, subject, std::move(a), kind, d.queue, true);
  }
}

void AlertProcessor::OnEvent(const Event& e, ProcessorContext& ctx) {
  if (e.type == EventType::kAgentStatus) return;
  const std::string& customer = e.customer_id;
  Scope scope(customer, ctx);
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
  // The open conversation of the event before it (the keeper applies the
  // event after us), nullptr when none is.
  auto conversation = [&] { return conversations_.Find(ctx, customer, e.conversation_id); };
  switch (e.type) {
    case EventType::kConversationOpened: {
      if (conversation()) return;  // opened twice
      CustomerAlerts& s = scope.edit();
      if (IsVip(e.customer_tier) && Enabled(AlertKind::kVipWaiting))
        ctx.SetTimer(e.ts + options_.vip_wait, customer, "vip/" + e.conversation_id);
      // Repeat contacts (processors/contacts): the repeat_count-th contact
      // about the same order or topic within the window.
      const int n = s.contacts.Record(RecentContacts::About(e), e.ts, options_.repeat_window);
      if (n >= options_.repeat_count) {
        Alert a = base(AlertKind::kRepeatContact, "conversation", e.conversation_id);
        a.Label("queue", e.queue);
        a.Label("channel", ToString(e.channel));
        a.DetailNumber("contacts_in_window", n);
        a.DetailString("order_id", e.order_id);
        a.DetailString("topic", e.order_id.empty() ? std::string_view(e.topic) : std::string_view());
        a.summary = "customer " + customer + ": contact " + std::to_string(n) + " within " +
                    FormatDuration(options_.repeat_window) + " about " +
                    (e.order_id.empty() ? "topic " + e.topic : "order " + e.order_id);
        Trigger(scope, e.conversation_id, std::move(a), AlertKind::kRepeatContact);
      }
      return;
    }
    case EventType::kMessageAgent: {
      if (!e.is_public || e.is_auto) return;
      const OpenConversation* c = conversation();
      if (!c || c->answered) return;
      if (IsVip(c->customer_tier)) {
        ctx.CancelTimer(c->opened + options_.vip_wait, customer, "vip/" + e.conversation_id);
        const std::string vip = DedupKey("vip_waiting", {customer, e.conversation_id});
        Resolve(scope, OpenName(e.conversation_id, vip), e.ts);
      }
      return;
    }
    case EventType::kMessageCustomer: {
      const Negativity why =
          JudgeMessage(e.sentiment, e.text, options_.negative_sentiment, options_.keywords);
      if (why == Negativity::kNone) return;
      const bool keyword = why == Negativity::kKeyword;
      const OpenConversation* c = conversation();
      if (!c) return;
      Alert a = base(AlertKind::kNegativeSentiment, "conversation", e.conversation_id);
      a.Label("queue", c->opening_queue);
      a.Label("channel", ToString(c->channel));
      if (e.sentiment) a.DetailNumber("sentiment", *e.sentiment);
      a.DetailString("reason", keyword ? "escalation_keyword" : "negative_sentiment");
      a.summary = "customer " + customer + " in conversation " + e.conversation_id + ": " +
                  (keyword ? "escalation keyword" : "negative sentiment");
      Trigger(scope, e.conversation_id, std::move(a), AlertKind::kNegativeSentiment);
      return;
    }
    case EventType::kConversationClosed:
    case EventType::kConversationAbandoned: {
      const OpenConversation* c = conversation();
      if (!c) return;
      if (IsVip(c->customer_tier) && !c->answered)
        ctx.CancelTimer(c->opened + options_.vip_wait, customer, "vip/" + e.conversation_id);
      // Low-CSAT alerts of the conversation resolve by their own timer, SLA
      // alerts with their clocks.
      ResolveSubject(scope, e.conversation_id, e.ts, [](std::string_view name) {
        const std::string_view full = name;
        auto mentions = [&](std::string_view part) {  // as in "open/<name>"
          return full.find(part) != std::string_view::npos || full.starts_with(part.substr(1));
        };
        return !mentions("/low_csat:") && !mentions("/sla_");
      });
      return;
    }
    case EventType::kConversationRated: {
      if (e.csat > options_.low_csat || !Enabled(AlertKind::kLowCsat)) return;
      Alert a = base(AlertKind::kLowCsat, "conversation", e.conversation_id);
      if (scope.IsOpen(OpenName(e.conversation_id, a.dedup_key))) return;
      a.DetailNumber("csat", e.csat);
      a.summary = "customer " + customer + " rated conversation " + e.conversation_id + " " +
                  std::to_string(e.csat) + "/5";
      Trigger(scope, e.conversation_id, std::move(a), AlertKind::kLowCsat);
      ctx.SetTimer(e.ts + options_.low_csat_resolve_after, customer, "csat/" + e.conversation_id);
      return;
    }
    case EventType::kAftersalesOpened:
      if (Enabled(AlertKind::kAftersalesOverdue)) {
        ctx.SetTimer(e.ts + options_.aftersales_overdue, customer, "case/" + e.case_id);
        scope.edit().cases[e.case_id] = e.kind;
      }
      return;
    case EventType::kAftersalesEscalated: {
      Alert a = base(AlertKind::kEscalation, "case", e.case_id);
      a.summary = "after-sales case " + e.case_id + " of customer " + customer + " escalated";
      Trigger(scope, e.case_id, std::move(a), AlertKind::kEscalation);
      return;
    }
    case EventType::kAftersalesClosed: {
      if (const CustomerAlerts* kept = scope.peek();
          kept && kept->cases.find(e.case_id) != kept->cases.end()) {
        auto& cases = scope.edit().cases;
        cases.erase(cases.find(e.case_id));
      }
      ResolveSubject(scope, e.case_id, e.ts);
      return;
    }
    case EventType::kCustomerErased: {
      // Resolve what is open, so that pagers close it; the task then deletes
      // the record and the timers.
      if (!scope.peek()) return;
      CustomerAlerts& s = scope.edit();
      for (auto& [name, open] : s.open) SendResolve(std::move(open), e.ts, ctx);
      s.open.clear();
      // Then every alert key that names the customer ends with a tombstone
      // on the compacted topic, after the resolves: written here, or sent
      // through the queue stage behind the resolve it routed there.
      for (const auto& [dedup, where] : s.sent) {
        if (!where.empty() && where[0] == 'q') {
          Alert t;
          t.dedup_key = dedup;
          t.action = "tombstone";
          t.ts = e.ts;
          ctx.Repartition(std::string_view(where).substr(1), t.Encode());
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
  Scope scope(customer, ctx);
  const CustomerAlerts* kept = scope.peek();
  const std::string_view t(tag);
  if (t.substr(0, 4) == "vip/") {
    const std::string conv(t.substr(4));
    const OpenConversation* found = conversations_.Find(ctx, customer, conv);
    if (found == nullptr || found->answered) return;
    const OpenConversation& c = *found;
    Alert a;
    a.dedup_key = DedupKey("vip_waiting", {customer, conv});
    a.ts = when;
    a.Label("queue", c.opening_queue);
    a.Label("channel", ToString(c.channel));
    a.Label("tenant", c.tenant);
    a.DetailString("customer_id", customer);
    a.DetailString("subject_type", "conversation");
    a.DetailString("subject_id", conv);
    a.DetailString("customer_tier", c.customer_tier);
    a.DetailNumber("waiting_s", static_cast<double>(when - c.opened) / 1000.0);
    a.summary = "VIP customer " + customer + " waiting " + Seconds(when - c.opened) + " in ";
    a.summary.append(c.opening_queue.view());
    Trigger(scope, conv, std::move(a), AlertKind::kVipWaiting);
  } else if (t.substr(0, 5) == "csat/") {
    const std::string conv(t.substr(5));
    Resolve(scope, OpenName(conv, DedupKey("low_csat", {customer, conv})), when);
  } else if (t.substr(0, 5) == "case/") {
    const std::string id(t.substr(5));
    if (!kept) return;
    auto it = kept->cases.find(id);
    if (it == kept->cases.end()) return;  // closed meanwhile
    const std::string_view kind = ToString(it->second);
    Alert a;
    a.dedup_key = DedupKey("aftersales_overdue", {customer, id});
    a.ts = when;
    a.DetailString("customer_id", customer);
    a.DetailString("subject_type", "case");
    a.DetailString("subject_id", id);
    a.DetailString("case_kind", kind);
    a.Label("case_kind", kind);
    a.summary = "after-sales case " + id + " of customer " + customer + " open for " +
                FormatDuration(options_.aftersales_overdue);
    Trigger(scope, id, std::move(a), AlertKind::kAftersalesOverdue);
  }
}

}  // namespace cx::processors
