#include "runtime/changelog_restore.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/encoding.h"
#include "state/store.h"

namespace cx::runtime {
namespace {

// A changelog partition in memory: records at consecutive offsets from
// `lo`, read `per_read` at a time; the partition's end is reported once
// everything is read.
class FakeSource final : public ChangelogSource {
 public:
  struct Rec {
    std::string key;
    std::optional<std::string> value;
  };
  std::int64_t lo = 0;
  std::vector<Rec> records;  // records[i] is at offset lo + i
  std::size_t per_read = 3;
  std::int64_t sought = -1;
  int reads = 0;
  // Called before each read (a test cancels from there, say).
  std::function<void()> before_read;

  void Put(std::string key, std::string value) { records.push_back({std::move(key), std::move(value)}); }
  void Tombstone(std::string key) { records.push_back({std::move(key), std::nullopt}); }
  void End() { records.push_back({std::string(kEndMarkerKey), "1"}); }
  std::int64_t hi() const { return lo + static_cast<std::int64_t>(records.size()); }

  Result<std::pair<std::int64_t, std::int64_t>> Watermarks() override {
    return std::pair<std::int64_t, std::int64_t>(lo, hi());
  }
  Status Seek(std::int64_t offset) override {
    sought = offset;
    next_ = offset;
    return Status::Ok();
  }
  Status Read(std::chrono::milliseconds, const std::function<bool(const ChangelogRecord&)>& fn) override {
    ++reads;
    if (before_read) before_read();
    for (std::size_t n = 0; n < per_read; ++n) {
      ChangelogRecord r;
      r.offset = next_;
      if (next_ >= hi()) {
        r.end = true;
        fn(r);
        return Status::Ok();
      }
      const Rec& rec = records[static_cast<std::size_t>(next_ - lo)];
      r.key = rec.key;
      if (rec.value) r.value = *rec.value;
      ++next_;
      if (!fn(r)) return Status::Ok();
    }
    return Status::Ok();
  }

 private:
  std::int64_t next_ = 0;
};

std::optional<std::string> Get(state::Store& s, std::string_view key) {
  auto v = s.Get(key);
  EXPECT_TRUE(v.ok());
  return v.ok() ? *v : std::nullopt;
}

std::int64_t Position(state::Store& s) {
  auto v = Get(s, kChangelogPositionKey);
  return v && v->size() == 8 ? static_cast<std::int64_t>(GetFixed64BE(v->data())) : -1;
}

// Every case against both stores: the in-memory one (replay, tests) and
// RocksDB, whose bulk loader gathers frames into SST files.
class ChangelogRestoreTest : public testing::TestWithParam<bool> {
 protected:
  ~ChangelogRestoreTest() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<state::Store> NewStore() {
    if (!GetParam()) return state::NewMemoryStore();
    dir_ = std::filesystem::temp_directory_path() /
           ("cx-restore-test-" + std::to_string(std::random_device()()));
    auto s = state::OpenRocksDbStore({.path = dir_.string()});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : state::NewMemoryStore();
  }

 private:
  std::filesystem::path dir_;
};

TEST_P(ChangelogRestoreTest, AppliesWholeFramesWithTheirPosition) {
  auto store = NewStore();
  FakeSource src;
  src.Put("Oa", "1");
  src.Put("Ob", "1");
  src.End();
  src.Put("Oa", "2");
  src.Tombstone("Ob");
  src.End();
  std::vector<std::pair<std::int64_t, std::int64_t>> frames;
  RestoreOptions opts;
  opts.on_frame = [&](std::int64_t records, std::int64_t left) { frames.emplace_back(records, left); };
  auto r = RestoreStore(*store, src, opts);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->records, 4);
  EXPECT_EQ(r->from, 0);
  EXPECT_EQ(r->to, 6);
  EXPECT_EQ(r->end, 6);
  EXPECT_FALSE(r->cancelled);
  EXPECT_TRUE(r->incomplete.empty());
  EXPECT_EQ(Get(*store, "Oa"), "2");
  EXPECT_FALSE(Get(*store, "Ob"));
  EXPECT_EQ(Position(*store), 6);
  EXPECT_EQ(frames, (std::vector<std::pair<std::int64_t, std::int64_t>>{{2, 3}, {2, 0}}));
}

// A commit that never completed (the worker died between its frame and its
// END marker): nothing of it applied, its keys named for the task to
// re-write at its first commit.
TEST_P(ChangelogRestoreTest, AFrameWithoutItsEndIsNotAppliedAndItsKeysAreNamed) {
  auto store = NewStore();
  FakeSource src;
  src.Put("Oa", "1");
  src.End();
  src.Put("Oc", "x");
  src.Put("Oa", "x");
  src.Tombstone("Oc");
  auto r = RestoreStore(*store, src, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records, 1);
  EXPECT_EQ(r->to, 2);
  EXPECT_EQ(Get(*store, "Oa"), "1");
  EXPECT_FALSE(Get(*store, "Oc"));
  EXPECT_EQ(Position(*store), 2);
  EXPECT_EQ(r->incomplete, (std::vector<std::string>{"Oa", "Oc"}));  // sorted, once each
}

// A restart with its disk: the store's position is the changelog's end,
// nothing is read.
TEST_P(ChangelogRestoreTest, AStoreAtTheEndReadsNothing) {
  auto store = NewStore();
  FakeSource src;
  src.Put("Oa", "1");
  src.End();
  ASSERT_TRUE(RestoreStore(*store, src, {}).ok());
  FakeSource again = src;
  again.sought = -1;
  again.reads = 0;
  auto r = RestoreStore(*store, again, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records, 0);
  EXPECT_EQ(again.sought, -1);
  EXPECT_EQ(again.reads, 0);
}

// A store that was elsewhere in between: read from its position on.
TEST_P(ChangelogRestoreTest, AStoreBehindReadsFromItsPosition) {
  auto store = NewStore();
  FakeSource src;
  src.Put("Oa", "1");
  src.End();
  ASSERT_TRUE(RestoreStore(*store, src, {}).ok());
  src.Put("Oa", "2");
  src.End();
  auto r = RestoreStore(*store, src, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(src.sought, 2);
  EXPECT_EQ(r->records, 1);
  EXPECT_EQ(Get(*store, "Oa"), "2");
  EXPECT_EQ(Position(*store), 4);
}

// Compaction or retention removed what the store needs next: restored from
// the changelog's start (which holds every key's latest value).
TEST_P(ChangelogRestoreTest, AStoreBehindTheChangelogsStartRestoresFromTheStart) {
  auto store = NewStore();
  std::string position;
  PutFixed64BE(position, 3);
  store->Put(kChangelogPositionKey, position);
  ASSERT_TRUE(store->Commit().ok());
  FakeSource src;
  src.lo = 10;
  src.Put("Oa", "1");
  src.End();
  auto r = RestoreStore(*store, src, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(src.sought, 10);
  EXPECT_EQ(Get(*store, "Oa"), "1");
  EXPECT_EQ(Position(*store), 12);
}

// A store ahead of its changelog (the topic recreated): kept as it is.
TEST_P(ChangelogRestoreTest, AStoreAheadOfTheChangelogIsKept) {
  auto store = NewStore();
  std::string position;
  PutFixed64BE(position, 50);
  store->Put(kChangelogPositionKey, position);
  store->Put("Oa", "mine");
  ASSERT_TRUE(store->Commit().ok());
  FakeSource src;
  src.Put("Oa", "theirs");
  src.End();
  auto r = RestoreStore(*store, src, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records, 0);
  EXPECT_EQ(src.sought, -1);
  EXPECT_EQ(Get(*store, "Oa"), "mine");
}

// A revoke cancels a restore: whole frames read so far stay applied with
// their position, and the next restore goes on from there.
TEST_P(ChangelogRestoreTest, ACancelledRestoreKeepsWholeFramesAndTheNextGoesOn) {
  auto store = NewStore();
  FakeSource src;
  for (int i = 0; i < 4; ++i) {
    src.Put("Ok" + std::to_string(i), "v");
    src.End();
  }
  src.per_read = 3;
  std::atomic<bool> cancel{false};
  src.before_read = [&] {
    if (src.reads == 2) cancel = true;  // after the second read: 6 records, 3 whole frames
  };
  RestoreOptions opts;
  opts.cancel = &cancel;
  auto r = RestoreStore(*store, src, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->cancelled);
  EXPECT_EQ(r->to, 6);
  EXPECT_EQ(Position(*store), 6);
  EXPECT_TRUE(Get(*store, "Ok2"));
  EXPECT_FALSE(Get(*store, "Ok3"));
  cancel = false;
  src.before_read = nullptr;
  auto again = RestoreStore(*store, src, opts);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->cancelled);
  EXPECT_EQ(src.sought, 6);
  EXPECT_EQ(again->records, 1);
  EXPECT_TRUE(Get(*store, "Ok3"));
  EXPECT_EQ(Position(*store), 8);
}

// A read error is handed back as retryable; what was applied stays.
TEST_P(ChangelogRestoreTest, AReadErrorIsRetryable) {
  class Failing final : public ChangelogSource {
   public:
    Result<std::pair<std::int64_t, std::int64_t>> Watermarks() override {
      return std::pair<std::int64_t, std::int64_t>(0, 10);
    }
    Status Seek(std::int64_t) override { return Status::Ok(); }
    Status Read(std::chrono::milliseconds, const std::function<bool(const ChangelogRecord&)>&) override {
      return Status::Unavailable("changelog read: broker gone");
    }
  } src;
  auto store = NewStore();
  auto r = RestoreStore(*store, src, {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().retryable());
}

INSTANTIATE_TEST_SUITE_P(Stores, ChangelogRestoreTest, testing::Values(false, true),
                         [](const testing::TestParamInfo<bool>& i) {
                           return i.param ? "RocksDb" : "Memory";
                         });

}  // namespace
}  // namespace cx::runtime
