// EventDecoder: strict decoding of one Kafka message value into an Event.
//
// Owned by one task and called from that task's thread only: it reuses a
// simdjson parser, a padded input buffer and the decoded Event between calls,
// so steady-state decoding allocates nothing for short strings.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/event.h"

namespace cx {

// Limits on one message (configurable, see docs/configuration.md `limits.*`).
// Set from limits.* (the defaults are in the option table,
// config/config.cc); every field must be set.
struct DecodeLimits {
  std::size_t max_message_bytes = 0;
  std::size_t max_id_bytes = 0;
  std::size_t max_text_bytes = 0;
};

// Why a message was rejected. `code` is a stable, low-cardinality name fit
// for a metric label; `field` and `detail` make the readable reason.
struct Rejection {
  enum class Code : unsigned char {
    kTooLarge,
    kInvalidJson,
    kNotAnObject,
    kMissingField,
    kWrongType,
    kUnknownType,
    kTooLong,
    kOutOfRange,
    kBadTimestamp,
    kDuplicateField,
    kFutureTimestamp,
    kWrongTopic,
  };
  Code code = Code::kInvalidJson;
  std::string field;  // empty when the message as a whole is at fault
  std::string detail;

  // "field `ts`: ..." or the detail alone.
  std::string ToString() const;
};
std::string_view ToString(Rejection::Code c);
// Keep equal to the last code + 1 (metrics export every code at zero).
inline constexpr int kRejectionCodeCount = static_cast<int>(Rejection::Code::kWrongTopic) + 1;

class EventDecoder {
 public:
  explicit EventDecoder(DecodeLimits limits);
  ~EventDecoder();
  EventDecoder(const EventDecoder&) = delete;
  EventDecoder& operator=(const EventDecoder&) = delete;

  // Decodes `bytes`. Returns the event, valid until the next call, or nullptr
  // with rejection() saying why. Unknown fields are ignored (forward
  // compatibility); everything the contract defines is checked.
  const Event* Decode(std::string_view bytes);
  // The same, into `out` (whatever it held is replaced; its strings'
  // room is reused): for a caller that keeps the event. False with
  // rejection() saying why, `out` then unspecified.
  bool DecodeInto(std::string_view bytes, Event& out);
  const Rejection& rejection() const { return rejection_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Rejection rejection_;
};

}  // namespace cx
