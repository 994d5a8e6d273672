#include "processors/staffing/facts.h"

#include "core/encoding.h"

namespace cx::processors {
namespace {
constexpr std::uint8_t kFormat = 1;
}

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

}  // namespace cx::processors
