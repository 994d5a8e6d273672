#include "tools/simulator.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <queue>
#include <random>

#include "core/json_writer.h"

namespace cx::tools {
namespace {

constexpr DurationMs kS = 1000, kMin = 60 * kS, kH = 60 * kMin;

const char* const kChannels[] = {"web", "app", "wechat", "social", "phone", "email"};
const double kChannelWeights[] = {0.30, 0.30, 0.22, 0.08, 0.06, 0.04};
const char* const kPriorities[] = {"low", "normal", "high", "urgent"};
const double kPriorityWeights[] = {0.15, 0.65, 0.15, 0.05};
const char* const kTopics[] = {"order_status", "refund_status", "product_question", "delivery", "payment"};
const char* const kCategories[] = {"shoes", "bags", "apparel", "electronics", "beauty", "home"};
const char* const kCaseKinds[] = {"return", "exchange", "refund", "repair", "complaint"};
const double kCaseKindWeights[] = {0.40, 0.15, 0.25, 0.10, 0.10};
const char* const kCalm[] = {"hello, where is my order?", "can I change the size?", "请问什么时候发货",
                             "is this in stock?",         "I need an invoice",      "谢谢"};
const char* const kAngry[] = {"this is unacceptable, I will file a complaint",
                              "我要投诉",
                              "差评!",
                              "I will call my lawyer",
                              "I will do a chargeback",
                              "再不处理我就打12315"};

}  // namespace

class Simulator::Impl {
 public:
  explicit Impl(SimOptions o) : o_(std::move(o)), rng_(o_.seed), end_(o_.start + o_.duration) {
    // The daily curve, normalised to average 1 over a day.
    double sum = 0;
    for (int m = 0; m < 24 * 60; ++m) sum += RawCurve(m / 60.0);
    curve_norm_ = sum / (24 * 60);
    curve_max_ = 0;
    for (int m = 0; m < 24 * 60; ++m) curve_max_ = std::max(curve_max_, RawCurve(m / 60.0) / curve_norm_);
    for (std::size_t q = 0; q < o_.queues.size(); ++q) ScheduleArrival(q, o_.start);
    // Agents: a third on each 8-hour shift, each in one or two queues.
    for (int a = 0; a < o_.agents; ++a) {
      Agent ag;
      ag.id = "agent-" + std::to_string(a + 1);
      ag.slots = 1 + static_cast<int>(Uniform() * 3);
      ag.queues.push_back(a % static_cast<int>(o_.queues.size()));
      if (Uniform() < 0.4)
        ag.queues.push_back(static_cast<int>(Uniform() * static_cast<double>(o_.queues.size())));
      std::sort(ag.queues.begin(), ag.queues.end());
      ag.queues.erase(std::unique(ag.queues.begin(), ag.queues.end()), ag.queues.end());
      agents_.push_back(ag);
      // Shifts start at 00:00, 08:00, 16:00 UTC; an agent whose shift is on
      // at the start logs in at once.
      const int shift = (a / static_cast<int>(o_.queues.size())) % 3;  // every queue on every shift
      const std::int64_t day = o_.start.ms / (24 * kH) * (24 * kH);
      Timestamp begin{day + shift * 8 * kH};
      while (begin + 8 * kH <= o_.start) begin = begin + 24 * kH;
      const Timestamp end = begin + 8 * kH;
      At(std::max(begin, o_.start) + static_cast<DurationMs>(Uniform() * 30 * kS),
         [this, a, end] { AgentOnline(a, end); });
    }
    if (o_.orders_per_hour > 0) At(o_.start + Exp(kH / o_.orders_per_hour), [this] { NewOrder(); });
    if (o_.erasure_per_hour > 0) At(o_.start + Exp(kH / o_.erasure_per_hour), [this] { Erasure(); });
  }

  bool Next(SimRecord& out) {
    while (ready_.empty()) {
      if (actions_.empty() || actions_.top().at >= end_) return false;
      Action a = actions_.top();
      actions_.pop();
      now_ = a.at;
      a.fn();
    }
    out = std::move(ready_.front());
    ready_.pop_front();
    return true;
  }

  Counts counts;

 private:
  struct Action {
    Timestamp at;
    std::uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Action& b) const { return at != b.at ? at > b.at : seq > b.seq; }
  };
  struct Agent {
    std::string id;
    int slots = 1, busy = 0;
    bool online = false;
    std::vector<int> queues;
  };
  struct Conv {
    std::string id, customer;
    int queue = 0;
    Timestamp entered;
    bool waiting = true, done = false;
    int agent = -1;
  };

  // ---- randomness
  double Uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  DurationMs Exp(double mean_ms) {
    return static_cast<DurationMs>(std::exponential_distribution<double>(1.0 / mean_ms)(rng_));
  }
  DurationMs LogNormal(double mean_ms, double sigma) {
    const double mu = std::log(mean_ms) - sigma * sigma / 2;
    return static_cast<DurationMs>(std::lognormal_distribution<double>(mu, sigma)(rng_));
  }
  template <std::size_t N>
  const char* Pick(const char* const (&items)[N], const double (&weights)[N]) {
    double u = Uniform(), acc = 0;
    for (std::size_t i = 0; i < N; ++i)
      if ((acc += weights[i]) >= u) return items[i];
    return items[N - 1];
  }
  template <std::size_t N>
  const char* Pick(const char* const (&items)[N]) {
    return items[std::min(N - 1, static_cast<std::size_t>(Uniform() * N))];
  }
  std::string Customer() {
    char buf[24];
    std::snprintf(buf, sizeof buf, "cust-%06d", static_cast<int>(Uniform() * o_.customers));
    return buf;
  }
  bool Vip(const std::string& customer) const {
    return std::atoi(customer.c_str() + 5) < static_cast<int>(o_.vip_share * o_.customers);
  }

  // ---- scheduling and output
  void At(Timestamp t, std::function<void()> fn) { actions_.push(Action{t, seq_++, std::move(fn)}); }

  JsonWriter Begin(const char* type, const std::string& customer) {
    type_ = type;
    key_ = customer;
    JsonWriter w;
    w.BeginObject()
        .Field("event_id", "sim-" + std::to_string(o_.seed) + "-" + std::to_string(++event_no_))
        .Field("type", type)
        .TimeField("ts", now_);
    if (!customer.empty()) w.Field("customer_id", customer);
    if (!o_.tenant.empty()) w.Field("tenant", o_.tenant);
    return w;
  }
  void Out(JsonWriter& w) {
    w.EndObject();
    SimRecord r;
    r.ts = now_;
    r.value = w.Take();
    r.type = type_;
    r.key = key_;
    if (o_.malformed_share > 0 && Uniform() < o_.malformed_share) Corrupt(r);
    ++counts.records;
    ready_.push_back(std::move(r));
  }
  // A malformed variant of a record: what real producers get wrong.
  void Corrupt(SimRecord& r) {
    r.malformed = true;
    ++counts.malformed;
    switch (malformed_no_++ % 4) {
      case 0:  // truncated
        r.value.resize(r.value.size() / 2);
        break;
      case 1: {  // the type's required timestamp missing
        const auto at = r.value.find(",\"ts\":");
        if (at != std::string::npos) r.value.erase(at, r.value.find(',', at + 1) - at);
        break;
      }
      case 2: {  // an unknown type
        const auto at = r.value.find("\"type\":\"");
        if (at != std::string::npos) r.value.insert(at + 8, "legacy.");
        break;
      }
      default:  // not JSON at all
        r.value = "<html>502 Bad Gateway</html>";
        break;
    }
  }

  // ---- the daily curve (local time UTC+8)
  static double RawCurve(double hour) {
    auto bump = [](double h, double at, double width) {
      double d = std::fabs(h - at);
      d = std::min(d, 24 - d);
      return std::exp(-d * d / (2 * width * width));
    };
    return 0.15 + 1.0 * bump(hour, 11, 2.5) + 0.9 * bump(hour, 20.5, 2.0);
  }
  double Curve(Timestamp t) const {
    if (!o_.daily_curve) return 1;
    const double hour = std::fmod(static_cast<double>(t.ms + 8 * kH) / static_cast<double>(kH), 24.0);
    return RawCurve(hour < 0 ? hour + 24 : hour) / curve_norm_;
  }

  // ---- conversations
  void ScheduleArrival(std::size_t q, Timestamp from) {
    // Thinning: candidates at the peak rate, kept with curve / peak.
    const double peak = o_.queues[q].conversations_per_hour * (o_.daily_curve ? curve_max_ : 1.0);
    if (peak <= 0) return;
    Timestamp t = from + Exp(kH / peak);
    At(t, [this, q] {
      if (Uniform() * (o_.daily_curve ? curve_max_ : 1.0) <= Curve(now_)) Open(static_cast<int>(q));
      ScheduleArrival(q, now_);
    });
  }

  void Open(int q) {
    const std::string customer = Customer();
    const std::string id = "conv-" + std::to_string(++conv_no_);
    ++counts.conversations;
    JsonWriter w = Begin("conversation.opened", customer);
    w.Field("conversation_id", id)
        .Field("channel", Pick(kChannels, kChannelWeights))
        .Field("queue", o_.queues[static_cast<std::size_t>(q)].name)
        .Field("priority", Pick(kPriorities, kPriorityWeights))
        .Field("customer_tier", Vip(customer) ? "vip" : "standard")
        .Field("topic", Pick(kTopics));
    Out(w);
    const std::size_t c = convs_.size();
    convs_.push_back(Conv{id, customer, q, now_});
    // The customer writes; a bot sometimes answers at once (not a reply).
    At(now_ + 2 * kS + Exp(3 * kS), [this, c] { CustomerMessage(c, false); });
    if (Uniform() < 0.3) At(now_ + 1 * kS, [this, c] { Message(c, "bot", true, true); });
    // Some are moved to another queue while they wait.
    if (o_.queues.size() > 1 && Uniform() < 0.04)
      At(now_ + 10 * kS + Exp(20 * kS), [this, c] { Transfer(c); });
    waiting_[static_cast<std::size_t>(q)].push_back(c);
    // Patience: exponential; a VIP is a little more patient.
    const double patience = o_.mean_patience_s * 1000 * (Vip(customer) ? 1.5 : 1.0);
    At(now_ + Exp(patience), [this, c] { Abandon(c); });
    Dispatch(q);
  }

  void Transfer(std::size_t c) {
    Conv& v = convs_[c];
    if (!v.waiting || v.done) return;
    auto& from = waiting_[static_cast<std::size_t>(v.queue)];
    from.erase(std::remove(from.begin(), from.end(), c), from.end());
    v.queue = (v.queue + 1) % static_cast<int>(o_.queues.size());
    v.entered = now_;
    JsonWriter w = Begin("conversation.transferred", v.customer);
    w.Field("conversation_id", v.id).Field("queue", o_.queues[static_cast<std::size_t>(v.queue)].name);
    Out(w);
    waiting_[static_cast<std::size_t>(v.queue)].push_back(c);
    Dispatch(v.queue);
  }

  void Abandon(std::size_t c) {
    Conv& v = convs_[c];
    if (!v.waiting || v.done) return;
    v.waiting = false;
    v.done = true;
    ++counts.abandoned;
    auto& q = waiting_[static_cast<std::size_t>(v.queue)];
    q.erase(std::remove(q.begin(), q.end(), c), q.end());
    JsonWriter w = Begin("conversation.abandoned", v.customer);
    w.Field("conversation_id", v.id);
    Out(w);
  }

  // Gives waiting conversations of queue q to agents with a free slot.
  void Dispatch(int q) {
    auto& waiting = waiting_[static_cast<std::size_t>(q)];
    while (!waiting.empty()) {
      int best = -1;
      for (std::size_t a = 0; a < agents_.size(); ++a) {
        const Agent& ag = agents_[a];
        if (!ag.online || ag.busy >= ag.slots) continue;
        if (std::find(ag.queues.begin(), ag.queues.end(), q) == ag.queues.end()) continue;
        if (best < 0 || ag.busy < agents_[static_cast<std::size_t>(best)].busy) best = static_cast<int>(a);
      }
      if (best < 0) return;
      const std::size_t c = waiting.front();
      waiting.pop_front();
      Conv& v = convs_[c];
      v.waiting = false;
      v.agent = best;
      ++agents_[static_cast<std::size_t>(best)].busy;
      Serve(c);
    }
  }

  void Serve(std::size_t c) {
    const Conv& v = convs_[c];
    const DurationMs wait = now_ - v.entered;
    ++counts.answered;
    JsonWriter a = Begin("conversation.assigned", v.customer);
    a.Field("conversation_id", v.id).Field("agent_id", agents_[static_cast<std::size_t>(v.agent)].id);
    Out(a);
    const DurationMs handle = std::max<DurationMs>(30 * kS, LogNormal(o_.mean_handle_s * 1000, 0.6));
    Timestamp t = now_ + 3 * kS + Exp(5 * kS);
    At(t, [this, c] { Message(c, "", true, false); });
    // A few exchanges within the handle time; an internal note now and
    // then; sometimes a pending period waiting on the customer.
    const int rounds = 1 + static_cast<int>(Uniform() * 3);
    for (int i = 1; i <= rounds; ++i) {
      const Timestamp at = t + handle * i / (rounds + 1);
      At(at, [this, c, wait] { CustomerMessage(c, wait > 120 * kS); });
      At(at + 15 * kS + Exp(10 * kS), [this, c] { Message(c, "", true, false); });
    }
    if (Uniform() < 0.15) At(t + handle / 3, [this, c] { Message(c, "", false, false); });
    if (Uniform() < 0.1) {
      At(t + handle / 2, [this, c] { Status(c, "pending"); });
      At(t + handle / 2 + 5 * kS, [this, c] { CustomerMessage(c, false); });
    }
    At(t + handle, [this, c, wait] { Close(c, wait); });
  }

  void Message(std::size_t c, const std::string& agent, bool is_public, bool is_auto) {
    const Conv& v = convs_[c];
    if (v.done) return;
    JsonWriter w = Begin("message.agent", v.customer);
    w.Field("conversation_id", v.id)
        .Field("agent_id", !agent.empty() ? agent
                           : v.agent >= 0 ? agents_[static_cast<std::size_t>(v.agent)].id
                                          : "bot");
    if (!is_public) w.Field("public", false);
    if (is_auto) w.Field("auto", true);
    Out(w);
  }

  void CustomerMessage(std::size_t c, bool upset) {
    const Conv& v = convs_[c];
    if (v.done) return;
    const bool angry = Uniform() < (upset ? 0.35 : 0.04);
    JsonWriter w = Begin("message.customer", v.customer);
    w.Field("conversation_id", v.id)
        .Field("text", angry ? Pick(kAngry) : Pick(kCalm))
        .Field("sentiment", angry ? -0.6 - Uniform() * 0.4 : -0.2 + Uniform() * 0.9);
    Out(w);
  }

  void Status(std::size_t c, const char* status) {
    const Conv& v = convs_[c];
    if (v.done) return;
    JsonWriter w = Begin("conversation.status", v.customer);
    w.Field("conversation_id", v.id).Field("status", status);
    Out(w);
  }

  void Close(std::size_t c, DurationMs wait) {
    Conv& v = convs_[c];
    if (v.done) return;
    v.done = true;
    JsonWriter w = Begin("conversation.closed", v.customer);
    w.Field("conversation_id", v.id).Field("resolution", Uniform() < 0.85 ? "solved" : "unsolved");
    Out(w);
    Agent& ag = agents_[static_cast<std::size_t>(v.agent)];
    ag.busy = std::max(0, ag.busy - 1);
    // CSAT falls with the wait.
    if (Uniform() < 0.6) {
      const double mood = 4.6 - static_cast<double>(wait) / (60.0 * kS) + (Uniform() - 0.5) * 1.5;
      const int csat = std::clamp(static_cast<int>(std::lround(mood)), 1, 5);
      At(now_ + 30 * kS + Exp(60 * kS), [this, c, csat] {
        const Conv& x = convs_[c];
        JsonWriter r = Begin("conversation.rated", x.customer);
        r.Field("conversation_id", x.id).Field("csat", csat);
        Out(r);
      });
    }
    for (int q : ag.queues) Dispatch(q);
  }

  // ---- agents
  // On shift until `end`; back the next day.
  void AgentOnline(int a, Timestamp end) {
    Agent& ag = agents_[static_cast<std::size_t>(a)];
    ag.online = true;
    AgentStatus(a, "online");
    // A break in the middle of the shift, and the end of the shift.
    const Timestamp pause = now_ + (end - now_) / 2 + Exp(10 * kMin);
    if (pause + 15 * kMin < end)
      At(pause, [this, a] {
        agents_[static_cast<std::size_t>(a)].online = false;
        AgentStatus(a, "away");
        At(now_ + 15 * kMin, [this, a] {
          agents_[static_cast<std::size_t>(a)].online = true;
          AgentStatus(a, "online");
          for (int q : agents_[static_cast<std::size_t>(a)].queues) Dispatch(q);
        });
      });
    At(end, [this, a, end] {
      agents_[static_cast<std::size_t>(a)].online = false;
      AgentStatus(a, "offline");
      At(end + 16 * kH, [this, a, end] { AgentOnline(a, end + 24 * kH); });
    });
    for (int q : ag.queues) Dispatch(q);
  }

  void AgentStatus(int a, const char* status) {
    const Agent& ag = agents_[static_cast<std::size_t>(a)];
    JsonWriter w = Begin("agent.status", "");
    key_ = ag.id;
    w.Field("agent_id", ag.id).Field("status", status);
    w.Key("queues").BeginArray();
    for (int q : ag.queues) w.String(o_.queues[static_cast<std::size_t>(q)].name);
    w.EndArray().Field("max_concurrency", ag.slots);
    Out(w);
  }

  // ---- orders and after-sales
  void NewOrder() {
    At(now_ + Exp(kH / o_.orders_per_hour), [this] { NewOrder(); });
    const std::string customer = Customer();
    const std::string id = "ord-" + std::to_string(++order_no_);
    ++counts.orders;
    const bool usd = Uniform() < 0.1;
    const int items = 1 + static_cast<int>(Uniform() * 3);
    double amount = 0;
    JsonWriter w = Begin("order.created", customer);
    w.Field("order_id", id);
    std::vector<std::pair<const char*, double>> lines;
    for (int i = 0; i < items; ++i) lines.emplace_back(Pick(kCategories), std::round(20 + Uniform() * 480));
    for (const auto& [cat, price] : lines) amount += price;
    w.Field("amount", amount).Field("currency", usd ? "USD" : "CNY");
    w.Key("items").BeginArray();
    int n = 0;
    for (const auto& [cat, price] : lines)
      w.BeginObject()
          .Field("sku", "sku-" + std::to_string(++n))
          .Field("category", cat)
          .Field("qty", 1)
          .Field("price", price)
          .EndObject();
    w.EndArray();
    Out(w);
    At(now_ + 30 * kS + Exp(5 * kMin), [this, customer, id, amount] {
      if (Uniform() < 0.08) return OrderEvent("order.cancelled", customer, id);
      JsonWriter p = Begin("order.paid", customer);
      p.Field("order_id", id).Field("amount", amount);
      Out(p);
      // Shipping: usually within a day, one in ten late (past 48 h).
      const DurationMs ship = Uniform() < 0.1 ? 48 * kH + Exp(12 * kH) : LogNormal(14 * kH, 0.5);
      At(now_ + ship, [this, customer, id] {
        OrderEvent("order.shipped", customer, id);
        At(now_ + 6 * kH + Exp(18 * kH), [this, customer, id] {
          OrderEvent("order.delivered", customer, id);
          if (Uniform() < 0.08) At(now_ + Exp(6 * kH), [this, customer, id] { OpenCase(customer, id); });
        });
      });
    });
  }

  void OrderEvent(const char* type, const std::string& customer, const std::string& id) {
    JsonWriter w = Begin(type, customer);
    w.Field("order_id", id);
    Out(w);
  }

  void OpenCase(const std::string& customer, const std::string& order) {
    const std::string id = "case-" + std::to_string(++case_no_);
    const std::string kind = Pick(kCaseKinds, kCaseKindWeights);
    ++counts.cases;
    JsonWriter w = Begin("aftersales.opened", customer);
    w.Field("case_id", id)
        .Field("order_id", order)
        .Field("kind", kind)
        .Field("amount", std::round(20 + Uniform() * 300));
    w.Field("channel", Pick(kChannels, kChannelWeights));
    Out(w);
    auto step = [this, customer, id](const char* type) {
      JsonWriter e = Begin(type, customer);
      e.Field("case_id", id);
      Out(e);
    };
    if (Uniform() < 0.1) At(now_ + Exp(6 * kH), [step] { step("aftersales.escalated"); });
    const bool overdue = Uniform() < 0.1;  // nobody acts for days
    const Timestamp decide = now_ + (overdue ? 80 * kH : LogNormal(8 * kH, 0.6));
    At(decide, [this, step, kind, customer, id] {
      if (Uniform() < 0.12) {
        step("aftersales.rejected");
        At(now_ + kH, [step] { step("aftersales.closed"); });
        return;
      }
      step("aftersales.approved");
      const DurationMs back = kind == "return" || kind == "exchange" ? 24 * kH + Exp(24 * kH) : 0;
      if (back) At(now_ + back, [step] { step("aftersales.item_received"); });
      At(now_ + back + LogNormal(10 * kH, 0.5), [this, step, customer, id] {
        if (Uniform() < 0.7) {
          JsonWriter r = Begin("aftersales.refunded", customer);
          r.Field("case_id", id).Field("amount", std::round(20 + Uniform() * 300));
          Out(r);
        }
        At(now_ + kH, [this, step] {
          step("aftersales.closed");
          // Now and then the customer comes back about it.
          if (Uniform() < 0.05) {
            At(now_ + Exp(12 * kH), [this, step] {
              step("aftersales.reopened");
              At(now_ + Exp(6 * kH), [step] { step("aftersales.closed"); });
            });
          }
        });
      });
    });
  }

  void Erasure() {
    At(now_ + Exp(kH / o_.erasure_per_hour), [this] { Erasure(); });
    ++counts.erasures;
    JsonWriter w = Begin("customer.erased", Customer());
    Out(w);
  }

  const SimOptions o_;
  std::mt19937_64 rng_;
  const Timestamp end_;
  Timestamp now_;
  double curve_norm_ = 1, curve_max_ = 1;
  std::priority_queue<Action, std::vector<Action>, std::greater<Action>> actions_;
  std::uint64_t seq_ = 0, event_no_ = 0, conv_no_ = 0, order_no_ = 0, case_no_ = 0, malformed_no_ = 0;
  std::deque<SimRecord> ready_;
  std::string type_, key_;  // of the record being written
  std::vector<Agent> agents_;
  std::vector<Conv> convs_;
  std::map<std::size_t, std::deque<std::size_t>> waiting_;
};

Simulator::Simulator(SimOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Simulator::~Simulator() = default;
bool Simulator::Next(SimRecord& out) { return impl_->Next(out); }
const Simulator::Counts& Simulator::counts() const { return impl_->counts; }

}  // namespace cx::tools
