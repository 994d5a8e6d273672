#include "processors/kpis/kpi_figures.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace cx::processors {
namespace {

// The facts of one period, in an order; each fact applied to `f`.
std::vector<std::function<void(KpiFigures&)>> Facts() {
  return {
      [](KpiFigures& f) { f.Contact(); },
      [](KpiFigures& f) { f.Contact(); },
      [](KpiFigures& f) { f.Contact(); },
      [](KpiFigures& f) { f.Contact(); },
      [](KpiFigures& f) { f.Answer(10'000); },
      [](KpiFigures& f) { f.Answer(20'000); },
      [](KpiFigures& f) { f.Answer(30'000); },
      [](KpiFigures& f) { f.Abandon(); },
      // First response, target 30 s: 10 s, 20 s, 0.1 s within; 40 s not.
      [](KpiFigures& f) { f.SlaEnded(Metric::kFirstResponse, 10'000, true); },
      [](KpiFigures& f) { f.SlaEnded(Metric::kFirstResponse, 20'000, true); },
      [](KpiFigures& f) { f.SlaEnded(Metric::kFirstResponse, 40'000, false); },
      [](KpiFigures& f) { f.SlaEnded(Metric::kFirstResponse, 100, true); },
      [](KpiFigures& f) { f.SlaBreached(Metric::kFirstResponse); },
      [](KpiFigures& f) { f.SlaBreached(Metric::kOrderShip); },
      [](KpiFigures& f) { f.FirstContact(true); },
      [](KpiFigures& f) { f.FirstContact(true); },
      [](KpiFigures& f) { f.FirstContact(false); },
      [](KpiFigures& f) { f.Rating(5); },
      [](KpiFigures& f) { f.Rating(4); },
      [](KpiFigures& f) { f.Rating(2); },
      [](KpiFigures& f) { f.Handled(300'000); },
      [](KpiFigures& f) { f.Handled(600'000); },
      [](KpiFigures& f) { f.CaseOpened(); },
  };
}

KpiFigures All() {
  KpiFigures f;
  for (const auto& fact : Facts()) fact(f);
  return f;
}

// Every member, computed by hand from the facts above. The quantiles are
// the sketch's (within 1% of the exact 10 s and 40 s: checked below).
TEST(KpiFiguresTest, RecordMembersComputedByHand) {
  const KpiFigures f = All();
  const DurationSketch& times = f.sla[static_cast<std::size_t>(Metric::kFirstResponse)].times;
  const DurationMs p50 = times.Quantile(0.5), p90 = times.Quantile(0.9);
  EXPECT_LE(std::abs(p50 - 10'000), 100);  // nearest rank 2 of 4: 10 s
  EXPECT_LE(std::abs(p90 - 40'000), 400);  // nearest rank 4 of 4: 40 s
  JsonWriter quantiles;
  quantiles.BeginObject().Key("p50_s").Millis(p50).Key("p90_s").Millis(p90).EndObject();
  std::string q(quantiles.str());
  q = q.substr(1, q.size() - 2);  // "p50_s":...,"p90_s":...

  JsonWriter w;
  w.BeginObject();
  f.WriteJson(w);
  w.EndObject();
  EXPECT_EQ(w.str(),
            R"({"contacts":4,"answered":3,"abandoned":1,"abandonment_rate":0.25,"asa_s":20,)"
            R"("sla":{"first_response":{"ended":4,"attained":3,"attainment":0.75,"avg_s":17.525,)" +
                q +
                R"(,"breaches":1},)"
                R"("order_ship":{"ended":0,"attained":0,"attainment":null,"avg_s":null,)"
                R"("p50_s":null,"p90_s":null,"breaches":1}},)"
                R"("first_contact_resolution":0.666667,"fcr_closed":3,"csat_responses":3,)"
                R"("csat_avg":3.666667,"csat_satisfied":0.666667,"handled":2,"aht_s":450,"cases_opened":1})");
}

TEST(KpiFiguresTest, NothingIsNull) {
  JsonWriter w;
  w.BeginObject();
  KpiFigures().WriteJson(w);
  w.EndObject();
  EXPECT_EQ(w.str(),
            R"({"contacts":0,"answered":0,"abandoned":0,"abandonment_rate":null,"asa_s":null,"sla":{},)"
            R"("first_contact_resolution":null,"fcr_closed":0,"csat_responses":0,"csat_avg":null,)"
            R"("csat_satisfied":null,"handled":0,"aht_s":null,"cases_opened":0})");
  EXPECT_TRUE(KpiFigures().empty());
  EXPECT_FALSE(All().empty());
}

// The figures of any split of the facts merge into the figures of all of
// them: what many tasks and workers counted combines exactly.
TEST(KpiFiguresTest, PartsMergeIntoTheWhole) {
  const auto facts = Facts();
  for (std::size_t parts = 1; parts <= 4; ++parts) {
    std::vector<KpiFigures> partial(parts);
    for (std::size_t i = 0; i < facts.size(); ++i) facts[i](partial[(i * 7) % parts]);
    KpiFigures merged;
    for (const KpiFigures& p : partial) merged.Merge(p);
    EXPECT_EQ(merged, All()) << parts << " parts";
  }
}

TEST(KpiFiguresTest, EncodesAndDecodes) {
  const KpiFigures f = All();
  std::string bytes;
  f.EncodeTo(bytes);
  Reader r(bytes);
  KpiFigures back;
  ASSERT_TRUE(back.DecodeFrom(r));
  EXPECT_TRUE(r.done());
  EXPECT_EQ(back, f);

  auto decodes = [](const std::string& b) {
    Reader x(b);
    KpiFigures k;
    return k.DecodeFrom(x);
  };
  EXPECT_FALSE(decodes(bytes.substr(0, bytes.size() / 2)));
  std::string other = bytes;
  other[0] = 9;
  EXPECT_FALSE(decodes(other));
}

}  // namespace
}  // namespace cx::processors
