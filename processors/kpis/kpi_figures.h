// KpiFigures: the service figures of one dimension key (a queue, an agent,
// a channel, a tenant, or all) over one period, as counts, sums and
// duration sketches only, so that the figures of any split of the period's
// facts (the customer-stage tasks of any number of workers, the intervals
// of a day) merge into exactly the figures of them all (issue 20). Ratios,
// averages and quantiles are read from them when a record is written.
//
// What counts where (the record's contract, docs/kpis.md once the stream
// is wired):
// - contacts: conversations opened; answered: first public human reply;
//   abandoned: left before one; waits (ASA) are those of the answered.
// - per SLA metric: `ended` clocks fulfilled in the period, `attained` the
//   ones fulfilled within their target, their elapsed times (average and
//   sketch), and `breaches` (clocks whose deadline passed in the period).
//   A cancelled clock (the subject ended another way) is not measured.
// - first-contact resolution: conversations closed in the period whose
//   repeat-contact window has passed (`fcr_closed`), and of those the ones
//   the customer did not contact again about within it.
// - CSAT: ratings given, their sum, and the satisfied (4 or 5).
// - handle time (AHT) of the conversations handled (closed after an
//   answer); after-sales cases opened.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/encoding.h"
#include "core/json_writer.h"
#include "core/sla_metric.h"
#include "core/time.h"
#include "processors/kpis/duration_sketch.h"

namespace cx::processors {

struct KpiFigures {
  struct Sla {
    std::int64_t ended = 0, attained = 0, breaches = 0;
    DurationMs total = 0;  // elapsed of the ended, summed
    DurationSketch times;  // elapsed of the ended
    bool empty() const { return ended == 0 && breaches == 0; }
    friend bool operator==(const Sla&, const Sla&) = default;
  };

  std::int64_t contacts = 0, answered = 0, abandoned = 0;
  DurationMs wait_total = 0;  // of the answered: speed of answer
  std::array<Sla, kMetricCount> sla;
  std::int64_t fcr_closed = 0, fcr_resolved = 0;
  std::int64_t csat_responses = 0, csat_sum = 0, csat_satisfied = 0;
  std::int64_t handled = 0;
  DurationMs handle_total = 0;
  std::int64_t cases_opened = 0;

  // Facts, one at a time.
  void Contact() { ++contacts; }
  void Answer(DurationMs wait);
  void Abandon() { ++abandoned; }
  void SlaEnded(Metric m, DurationMs elapsed, bool within_target);
  void SlaBreached(Metric m) { ++sla[static_cast<std::size_t>(m)].breaches; }
  // A closed conversation whose repeat-contact window has passed.
  void FirstContact(bool resolved);
  void Rating(int csat);
  void Handled(DurationMs handle_time);
  void CaseOpened() { ++cases_opened; }

  void Merge(const KpiFigures& other);
  bool empty() const;
  friend bool operator==(const KpiFigures&, const KpiFigures&) = default;

  // Binary, versioned; DecodeFrom is false on bytes that are not figures.
  void EncodeTo(std::string& out) const;
  bool DecodeFrom(Reader& r);
  std::size_t MemoryBytes() const;

  // The figures as the members of a KPI record (after its key members):
  // `contacts`, `answered`, `abandoned`, `abandonment_rate`, `asa_s`,
  // `sla` (per metric measured in the period: `ended`, `attained`,
  // `attainment`, `avg_s`, `p50_s`, `p90_s`, `breaches`),
  // `first_contact_resolution`, `fcr_closed`, `csat_responses`, `csat_avg`,
  // `csat_satisfied`, `handled`, `aht_s`, `cases_opened`. A ratio or an
  // average of nothing is null.
  void WriteJson(JsonWriter& w) const;
};

}  // namespace cx::processors
