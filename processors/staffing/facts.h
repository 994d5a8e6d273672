// Staffing facts: what the customer stage tells the queue stage about one
// conversation or agent (docs/staffing.md#pipeline). Sent through
// ProcessorContext::Repartition keyed by queue; binary, versioned.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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

}  // namespace cx::processors
