// Metrics on the hot path: counter handles cached by label values
// (CounterCache) count what Family::Add look-ups counted, folded queues
// included.
#include "runtime/metrics.h"

#include <gtest/gtest.h>

#include <string>

namespace cx::runtime {
namespace {

// The worker's way to count an SLA event (runtime/worker.cc, Produce).
void CountSlaEvent(Metrics& m, CounterCache& cache, const std::string& metric, const std::string& event,
                   const std::string& queue) {
  cache.Increment({metric, event, queue}, [&] { return m.SlaEventsEntry(metric, event, queue); });
}

TEST(CounterCacheTest, CountsAsTheFamilyLookUpDoesFoldedQueuesIncluded) {
  Metrics cached, direct;
  cached.LimitQueues({"billing"}, 2);  // billing, and one more queue of its own
  direct.LimitQueues({"billing"}, 2);
  CounterCache cache;
  for (int round = 0; round < 3; ++round) {
    for (const std::string q : {"billing", "returns", "presales", "vip", ""}) {
      CountSlaEvent(cached, cache, "first_response", "breach", q);
      direct.SlaEvents("first_response", "breach", q).Increment();
    }
  }
  for (const std::string label : {"billing", "returns", "other", ""}) {
    EXPECT_EQ(cached.SlaEventsLabelled("first_response", "breach", label).Value(),
              direct.SlaEventsLabelled("first_response", "breach", label).Value())
        << "queue=" << label;
  }
  EXPECT_EQ(cached.SlaEventsLabelled("first_response", "breach", "other").Value(), 6);
  // Every update of a folded queue counts, not only the first.
  EXPECT_EQ(cached.queue_label_overflows.Value(), 6);
  EXPECT_EQ(direct.queue_label_overflows.Value(), 6);
}

TEST(CounterCacheTest, StaysBoundedAndKeepsCountingPastItsSize) {
  Metrics m;
  m.LimitQueues({}, 1'000'000);
  CounterCache cache;
  const int n = static_cast<int>(CounterCache::kMaxEntries) + 10;
  for (int round = 0; round < 2; ++round)
    for (int i = 0; i < n; ++i) CountSlaEvent(m, cache, "resolution", "fulfill", "q" + std::to_string(i));
  EXPECT_EQ(m.SlaEventsLabelled("resolution", "fulfill", "q0").Value(), 2);
  EXPECT_EQ(m.SlaEventsLabelled("resolution", "fulfill", "q" + std::to_string(n - 1)).Value(), 2);
}

}  // namespace
}  // namespace cx::runtime
