#include "runtime/commit_pipeline.h"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// The at_least_once commit protocol (docs/runtime.md#commits) against fakes
// of the producer (a changelog whose records the test acknowledges), the
// consumer (the group offsets) and a store (in memory, wrapped to count
// what reaches durable storage). No broker.
namespace cx::runtime {
namespace {

// A producer whose records wait for the test to acknowledge them.
class FakeChangelog final : public ChangelogWriter {
 public:
  struct Record {
    int partition;
    std::string key;
    std::optional<std::string> value;
    DeliveryMark* mark;
    std::int64_t offset;
  };
  Status Append(int partition, std::string_view key, std::optional<std::string_view> value,
                DeliveryMark* mark) override {
    std::lock_guard<std::mutex> l(mu_);
    unacked_.push_back({partition, std::string(key),
                        value ? std::optional<std::string>(*value) : std::nullopt, mark,
                        next_offset_[partition]++});
    return Status::Ok();
  }
  // Acknowledges (or fails) every record appended so far; returns how many.
  std::size_t AckAll(bool ok = true) {
    std::deque<Record> now;
    {
      std::lock_guard<std::mutex> l(mu_);
      now.swap(unacked_);
    }
    for (const Record& r : now) {
      r.mark->epoch->Delivered(*r.mark, ok, r.offset, ok ? "" : "broker said no");
      std::lock_guard<std::mutex> l(mu_);
      if (ok) log_.push_back(r);
    }
    return now.size();
  }
  std::size_t unacked() const {
    std::lock_guard<std::mutex> l(mu_);
    return unacked_.size();
  }
  std::vector<Record> log() const {
    std::lock_guard<std::mutex> l(mu_);
    return log_;
  }
  // Waits until `n` records have been appended and not acknowledged.
  void AwaitUnacked(std::size_t n) {
    for (int i = 0; i < 2000; ++i) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (unacked_.size() >= n) return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ADD_FAILURE() << "the committer never appended " << n << " records";
  }

 private:
  mutable std::mutex mu_;
  std::deque<Record> unacked_;
  std::vector<Record> log_;
  std::map<int, std::int64_t> next_offset_;
};

class FakeGroup final : public OffsetCommitter {
 public:
  void Commit(const std::vector<std::pair<std::string, std::int64_t>>& offsets, int partition) override {
    for (const auto& [topic, offset] : offsets) committed[topic + "/" + std::to_string(partition)] = offset;
  }
  std::map<std::string, std::int64_t> committed;
};

// A memory store that counts the sealed batches made durable.
class RecordingStore final : public state::ForwardingStore {
 public:
  RecordingStore() : ForwardingStore(state::NewMemoryStore()) {}
  Status CommitSealed(const std::vector<std::pair<std::string, std::string>>& extra) override {
    std::lock_guard<std::mutex> l(mu_);
    ++durable_commits_;
    for (const auto& [k, v] : extra) durable_extra_[k] = v;
    ForEachSealed([&](std::string_view k, std::optional<std::string_view> v) {
      durable_[std::string(k)] = v ? std::optional<std::string>(*v) : std::nullopt;
    });
    return fail_ ? Status::IoError("disk full") : Status::Ok();
  }

  int durable_commits() {
    std::lock_guard<std::mutex> l(mu_);
    return durable_commits_;
  }
  std::map<std::string, std::optional<std::string>> durable() {
    std::lock_guard<std::mutex> l(mu_);
    return durable_;
  }
  std::map<std::string, std::string> durable_extra() {
    std::lock_guard<std::mutex> l(mu_);
    return durable_extra_;
  }
  void FailWrites() { fail_ = true; }

 private:
  std::mutex mu_;
  int durable_commits_ = 0;
  std::map<std::string, std::optional<std::string>> durable_;
  std::map<std::string, std::string> durable_extra_;
  std::atomic<bool> fail_{false};
};

CommitPipelineOptions Options() {
  CommitPipelineOptions o;
  o.end_key = "END";
  o.local = [](std::string_view key) { return !key.empty() && key[0] == 'L'; };
  o.position = [](std::int64_t end) {
    return std::pair<std::string, std::string>("Lposition", std::to_string(end + 1));
  };
  return o;
}

// An output of the current epoch, as the worker produces one.
void ProduceOutput(CommitPipeline& p, FakeChangelog& producer) {
  p.current().Expect();
  ASSERT_TRUE(producer.Append(99, "output", std::string_view("x"), p.current().AnyRecord()).ok());
}

// Calls Finish() until it reports the epoch's end (bounded).
bool FinishWithin(CommitPipeline& p, Status* result, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (p.Finish(result)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

TEST(CommitPipelineTest, TheStoreIsWrittenOnlyAfterEveryRecordOfTheEpochIsAcknowledged) {
  FakeChangelog producer;
  FakeGroup group;
  RecordingStore store;
  CommitPipeline p(producer, group, Options());
  ProduceOutput(p, producer);
  store.Put("c/1", "state");
  store.Put("Ltimer", "local");  // in the store, never in the changelog
  store.Seal();
  p.Seal({{.partition = 3, .store = &store, .offsets = {{"cx.chat", 42}}}});
  // The output first: no frame while it may still be lost.
  Status result;
  EXPECT_FALSE(FinishWithin(p, &result, std::chrono::milliseconds(100)));
  EXPECT_EQ(producer.unacked(), 1u);
  producer.AckAll();
  // Then the state record and the END marker: produced, not acknowledged.
  producer.AwaitUnacked(2);
  EXPECT_FALSE(FinishWithin(p, &result, std::chrono::milliseconds(100)));
  EXPECT_EQ(store.durable_commits(), 0);
  EXPECT_TRUE(group.committed.empty());
  producer.AckAll();
  ASSERT_TRUE(FinishWithin(p, &result, std::chrono::seconds(5)));
  ASSERT_TRUE(result.ok()) << result.ToString();
  EXPECT_EQ(store.durable_commits(), 1);
  EXPECT_EQ(store.durable().at("c/1"), "state");
  EXPECT_FALSE(store.HasSealed());
  EXPECT_EQ(group.committed.at("cx.chat/3"), 42);
  // The frame: the state record then the END marker, whose offset the
  // changelog position after it is written with.
  std::vector<std::string> frame;
  for (const auto& r : producer.log())
    if (r.partition == 3) frame.push_back(r.key);
  EXPECT_EQ(frame, (std::vector<std::string>{"c/1", "END"}));
  EXPECT_EQ(store.durable_extra().at("Lposition"), "2");
  EXPECT_FALSE(p.InFlight());
}

TEST(CommitPipelineTest, ProcessingGoesOnWhileTheEpochIsInFlightAndBelongsToTheNext) {
  FakeChangelog producer;
  FakeGroup group;
  RecordingStore store;
  CommitPipeline p(producer, group, Options());
  store.Put("c/1", "v1");
  store.Seal();
  p.Seal({{.partition = 0, .store = &store, .offsets = {{"cx.chat", 10}}}});
  producer.AwaitUnacked(2);
  // The next epoch's work, while the sealed one waits for its acknowledgements.
  Epoch* next = &p.current();
  ProduceOutput(p, producer);
  store.Put("c/1", "v2");
  store.Put("c/2", "new");
  EXPECT_EQ(*store.Get("c/1").value(), "v2");
  producer.AckAll();
  Status result;
  ASSERT_TRUE(FinishWithin(p, &result, std::chrono::seconds(5)));
  ASSERT_TRUE(result.ok());
  // Only the sealed writes are durable; the new ones wait for the next seal.
  EXPECT_EQ(store.durable().at("c/1"), "v1");
  EXPECT_EQ(store.durable().count("c/2"), 0u);
  EXPECT_EQ(&p.current(), next);
  store.Seal();
  p.Seal({{.partition = 0, .store = &store, .offsets = {{"cx.chat", 12}}}});
  producer.AwaitUnacked(3);  // c/1, c/2, END (the output was acknowledged above)
  producer.AckAll();
  ASSERT_TRUE(FinishWithin(p, &result, std::chrono::seconds(5)));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(store.durable().at("c/1"), "v2");
  EXPECT_EQ(store.durable().at("c/2"), "new");
  EXPECT_EQ(group.committed.at("cx.chat/0"), 12);
}

// A frame is state a restore applies: it must never be in the changelog
// while an output of the events it holds may still be lost (a kill then
// would lose that output for good).
TEST(CommitPipelineTest, TheFrameIsWrittenOnlyAfterTheEpochsOutputsAreAcknowledged) {
  FakeChangelog producer;
  FakeGroup group;
  RecordingStore store;
  CommitPipeline p(producer, group, Options());
  // An output of the epoch, in flight (its report comes last).
  p.current().Expect();
  DeliveryMark* output = p.current().AnyRecord();
  store.Put("c/1", "v");
  store.Seal();
  p.Seal({{.partition = 0, .store = &store, .offsets = {}}});
  Status result;
  EXPECT_FALSE(FinishWithin(p, &result, std::chrono::milliseconds(100)));
  EXPECT_EQ(producer.unacked(), 0u);  // no frame record yet
  EXPECT_TRUE(producer.log().empty());
  output->epoch->Delivered(*output, true, 7, "");
  producer.AwaitUnacked(2);  // now the frame
  producer.AckAll();
  ASSERT_TRUE(FinishWithin(p, &result, std::chrono::seconds(5)));
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(store.durable_commits(), 1);
}

TEST(CommitPipelineTest, AFailedDeliveryFailsTheEpochAndNoStoreIsWritten) {
  FakeChangelog producer;
  FakeGroup group;
  RecordingStore store;
  CommitPipeline p(producer, group, Options());
  ProduceOutput(p, producer);
  store.Put("c/1", "v");
  store.Seal();
  p.Seal({{.partition = 0, .store = &store, .offsets = {{"cx.chat", 5}}}});
  producer.AwaitUnacked(1);
  producer.AckAll(/*ok=*/false);  // the output: the epoch ends before its frame
  Status result;
  ASSERT_TRUE(FinishWithin(p, &result, std::chrono::seconds(5)));
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.message().find("broker said no"), std::string::npos) << result.ToString();
  EXPECT_EQ(store.durable_commits(), 0);
  EXPECT_TRUE(group.committed.empty());
  EXPECT_TRUE(producer.log().empty());  // no frame either
}

TEST(CommitPipelineTest, AFailedDiskCheckFailsTheEpochBeforeAnyStoreIsWritten) {
  FakeChangelog producer;
  FakeGroup group;
  RecordingStore store;
  CommitPipelineOptions o = Options();
  o.before_write = [] { return Status::Fatal("state.dir no longer accepts writes"); };
  CommitPipeline p(producer, group, std::move(o));
  store.Put("c/1", "v");
  store.Seal();
  p.Seal({{.partition = 0, .store = &store, .offsets = {{"cx.chat", 5}}}});
  producer.AwaitUnacked(2);
  producer.AckAll();
  Status result;
  ASSERT_TRUE(FinishWithin(p, &result, std::chrono::seconds(5)));
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(store.durable_commits(), 0);
  EXPECT_TRUE(group.committed.empty());
}

TEST(CommitPipelineTest, AFailedStoreWriteFailsTheEpochAndCommitsNoOffsets) {
  FakeChangelog producer;
  FakeGroup group;
  RecordingStore store;
  store.FailWrites();
  CommitPipeline p(producer, group, Options());
  store.Put("c/1", "v");
  store.Seal();
  p.Seal({{.partition = 4, .store = &store, .offsets = {{"cx.chat", 5}}}});
  producer.AwaitUnacked(2);
  producer.AckAll();
  Status result;
  ASSERT_TRUE(FinishWithin(p, &result, std::chrono::seconds(5)));
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.message().find("task 4"), std::string::npos) << result.ToString();
  EXPECT_TRUE(group.committed.empty());
}

TEST(CommitPipelineTest, DrainServesDeliveryReportsUntilTheEpochEnds) {
  FakeChangelog producer;
  FakeGroup group;
  RecordingStore a, b;
  CommitPipeline p(producer, group, Options());
  a.Put("a/1", "v");
  b.Put("b/1", "v");
  a.Seal();
  b.Seal();
  p.Seal({{.partition = 0, .store = &a, .offsets = {{"cx.chat", 1}}},
          {.partition = 1, .store = &b, .offsets = {{"cx.chat", 2}}}});
  int served = 0;
  // The worker polls its producer here; the fake acknowledges what it has.
  Status s = p.Drain(
      [&] {
        ++served;
        producer.AckAll();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      },
      [] { return false; });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_GT(served, 0);
  EXPECT_EQ(a.durable_commits(), 1);
  EXPECT_EQ(b.durable_commits(), 1);
  EXPECT_EQ(group.committed.at("cx.chat/0"), 1);
  EXPECT_EQ(group.committed.at("cx.chat/1"), 2);
  EXPECT_FALSE(p.InFlight());
}

TEST(CommitPipelineTest, StoppingWithAnEpochInFlightWritesNoStore) {
  FakeChangelog producer;
  FakeGroup group;
  RecordingStore store;
  {
    CommitPipeline p(producer, group, Options());
    store.Put("c/1", "v");
    store.Seal();
    p.Seal({{.partition = 0, .store = &store, .offsets = {{"cx.chat", 5}}}});
    producer.AwaitUnacked(2);
    EXPECT_FALSE(p.Drain([] {}, [] { return true; }).ok());  // the worker stops on an error
    p.Stop();
    // A kill at this point: the epoch's records may be in Kafka, its store
    // write is not (the next start restores the frame or reads the inputs again).
    producer.AckAll();
  }
  EXPECT_EQ(store.durable_commits(), 0);
  EXPECT_TRUE(group.committed.empty());
}

}  // namespace
}  // namespace cx::runtime
