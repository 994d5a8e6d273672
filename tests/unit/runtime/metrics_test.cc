// Metrics on the hot path: counter handles cached by label values
// (CounterCache) count what Family::Add look-ups counted, folded queues
// included.
#include "runtime/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace cx::runtime {
namespace {

// The way an SLA event is counted (RecordCollector::Count).
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

// The processing threads of one worker make up its gauges together
// (docs/runtime.md#threads): each sets its own part.
TEST(MetricsTest, AGaugeOfSeveralThreadsShowsTheirSumOrTheirFlag) {
  Metrics m;
  m.SetPart(m.pending_timers, 0, 10);
  m.SetPart(m.pending_timers, 1, 5);
  EXPECT_EQ(m.pending_timers.Value(), 15);
  m.SetPart(m.pending_timers, 0, 2);  // a part replaced, not added
  EXPECT_EQ(m.pending_timers.Value(), 7);
  // Ready when every thread is; paused while any is.
  m.SetPart(m.ready, 0, 1, Metrics::Combine::kMin);
  EXPECT_EQ(m.ready.Value(), 1);
  m.SetPart(m.ready, 1, 0, Metrics::Combine::kMin);
  EXPECT_EQ(m.ready.Value(), 0);
  m.SetPart(m.backpressure, 1, 1, Metrics::Combine::kMax);
  m.SetPart(m.backpressure, 0, 0, Metrics::Combine::kMax);
  EXPECT_EQ(m.backpressure.Value(), 1);
  m.SetPart(m.backpressure, 1, 0, Metrics::Combine::kMax);
  EXPECT_EQ(m.backpressure.Value(), 0);
}

TEST(MetricsTest, ThreadsSetTheirPartsAtOnce) {
  Metrics m;
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i <= 1000; ++i) m.SetPart(m.buffered_events, t, i);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(m.buffered_events.Value(), 4000);
}

}  // namespace
}  // namespace cx::runtime
