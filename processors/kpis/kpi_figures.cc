#include "processors/kpis/kpi_figures.h"

#include <algorithm>

namespace cx::processors {
namespace {

constexpr std::uint8_t kFormat = 1;

// numerator / denominator, or null when the denominator is 0.
void Ratio(JsonWriter& w, JsonKey k, double numerator, std::int64_t denominator) {
  if (denominator == 0)
    w.NullField(k);
  else
    w.Field(k, numerator / static_cast<double>(denominator));
}
// An average duration in seconds, or null.
void AverageSeconds(JsonWriter& w, JsonKey k, DurationMs total, std::int64_t n) {
  if (n == 0)
    w.NullField(k);
  else
    w.Field(k, static_cast<double>(total) / 1000.0 / static_cast<double>(n));
}

}  // namespace

void KpiFigures::Answer(DurationMs wait) {
  ++answered;
  wait_total += std::max<DurationMs>(0, wait);
}

void KpiFigures::SlaEnded(Metric m, DurationMs elapsed, bool within_target) {
  Sla& s = sla[static_cast<std::size_t>(m)];
  elapsed = std::max<DurationMs>(0, elapsed);
  ++s.ended;
  if (within_target) ++s.attained;
  s.total += elapsed;
  s.times.Add(elapsed);
}

void KpiFigures::FirstContact(bool resolved) {
  ++fcr_closed;
  if (resolved) ++fcr_resolved;
}

void KpiFigures::Rating(int csat) {
  ++csat_responses;
  csat_sum += csat;
  if (csat >= 4) ++csat_satisfied;
}

void KpiFigures::Handled(DurationMs handle_time) {
  ++handled;
  handle_total += std::max<DurationMs>(0, handle_time);
}

void KpiFigures::Merge(const KpiFigures& o) {
  contacts += o.contacts;
  answered += o.answered;
  abandoned += o.abandoned;
  wait_total += o.wait_total;
  for (std::size_t m = 0; m < sla.size(); ++m) {
    Sla& s = sla[m];
    const Sla& x = o.sla[m];
    s.ended += x.ended;
    s.attained += x.attained;
    s.breaches += x.breaches;
    s.total += x.total;
    s.times.Merge(x.times);
  }
  fcr_closed += o.fcr_closed;
  fcr_resolved += o.fcr_resolved;
  csat_responses += o.csat_responses;
  csat_sum += o.csat_sum;
  csat_satisfied += o.csat_satisfied;
  handled += o.handled;
  handle_total += o.handle_total;
  cases_opened += o.cases_opened;
}

bool KpiFigures::empty() const { return *this == KpiFigures{}; }

void KpiFigures::EncodeTo(std::string& out) const {
  out.push_back(static_cast<char>(kFormat));
  for (std::int64_t v : {contacts, answered, abandoned, wait_total}) PutVarintSigned(out, v);
  // Metrics with something to say: a bit each, then their figures.
  std::uint32_t present = 0;
  for (std::size_t m = 0; m < sla.size(); ++m)
    if (!sla[m].empty()) present |= 1u << m;
  PutVarint(out, present);
  for (std::size_t m = 0; m < sla.size(); ++m) {
    if (!(present & (1u << m))) continue;
    const Sla& s = sla[m];
    for (std::int64_t v : {s.ended, s.attained, s.breaches, s.total}) PutVarintSigned(out, v);
    s.times.EncodeTo(out);
  }
  for (std::int64_t v : {fcr_closed, fcr_resolved, csat_responses, csat_sum, csat_satisfied, handled,
                         handle_total, cases_opened})
    PutVarintSigned(out, v);
}

bool KpiFigures::DecodeFrom(Reader& r) {
  *this = KpiFigures{};
  if (r.Byte() != kFormat) return false;
  for (std::int64_t* v : {&contacts, &answered, &abandoned, &wait_total}) *v = r.VarintSigned();
  const std::uint64_t present = r.Varint();
  if (!r.ok() || present >= (1u << sla.size())) return false;
  for (std::size_t m = 0; m < sla.size(); ++m) {
    if (!(present & (1u << m))) continue;
    Sla& s = sla[m];
    for (std::int64_t* v : {&s.ended, &s.attained, &s.breaches, &s.total}) *v = r.VarintSigned();
    if (!s.times.DecodeFrom(r) || s.times.count() != s.ended) return false;
  }
  for (std::int64_t* v : {&fcr_closed, &fcr_resolved, &csat_responses, &csat_sum, &csat_satisfied, &handled,
                          &handle_total, &cases_opened})
    *v = r.VarintSigned();
  return r.ok();
}

std::size_t KpiFigures::MemoryBytes() const {
  std::size_t n = sizeof(KpiFigures);
  for (const Sla& s : sla) n += s.times.MemoryBytes() - sizeof(DurationSketch);
  return n;
}

void KpiFigures::WriteJson(JsonWriter& w) const {
  w.Field("contacts", contacts);
  w.Field("answered", answered);
  w.Field("abandoned", abandoned);
  // Of the conversations whose wait ended in the period (answered or
  // abandoned), the share that was abandoned.
  Ratio(w, "abandonment_rate", static_cast<double>(abandoned), answered + abandoned);
  AverageSeconds(w, "asa_s", wait_total, answered);
  w.ObjectField("sla");
  for (std::size_t m = 0; m < sla.size(); ++m) {
    const Sla& s = sla[m];
    if (s.empty()) continue;
    w.ObjectField(JsonKey::Known(ToString(static_cast<Metric>(m))));
    w.Field("ended", s.ended);
    w.Field("attained", s.attained);
    Ratio(w, "attainment", static_cast<double>(s.attained), s.ended);
    AverageSeconds(w, "avg_s", s.total, s.ended);
    if (s.ended == 0) {
      w.NullField("p50_s").NullField("p90_s");
    } else {
      w.Key("p50_s").Millis(s.times.Quantile(0.5));
      w.Key("p90_s").Millis(s.times.Quantile(0.9));
    }
    w.Field("breaches", s.breaches);
    w.EndObject();
  }
  w.EndObject();
  Ratio(w, "first_contact_resolution", static_cast<double>(fcr_resolved), fcr_closed);
  w.Field("fcr_closed", fcr_closed);
  w.Field("csat_responses", csat_responses);
  Ratio(w, "csat_avg", static_cast<double>(csat_sum), csat_responses);
  Ratio(w, "csat_satisfied", static_cast<double>(csat_satisfied), csat_responses);
  w.Field("handled", handled);
  AverageSeconds(w, "aht_s", handle_total, handled);
  w.Field("cases_opened", cases_opened);
}

}  // namespace cx::processors
