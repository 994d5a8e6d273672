// libFuzzer target: any bytes given to the event decoder must yield either an
// event or a rejection with a reason, never a crash, a sanitizer report or a
// rejection without a readable reason. Run with scripts/fuzz.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/event_decoder.h"
#include "core/json_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static cx::EventDecoder decoder(
      cx::DecodeLimits{.max_message_bytes = 1 << 20, .max_id_bytes = 64, .max_text_bytes = 512});
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const cx::Event* e = decoder.Decode(in);
  if (e == nullptr) {
    if (decoder.rejection().ToString().empty()) std::abort();
    // The dead-letter path must also cope with any bytes.
    std::string out;
    cx::AppendJsonString(in, out);
    return 0;
  }
  // Invariants of an accepted event.
  if (e->event_id.empty() || e->event_id.size() > 64) std::abort();
  if (e->type != cx::EventType::kAgentStatus && e->customer_id.empty()) std::abort();
  if (e->text.size() > 512) std::abort();
  if (e->sentiment && (*e->sentiment < -1 || *e->sentiment > 1)) std::abort();
  // Re-encoding the timestamp and parsing it again gives the same instant.
  auto back = cx::ParseRfc3339(cx::FormatRfc3339(e->ts));
  if (e->ts.ms > -62135596800000 && e->ts.ms < 253402300800000 && (!back || back->ms != e->ts.ms))
    std::abort();
  return 0;
}
