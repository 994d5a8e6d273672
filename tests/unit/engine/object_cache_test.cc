#include "engine/object_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "state/store.h"

namespace cx::engine {
namespace {

// A record of one string, encoded as itself.
struct Text final : processors::StateObject {
  std::string value;
  explicit Text(std::string v = {}) : value(std::move(v)) {}
  void EncodeTo(std::string& out) const override {
    ++encodes;
    out.append(value);
  }
  static inline int encodes = 0;  // EncodeTo calls, for the tests of when records are encoded
  std::size_t MemoryBytes() const override { return sizeof(Text) + value.capacity(); }
  static std::unique_ptr<processors::StateObject> DecodeObject(std::string_view in) {
    if (in == "undecodable") return nullptr;
    return std::make_unique<Text>(std::string(in));
  }
};

std::optional<std::string> Stored(state::Store& store, std::string_view key) {
  auto v = store.Get(key);
  EXPECT_TRUE(v.ok());
  return v.ok() ? *v : std::nullopt;
}

// Keys in these tests: a two-byte owner prefix, then the record's name.
constexpr std::size_t kOwner = 2;

Text* Find(ObjectCache& cache, std::string_view key) {
  Status error;
  auto* o = cache.Find(key, kOwner, &Text::DecodeObject, error);
  EXPECT_TRUE(error.ok());
  return static_cast<Text*>(o);
}

TEST(ObjectCacheTest, DecodesOnceAndWritesBackOnlyAtFlush) {
  auto store = state::NewMemoryStore();
  store->Put("o1k", "a");
  ASSERT_TRUE(store->Commit().ok());
  ObjectCache cache(*store, nullptr);
  Text* t = Find(cache, "o1k");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->value, "a");
  t->value = "b";
  EXPECT_TRUE(cache.Save("o1k", kOwner));
  EXPECT_EQ(Stored(*store, "o1k"), "a");        // not yet: once per commit
  EXPECT_EQ(*cache.Bytes("o1k", kOwner), "b");  // what readers of the task see
  t->value = "c";
  EXPECT_TRUE(cache.Save("o1k", kOwner));
  EXPECT_EQ(Find(cache, "o1k"), t);  // the same object, not decoded again
  EXPECT_EQ(cache.stats().misses, 1u);
  EXPECT_EQ(cache.stats().hits, 1u);
  cache.Flush();
  EXPECT_EQ(Stored(*store, "o1k"), "c");
  // One pending write for the two saves: one changelog record.
  int pending = 0;
  ASSERT_TRUE(
      store->ForEachPending([&](std::string_view, std::optional<std::string_view>) { ++pending; }).ok());
  EXPECT_EQ(pending, 1);
}

TEST(ObjectCacheTest, AnUnchangedRecordWritesNothing) {
  auto store = state::NewMemoryStore();
  store->Put("o1k", "a");
  ASSERT_TRUE(store->Commit().ok());
  ObjectCache cache(*store, nullptr);
  Text* t = Find(cache, "o1k");
  EXPECT_FALSE(cache.Save("o1k", kOwner));
  t->value = "b";
  t->value = "a";
  EXPECT_FALSE(cache.Save("o1k", kOwner));
  cache.Flush();
  EXPECT_EQ(store->PendingBytes(), 0u);
}

TEST(ObjectCacheTest, AbsentAndUndecodableRecordsAreNotFoundAndCanBeAdded) {
  auto store = state::NewMemoryStore();
  store->Put("o1bad", "undecodable");
  ObjectCache cache(*store, nullptr);
  EXPECT_EQ(Find(cache, "o1none"), nullptr);
  EXPECT_EQ(Find(cache, "o1bad"), nullptr);
  auto* t = static_cast<Text*>(cache.Add("o1bad", kOwner, std::make_unique<Text>("new")));
  EXPECT_EQ(t->value, "new");
  EXPECT_TRUE(cache.Save("o1bad", kOwner));  // a new record always saves, even if empty
  cache.Add("o1empty", kOwner, std::make_unique<Text>());
  EXPECT_TRUE(cache.Save("o1empty", kOwner));
  EXPECT_FALSE(cache.Save("o1empty", kOwner));
  cache.Flush();
  EXPECT_EQ(Stored(*store, "o1bad"), "new");
  EXPECT_EQ(Stored(*store, "o1empty"), "");
}

TEST(ObjectCacheTest, EvictsTheLeastRecentlyUsedOwnersUnderASmallBudgetWritingUnsavedRecordsThrough) {
  auto store = state::NewMemoryStore();
  auto budget = std::make_shared<ObjectBudget>(2000);
  ObjectCache cache(*store, budget);
  for (int i = 0; i < 100; ++i) {
    const std::string key = "o" + std::to_string(i % 10) + "k" + std::to_string(i);
    cache.Add(key, kOwner, std::make_unique<Text>(std::string(100, 'a' + i % 26)));
    ASSERT_TRUE(cache.Save(key, kOwner));
    cache.Trim();
    EXPECT_LE(budget->used.load(), budget->limit) << i;
  }
  EXPECT_GT(cache.stats().evictions, 80u);
  EXPECT_EQ(cache.stats().write_throughs, cache.stats().evictions);
  EXPECT_LT(cache.size(), 10u);
  EXPECT_EQ(budget->used.load(), cache.bytes());
  // Nothing is lost: evicted records are in the store, the rest reach it at
  // the flush, and a miss decodes them again.
  cache.Flush();
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(Stored(*store, "o" + std::to_string(i % 10) + "k" + std::to_string(i)),
              std::string(100, 'a' + i % 26))
        << i;
  Text* first = Find(cache, "o0k0");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->value, std::string(100, 'a'));
}

TEST(ObjectCacheTest, ABudgetIsSharedByTheCachesOfAWorker) {
  auto a_store = state::NewMemoryStore(), b_store = state::NewMemoryStore();
  auto budget = std::make_shared<ObjectBudget>(3000);
  {
    ObjectCache a(*a_store, budget), b(*b_store, budget);
    for (int i = 0; i < 20; ++i) {
      const std::string key = "o" + std::to_string(i % 10) + "k" + std::to_string(i);
      a.Add(key, kOwner, std::make_unique<Text>(std::string(200, 'x')));
      a.Save(key, kOwner);
      a.Trim();
    }
    const std::size_t a_alone = a.bytes();
    for (int i = 0; i < 20; ++i) {
      const std::string key = "o" + std::to_string(i % 10) + "k" + std::to_string(i);
      b.Add(key, kOwner, std::make_unique<Text>(std::string(200, 'y')));
      b.Save(key, kOwner);
      b.Trim();
    }
    EXPECT_EQ(budget->used.load(), a.bytes() + b.bytes());
    EXPECT_LE(budget->used.load(),
              budget->limit + a_alone);  // b trims its own; a keeps its share until it trims
    a.Trim();
    EXPECT_LE(budget->used.load(), budget->limit);
  }
  EXPECT_EQ(budget->used.load(), 0u);  // a cache gives its share back when it goes
}

TEST(ObjectCacheTest, ErasedRecordsNeverReachTheStoreAndFlushOwnerWritesOnlyItsRange) {
  auto store = state::NewMemoryStore();
  ObjectCache cache(*store, nullptr);
  for (const char* k : {"a:1", "a:2", "b:1", "b:2", "c:1"}) {
    cache.Add(k, kOwner, std::make_unique<Text>(k));
    cache.Save(k, kOwner);
  }
  cache.EraseOwner("a:");
  EXPECT_EQ(cache.Bytes("a:1", kOwner), nullptr);
  cache.Erase("c:1", kOwner);
  cache.FlushOwner("b:", "b:1", "b:2");
  EXPECT_EQ(Stored(*store, "b:1"), "b:1");
  EXPECT_EQ(Stored(*store, "b:2"), std::nullopt);  // outside the range: not yet
  cache.Flush();
  EXPECT_EQ(Stored(*store, "b:2"), "b:2");
  EXPECT_EQ(Stored(*store, "a:1"), std::nullopt);
  EXPECT_EQ(Stored(*store, "a:2"), std::nullopt);
  EXPECT_EQ(Stored(*store, "c:1"), std::nullopt);
  EXPECT_EQ(cache.size(), 2u);
}

int Pending(state::Store& store) {
  int n = 0;
  EXPECT_TRUE(store.ForEachPending([&](std::string_view, std::optional<std::string_view>) { ++n; }).ok());
  return n;
}

TEST(ObjectCacheTest, AChangedRecordIsEncodedOnceWhenItIsWrittenBack) {
  auto store = state::NewMemoryStore();
  store->Put("o1k", "a");
  ASSERT_TRUE(store->Commit().ok());
  ObjectCache cache(*store, nullptr);
  Text* t = Find(cache, "o1k");
  Text::encodes = 0;
  for (const char* v : {"b", "c", "d"}) {
    t->value = v;
    EXPECT_TRUE(cache.MarkChanged("o1k", kOwner));
  }
  EXPECT_EQ(Text::encodes, 0);  // nothing encoded per change
  EXPECT_FALSE(cache.MarkChanged("o1none", kOwner));
  EXPECT_EQ(*cache.Bytes("o1k", kOwner), "d");  // a reader from outside sees the latest
  EXPECT_EQ(Text::encodes, 1);
  cache.Flush();
  EXPECT_EQ(Stored(*store, "o1k"), "d");
  EXPECT_EQ(Text::encodes, 1);  // already encoded for the reader
  EXPECT_EQ(Pending(*store), 1);
  ASSERT_TRUE(store->Commit().ok());
  cache.Flush();  // nothing changed since: nothing written, nothing encoded
  EXPECT_EQ(Pending(*store), 0);
  EXPECT_EQ(Text::encodes, 1);
}

TEST(ObjectCacheTest, ACommitWritesOnlyTheOwnersThatChanged) {
  auto store = state::NewMemoryStore();
  for (const char* k : {"a:1", "b:1", "c:1", "d:1"}) store->Put(k, k);
  ASSERT_TRUE(store->Commit().ok());
  ObjectCache cache(*store, nullptr);
  for (const char* k : {"a:1", "b:1", "c:1", "d:1"}) ASSERT_NE(Find(cache, k), nullptr);
  Find(cache, "b:1")->value = "B";
  cache.MarkChanged("b:1", kOwner);
  Find(cache, "c:1")->value = "C";
  cache.MarkChanged("c:1", kOwner);
  Find(cache, "d:1")->value = "D";
  cache.MarkChanged("d:1", kOwner);
  cache.EraseOwner("c:");  // a dirty owner dropped (erasure): never written
  Text::encodes = 0;
  cache.Flush();
  EXPECT_EQ(Text::encodes, 2);
  EXPECT_EQ(Pending(*store), 2);
  EXPECT_EQ(Stored(*store, "b:1"), "B");
  EXPECT_EQ(Stored(*store, "c:1"), "c:1");
  EXPECT_EQ(Stored(*store, "d:1"), "D");
  ASSERT_TRUE(store->Commit().ok());
  cache.Flush();
  EXPECT_EQ(Pending(*store), 0);
}

TEST(ObjectCacheTest, AnEvictedChangedRecordIsWrittenThroughWithItsLatestValue) {
  auto store = state::NewMemoryStore();
  auto budget = std::make_shared<ObjectBudget>(1500);
  ObjectCache cache(*store, budget);
  for (int i = 0; i < 30; ++i) {
    const std::string key = "o" + std::to_string(i % 10) + "k" + std::to_string(i);
    Text* t = static_cast<Text*>(cache.Add(key, kOwner, std::make_unique<Text>("first")));
    t->value = std::string(100, 'a' + i % 26);  // changed after it was added
    ASSERT_TRUE(cache.MarkChanged(key, kOwner));
    cache.Trim();
  }
  EXPECT_GT(cache.stats().write_throughs, 0u);
  cache.Flush();
  for (int i = 0; i < 30; ++i)
    EXPECT_EQ(Stored(*store, "o" + std::to_string(i % 10) + "k" + std::to_string(i)),
              std::string(100, 'a' + i % 26))
        << i;
}

}  // namespace
}  // namespace cx::engine
