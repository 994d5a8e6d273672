#include "core/event_decoder.h"

#include <simdjson.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/swar.h"

namespace cx {
namespace {

constexpr double kMaxAmount = 1e15;
// Type names and enumeration values are short words; longer is never valid.
constexpr std::size_t kMaxTypeNameBytes = 64;

// Every payload field of the contract. The envelope (event_id, type, ts,
// customer_id, tenant) is handled separately.
enum Field : std::uint8_t {
  kConversationId,
  kChannel,
  kQueue,
  kPriority,
  kCustomerTier,
  kOrderId,
  kTopic,
  kText,
  kSentiment,
  kAgentId,
  kPublic,
  kAuto,
  kStatus,
  kResolution,
  kCsat,
  kComment,
  kAmount,
  kCurrency,
  kItems,
  kCaseId,
  kKind,
  kReason,
  kQueues,
  kMaxConcurrency,
  kEventId,
  kTs,
  kCustomerId,
  kTenant,
  kType,
  kFieldCount
};
static_assert(kFieldCount <= 32);

constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "conversation_id", "channel",    "queue",       "priority", "customer_tier", "order_id",
    "topic",           "text",       "sentiment",   "agent_id", "public",        "auto",
    "status",          "resolution", "csat",        "comment",  "amount",        "currency",
    "items",           "case_id",    "kind",        "reason",   "queues",        "max_concurrency",
    "event_id",        "ts",         "customer_id", "tenant",   "type",
};

constexpr std::uint32_t Bit(Field f) { return 1u << f; }

struct TypeSpec {
  std::uint32_t required;
  std::uint32_t optional;
};

constexpr std::uint32_t kEnvelopeRequired = Bit(kEventId) | Bit(kTs) | Bit(kCustomerId) | Bit(kType);
constexpr std::uint32_t kEnvelopeOptional = Bit(kTenant);

// Which fields each type carries, indexed by EventType. This table is the
// contract of docs/events.md.
constexpr std::array<TypeSpec, kEventTypeCount> kSpecs = {{
    // conversation.opened
    {Bit(kConversationId) | Bit(kChannel) | Bit(kQueue) | Bit(kPriority),
     Bit(kCustomerTier) | Bit(kOrderId) | Bit(kTopic)},
    // message.customer
    {Bit(kConversationId), Bit(kText) | Bit(kSentiment)},
    // message.agent
    {Bit(kConversationId) | Bit(kAgentId), Bit(kPublic) | Bit(kAuto)},
    // conversation.assigned
    {Bit(kConversationId) | Bit(kAgentId), 0},
    // conversation.transferred
    {Bit(kConversationId) | Bit(kQueue), 0},
    // conversation.status
    {Bit(kConversationId) | Bit(kStatus), 0},
    // conversation.abandoned
    {Bit(kConversationId), 0},
    // conversation.closed
    {Bit(kConversationId), Bit(kResolution)},
    // conversation.rated
    {Bit(kConversationId) | Bit(kCsat), Bit(kComment)},
    // order.created
    {Bit(kOrderId) | Bit(kAmount) | Bit(kCurrency), Bit(kItems)},
    // order.paid
    {Bit(kOrderId) | Bit(kAmount), 0},
    // order.shipped, order.delivered, order.cancelled
    {Bit(kOrderId), 0},
    {Bit(kOrderId), 0},
    {Bit(kOrderId), 0},
    // aftersales.opened
    {Bit(kCaseId) | Bit(kOrderId) | Bit(kKind), Bit(kAmount) | Bit(kReason) | Bit(kChannel)},
    // approved, rejected, item_received, escalated, closed, reopened
    {Bit(kCaseId), 0},
    {Bit(kCaseId), 0},
    {Bit(kCaseId), 0},
    {Bit(kCaseId), 0},
    {Bit(kCaseId), 0},
    {Bit(kCaseId), 0},
    // aftersales.refunded
    {Bit(kCaseId) | Bit(kAmount), 0},
    // agent.status (customer_id not required; see below)
    {Bit(kAgentId) | Bit(kStatus) | Bit(kQueues), Bit(kMaxConcurrency)},
    // customer.erased
    {0, 0},
}};

// Field names by a hash of their length and end bytes, open addressing:
// one probe and one comparison for a known name, whatever its place in the
// list (every key of every event goes through here).
constexpr std::size_t kFieldSlots = 64;
constexpr std::size_t FieldSlot(std::string_view name) {
  return (name.size() * 37 + static_cast<unsigned char>(name.front()) * 5 +
          static_cast<unsigned char>(name.back())) %
         kFieldSlots;
}
constexpr std::array<std::uint8_t, kFieldSlots> kFieldTable = [] {
  std::array<std::uint8_t, kFieldSlots> t{};
  t.fill(kFieldCount);
  for (int i = 0; i < kFieldCount; ++i) {
    std::size_t s = FieldSlot(kFieldNames[i]);
    while (t[s] != kFieldCount) s = (s + 1) % kFieldSlots;
    t[s] = static_cast<std::uint8_t>(i);
  }
  return t;
}();

std::optional<Field> FieldByName(std::string_view name) {
  if (name.empty()) return std::nullopt;
  for (std::size_t s = FieldSlot(name); kFieldTable[s] != kFieldCount; s = (s + 1) % kFieldSlots) {
    if (kFieldNames[kFieldTable[s]] == name) return static_cast<Field>(kFieldTable[s]);
  }
  return std::nullopt;
}

std::string_view TypeName(simdjson::dom::element_type t) {
  using T = simdjson::dom::element_type;
  switch (t) {
    case T::ARRAY:
      return "array";
    case T::OBJECT:
      return "object";
    case T::INT64:
    case T::UINT64:
    case T::DOUBLE:
      return "number";
    case T::STRING:
      return "string";
    case T::BOOL:
      return "boolean";
    case T::NULL_VALUE:
      return "null";
  }
  return "value";
}

}  // namespace

std::string_view ToString(Rejection::Code c) {
  using C = Rejection::Code;
  switch (c) {
    case C::kTooLarge:
      return "too_large";
    case C::kInvalidJson:
      return "invalid_json";
    case C::kNotAnObject:
      return "not_an_object";
    case C::kMissingField:
      return "missing_field";
    case C::kWrongType:
      return "wrong_type";
    case C::kUnknownType:
      return "unknown_type";
    case C::kTooLong:
      return "too_long";
    case C::kOutOfRange:
      return "out_of_range";
    case C::kBadTimestamp:
      return "bad_timestamp";
    case C::kDuplicateField:
      return "duplicate_field";
    case C::kFutureTimestamp:
      return "future_timestamp";
    case C::kWrongTopic:
      return "wrong_topic";
  }
  return "unknown";
}

std::string Rejection::ToString() const {
  if (field.empty()) return detail;
  return "field `" + field + "`: " + detail;
}

struct EventDecoder::Impl {
  explicit Impl(DecodeLimits l) : limits(l) {}

  DecodeLimits limits;
  simdjson::dom::parser parser;
  std::vector<char> padded;
  Event event;
};

EventDecoder::EventDecoder(DecodeLimits limits) : impl_(std::make_unique<Impl>(limits)) {}
EventDecoder::~EventDecoder() = default;

namespace {

// Decodes the fields of one object into an Event. Each method returns false
// after filling in the rejection.
// Whether `s` holds a control character (U+0000 to U+001F, U+007F), eight
// bytes at a time.
bool HasControl(std::string_view s) {
  // Spaces fill a short id's word: never a control character.
  return swar::AnyByte(s, 0x2020202020202020ULL,
                       [](std::uint64_t x) { return swar::Below(x, 0x20) | swar::Equal(x, 0x7f); });
}

// out = s for an id: the string an event held before keeps its room, and
// clear and append copy without assign's check of s overlapping out (a
// call that costs more than the copy of a short id).
inline void AssignId(std::string& out, std::string_view s) {
  out.clear();
  out.append(s.data(), s.size());
}

class FieldReader {
 public:
  FieldReader(const DecodeLimits& limits, Event& ev, Rejection& rej) : limits_(limits), ev_(ev), rej_(rej) {}

  bool Fail(Rejection::Code code, Field f, std::string detail) {
    rej_.code = code;
    rej_.field = std::string(kFieldNames[f]);
    rej_.detail = std::move(detail);
    return false;
  }
  bool WrongType(Field f, simdjson::dom::element v, std::string_view want) {
    return Fail(Rejection::Code::kWrongType, f,
                "expected " + std::string(want) + ", got " + std::string(TypeName(v.type())));
  }

  bool String(Field f, simdjson::dom::element v, std::size_t max, std::string_view& out) {
    if (!v.is_string()) return WrongType(f, v, "string");
    out = v.get_string().value_unsafe();
    if (out.size() > max) {
      return Fail(
          Rejection::Code::kTooLong, f,
          "length " + std::to_string(out.size()) + " exceeds the limit of " + std::to_string(max) + " bytes");
    }
    return true;
  }
  bool Id(Field f, simdjson::dom::element v, std::string& out) {
    std::string_view s;
    if (!String(f, v, limits_.max_id_bytes, s)) return false;
    if (s.empty()) return Fail(Rejection::Code::kOutOfRange, f, "must not be empty");
    // An id with a control character (NUL included) could never be queried
    // (/v1/customers/ID%00x answers for ID) and would corrupt log lines and
    // metric labels: refused.
    if (HasControl(s))
      return Fail(Rejection::Code::kOutOfRange, f,
                  "contains a control character (U+0000 to U+001F or U+007F)");
    AssignId(out, s);
    return true;
  }
  bool Text(Field f, simdjson::dom::element v, std::string& out) {
    std::string_view s;
    if (!String(f, v, limits_.max_text_bytes, s)) return false;
    out.assign(s);
    return true;
  }
  template <typename E>
  bool Enum(Field f, simdjson::dom::element v, std::optional<E> (*parse)(std::string_view),
            std::string_view allowed, E& out) {
    std::string_view s;
    if (!String(f, v, kMaxTypeNameBytes, s)) return false;
    auto e = parse(s);
    if (!e) {
      // Appended, not built with operator+: GCC 12 at -O3 reports a false
      // -Wrestrict on `"\"" + std::string(s)` (GCC bug 105329).
      std::string why = "\"";
      why.append(s).append("\" is not one of ").append(allowed);
      return Fail(Rejection::Code::kOutOfRange, f, std::move(why));
    }
    out = *e;
    return true;
  }
  bool Number(Field f, simdjson::dom::element v, double lo, double hi, double& out) {
    if (!v.is_number()) return WrongType(f, v, "number");
    double d = v.get_double().value_unsafe();
    if (!std::isfinite(d)) return Fail(Rejection::Code::kOutOfRange, f, "must be finite");
    if (d < lo || d > hi) {
      return Fail(Rejection::Code::kOutOfRange, f, "must be between " + Fmt(lo) + " and " + Fmt(hi));
    }
    out = d;
    return true;
  }
  bool Integer(Field f, simdjson::dom::element v, std::int64_t lo, std::int64_t hi, std::int64_t& out) {
    if (!v.is_int64()) {
      if (v.is_number()) return Fail(Rejection::Code::kWrongType, f, "expected an integer");
      return WrongType(f, v, "integer");
    }
    std::int64_t i = v.get_int64().value_unsafe();
    if (i < lo || i > hi) {
      return Fail(Rejection::Code::kOutOfRange, f,
                  "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    }
    out = i;
    return true;
  }
  bool Bool(Field f, simdjson::dom::element v, bool& out) {
    if (!v.is_bool()) return WrongType(f, v, "boolean");
    out = v.get_bool().value_unsafe();
    return true;
  }

  bool Read(Field f, simdjson::dom::element v);

 private:
  static std::string Fmt(double d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", d);
    return buf;
  }

  const DecodeLimits& limits_;
  Event& ev_;
  Rejection& rej_;
};

bool FieldReader::Read(Field f, simdjson::dom::element v) {
  switch (f) {
    case kEventId:
      return Id(f, v, ev_.event_id);
    case kCustomerId:
      return Id(f, v, ev_.customer_id);
    case kTenant:
      return Id(f, v, ev_.tenant);
    case kConversationId:
      return Id(f, v, ev_.conversation_id);
    case kOrderId:
      return Id(f, v, ev_.order_id);
    case kCaseId:
      return Id(f, v, ev_.case_id);
    case kAgentId:
      return Id(f, v, ev_.agent_id);
    case kQueue:
      return Id(f, v, ev_.queue);
    case kCustomerTier:
      return Id(f, v, ev_.customer_tier);
    case kTopic:
      return Id(f, v, ev_.topic);
    case kCurrency:
      return Id(f, v, ev_.currency);
    case kText:
      return Text(f, v, ev_.text);
    case kResolution:
      return Text(f, v, ev_.resolution);
    case kComment:
      return Text(f, v, ev_.comment);
    case kReason:
      return Text(f, v, ev_.reason);
    case kTs: {
      std::string_view s;
      if (!String(f, v, 64, s)) return false;
      std::string why;
      auto ts = ParseRfc3339(s, &why);
      if (!ts) return Fail(Rejection::Code::kBadTimestamp, f, "not an RFC 3339 date-time: " + why);
      ev_.ts = *ts;
      return true;
    }
    case kChannel:
      return Enum(f, v, &ParseChannel, "web, app, wechat, social, phone, email", ev_.channel);
    case kPriority:
      return Enum(f, v, &ParsePriority, "low, normal, high, urgent", ev_.priority);
    case kStatus:
      if (ev_.type == EventType::kAgentStatus) {
        return Enum(f, v, &ParseAgentStatus, "online, away, offline", ev_.agent_status);
      }
      return Enum(f, v, &ParseConversationStatus, "open, pending, on_hold", ev_.status);
    case kKind:
      return Enum(f, v, &ParseCaseKind, "return, exchange, refund, repair, complaint", ev_.kind);
    case kSentiment: {
      double d;
      if (!Number(f, v, -1.0, 1.0, d)) return false;
      ev_.sentiment = d;
      return true;
    }
    case kAmount: {
      double d;
      if (!Number(f, v, 0.0, kMaxAmount, d)) return false;
      ev_.amount = d;
      return true;
    }
    case kCsat: {
      std::int64_t i;
      if (!Integer(f, v, 1, 5, i)) return false;
      ev_.csat = static_cast<int>(i);
      return true;
    }
    case kMaxConcurrency: {
      std::int64_t i;
      if (!Integer(f, v, 1, 1000, i)) return false;
      ev_.max_concurrency = static_cast<int>(i);
      return true;
    }
    case kPublic:
      return Bool(f, v, ev_.is_public);
    case kAuto:
      return Bool(f, v, ev_.is_auto);
    case kQueues: {
      simdjson::dom::array arr;
      if (v.get_array().get(arr)) return WrongType(f, v, "array of strings");
      for (simdjson::dom::element q : arr) {
        std::string id;
        if (!Id(f, q, id)) return false;
        ev_.queues.push_back(std::move(id));
        if (ev_.queues.size() > 1024) return Fail(Rejection::Code::kTooLong, f, "more than 1024 queues");
      }
      return true;
    }
    case kItems: {
      simdjson::dom::array arr;
      if (v.get_array().get(arr)) return WrongType(f, v, "array of objects");
      for (simdjson::dom::element it : arr) {
        simdjson::dom::object item_obj;
        if (it.get_object().get(item_obj)) return WrongType(f, it, "object");
        OrderItem item;
        unsigned seen = 0;  // sku, category, qty, price
        for (auto [key, val] : item_obj) {
          const unsigned bit = key == "sku"        ? 1u
                               : key == "category" ? 2u
                               : key == "qty"      ? 4u
                               : key == "price"    ? 8u
                                                   : 0u;
          if (bit & seen)
            return Fail(Rejection::Code::kDuplicateField, f,
                        "field \"" + std::string(key) + "\" appears more than once in an element");
          seen |= bit;
          if (key == "sku") {
            if (!Id(f, val, item.sku)) return false;
          } else if (key == "category") {
            if (!Id(f, val, item.category)) return false;
          } else if (key == "qty") {
            if (!Integer(f, val, 1, 1'000'000, item.qty)) return false;
          } else if (key == "price") {
            if (!Number(f, val, 0.0, kMaxAmount, item.price)) return false;
          }
        }
        ev_.items.push_back(std::move(item));
        if (ev_.items.size() > 1000) return Fail(Rejection::Code::kTooLong, f, "more than 1000 items");
      }
      return true;
    }
    case kType:
    case kFieldCount:
      break;
  }
  return true;
}

void Reset(Event& e) {
  // Keep the strings' capacity: clear rather than reassign.
  e.event_id.clear();
  e.customer_id.clear();
  e.tenant.clear();
  e.conversation_id.clear();
  e.order_id.clear();
  e.case_id.clear();
  e.agent_id.clear();
  e.channel = Channel::kUnknown;
  e.queue.clear();
  e.priority = Priority::kNormal;
  e.customer_tier.clear();
  e.topic.clear();
  e.text.clear();
  e.sentiment.reset();
  e.is_public = true;
  e.is_auto = false;
  e.status = ConversationStatus::kOpen;
  e.resolution.clear();
  e.csat = 0;
  e.comment.clear();
  e.amount.reset();
  e.currency.clear();
  e.items.clear();
  e.kind = CaseKind::kUnknown;
  e.reason.clear();
  e.agent_status = AgentStatus::kOffline;
  e.queues.clear();
  e.max_concurrency.reset();
  e.ts = Timestamp{0};
}

}  // namespace

const Event* EventDecoder::Decode(std::string_view bytes) {
  return DecodeInto(bytes, impl_->event) ? &impl_->event : nullptr;
}

bool EventDecoder::DecodeInto(std::string_view bytes, Event& ev) {
  Impl& im = *impl_;
  rejection_ = Rejection{};
  if (bytes.size() > im.limits.max_message_bytes) {
    rejection_.code = Rejection::Code::kTooLarge;
    rejection_.detail = "message of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                        std::to_string(im.limits.max_message_bytes);
    return false;
  }
  std::size_t need = bytes.size() + simdjson::SIMDJSON_PADDING;
  if (im.padded.size() < need) im.padded.resize(need);
  std::memcpy(im.padded.data(), bytes.data(), bytes.size());
  std::memset(im.padded.data() + bytes.size(), 0, simdjson::SIMDJSON_PADDING);

  simdjson::dom::element doc;
  if (auto err = im.parser.parse(im.padded.data(), bytes.size(), false).get(doc)) {
    rejection_.code = Rejection::Code::kInvalidJson;
    rejection_.detail = std::string("invalid JSON: ") + simdjson::error_message(err);
    return false;
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) {
    rejection_.code = Rejection::Code::kNotAnObject;
    rejection_.detail = "expected a JSON object, got " + std::string(TypeName(doc.type()));
    return false;
  }

  Reset(ev);
  FieldReader reader(im.limits, ev, rejection_);

  // The type decides which fields are read.
  simdjson::dom::element type_el;
  if (obj["type"].get(type_el)) {
    reader.Fail(Rejection::Code::kMissingField, kType, "required field is missing");
    return false;
  }
  std::string_view type_name;
  if (!reader.String(kType, type_el, kMaxTypeNameBytes, type_name)) return false;
  auto type = ParseEventType(type_name);
  if (!type) {
    reader.Fail(Rejection::Code::kUnknownType, kType,
                "unknown event type \"" + std::string(type_name) + "\"");
    return false;
  }
  ev.type = *type;
  const TypeSpec& spec = kSpecs[static_cast<size_t>(*type)];
  std::uint32_t required = spec.required | kEnvelopeRequired;
  if (*type == EventType::kAgentStatus) required &= ~Bit(kCustomerId);
  const std::uint32_t allowed = required | spec.optional | kEnvelopeOptional |
                                (*type == EventType::kAgentStatus ? Bit(kCustomerId) : 0);

  std::uint32_t seen = 0;
  for (auto [key, value] : obj) {
    auto f = FieldByName(key);
    if (!f) continue;  // unknown fields are tolerated: producers may be newer than we are
    if (seen & Bit(*f)) {
      reader.Fail(Rejection::Code::kDuplicateField, *f, "field appears more than once");
      return false;
    }
    seen |= Bit(*f);
    if (*f == kType || !(allowed & Bit(*f))) continue;
    if (!reader.Read(*f, value)) return false;
  }
  std::uint32_t missing = required & ~seen;
  if (missing != 0) {
    for (int i = 0; i < kFieldCount; ++i) {
      if (missing & (1u << i)) {
        reader.Fail(Rejection::Code::kMissingField, static_cast<Field>(i),
                    "required field is missing for type " + std::string(type_name));
        return false;
      }
    }
  }
  return true;
}

}  // namespace cx
