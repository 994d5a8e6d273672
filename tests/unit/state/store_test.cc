#include "state/store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace cx::state {
namespace {

// A fresh directory under the test temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("cx-store-test-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

enum class Kind { kMemory, kRocksDb };

class StoreTest : public ::testing::TestWithParam<Kind> {
 protected:
  std::unique_ptr<Store> Open() {
    if (GetParam() == Kind::kMemory) return NewMemoryStore();
    auto r = OpenRocksDbStore({.path = dir_.path() + "/db"});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return std::move(r).value();
  }
  TempDir dir_;
};

std::optional<std::string> Get(Store& s, std::string_view k) {
  auto r = s.Get(k);
  EXPECT_TRUE(r.ok());
  return r.value();
}

TEST_P(StoreTest, ReadsItsOwnUncommittedWrites) {
  auto s = Open();
  EXPECT_FALSE(Get(*s, "a"));
  s->Put("a", "1");
  EXPECT_EQ(Get(*s, "a"), "1");
  s->Put("a", "2");
  EXPECT_EQ(Get(*s, "a"), "2");
  s->Delete("a");
  EXPECT_FALSE(Get(*s, "a"));
  EXPECT_TRUE(s->Commit().ok());
}

TEST_P(StoreTest, ScanMergesCommittedAndPendingInOrder) {
  auto s = Open();
  s->Put("k1", "a");
  s->Put("k3", "c");
  s->Put("x", "outside");
  ASSERT_TRUE(s->Commit().ok());
  s->Put("k2", "b");
  s->Delete("k3");
  s->Put("k4", "d");
  std::vector<std::string> seen;
  ASSERT_TRUE(s->Scan("k", "l", [&](std::string_view k, std::string_view v) {
                 seen.push_back(std::string(k) + "=" + std::string(v));
                 return true;
               }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"k1=a", "k2=b", "k4=d"}));
}

TEST_P(StoreTest, ScanStopsWhenAsked) {
  auto s = Open();
  for (char c = 'a'; c <= 'e'; ++c) s->Put(std::string(1, c), "v");
  int n = 0;
  ASSERT_TRUE(s->Scan("a", "z", [&](std::string_view, std::string_view) { return ++n < 2; }).ok());
  EXPECT_EQ(n, 2);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values(Kind::kMemory, Kind::kRocksDb),
                         [](const auto& param_info) {
                           return param_info.param == Kind::kMemory ? "Memory" : "RocksDb";
                         });

// Replay's store: no undo log, so writes, reads, scans and the pending
// bytes behave as above, and asking for what only the log knows stops the
// program rather than answering wrongly.
TEST(MemoryStoreWithoutUndoTest, ReadsWritesAndScansAsTheStoreWithUndo) {
  auto s = NewMemoryStore({.undo = false});
  s->Put("k1", "a");
  s->Put("k3", "c");
  EXPECT_GT(s->PendingBytes(), 0u);
  ASSERT_TRUE(s->Commit().ok());
  EXPECT_EQ(s->PendingBytes(), 0u);
  s->Put("k2", "b");
  s->Put("k1", "a2");
  s->Delete("k3");
  s->Delete("never");
  EXPECT_EQ(Get(*s, "k1"), "a2");
  EXPECT_FALSE(Get(*s, "k3"));
  std::vector<std::string> seen;
  ASSERT_TRUE(s->Scan("k", "l", [&](std::string_view k, std::string_view v) {
                 seen.push_back(std::string(k) + "=" + std::string(v));
                 return true;
               }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"k1=a2", "k2=b"}));
}

TEST(MemoryStoreWithoutUndoDeathTest, RollbackAndPendingWritesAreProgrammingErrors) {
  auto s = NewMemoryStore({.undo = false});
  s->Put("a", "1");
  EXPECT_DEATH(s->Rollback(), "Rollback needs a store made with undo");
  EXPECT_DEATH((void)s->ForEachPending([](std::string_view, std::optional<std::string_view>) {}),
               "ForEachPending needs a store made with undo");
}

TEST(RocksDbStoreTest, CommittedStateSurvivesReopenAndUncommittedDoesNot) {
  TempDir dir;
  {
    auto s = OpenRocksDbStore({.path = dir.path()});
    ASSERT_TRUE(s.ok());
    (*s)->Put("kept", "1");
    ASSERT_TRUE((*s)->Commit().ok());
    (*s)->Put("lost", "2");  // never committed: as after a crash mid-interval
  }
  auto s = OpenRocksDbStore({.path = dir.path()});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Get(**s, "kept"), "1");
  EXPECT_FALSE(Get(**s, "lost"));
}

TEST(RocksDbStoreTest, UnwritableDirectoryIsAnIoError) {
  auto s = OpenRocksDbStore({.path = "/proc/cxstream-cannot-exist/db"});
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(s.status().retryable());
}

}  // namespace
}  // namespace cx::state

namespace cx::state {
namespace {

TEST_P(StoreTest, ForEachPendingGivesTheFinalValueOfEachKeyInOrder) {
  auto s = Open();
  s->Put("old", "x");
  ASSERT_TRUE(s->Commit().ok());
  s->Put("b", "1");
  s->Put("a", "1");
  s->Put("b", "2");
  s->Delete("old");
  std::vector<std::string> seen;
  ASSERT_TRUE(s->ForEachPending([&](std::string_view k, std::optional<std::string_view> v) {
                 seen.push_back(std::string(k) + "=" + (v ? std::string(*v) : "<deleted>"));
               }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a=1", "b=2", "old=<deleted>"}));
}

TEST_P(StoreTest, ADeleteOfWhatTheCommittedStateDoesNotHoldIsDroppedUnlessATombstone) {
  auto s = Open();
  s->Put("kept", "1");
  ASSERT_TRUE(s->Commit().ok());
  s->Put("brief", "x");  // created and deleted within one interval
  s->Delete("brief");
  s->Delete("never");
  s->Delete("kept");       // committed: its delete is written
  s->Tombstone("forced");  // absent, and written all the same
  std::vector<std::string> seen;
  ASSERT_TRUE(s->ForEachPending([&](std::string_view k, std::optional<std::string_view> v) {
                 seen.push_back(std::string(k) + (v ? "=" + std::string(*v) : " deleted"));
               }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"forced deleted", "kept deleted"}));
  ASSERT_TRUE(s->Commit().ok());
  EXPECT_EQ(Get(*s, "kept"), std::nullopt);
  EXPECT_EQ(Get(*s, "brief"), std::nullopt);
}

TEST_P(StoreTest, RollbackDiscardsPendingWrites) {
  auto s = Open();
  s->Put("kept", "1");
  ASSERT_TRUE(s->Commit().ok());
  s->Put("kept", "2");
  s->Put("new", "3");
  s->Rollback();
  EXPECT_EQ(Get(*s, "kept"), "1");
  EXPECT_FALSE(Get(*s, "new"));
  EXPECT_EQ(s->PendingBytes(), 0u);
}

}  // namespace
// Regression (issue 16.8): a write-ahead log whose tail was damaged (a crash
// in mid-write, a bad sector) was repaired on open without a word. The
// repair is now reported, for the worker to log.
TEST(RocksDbStoreTest, ARepairOnOpenIsReported) {
  TempDir dir;
  {
    auto s = OpenRocksDbStore({.path = dir.path()});
    ASSERT_TRUE(s.ok());
    for (int i = 0; i < 50; ++i) {
      (*s)->Put("k" + std::to_string(i), std::string(200, 'v'));
      ASSERT_TRUE((*s)->Commit().ok());
    }
  }
  // Damage the newest write-ahead log near its end.
  std::string wal;
  for (const auto& f : std::filesystem::directory_iterator(dir.path()))
    if (f.path().extension() == ".log") wal = f.path().string();
  ASSERT_FALSE(wal.empty());
  const auto size = std::filesystem::file_size(wal);
  ASSERT_GT(size, 300u);
  {
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size - 100));
    f.write("garbage-garbage-garbage", 23);
  }
  std::vector<std::string> notes;
  RocksDbOptions o{.path = dir.path()};
  o.on_repair = [&](const std::string& note) { notes.push_back(note); };
  auto s = OpenRocksDbStore(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(Get(**s, "k0"), std::string(200, 'v'));  // what came before the damage is there
  ASSERT_FALSE(notes.empty()) << "the repair went unreported";
}

}  // namespace cx::state

namespace cx::state {
namespace {

// A restore's writes (BulkLoader): frames applied whole, deletes written
// as the changelog says, an unfinished frame discarded with its keys named.
TEST_P(StoreTest, ABulkLoaderAppliesWholeFramesAndNamesTheKeysOfAnUnfinishedOne) {
  auto s = Open();
  s->Put("old", "0");
  s->Put("gone", "0");
  ASSERT_TRUE(s->Commit().ok());
  {
    auto loader = s->NewBulkLoader();
    loader->Put("a", "1");
    loader->Delete("gone");
    loader->Delete("never");  // the store does not hold it: written all the same, no read
    ASSERT_TRUE(loader->CommitFrame().ok());
    loader->Put("a", "2");
    loader->Put("b", "2");
    loader->Delete("old");
    std::vector<std::string> keys = loader->DiscardFrame();
    EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "old"}));
    ASSERT_TRUE(loader->Finish().ok());
  }
  EXPECT_EQ(Get(*s, "a"), "1");
  EXPECT_FALSE(Get(*s, "b"));
  EXPECT_EQ(Get(*s, "old"), "0");
  EXPECT_FALSE(Get(*s, "gone"));
  EXPECT_FALSE(Get(*s, "never"));
  // The store goes on as before: a commit after the restore.
  s->Put("c", "3");
  ASSERT_TRUE(s->Commit().ok());
  EXPECT_EQ(Get(*s, "c"), "3");
}

// Bulk-loaded frames are there after a reopen (a restart right after a
// restore) with what was committed before and after them.
TEST(RocksDbStoreTest, BulkLoadedFramesSurviveAReopen) {
  TempDir dir;
  {
    auto s = OpenRocksDbStore({.path = dir.path()});
    ASSERT_TRUE(s.ok());
    (*s)->Put("before", "0");
    ASSERT_TRUE((*s)->Commit().ok());
    auto loader = (*s)->NewBulkLoader();
    for (int i = 0; i < 100; ++i) {
      loader->Put("k" + std::to_string(i), std::to_string(i));
      ASSERT_TRUE(loader->CommitFrame().ok());
    }
    ASSERT_TRUE(loader->Finish().ok());
    loader.reset();
    (*s)->Put("after", "1");
    ASSERT_TRUE((*s)->Commit().ok());
  }
  auto s = OpenRocksDbStore({.path = dir.path()});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Get(**s, "before"), "0");
  EXPECT_EQ(Get(**s, "k0"), "0");
  EXPECT_EQ(Get(**s, "k99"), "99");
  EXPECT_EQ(Get(**s, "after"), "1");
}

// A restore larger than what a RocksDB loader gathers in memory goes in as
// several runs (SST files ingested in order): a key written in a later run
// wins over an earlier run's, a delete in a later run removes it, a frame
// left open when a run goes out is still discarded whole, and no run's
// file is left in the store's directory.
TEST(RocksDbStoreTest, ABulkLoadInSeveralRunsKeepsTheLastWriteOfEachKey) {
  TempDir dir;
  auto s = OpenRocksDbStore({.path = dir.path()});
  ASSERT_TRUE(s.ok());
  auto loader = (*s)->NewBulkLoader();
  const std::string big(1 << 20, 'x');  // 48 frames of about 1 MiB: more than one run
  for (int i = 0; i < 48; ++i) {
    loader->Put("big" + std::to_string(i % 4), big + std::to_string(i));
    loader->Put("n", std::to_string(i));
    if (i == 10) loader->Put("deleted", "1");
    if (i == 40) loader->Delete("deleted");
    if (i == 20) loader->Put("kept", "20");
    ASSERT_TRUE(loader->CommitFrame().ok());
  }
  loader->Put("n", "open");
  loader->Put("unfinished", "1");
  EXPECT_EQ(loader->DiscardFrame(), (std::vector<std::string>{"n", "unfinished"}));
  ASSERT_TRUE(loader->Finish().ok());
  loader.reset();
  EXPECT_EQ(Get(**s, "n"), "47");
  EXPECT_EQ(Get(**s, "big3"), big + "47");
  EXPECT_EQ(Get(**s, "big0"), big + "44");
  EXPECT_EQ(Get(**s, "kept"), "20");
  EXPECT_FALSE(Get(**s, "deleted"));
  EXPECT_FALSE(Get(**s, "unfinished"));
  for (const auto& f : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(f.path().filename().string().rfind("cx-restore-", 0), std::string::npos) << f.path();
}

// A restore cut off (the process died, or the task was taken away): the
// store holds whole runs only, each ending at a frame's end, and a run left
// half written on disk is removed when the store opens again.
TEST(RocksDbStoreTest, ABulkLoadCutOffLeavesWholeFramesAndNoStrayRun) {
  TempDir dir;
  {
    auto s = OpenRocksDbStore({.path = dir.path()});
    ASSERT_TRUE(s.ok());
    auto loader = (*s)->NewBulkLoader();
    const std::string big(1 << 20, 'x');
    for (int i = 0; i < 40; ++i) {
      loader->Put("position", std::to_string(i));
      loader->Put("big" + std::to_string(i), big);
      ASSERT_TRUE(loader->CommitFrame().ok());
    }
    loader.reset();  // no Finish: frames after the last run are not applied
    auto position = Get(**s, "position");
    ASSERT_TRUE(position);
    const int last = std::stoi(*position);
    EXPECT_LT(last, 39);
    for (int i = 0; i < 40; ++i) EXPECT_EQ(Get(**s, "big" + std::to_string(i)).has_value(), i <= last) << i;
  }
  const std::string stray = dir.path() + "/cx-restore-3.sst";
  std::ofstream(stray) << "half a run";
  auto s = OpenRocksDbStore({.path = dir.path()});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(stray));
}

}  // namespace
}  // namespace cx::state

// The commit in two steps (docs/runtime.md#commits): the worker seals a
// commit's writes, goes on writing, and makes the sealed batch durable when
// its changelog frame is acknowledged.
namespace cx::state {
namespace {

std::vector<std::string> ScanAll(Store& s) {
  std::vector<std::string> seen;
  EXPECT_TRUE(s.Scan("", "\xff", [&](std::string_view k, std::string_view v) {
                 seen.push_back(std::string(k) + "=" + std::string(v));
                 return true;
               }).ok());
  return seen;
}

TEST_P(StoreTest, ReadsAndScansSeeNewWritesOverTheSealedBatchOverTheCommittedState) {
  auto s = Open();
  s->Put("a", "committed");
  s->Put("b", "committed");
  s->Put("c", "committed");
  ASSERT_TRUE(s->Commit().ok());
  s->Put("b", "sealed");
  s->Delete("c");
  s->Put("d", "sealed");
  s->Put("e", "sealed");
  s->Seal();
  EXPECT_TRUE(s->HasSealed());
  EXPECT_EQ(s->PendingBytes(), 0u);
  EXPECT_GT(s->SealedBytes(), 0u);
  s->Put("c", "new");
  s->Delete("d");
  s->Put("f", "new");
  EXPECT_EQ(Get(*s, "a"), "committed");
  EXPECT_EQ(Get(*s, "b"), "sealed");
  EXPECT_EQ(Get(*s, "c"), "new");
  EXPECT_FALSE(Get(*s, "d"));
  EXPECT_EQ(Get(*s, "e"), "sealed");
  EXPECT_EQ(ScanAll(*s), (std::vector<std::string>{"a=committed", "b=sealed", "c=new", "e=sealed", "f=new"}));
  // Once the sealed batch is committed and released, the same.
  ASSERT_TRUE(s->CommitSealed({}).ok());
  s->ReleaseSealed();
  EXPECT_FALSE(s->HasSealed());
  EXPECT_EQ(ScanAll(*s), (std::vector<std::string>{"a=committed", "b=sealed", "c=new", "e=sealed", "f=new"}));
  ASSERT_TRUE(s->Commit().ok());
  EXPECT_EQ(ScanAll(*s), (std::vector<std::string>{"a=committed", "b=sealed", "c=new", "e=sealed", "f=new"}));
}

TEST_P(StoreTest, TheSealedBatchHoldsTheFinalValuesAndNewWritesAreNotInIt) {
  auto s = Open();
  s->Put("old", "x");
  ASSERT_TRUE(s->Commit().ok());
  s->Put("b", "1");
  s->Put("b", "2");
  s->Delete("old");
  s->Put("brief", "x");
  s->Delete("brief");  // created and deleted before the seal: not in it
  s->Seal();
  s->Put("later", "3");
  std::vector<std::string> sealed;
  s->ForEachSealed([&](std::string_view k, std::optional<std::string_view> v) {
    sealed.push_back(std::string(k) + "=" + (v ? std::string(*v) : "<deleted>"));
  });
  EXPECT_EQ(sealed, (std::vector<std::string>{"b=2", "old=<deleted>"}));
  std::vector<std::string> pending;
  ASSERT_TRUE(s->ForEachPending([&](std::string_view k, std::optional<std::string_view> v) {
                 pending.push_back(std::string(k) + "=" + (v ? std::string(*v) : "<deleted>"));
               }).ok());
  EXPECT_EQ(pending, (std::vector<std::string>{"later=3"}));
}

// A delete after the seal is judged against what the state holds once the
// sealed batch is applied, not against the committed state alone.
TEST_P(StoreTest, ADeleteAfterASealIsKeptForWhatTheSealedBatchWrites) {
  auto s = Open();
  s->Put("gone", "x");
  ASSERT_TRUE(s->Commit().ok());
  s->Put("made", "1");
  s->Delete("gone");
  s->Seal();
  s->Delete("made");  // the sealed batch creates it: the delete must be written
  s->Delete("gone");  // the sealed batch deletes it already: nothing to write
  std::vector<std::string> pending;
  ASSERT_TRUE(s->ForEachPending([&](std::string_view k, std::optional<std::string_view> v) {
                 pending.push_back(std::string(k) + (v ? "=" + std::string(*v) : " deleted"));
               }).ok());
  EXPECT_EQ(pending, (std::vector<std::string>{"made deleted"}));
}

TEST(RocksDbStoreTest, ACommittedSealedBatchAndItsExtraKeysSurviveAReopenAndLaterWritesDoNot) {
  TempDir dir;
  {
    auto s = OpenRocksDbStore({.path = dir.path()});
    ASSERT_TRUE(s.ok());
    (*s)->Put("sealed", "1");
    (*s)->Seal();
    (*s)->Put("after", "2");  // the next epoch's: not committed
    ASSERT_TRUE((*s)->CommitSealed({{"position", "42"}}).ok());
    (*s)->ReleaseSealed();
  }
  auto s = OpenRocksDbStore({.path = dir.path()});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Get(**s, "sealed"), "1");
  EXPECT_EQ(Get(**s, "position"), "42");
  EXPECT_FALSE(Get(**s, "after"));
}

TEST(RocksDbStoreTest, ASealedBatchNeverCommittedIsLostWhole) {
  TempDir dir;
  {
    auto s = OpenRocksDbStore({.path = dir.path()});
    ASSERT_TRUE(s.ok());
    (*s)->Put("a", "1");
    (*s)->Put("b", "1");
    (*s)->Seal();  // as a worker killed before the frame was acknowledged
  }
  auto s = OpenRocksDbStore({.path = dir.path()});
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(Get(**s, "a"));
  EXPECT_FALSE(Get(**s, "b"));
}

// The worker's committer thread writes the sealed batch while the task's
// thread reads and writes (run under ThreadSanitizer in CI).
TEST(RocksDbStoreTest, TheSealedBatchIsCommittedOnAnotherThreadWhileTheOwnerReadsAndWrites) {
  TempDir dir;
  auto opened = OpenRocksDbStore({.path = dir.path()});
  ASSERT_TRUE(opened.ok());
  Store& s = **opened;
  for (int i = 0; i < 2000; ++i) s.Put("k" + std::to_string(i), "sealed");
  s.Seal();
  Status committed;
  std::thread committer([&] { committed = s.CommitSealed({{"position", "1"}}); });
  int seen = 0;
  for (int i = 0; i < 2000; ++i) {
    s.Put("n" + std::to_string(i), "new");
    if (Get(s, "k" + std::to_string(i)) == "sealed") ++seen;
  }
  committer.join();
  ASSERT_TRUE(committed.ok());
  s.ReleaseSealed();
  EXPECT_EQ(seen, 2000);
  EXPECT_EQ(Get(s, "k1999"), "sealed");
  EXPECT_EQ(Get(s, "n1999"), "new");
}

}  // namespace
}  // namespace cx::state
