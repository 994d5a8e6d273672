#include "processors/conversations/conversation_keeper.h"

#include <algorithm>
#include <utility>

#include "core/encoding.h"

namespace cx::processors {
namespace {

constexpr std::uint8_t kFormat = 1;
// The customer's one record, under the keeper's name.
constexpr std::string_view kRecord = "open";

// Flags of an encoded conversation.
constexpr std::uint8_t kAnswered = 1;
constexpr std::uint8_t kMoved = 2;  // its queue is not the one it was opened in

}  // namespace

void CustomerConversations::EncodeTo(std::string& out) const {
  ByteWriter w(out, 8 + 40 * open_.size());
  w.Byte(kFormat);
  w.Varint(open_.size());
  for (const auto& [id, c] : open_) {
    const bool moved = !(c.queue == c.opening_queue);
    w.String(id);
    w.Byte(static_cast<std::uint8_t>((c.answered ? kAnswered : 0) | (moved ? kMoved : 0)));
    w.VarintSigned(c.opened.ms);
    w.VarintSigned(c.entered - c.opened);
    if (c.answered) w.VarintSigned(c.answered_at - c.opened);
    w.Byte(static_cast<std::uint8_t>(c.channel));
    w.Byte(static_cast<std::uint8_t>(c.priority));
    w.String(c.opening_queue);
    if (moved) w.String(c.queue);
    w.String(c.tenant);
    w.String(c.customer_tier);
  }
}

std::unique_ptr<StateObject> CustomerConversations::DecodeObject(std::string_view bytes, Vocabulary* names) {
  auto all = std::make_unique<CustomerConversations>();
  Reader r(bytes);
  if (r.Byte() != kFormat) return nullptr;
  const std::uint64_t n = r.Varint();
  all->open_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(n, 64)));
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
    std::string id(r.String());
    OpenConversation c;
    const std::uint8_t flags = r.Byte();
    c.answered = (flags & kAnswered) != 0;
    c.opened.ms = r.VarintSigned();
    c.entered = c.opened + r.VarintSigned();
    if (c.answered) c.answered_at = c.opened + r.VarintSigned();
    c.channel = static_cast<Channel>(r.Byte());
    c.priority = static_cast<Priority>(r.Byte());
    c.opening_queue = names->Intern(r.String());
    c.queue = (flags & kMoved) != 0 ? names->Intern(r.String()) : c.opening_queue;
    c.tenant = names->Intern(r.String());
    c.customer_tier = names->Intern(r.String());
    all->open_.push_back({std::move(id), std::move(c)});
  }
  if (!r.ok() || !r.done()) return nullptr;
  return all;
}

std::size_t CustomerConversations::MemoryBytes() const {
  // Names are the vocabulary's, shared: not counted per conversation.
  std::size_t n = sizeof(CustomerConversations) + open_.capacity() * sizeof(*open_.begin());
  for (const auto& [id, c] : open_) n += HeapBytes(id);
  return n;
}

const CustomerConversations* ConversationKeeper::Find(ProcessorContext& ctx, std::string_view customer) {
  ObjectDecoder decode(
      [](std::string_view bytes, void* names) {
        return CustomerConversations::DecodeObject(bytes, static_cast<Vocabulary*>(names));
      },
      &names_);
  return static_cast<const CustomerConversations*>(ctx.FindObjectOf(kName, customer, kRecord, decode));
}

bool ConversationKeeper::Concerns(const Event& e) {
  switch (e.type) {
    case EventType::kConversationOpened:
    case EventType::kConversationTransferred:
    case EventType::kConversationAbandoned:
    case EventType::kConversationClosed:
      return true;
    case EventType::kMessageAgent:
      return e.is_public && !e.is_auto;  // internal notes and bot replies answer no one
    default:
      return false;
  }
}

void ConversationKeeper::OnEvent(const Event& e, ProcessorContext& ctx) {
  if (!Concerns(e)) return;  // customer.erased too: the task deletes the record
  auto* all = FindObject<CustomerConversations>(ctx, e.customer_id, kRecord, &names_);
  if (e.type == EventType::kConversationOpened) {
    if (all == nullptr)
      all = AddObject(ctx, e.customer_id, kRecord, std::make_unique<CustomerConversations>());
    if (all->Find(e.conversation_id) != nullptr) return;  // opened twice: the first counts
    OpenConversation c;
    c.opened = c.entered = e.ts;
    c.channel = e.channel;
    c.priority = e.priority;
    c.opening_queue = names_.Intern(e.queue);
    c.queue = c.opening_queue;
    c.tenant = names_.Intern(e.tenant);
    c.customer_tier = names_.Intern(e.customer_tier);
    all->open_[e.conversation_id] = std::move(c);
    ctx.MarkChanged(*all);
    return;
  }
  if (all == nullptr) return;
  auto it = all->open_.find(e.conversation_id);
  if (it == all->open_.end()) return;  // not opened (yet), or over
  OpenConversation& c = it->second;
  switch (e.type) {
    case EventType::kMessageAgent:
      if (c.answered) return;
      c.answered = true;
      c.answered_at = e.ts;
      break;
    case EventType::kConversationTransferred:
      if (c.queue.view() == e.queue) return;
      c.queue = names_.Intern(e.queue);
      c.entered = e.ts;
      break;
    default:  // closed or abandoned: over
      all->open_.erase(it);
      if (all->open_.empty()) {
        ctx.DeleteObject(e.customer_id, kRecord);
        return;
      }
      break;
  }
  ctx.MarkChanged(*all);
}

}  // namespace cx::processors
