#include "processors/staffing/facts.h"

#include <algorithm>

#include "core/encoding.h"
#include "processors/processor.h"

namespace cx::processors {
namespace {
constexpr std::uint8_t kFormat = 1;
constexpr std::uint8_t kPartialFormat = 2;
}  // namespace

std::string StaffingFact::Encode() const {
  std::string v;
  {
    ByteWriter w(v, 4 + 10 + conversation.size() + 3 * 10);
    w.Byte(kFormat);
    w.Byte(static_cast<std::uint8_t>(kind));
    w.String(conversation);
    w.Byte(static_cast<std::uint8_t>((answered ? 1 : 0) | (transfer ? 2 : 0)));
    w.VarintSigned(duration);
    w.VarintSigned(agents);
    w.VarintSigned(slots);
  }
  return v;
}

bool StaffingFact::Decode(std::string_view in) {
  Reader r(in);
  if (r.Byte() != kFormat) return false;
  const std::uint8_t k = r.Byte();
  if (k < 1 || k > 6) return false;
  kind = static_cast<Kind>(k);
  conversation.assign(r.String());
  const std::uint8_t f = r.Byte();
  answered = f & 1;
  transfer = f & 2;
  duration = r.VarintSigned();
  agents = static_cast<std::int32_t>(r.VarintSigned());
  slots = static_cast<std::int32_t>(r.VarintSigned());
  return r.ok() && r.done();
}

void StaffingPartial::Add(const StaffingFact& f, Timestamp ts, DurationMs threshold) {
  first = std::min(first, ts);
  last = std::max(last, ts);
  ++facts;
  auto stop_waiting = [&] {
    if (auto it = started.find(f.conversation); it != started.end())
      started.erase(it);
    else
      stopped.push_back(f.conversation);
  };
  switch (f.kind) {
    case StaffingFact::Kind::kArrival:
      ++arrivals;
      if (f.transfer) ++transfers_in;
      if (f.answered)
        ++in_progress;
      else
        started.insert_or_assign(f.conversation, ts);
      break;
    case StaffingFact::Kind::kAnswer:
      ++answered;
      wait_answered += f.duration;
      if (f.duration <= threshold) ++answered_within;
      stop_waiting();
      ++in_progress;
      break;
    case StaffingFact::Kind::kAbandon:
      ++abandoned;
      wait_abandoned += f.duration;
      stop_waiting();
      break;
    case StaffingFact::Kind::kClose:
    case StaffingFact::Kind::kTransferOut:
      if (f.answered) {
        --in_progress;
        if (f.kind == StaffingFact::Kind::kClose) {
          ++handled;
          handle += f.duration;
        }
      } else {
        stop_waiting();
      }
      break;
    case StaffingFact::Kind::kAgents:
      agents += f.agents;
      slots += f.slots;
      break;
  }
}

void StaffingPartial::EncodeTo(std::string& v) const {
  v.push_back(static_cast<char>(kPartialFormat));
  for (std::int64_t x :
       {first.ms, last.ms, facts, arrivals, transfers_in, answered, answered_within, abandoned, handled,
        wait_answered, wait_abandoned, handle, in_progress, agents, slots})
    PutVarintSigned(v, x);
  PutVarint(v, started.size());
  for (const auto& [conversation, at] : started) {
    PutString(v, conversation);
    PutVarintSigned(v, at.ms);
  }
  PutVarint(v, stopped.size());
  for (const std::string& conversation : stopped) PutString(v, conversation);
}

bool StaffingPartial::Decode(std::string_view in) {
  Reader r(in);
  if (r.Byte() != kPartialFormat) return false;
  for (std::int64_t* x :
       {&first.ms, &last.ms, &facts, &arrivals, &transfers_in, &answered, &answered_within, &abandoned,
        &handled, &wait_answered, &wait_abandoned, &handle, &in_progress, &agents, &slots})
    *x = r.VarintSigned();
  started.clear();
  stopped.clear();
  for (std::uint64_t n = r.Varint(); n > 0 && r.ok(); --n) {
    std::string conversation(r.String());
    started.insert_or_assign(std::move(conversation), Timestamp{r.VarintSigned()});
  }
  for (std::uint64_t n = r.Varint(); n > 0 && r.ok(); --n) stopped.emplace_back(r.String());
  return r.ok() && r.done();
}

std::size_t StaffingPartial::MemoryBytes() const {
  std::size_t bytes = sizeof(*this) + stopped.capacity() * sizeof(std::string);
  for (const auto& [conversation, at] : started) bytes += 64 + HeapBytes(conversation);
  for (const std::string& conversation : stopped) bytes += HeapBytes(conversation);
  return bytes;
}

}  // namespace cx::processors
