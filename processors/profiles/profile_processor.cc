#include "processors/profiles/profile_processor.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "core/encoding.h"
#include "core/json_writer.h"
#include "core/sla_metric.h"
#include "processors/contacts/repeat_contacts.h"
#include "processors/flat_map.h"

namespace cx::processors {
namespace {

// Format 2 keeps recent contacts with their times (RecentContacts) instead
// of format 1's orders and last close; format 3 counts the open
// conversations, which the shared record (processors/conversations) names,
// where formats 1 and 2 listed their ids. Formats 1 and 2 still decode.
constexpr std::uint8_t kFormat = 3;
constexpr DurationMs kDay = 86'400'000;
constexpr int kWindowDays = 90;
constexpr std::size_t kMaxCategories = 32, kMaxRecentOrders = 64, kMaxOpen = 64;
constexpr std::string_view kRecord = "p";
constexpr std::string_view kEmitTag = "emit", kExpireTag = "expire";
constexpr std::size_t kProfileJsonBytes = 1536;  // a profile is about 1 KB: its writer grows once at most
constexpr std::size_t kProfileStateBytes = 512;  // its state record, a few hundred bytes

std::int32_t DayOf(Timestamp t) { return static_cast<std::int32_t>(StepsSinceEpoch(t, kDay)); }

}  // namespace

// Everything the traits need, per customer. Bounded: windows are daily
// buckets of the last 90 days, lists keep their most recent entries.
struct ProfileProcessor::Profile final : StateObject {
  std::uint64_t version = 0;
  Timestamp first_seen = Timestamp::Min(), last_activity = Timestamp::Min();
  // Orders.
  std::int64_t created = 0, paid = 0, cancelled = 0;
  FlatMap<double> paid_amount, refunded_amount;  // by currency
  Timestamp first_order = Timestamp::Min(), last_order = Timestamp::Min();
  FlatMap<std::int64_t> categories;                         // items per category
  std::vector<std::pair<std::string, std::string>> orders;  // recent (order_id, currency)
  // Contacts.
  std::vector<std::pair<std::int32_t, std::int32_t>> conv_days;  // (day, conversations opened)
  std::array<std::int64_t, 7> channels{};                        // by Channel
  std::int64_t conversations = 0, repeats = 0;
  RecentContacts contacts;              // for repeat contacts
  std::int64_t open_conversations = 0;  // opened, not yet closed or abandoned
  // Satisfaction.
  std::int64_t csat_count = 0, csat_sum = 0, csat_last = 0, low_csat = 0, negative = 0;
  // After-sales.
  std::array<std::int64_t, 6> cases{};  // by CaseKind
  std::int64_t escalations = 0, refunds = 0;
  std::vector<std::pair<std::string, std::string>> case_orders;  // recent (case_id, order_id)
  std::vector<std::string> open_cases;
  // Service received: (day, metric, breaches).
  std::vector<std::array<std::int32_t, 3>> breaches;
  std::string tier;  // from events
  // Pending timers.
  Timestamp emit_at = Timestamp::Min(), expire_at = Timestamp::Min();

  static std::unique_ptr<StateObject> DecodeObject(std::string_view in) {
    auto p = std::make_unique<Profile>();
    if (!p->Decode(in)) return nullptr;
    return p;
  }

  std::size_t MemoryBytes() const override {
    // Node and element sizes of libstdc++ on 64 bits.
    std::size_t n = sizeof(Profile) + HeapBytes(tier);
    // Inline strings (15 bytes or fewer: currencies, most ids) cost nothing
    // more; longer ones are counted where they are few.
    n += (paid_amount.capacity() + refunded_amount.capacity()) * 40 + categories.capacity() * 40;
    for (const auto& [k, x] : categories) n += HeapBytes(k);
    for (const auto* l : {&orders, &case_orders}) {
      n += l->capacity() * 64;
      for (const auto& [a, b] : *l) n += HeapBytes(a) + HeapBytes(b);
    }
    n += open_cases.capacity() * 32;
    for (const auto& x : open_cases) n += HeapBytes(x);
    n += conv_days.capacity() * 8 + breaches.capacity() * 12 + contacts.MemoryBytes();
    return n;
  }

  void EncodeTo(std::string& v) const override {
    ByteWriter w(v, kProfileStateBytes);
    w.Byte(kFormat);
    w.Varint(version);
    for (Timestamp t : {first_seen, last_activity, first_order, last_order, emit_at, expire_at})
      w.VarintSigned(t.ms);
    for (std::int64_t x : {created, paid, cancelled, conversations, repeats, csat_count, csat_sum, csat_last,
                           low_csat, negative, escalations, refunds})
      w.VarintSigned(x);
    for (const auto* m : {&paid_amount, &refunded_amount}) {
      w.Varint(m->size());
      for (const auto& [k, x] : *m) {
        w.String(k);
        w.Double(x);
      }
    }
    w.Varint(categories.size());
    for (const auto& [k, n] : categories) {
      w.String(k);
      w.VarintSigned(n);
    }
    for (const auto* l : {&orders, &case_orders}) {
      w.Varint(l->size());
      for (const auto& [a, b] : *l) {
        w.String(a);
        w.String(b);
      }
    }
    w.Varint(conv_days.size());
    for (const auto& [d, n] : conv_days) {
      w.VarintSigned(d);
      w.VarintSigned(n);
    }
    for (std::int64_t x : channels) w.VarintSigned(x);
    for (std::int64_t x : cases) w.VarintSigned(x);
    contacts.EncodeTo(w);
    w.VarintSigned(open_conversations);
    w.Varint(open_cases.size());
    for (const std::string& x : open_cases) w.String(x);
    w.Varint(breaches.size());
    for (const auto& b : breaches)
      for (std::int32_t x : b) w.VarintSigned(x);
    w.String(tier);
  }

  bool Decode(std::string_view in) {
    Reader r(in);
    const std::uint8_t format = r.Byte();
    if (format < 1 || format > kFormat) return false;
    version = r.Varint();
    for (Timestamp* t : {&first_seen, &last_activity, &first_order, &last_order}) t->ms = r.VarintSigned();
    if (format == 1) r.VarintSigned();  // the last close, no longer kept
    for (Timestamp* t : {&emit_at, &expire_at}) t->ms = r.VarintSigned();
    for (std::int64_t* x : {&created, &paid, &cancelled, &conversations, &repeats, &csat_count, &csat_sum,
                            &csat_last, &low_csat, &negative, &escalations, &refunds})
      *x = r.VarintSigned();
    for (auto* m : {&paid_amount, &refunded_amount}) {
      m->clear();
      for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
        std::string k(r.String());
        (*m)[k] = r.Double();
      }
    }
    categories.clear();
    for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
      std::string k(r.String());
      categories[k] = r.VarintSigned();
    }
    for (auto* l : {&orders, &case_orders}) {
      l->clear();
      for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
        std::string a(r.String());
        l->emplace_back(a, std::string(r.String()));
      }
    }
    conv_days.clear();
    for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
      const auto d = static_cast<std::int32_t>(r.VarintSigned());
      conv_days.emplace_back(d, static_cast<std::int32_t>(r.VarintSigned()));
    }
    for (std::int64_t& x : channels) x = r.VarintSigned();
    for (std::int64_t& x : cases) x = r.VarintSigned();
    if (format == 1) {
      // The orders of recent conversations, without their times: they can
      // no longer place a contact within the window.
      for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) r.String();
      contacts = RecentContacts{};
    } else if (!contacts.DecodeFrom(r)) {
      return false;
    }
    if (format < 3) {  // the ids of the open conversations
      open_conversations = static_cast<std::int64_t>(r.Varint());
      for (std::int64_t i = 0; i < open_conversations && r.ok(); ++i) r.String();
    } else {
      open_conversations = r.VarintSigned();
    }
    open_cases.clear();
    for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) open_cases.emplace_back(r.String());
    breaches.clear();
    for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
      std::array<std::int32_t, 3> b{};
      for (std::int32_t& x : b) x = static_cast<std::int32_t>(r.VarintSigned());
      breaches.push_back(b);
    }
    tier.assign(r.String());
    return r.ok() && r.done();
  }
};

namespace {

using Profile = ProfileProcessor::Profile;

// Keeps the most recent `max` entries (the newest are at the back).
template <typename T>
void Bound(std::vector<T>& v, std::size_t max) {
  if (v.size() > max) v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() - max));
}

// Removes every `x`; true when there was one.
bool Remove(std::vector<std::string>& v, const std::string& x) {
  return std::erase(v, x) > 0;
}

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Drops daily buckets older than the 90-day window ending at `today`; true
// when there were any.
bool Prune(Profile& p, std::int32_t today) {
  const std::int32_t oldest = today - kWindowDays + 1;
  return (std::erase_if(p.conv_days, [&](const auto& b) { return b.first < oldest; }) +
          std::erase_if(p.breaches, [&](const auto& b) { return b[0] < oldest; })) > 0;
}

std::string CurrencyOf(const Profile& p, const std::string& order_id, const std::string& fallback) {
  for (auto it = p.orders.rbegin(); it != p.orders.rend(); ++it)
    if (it->first == order_id) return it->second;
  return fallback;
}

// A value at or past threshold[i] scores i + 2 (1 below the first).
int Score(double value, const std::array<double, 4>& thresholds) {
  int s = 1;
  for (double t : thresholds)
    if (value >= t) ++s;
  return s;
}

}  // namespace

void ProfileProcessor::OnEvent(const Event& e, ProcessorContext& ctx) {
  if (e.type == EventType::kAgentStatus) return;
  Profile* p = FindObject<Profile>(ctx, e.customer_id, kRecord);
  if (e.type == EventType::kCustomerErased) {
    if (p) Forget(e.customer_id, *p, ctx);
    // A tombstone whether or not a profile existed: the topic may hold one
    // from before a restore or from another system.
    ctx.Emit(Stream::kProfiles, e.customer_id, std::nullopt);
    return;
  }
  if (!p) {
    p = AddObject(ctx, e.customer_id, kRecord, std::make_unique<Profile>());
    p->first_seen = e.ts;
  }
  // Whether the event's conversation is open, before the event: the
  // keeper applies it after this processor.
  bool open = false;
  if (e.type == EventType::kConversationOpened || e.type == EventType::kConversationClosed ||
      e.type == EventType::kConversationAbandoned)
    open = conversations_.Find(ctx, e.customer_id, e.conversation_id) != nullptr;
  const bool changed = Apply(e, open, *p);
  Save(e.customer_id, *p, e.ts, changed, ctx);
}

bool ProfileProcessor::Apply(const Event& e, bool open, Profile& p) const {
  // Whether a stored field changes, case by case: a counter that moves, an
  // entry added or removed, a later activity (the encoded record differs
  // exactly when this says so).
  bool changed = e.ts > p.last_activity;
  p.last_activity = std::max(p.last_activity, e.ts);
  changed |= Prune(p, DayOf(p.last_activity));
  switch (e.type) {
    case EventType::kOrderCreated:
      ++p.created;
      p.orders.emplace_back(e.order_id, e.currency);
      Bound(p.orders, kMaxRecentOrders);
      for (const OrderItem& item : e.items) {
        if (item.category.empty()) continue;
        p.categories[item.category] += std::max<std::int64_t>(1, item.qty);
      }
      if (p.categories.size() > kMaxCategories) {  // drop the smallest
        auto smallest = std::min_element(p.categories.begin(), p.categories.end(),
                                         [](const auto& a, const auto& b) { return a.second < b.second; });
        p.categories.erase(smallest);
      }
      p.first_order = p.first_order == Timestamp::Min() ? e.ts : std::min(p.first_order, e.ts);
      p.last_order = std::max(p.last_order, e.ts);
      return true;
    case EventType::kOrderPaid:
      ++p.paid;
      p.paid_amount[CurrencyOf(p, e.order_id, options_.base_currency)] += e.amount.value_or(0);
      return true;
    case EventType::kOrderCancelled:
      ++p.cancelled;
      return true;
    case EventType::kConversationOpened: {
      if (open) return changed;  // opened twice
      // A repeat contact (processors/contacts): about the same order or
      // topic as one opened within the window; the alert uses the same rule.
      if (p.contacts.Record(RecentContacts::About(e), e.ts, options_.repeat_window) > 1) ++p.repeats;
      ++p.conversations;
      const std::int32_t day = DayOf(e.ts);
      auto it =
          std::find_if(p.conv_days.begin(), p.conv_days.end(), [&](const auto& b) { return b.first == day; });
      if (it == p.conv_days.end()) {
        p.conv_days.emplace_back(day, 1);
        std::sort(p.conv_days.begin(), p.conv_days.end());
      } else {
        ++it->second;
      }
      ++p.channels[static_cast<std::size_t>(e.channel)];
      if (!e.customer_tier.empty()) p.tier = e.customer_tier;
      ++p.open_conversations;
      return true;
    }
    case EventType::kConversationClosed:
    case EventType::kConversationAbandoned:
      if (!open) return changed;
      --p.open_conversations;
      return true;
    case EventType::kConversationRated:
      ++p.csat_count;
      p.csat_sum += e.csat;
      p.csat_last = e.csat;
      if (e.csat <= options_.low_csat) ++p.low_csat;
      return true;
    case EventType::kMessageCustomer:
      if (!e.sentiment || !(*e.sentiment < options_.negative_sentiment)) return changed;
      ++p.negative;
      return true;
    case EventType::kAftersalesOpened:
      ++p.cases[static_cast<std::size_t>(e.kind)];
      p.case_orders.emplace_back(e.case_id, e.order_id);
      Bound(p.case_orders, kMaxRecentOrders);
      if (!Contains(p.open_cases, e.case_id)) p.open_cases.push_back(e.case_id);
      Bound(p.open_cases, kMaxOpen);
      return true;
    case EventType::kAftersalesReopened:
      if (Contains(p.open_cases, e.case_id)) return changed;
      p.open_cases.push_back(e.case_id);
      Bound(p.open_cases, kMaxOpen);
      return true;
    case EventType::kAftersalesClosed:
      return Remove(p.open_cases, e.case_id) || changed;
    case EventType::kAftersalesEscalated:
      ++p.escalations;
      return true;
    case EventType::kAftersalesRefunded: {
      ++p.refunds;
      std::string order;
      for (const auto& [c, o] : p.case_orders)
        if (c == e.case_id) order = o;
      p.refunded_amount[CurrencyOf(p, order, options_.base_currency)] += e.amount.value_or(0);
      return true;
    }
    default:
      return changed;
  }
}

std::optional<std::string> ProfileProcessor::Render(std::string_view stored, std::string_view customer,
                                                    Timestamp now) const {
  Profile p;
  if (!p.Decode(stored)) return std::nullopt;
  return ToJson(p, customer, now);
}

void ProfileProcessor::OnSignal(const Signal& s, ProcessorContext& ctx) {
  if (s.kind != "sla" || s.what != "breach") return;
  auto metric = ParseMetric(s.detail);
  if (!metric) return;
  Profile* found = FindObject<Profile>(ctx, s.owner, kRecord);
  if (!found) {
    found = AddObject(ctx, s.owner, kRecord, std::make_unique<Profile>());
    found->first_seen = s.ts;
  }
  Profile& p = *found;
  Prune(p, DayOf(std::max(p.last_activity, s.ts)));
  const std::int32_t day = DayOf(s.ts), m = static_cast<std::int32_t>(*metric);
  auto it = std::find_if(p.breaches.begin(), p.breaches.end(),
                         [&](const auto& b) { return b[0] == day && b[1] == m; });
  if (it == p.breaches.end())
    p.breaches.push_back({day, m, 1});
  else
    ++(*it)[2];
  Save(s.owner, p, s.ts, /*changed=*/true, ctx);
}

void ProfileProcessor::Save(std::string_view customer, Profile& p, Timestamp ts, bool changed,
                            ProcessorContext& ctx) {
  // Retention: one timer at a time, moved on when it fires early.
  if (p.expire_at == Timestamp::Min()) {
    p.expire_at = p.last_activity + options_.retention;
    ctx.SetTimer(p.expire_at, customer, kExpireTag);
    changed = true;
  }
  if (p.emit_at == Timestamp::Min()) {
    // No emission due: only a change schedules one.
    if (!changed) return;
    p.emit_at = ts + options_.debounce;
    ctx.SetTimer(p.emit_at, customer, kEmitTag);
  }
  // With an emission due already, whatever changed goes out with it.
  ctx.MarkChanged(p);
}

void ProfileProcessor::OnTimer(Timestamp when, std::string_view owner, std::string_view tag,
                               ProcessorContext& ctx) {
  Profile* found = FindObject<Profile>(ctx, owner, kRecord);
  if (!found) return;
  Profile& p = *found;
  if (tag == kEmitTag) {
    if (when != p.emit_at) return;
    p.emit_at = Timestamp::Min();
    ++p.version;
    JsonWriter w(kProfileJsonBytes);
    WriteJson(p, owner, when, w);
    ctx.Emit(Stream::kProfiles, owner, w.str());
    ctx.MarkChanged(p);
    return;
  }
  if (tag == kExpireTag && when == p.expire_at) {
    if (p.last_activity + options_.retention <= when) {
      // Inactive for the whole retention: the customer expires, everywhere
      // (as an erasure: this processor's tombstone, the SLA clocks, the
      // staffing records, the dedup ring).
      ctx.EraseCustomer(owner, when);
      return;
    }
    p.expire_at = p.last_activity + options_.retention;
    ctx.SetTimer(p.expire_at, owner, kExpireTag);
    ctx.MarkChanged(p);
  }
}

void ProfileProcessor::Forget(std::string_view customer, const Profile& p, ProcessorContext& ctx) {
  if (p.emit_at != Timestamp::Min()) ctx.CancelTimer(p.emit_at, customer, kEmitTag);
  if (p.expire_at != Timestamp::Min()) ctx.CancelTimer(p.expire_at, customer, kExpireTag);
  ctx.DeleteObject(customer, kRecord);
}

std::string ProfileProcessor::ToJson(const Profile& p, std::string_view customer, Timestamp now) const {
  JsonWriter w(kProfileJsonBytes);
  WriteJson(p, customer, now, w);
  return w.Take();
}

void ProfileProcessor::WriteJson(const Profile& p, std::string_view customer, Timestamp now, JsonWriter& w) const {
  const std::int32_t today = DayOf(now);
  auto in_window = [&](std::int32_t day, int days) { return day > today - days && day <= today; };
  auto rate = [&](std::string_view currency) -> std::optional<double> {
    if (currency == options_.base_currency) return 1.0;
    auto it = options_.rates.find(currency);
    if (it == options_.rates.end()) return std::nullopt;
    return it->second;
  };
  // GMV: paid minus refunded, per currency (in currency order: both maps
  // are), and in the base currency for the currencies with a rate.
  // Reused from profile to profile (a customer has a currency or two).
  thread_local std::vector<std::pair<std::string_view, double>> gmv;
  gmv.clear();
  {
    auto paid = p.paid_amount.begin(), refunded = p.refunded_amount.begin();
    while (paid != p.paid_amount.end() || refunded != p.refunded_amount.end()) {
      if (refunded == p.refunded_amount.end() || (paid != p.paid_amount.end() && paid->first < refunded->first)) {
        gmv.emplace_back(paid->first, paid->second);
        ++paid;
      } else if (paid == p.paid_amount.end() || refunded->first < paid->first) {
        gmv.emplace_back(refunded->first, 0.0 - refunded->second);
        ++refunded;
      } else {
        gmv.emplace_back(paid->first, paid->second - refunded->second);
        ++paid;
        ++refunded;
      }
    }
  }
  double gmv_base = 0, paid_base = 0, refunded_base = 0;
  for (const auto& [c, x] : gmv)
    if (auto r = rate(c)) gmv_base += x * *r;
  for (const auto& [c, x] : p.paid_amount)
    if (auto r = rate(c)) paid_base += x * *r;
  for (const auto& [c, x] : p.refunded_amount)
    if (auto r = rate(c)) refunded_base += x * *r;

  // The document's layout is fixed: its constant runs (punctuation and
  // keys, commas included) are written as they are, one copy each
  // (JsonWriter::Lit), between the values.
  w.Lit(R"({"customer_id":)").String(customer);
  w.Lit(R"(,"version":)").Int(static_cast<std::int64_t>(p.version));
  w.Lit(R"(,"ts":)").Time(now);
  w.Lit(R"(,"orders":{"created":)").Int(p.created);
  w.Lit(R"(,"paid":)").Int(p.paid);
  w.Lit(R"(,"cancelled":)").Int(p.cancelled);
  w.Lit(R"(,"gmv":{)");
  for (const auto& [c, x] : gmv) w.DynamicKey(c).Double(x);
  w.Lit(R"(},"gmv_base":)").Double(gmv_base);
  w.Lit(R"(,"base_currency":)").String(options_.base_currency);
  if (p.paid > 0)
    w.Lit(R"(,"average_order_value":)").Double(gmv_base / static_cast<double>(p.paid));
  else
    w.Lit(R"(,"average_order_value":null)");
  if (p.first_order != Timestamp::Min())
    w.Lit(R"(,"first_order_at":)").Time(p.first_order).Lit(R"(,"last_order_at":)").Time(p.last_order);
  else
    w.Lit(R"(,"first_order_at":null,"last_order_at":null)");
  // The three largest counts, ties in category order (as a stable sort by
  // count would put them): a category goes before the first kept one it
  // exceeds.
  std::array<std::pair<std::string_view, std::int64_t>, 3> top;
  std::size_t n_top = 0;
  for (const auto& [name, count] : p.categories) {
    std::size_t at = 0;
    while (at < n_top && top[at].second >= count) ++at;
    if (at == top.size()) continue;
    if (n_top < top.size()) ++n_top;
    for (std::size_t i = n_top - 1; i > at; --i) top[i] = top[i - 1];
    top[at] = {name, count};
  }
  w.Lit(R"(,"top_categories":[)");
  for (std::size_t i = 0; i < n_top; ++i) w.String(top[i].first);

  std::int64_t c7 = 0, c30 = 0, c90 = 0;
  for (const auto& [d, n] : p.conv_days) {
    if (in_window(d, 7)) c7 += n;
    if (in_window(d, 30)) c30 += n;
    if (in_window(d, 90)) c90 += n;
  }
  w.Lit(R"(]},"contacts":{"conversations_7d":)").Int(c7);
  w.Lit(R"(,"conversations_30d":)").Int(c30);
  w.Lit(R"(,"conversations_90d":)").Int(c90);
  w.Lit(R"(,"conversations_total":)").Int(p.conversations);
  w.Lit(R"(,"channels":{)");
  std::size_t preferred = 0;
  for (std::size_t c = 1; c < p.channels.size(); ++c) {
    if (p.channels[c] == 0) continue;
    w.Field(JsonKey::Known(ToString(static_cast<Channel>(c))), p.channels[c]);
    if (preferred == 0 || p.channels[c] > p.channels[preferred]) preferred = c;
  }
  if (preferred)
    w.Lit(R"(},"preferred_channel":)").PlainString(JsonKey::Known(ToString(static_cast<Channel>(preferred))));
  else
    w.Lit(R"(},"preferred_channel":null)");
  w.Lit(R"(,"repeat_contacts":)").Int(p.repeats);
  if (p.conversations > 0)
    w.Lit(R"(,"first_contact_resolution_rate":)")
        .Double(1.0 - static_cast<double>(p.repeats) / static_cast<double>(p.conversations));
  else
    w.Lit(R"(,"first_contact_resolution_rate":null)");

  if (p.csat_count > 0)
    w.Lit(R"(},"satisfaction":{"csat_average":)")
        .Double(static_cast<double>(p.csat_sum) / static_cast<double>(p.csat_count))
        .Lit(R"(,"csat_last":)")
        .Int(p.csat_last);
  else
    w.Lit(R"(},"satisfaction":{"csat_average":null,"csat_last":null)");
  w.Lit(R"(,"low_csat":)").Int(p.low_csat);
  w.Lit(R"(,"negative_messages":)").Int(p.negative);

  const std::int64_t complaints = p.cases[static_cast<std::size_t>(CaseKind::kComplaint)];
  const double refund_rate = paid_base > 0 ? refunded_base / paid_base : 0;
  w.Lit(R"(},"aftersales":{"cases":{)");
  for (std::size_t k = 1; k < p.cases.size(); ++k)
    if (p.cases[k]) w.Field(JsonKey::Known(ToString(static_cast<CaseKind>(k))), p.cases[k]);
  w.Lit(R"(},"complaints":)").Int(complaints);
  w.Lit(R"(,"escalations":)").Int(p.escalations);
  w.Lit(R"(,"refunds":)").Int(p.refunds);
  w.Lit(R"(,"refunded":{)");
  for (const auto& [c, x] : p.refunded_amount) w.DynamicKey(c).Double(x);
  if (paid_base > 0)
    w.Lit(R"(},"refund_rate":)").Double(refund_rate);
  else
    w.Lit(R"(},"refund_rate":null)");

  std::array<std::int64_t, kMetricCount> b30{}, b90{};
  std::int64_t breaches_30d = 0;
  for (const auto& b : p.breaches) {
    if (in_window(b[0], 30)) {
      b30[static_cast<std::size_t>(b[1])] += b[2];
      breaches_30d += b[2];
    }
    if (in_window(b[0], 90)) b90[static_cast<std::size_t>(b[1])] += b[2];
  }
  w.Lit(R"(},"service":{"sla_breaches_30d":{)");
  for (const auto* arr : {&b30, &b90}) {
    if (arr == &b90) w.Lit(R"(},"sla_breaches_90d":{)");
    for (int m = 0; m < kMetricCount; ++m)
      if ((*arr)[static_cast<std::size_t>(m)])
        w.Field(JsonKey::Known(ToString(static_cast<Metric>(m))), (*arr)[static_cast<std::size_t>(m)]);
  }

  w.Lit(R"(}},"now":{"open_conversations":)").Int(p.open_conversations);
  w.Lit(R"(,"open_cases":)").Int(static_cast<std::int64_t>(p.open_cases.size()));

  // Scores.
  const double recency_days = p.last_order == Timestamp::Min()
                                  ? -1
                                  : static_cast<double>(now - p.last_order) / static_cast<double>(kDay);
  int r = 1;
  if (recency_days >= 0) {
    r = 5;
    for (double t : options_.recency_days)
      if (recency_days > t) --r;
  }
  const int f = Score(static_cast<double>(p.paid), options_.frequency);
  const int m = Score(gmv_base, options_.monetary);
  std::string_view segment;
  if (p.paid == 0)
    segment = "prospect";
  else if (r >= 4 && f >= 4 && m >= 4)
    segment = "champions";
  else if (f >= 4)
    segment = "loyal";
  else if (r >= 4 && f <= 1)
    segment = "new";
  else if (r <= 2 && f >= 3)
    segment = "at_risk";
  else if (r <= 2)
    segment = "hibernating";
  else
    segment = "regular";
  const std::string_view tier = !p.tier.empty()              ? std::string_view(p.tier)
                                : gmv_base >= options_.vip_gmv ? "vip"
                                                               : "standard";

  // Churn risk: a logistic score of named factors, each in [0, 1] times its
  // weight (docs/profiles.md#churn-risk).
  struct Factor {
    const char* name;
    double weight, value;
  };
  const double conv = std::max<double>(1, static_cast<double>(p.conversations));
  const Factor factors[] = {
      {"order_recency", 1.5, recency_days >= 0 ? std::min(recency_days / 180.0, 1.0) : 0.0},
      {"repeat_contacts", 1.5, static_cast<double>(p.repeats) / conv},
      {"sla_breaches_30d", 1.0, std::min(static_cast<double>(breaches_30d), 5.0) / 5.0},
      {"low_csat", 1.5,
       p.csat_count > 0 ? static_cast<double>(p.low_csat) / static_cast<double>(p.csat_count) : 0},
      {"complaints_and_escalations", 1.0,
       std::min(static_cast<double>(complaints + p.escalations), 3.0) / 3.0},
      {"refund_rate", 1.0, std::clamp(refund_rate, 0.0, 1.0)},
      {"negative_sentiment", 0.5, std::min(static_cast<double>(p.negative), 5.0) / 5.0},
  };
  double z = -2.5;
  std::array<std::pair<double, const char*>, std::size(factors)> listed;
  std::size_t n_listed = 0;
  for (const Factor& fa : factors) {
    z += fa.weight * fa.value;
    // Listed when it adds at least 0.001 to z.
    if (fa.weight * fa.value >= 0.001) listed[n_listed++] = {fa.weight * fa.value, fa.name};
  }
  const std::span<std::pair<double, const char*>> contributions(listed.data(), n_listed);
  // Largest first, ties in the factors' order: an insertion sort (stable,
  // and no buffer for seven entries).
  for (std::size_t i = 1; i < contributions.size(); ++i) {
    const auto x = contributions[i];
    std::size_t j = i;
    for (; j > 0 && contributions[j - 1].first < x.first; --j) contributions[j] = contributions[j - 1];
    contributions[j] = x;
  }
  if (recency_days >= 0)
    w.Lit(R"(},"scores":{"recency_days":)").Double(recency_days);
  else
    w.Lit(R"(},"scores":{"recency_days":null)");
  w.Lit(R"(,"rfm":{"r":)").Int(r).Lit(R"(,"f":)").Int(f).Lit(R"(,"m":)").Int(m);
  w.Lit(R"(},"segment":)").PlainString(JsonKey::Known(segment));
  w.Lit(R"(,"tier":)").String(tier);
  w.Lit(R"(,"churn_risk":)").Double(1.0 / (1.0 + std::exp(-z)));
  w.Lit(R"(,"churn_factors":[)");
  for (std::size_t i = 0; i < contributions.size() && i < 3; ++i) {
    if (i == 0)
      w.Lit(R"({"factor":)");
    else
      w.Lit(R"(,{"factor":)");
    w.PlainString(JsonKey::Known(contributions[i].second));
    w.Lit(R"(,"contribution":)").Double(contributions[i].first).Lit("}");
  }
  w.Lit("]}}");
}

}  // namespace cx::processors
