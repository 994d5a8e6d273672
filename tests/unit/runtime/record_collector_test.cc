// The record collector's produce path and the metrics an output moves,
// against a producer with no broker (records stay in librdkafka's queue;
// nothing leaves the process).
#include "runtime/record_collector.h"

#include <gtest/gtest.h>

#include <string>

#include "runtime/kafka.h"

namespace cx::runtime {
namespace {

// A producer whose queue holds `capacity` records and that never sends them.
KafkaHandle QueueOnlyProducer(int capacity) {
  KafkaConf conf(rd_kafka_conf_new());
  EXPECT_TRUE(SetProperty(conf.get(), "queue.buffering.max.messages", std::to_string(capacity)).ok());
  EXPECT_TRUE(SetProperty(conf.get(), "log_level", "0").ok());
  char err[256];
  KafkaHandle rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf.release(), err, sizeof err));
  EXPECT_TRUE(rk) << err;
  return rk;
}

struct Purge {
  rd_kafka_t* rk;
  ~Purge() { rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE); }
};

RecordCollector::Topics TestTopics() {
  return {.sla = "t.sla",
          .alerts = "t.alerts",
          .profiles = "t.profiles",
          .staffing = "t.staffing",
          .dlq = "t.dlq",
          .repartition = "t.repartition"};
}

TEST(RecordCollectorTest, AFullQueueIsRetriedWhileTheCallerSaysSoAndFailsWhenItDoesNot) {
  KafkaHandle rk = QueueOnlyProducer(1);
  Purge purge{rk.get()};
  int asked = 0;
  auto twice_then_stop = [&](rd_kafka_t* p) {
    EXPECT_EQ(p, rk.get());
    return ++asked < 3;
  };
  ASSERT_TRUE(RecordCollector::Produce(rk.get(), "t", 0, "k", "v", nullptr, nullptr, twice_then_stop).ok());
  EXPECT_EQ(asked, 0);
  Status s = RecordCollector::Produce(rk.get(), "t", 0, "k", std::nullopt, nullptr, nullptr, twice_then_stop);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(asked, 3);  // asked after each full queue, until it said stop
  EXPECT_EQ(rd_kafka_outq_len(rk.get()), 1);
}

TEST(RecordCollectorTest, AnOutputCountsWhereItsTagsSayARepartitionRecordNowhere) {
  KafkaHandle rk = QueueOnlyProducer(100);
  Purge purge{rk.get()};
  Metrics metrics;
  ManualClock clock(Timestamp{10'000});
  RecordCollector collector(TestTopics(), metrics, clock);
  auto never_full = [](rd_kafka_t*) {
    ADD_FAILURE() << "the queue is not full";
    return false;
  };
  OutputTags tags;
  tags.metric = "first_response";
  tags.event = "breach";
  tags.queue = "billing";
  OutputView breach;
  breach.stream = Stream::kSla;
  breach.key = "c1";
  breach.value = "{}";
  breach.tags = &tags;
  breach.from_timer = true;
  breach.cause_time = Timestamp{9'000};
  ASSERT_TRUE(collector.Send(rk.get(), breach, nullptr, never_full).ok());
  ASSERT_TRUE(collector.Send(rk.get(), breach, nullptr, never_full).ok());
  EXPECT_EQ(metrics.SlaEventsLabelled("first_response", "breach", "billing").Value(), 2);

  OutputView fact;
  fact.stream = Stream::kRepartition;
  fact.key = "billing";
  fact.value = "fact";
  fact.tags = &tags;  // ignored: not an output
  fact.partition = 0;
  ASSERT_TRUE(collector.Send(rk.get(), fact, nullptr, never_full).ok());
  EXPECT_EQ(metrics.SlaEventsLabelled("first_response", "breach", "billing").Value(), 2);

  const std::vector<std::pair<std::string, std::string>> headers = {{"cx.error.code", "bad_json"}};
  OutputView dead;
  dead.stream = Stream::kDlq;
  dead.key = "c2";
  dead.value = "x";
  dead.headers = &headers;
  ASSERT_TRUE(collector.Send(rk.get(), dead, nullptr, never_full).ok());
  EXPECT_EQ(metrics.DeadLettered("bad_json").Value(), 1);
  EXPECT_EQ(rd_kafka_outq_len(rk.get()), 4);
}

}  // namespace
}  // namespace cx::runtime
