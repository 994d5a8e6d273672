// Staffing facts: what the customer stage tells the queue stage about one
// conversation or agent (docs/staffing.md#pipeline). Sent through
// ProcessorContext::Repartition keyed by queue; binary, versioned.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.h"

namespace cx::processors {

struct StaffingFact {
  enum class Kind : std::uint8_t {
    kArrival = 1,      // a conversation opened in the queue, or was transferred in
    kAnswer = 2,       // first public human reply; wait since it entered the queue
    kAbandon = 3,      // left before an answer; wait since it entered the queue
    kClose = 4,        // closed; handle time when it had been answered
    kTransferOut = 5,  // moved to another queue
    kAgents = 6,       // agents (and chat slots) online in the queue changed
  };
  Kind kind = Kind::kArrival;
  std::string conversation;  // hash of customer_id + "/" + conversation_id (not for kAgents)
  bool answered = false;     // kArrival (transferred in after an answer), kClose, kTransferOut
  bool transfer = false;     // kArrival: by transfer, not by opening
  DurationMs duration = 0;   // kAnswer, kAbandon: wait; kClose: handle time
  std::int32_t agents = 0;   // kAgents: change in agents online
  std::int32_t slots = 0;    // kAgents: change in chats they can take at once

  std::string Encode() const;
  bool Decode(std::string_view in);
};

// What one customer-stage task's facts of one queue add up to over one
// bucket of time (docs/staffing.md#combining): counters and changes to sum,
// and the conversations that started or stopped waiting. Adding facts one
// by one and applying the sum gives the queue stage the same figures as
// applying each fact, in any order of the buckets' senders. Sent per bucket
// through ProcessorContext::RepartitionPartial; a single fact is the
// partial of itself.
struct StaffingPartial {
  Timestamp first = Timestamp::Max(), last = Timestamp::Min();  // of its facts
  std::int64_t facts = 0;
  std::int64_t arrivals = 0, transfers_in = 0, answered = 0, answered_within = 0, abandoned = 0, handled = 0;
  DurationMs wait_answered = 0, wait_abandoned = 0, handle = 0;
  // Changes: conversations in progress, agents and chat slots online.
  std::int64_t in_progress = 0, agents = 0, slots = 0;
  // Conversations that started waiting (with when) and are still waiting at
  // the bucket's end; conversations that stopped waiting and had started
  // before it. One that starts and stops within the bucket is in neither.
  std::map<std::string, Timestamp, std::less<>> started;
  std::vector<std::string> stopped;

  // Adds `f` at `ts`; `threshold`: the queue's service-level threshold
  // (an answer within it counts as answered_within).
  void Add(const StaffingFact& f, Timestamp ts, DurationMs threshold);
  bool empty() const { return first == Timestamp::Max(); }

  // Format 2 (a StaffingFact's first byte is 1).
  void EncodeTo(std::string& out) const;
  bool Decode(std::string_view in);
  std::size_t MemoryBytes() const;
};

}  // namespace cx::processors
