// ConversationKeeper: the one record of a customer's open conversations
// that the customer stage's processors share (docs/replay.md#state-layout).
//
// A conversation is kept once, here: when and where it was opened, the
// queue it is in now and since when, whether and when a human agent first
// answered it in public. The SLA engine, the staffing source, the alerts and
// the profile read it instead of keeping copies of their own.
//
// The keeper runs after every other processor of the task (the wiring puts
// it last), so a processor handling an event reads the conversation as it
// was before that event: "opened twice", "already answered" and "the queue
// it leaves" are questions about the record before the event changes it.
// Timers and signals read it as it is. Only the keeper writes it.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "processors/flat_map.h"
#include "processors/processor.h"
#include "processors/vocabulary.h"

namespace cx::processors {

// One open conversation.
struct OpenConversation {
  Timestamp opened;       // conversation.opened
  Timestamp entered;      // into `queue`: the opening, or the last transfer to it
  Timestamp answered_at;  // the first public reply of a human agent, when `answered`
  bool answered = false;  // replies before conversation.opened do not count
  Channel channel = Channel::kUnknown;
  Priority priority = Priority::kNormal;
  Name queue;          // now (conversation.transferred moves it)
  Name opening_queue;  // where it was opened
  Name tenant;
  Name customer_tier;
};

// Every open conversation of one customer, by conversation id.
class CustomerConversations final : public StateObject {
 public:
  const OpenConversation* Find(std::string_view id) const {
    auto it = open_.find(id);
    return it == open_.end() ? nullptr : &it->second;
  }
  const FlatMap<OpenConversation>& all() const { return open_; }

  void EncodeTo(std::string& out) const override;
  std::size_t MemoryBytes() const override;
  static std::unique_ptr<StateObject> DecodeObject(std::string_view bytes, Vocabulary* names);

 private:
  friend class ConversationKeeper;
  FlatMap<OpenConversation> open_;
};

class ConversationKeeper final : public Processor {
 public:
  static constexpr std::string_view kName = "conv";

  std::string_view name() const override { return kName; }
  void OnEvent(const Event& event, ProcessorContext& ctx) override;
  void OnTimer(Timestamp, std::string_view, std::string_view, ProcessorContext&) override {}

  // Whether `e` can change a conversation's record: its opening, a public
  // reply of a human agent (not a note, not a bot), a transfer, its end.
  static bool Concerns(const Event& e);

  // What the keeper holds of `customer`, for the other processors of its
  // task: before the event being handled is applied, as the keeper runs
  // last. nullptr when the customer has no open conversation.
  const CustomerConversations* Find(ProcessorContext& ctx, std::string_view customer);
  // The names the records hold (queues, tenants, tiers), for processors
  // whose records hold the same names (names of two vocabularies never
  // compare equal).
  Vocabulary& names() { return names_; }

  // The open conversation `id` of `customer`, nullptr when none is.
  const OpenConversation* Find(ProcessorContext& ctx, std::string_view customer, std::string_view id) {
    const CustomerConversations* all = Find(ctx, customer);
    return all == nullptr ? nullptr : all->Find(id);
  }

 private:
  Vocabulary names_;
};

}  // namespace cx::processors
