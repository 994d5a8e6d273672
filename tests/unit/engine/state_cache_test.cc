#include "engine/state_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/encoding.h"
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

const std::vector<std::string> kProcessors = {"sla", "alerts", "profile"};

std::optional<std::string> Stored(state::Store& store, std::string_view key) {
  auto v = store.Get(key);
  EXPECT_TRUE(v.ok());
  return v.ok() ? *v : std::nullopt;
}

// The owner's state as the store holds it (empty when absent).
OwnerState StoredOwner(state::Store& store, std::string_view owner) {
  OwnerState s;
  if (auto v = Stored(store, OwnerKey(owner))) {
    EXPECT_TRUE(DecodeOwner(*v, s).ok());
  }
  return s;
}

// Store records written by one commit that the changelog gets (not the
// local-only "L" keys).
int PendingRecords(state::Store& store) {
  int n = 0;
  EXPECT_TRUE(store
                  .ForEachPending([&](std::string_view key, std::optional<std::string_view>) {
                    if (key.front() != 'L') ++n;
                  })
                  .ok());
  return n;
}

std::unique_ptr<StateCache> Open(state::Store& store, std::shared_ptr<ObjectBudget> budget = nullptr) {
  auto cache = std::make_unique<StateCache>(store, std::move(budget), kProcessors);
  EXPECT_TRUE(cache->Open().ok());
  return cache;
}

Text* Find(StateCache& cache, std::string_view owner, std::string_view name) {
  Status error;
  auto* o = cache.Find(owner, name, &Text::DecodeObject, error);
  EXPECT_TRUE(error.ok());
  return static_cast<Text*>(o);
}

void Put(StateCache& cache, std::string_view owner, std::string_view name, std::string_view value) {
  Status error;
  cache.Put(owner, name, value, error);
  EXPECT_TRUE(error.ok());
}

std::optional<std::string> Get(StateCache& cache, std::string_view owner, std::string_view name) {
  Status error;
  const std::string* v = cache.Get(owner, name, error);
  EXPECT_TRUE(error.ok());
  return v == nullptr ? std::nullopt : std::optional<std::string>(*v);
}

void SetTimer(StateCache& cache, std::int64_t when, std::size_t processor, std::string_view owner,
              std::string_view tag) {
  Status error;
  cache.SetTimer(Timestamp{when}, processor, owner, tag, error);
  EXPECT_TRUE(error.ok());
}

// Every timer due by `limit`, as "when processor owner tag".
std::vector<std::string> FireAll(StateCache& cache, std::int64_t limit) {
  std::vector<std::string> fired;
  DueTimer t;
  Status error;
  while (cache.PopDue(Timestamp{limit}, t, error))
    fired.push_back(std::to_string(t.when.ms) + " " + kProcessors[t.processor] + " " + t.owner + " " + t.tag);
  EXPECT_TRUE(error.ok()) << error.message();
  return fired;
}

TEST(OwnerCodecTest, RoundTripsAnOwnersRecordsAndTimers) {
  OwnerState s;
  s.timers = {{Timestamp{-5}, "sla", "c1/frt"}, {Timestamp{1'700'000'000'000}, "profile", std::string(200, 't')}};
  s.records = {{"#dedup", std::string("\0\1\2", 3)}, {"alerts/conv/x", ""}, {"sla/s/x", std::string(300, 'v')}};
  OwnerState back;
  ASSERT_TRUE(DecodeOwner(EncodeOwner(s), back).ok());
  EXPECT_EQ(back, s);
  ASSERT_TRUE(DecodeOwner(EncodeOwner(OwnerState{}), back).ok());
  EXPECT_EQ(back, OwnerState{});
}

TEST(OwnerCodecTest, RefusesAnOlderFormatAndDamagedBytes) {
  OwnerState s;
  s.records = {{"sla/s/x", "v"}};
  std::string bytes = EncodeOwner(s);
  OwnerState back;
  for (int format = 1; format < kStateFormat; ++format) {
    std::string older = bytes;
    older[0] = static_cast<char>(format);
    Status st = DecodeOwner(older, back);
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("format " + std::to_string(format)), std::string::npos) << st.message();
  }
  EXPECT_FALSE(DecodeOwner(bytes.substr(0, bytes.size() - 1), back).ok());
  EXPECT_FALSE(DecodeOwner(bytes + "x", back).ok());
  EXPECT_FALSE(DecodeOwner("", back).ok());
}

TEST(StateCacheTest, AnEmptyStoreIsMarkedWithTheFormatAnOlderOneIsRefused) {
  auto fresh = state::NewMemoryStore();
  Open(*fresh);
  EXPECT_EQ(Stored(*fresh, kFormatKey), std::string(1, static_cast<char>(kStateFormat)));

  // Per-record keys of format 1 (no marker): refused, never read as empty.
  auto old = state::NewMemoryStore();
  old->Put(std::string("C\x02") + "c1sla/s/x", "v");
  old->Put("Mwatermark", "12345678");
  ASSERT_TRUE(old->Commit().ok());
  StateCache on_old(*old, nullptr, kProcessors);
  Status s = on_old.Open();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("format 1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("application_id"), std::string::npos) << s.message();

  // Format 1's timers alone are enough to know it.
  auto old_timers = state::NewMemoryStore();
  old_timers->Put(std::string("T") + std::string(8, '\x80') + "\x03" "sla" "\x02" "c1" "frt", "");
  ASSERT_TRUE(old_timers->Commit().ok());
  StateCache on_old_timers(*old_timers, nullptr, kProcessors);
  EXPECT_FALSE(on_old_timers.Open().ok());

  // A store whose marker was lost (a changelog that no longer holds its
  // first frame): its owner records say their format. This one's is read
  // as what it is ...
  auto unmarked = state::NewMemoryStore();
  OwnerState s2;
  s2.records = {{"sla/x", "v"}};
  unmarked->Put(OwnerKey("c1"), EncodeOwner(s2));
  unmarked->Put("Mwatermark", "12345678");
  ASSERT_TRUE(unmarked->Commit().ok());
  auto reopened = Open(*unmarked);
  EXPECT_EQ(Get(*reopened, "c1", "sla/x"), "v");
  // ... and an older one's is refused when the task opens, not when an
  // event of the owner comes.
  auto unmarked_older = state::NewMemoryStore();
  std::string older_owner = EncodeOwner(s2);
  older_owner[0] = static_cast<char>(kStateFormat - 1);
  unmarked_older->Put(OwnerKey("c1"), older_owner);
  ASSERT_TRUE(unmarked_older->Commit().ok());
  StateCache on_unmarked_older(*unmarked_older, nullptr, kProcessors);
  s = on_unmarked_older.Open();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("format " + std::to_string(kStateFormat - 1)), std::string::npos) << s.message();

  auto other = state::NewMemoryStore();
  other->Put(kFormatKey, std::string(1, '\x07'));
  ASSERT_TRUE(other->Commit().ok());
  StateCache on_other(*other, nullptr, kProcessors);
  EXPECT_FALSE(on_other.Open().ok());
}

TEST(StateCacheTest, AnOwnerIsOneStoreRecordWrittenOncePerCommitWhateverChanged) {
  auto store = state::NewMemoryStore();
  auto cache = Open(*store);
  ASSERT_TRUE(store->Commit().ok());
  Text::encodes = 0;
  for (int i = 0; i < 10; ++i) {
    Put(*cache, "c1", "alerts/contacts", "n" + std::to_string(i));
    Text* t = Find(*cache, "c1", "sla/s/x");
    if (t == nullptr) {
      Status error;
      t = static_cast<Text*>(cache->Add("c1", "sla/s/x", std::make_unique<Text>(), error));
    }
    t->value = "clock" + std::to_string(i);
    EXPECT_TRUE(cache->MarkChanged("c1", "sla/s/x"));
    SetTimer(*cache, 1000 + i, 0, "c1", "frt");
  }
  EXPECT_EQ(Text::encodes, 0);  // decoded records are encoded at the commit, not per change
  EXPECT_FALSE(Stored(*store, OwnerKey("c1")).has_value());
  cache->Flush();
  EXPECT_EQ(Text::encodes, 1);
  EXPECT_EQ(PendingRecords(*store), 1);  // one record for the owner
  ASSERT_TRUE(store->Commit().ok());
  OwnerState s = StoredOwner(*store, "c1");
  ASSERT_EQ(s.records.size(), 2u);
  EXPECT_EQ(s.records[0], (OwnerRecord{"alerts/contacts", "n9"}));
  EXPECT_EQ(s.records[1], (OwnerRecord{"sla/s/x", "clock9"}));
  EXPECT_EQ(s.timers.size(), 10u);

  // Nothing changed: nothing written.
  EXPECT_EQ(Get(*cache, "c1", "alerts/contacts"), "n9");
  cache->Flush();
  EXPECT_EQ(PendingRecords(*store), 0);

  // Every record deleted: the owner's record is deleted.
  Status error;
  cache->Delete("c1", "alerts/contacts", error);
  cache->Delete("c1", "sla/s/x", error);
  for (int i = 0; i < 10; ++i) cache->CancelTimer(Timestamp{1000 + i}, 0, "c1", "frt", error);
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(cache->pending_timers(), 0);
  cache->Flush();
  ASSERT_TRUE(store->Commit().ok());
  EXPECT_FALSE(Stored(*store, OwnerKey("c1")).has_value());
}

TEST(StateCacheTest, AChangedObjectIsEncodedOnceAtTheFlush) {
  auto store = state::NewMemoryStore();
  auto cache = Open(*store);
  Status error;
  const int encodes = Text::encodes;
  auto* t = static_cast<Text*>(cache->Add("c1", "profile/p", std::make_unique<Text>("a"), error));
  EXPECT_TRUE(cache->MarkChanged("c1", "profile/p"));
  t->value = "b";
  EXPECT_TRUE(cache->MarkChanged("c1", "profile/p"));
  EXPECT_FALSE(cache->MarkChanged("c1", "profile/absent"));
  // An object added and never marked changed is not written.
  cache->Add("c2", "profile/p", std::make_unique<Text>("never"), error);
  EXPECT_EQ(Text::encodes, encodes);
  cache->Flush();
  EXPECT_EQ(Text::encodes, encodes + 1);
  ASSERT_TRUE(store->Commit().ok());
  EXPECT_EQ(StoredOwner(*store, "c1").records, (std::vector<OwnerRecord>{{"profile/p", "b"}}));
  EXPECT_FALSE(Stored(*store, OwnerKey("c2")).has_value());
  EXPECT_EQ(Find(*cache, "c2", "profile/p")->value, "never");  // still the task's to save
  // An undecodable record is not found as an object (and stays as it was).
  Put(*cache, "c3", "profile/p", "undecodable");
  EXPECT_EQ(Find(*cache, "c3", "profile/p"), nullptr);
  EXPECT_EQ(Get(*cache, "c3", "profile/p"), "undecodable");
}

// MarkChanged of an object finds its record through the object's home, also
// after records added before it moved it; one the cache does not hold (a
// replaced one, one never added) is not marked.
TEST(StateCacheTest, AnObjectIsMarkedChangedThroughItsHome) {
  auto store = state::NewMemoryStore();
  auto cache = Open(*store);
  Status error;
  auto* z = static_cast<Text*>(cache->Add("c1", "sla/z", std::make_unique<Text>("z"), error));
  // Added in name order before it, each moves z's record one place on.
  for (const char* n : {"sla/a", "sla/b", "sla/c"}) cache->Add("c1", n, std::make_unique<Text>(n), error);
  auto* b = Find(*cache, "c1", "sla/b");
  z->value = "z2";
  EXPECT_TRUE(cache->MarkChanged(*z));
  b->value = "b2";
  EXPECT_TRUE(cache->MarkChanged(*b));
  auto* replaced = static_cast<Text*>(cache->Add("c1", "sla/c", std::make_unique<Text>("c2"), error));
  Text stranger("s");
  EXPECT_FALSE(cache->MarkChanged(stranger));
  ASSERT_TRUE(error.ok());
  cache->Flush();
  ASSERT_TRUE(store->Commit().ok());
  // Only what was marked is saved: z and b, not the added-and-unmarked.
  EXPECT_EQ(StoredOwner(*store, "c1").records,
            (std::vector<OwnerRecord>{{"sla/b", "b2"}, {"sla/z", "z2"}}));
  EXPECT_TRUE(cache->MarkChanged(*replaced));
  cache->Flush();
  ASSERT_TRUE(store->Commit().ok());
  EXPECT_EQ(StoredOwner(*store, "c1").records,
            (std::vector<OwnerRecord>{{"sla/b", "b2"}, {"sla/c", "c2"}, {"sla/z", "z2"}}));
}

TEST(StateCacheTest, ForEachWalksInNameOrderWhileTheCallerChangesRecords) {
  auto store = state::NewMemoryStore();
  auto cache = Open(*store);
  for (const char* n : {"a/1", "a/2", "a/3", "a/4", "b/1"}) Put(*cache, "q", n, n);
  Status error;
  auto* t = static_cast<Text*>(cache->Add("q", "a/25", std::make_unique<Text>("obj"), error));
  cache->MarkChanged("q", "a/25");
  t->value = "object";
  std::vector<std::string> seen;
  cache->ForEachWhile(
      "q", "a/", "a/\xff",
      [&](std::string_view given, std::string_view value) {
        const std::string name(given);  // the views last until the records change
        seen.push_back(name + "=" + std::string(value));
        Status e;
        cache->Delete("q", name, e);  // deleting what was given
        if (name == "a/2") cache->Put("q", "a/0", "before", e);  // behind: not visited
        return name != "a/3";
      },
      error);
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a/1=a/1", "a/2=a/2", "a/25=object", "a/3=a/3"}));
  EXPECT_EQ(Get(*cache, "q", "a/4"), "a/4");
  EXPECT_EQ(Get(*cache, "q", "a/0"), "before");
}

TEST(StateCacheTest, TimersFireInDeadlineProcessorOwnerTagOrderAcrossOwners) {
  auto store = state::NewMemoryStore();
  auto cache = Open(*store);
  // Processor names order by their encoding (length first): sla < alerts < profile.
  SetTimer(*cache, 20, 2, "b", "expire");
  SetTimer(*cache, 10, 1, "a", "vip/1");
  SetTimer(*cache, 10, 0, "b", "t2");
  SetTimer(*cache, 10, 0, "b", "t1");
  SetTimer(*cache, 10, 0, "a", "z");
  SetTimer(*cache, 10, 0, "a", "z");  // again: no second timer
  SetTimer(*cache, 30, 0, "c", "late");
  EXPECT_EQ(cache->pending_timers(), 6);
  EXPECT_EQ(FireAll(*cache, 20), (std::vector<std::string>{"10 sla a z", "10 sla b t1", "10 sla b t2",
                                                           "10 alerts a vip/1", "20 profile b expire"}));
  EXPECT_EQ(cache->pending_timers(), 1);
  // A timer set while firing, at or before the limit, fires in the same walk.
  DueTimer t;
  Status error;
  SetTimer(*cache, 25, 0, "d", "new");
  ASSERT_TRUE(cache->PopDue(Timestamp{40}, t, error));
  EXPECT_EQ(t.owner, "d");
  SetTimer(*cache, 26, 0, "e", "chained");
  EXPECT_EQ(FireAll(*cache, 40), (std::vector<std::string>{"26 sla e chained", "30 sla c late"}));
}

TEST(StateCacheTest, TimersSurviveEvictionAndAreRebuiltFromTheStoreWhenATaskOpens) {
  auto store = state::NewMemoryStore();
  auto budget = std::make_shared<ObjectBudget>(1);  // everything evicted between events
  {
    auto cache = Open(*store, budget);
    for (int i = 0; i < 50; ++i) {
      SetTimer(*cache, 1000 - i, 0, "c" + std::to_string(i), "t");
      SetTimer(*cache, 2000 + i, 1, "c" + std::to_string(i), "u");
      cache->Trim();
    }
    EXPECT_EQ(cache->size(), 0u);
    Status error;
    cache->CancelTimer(Timestamp{1000}, 0, "c0", "t", error);  // loads c0 again
    cache->Flush();
    ASSERT_TRUE(store->Commit().ok());
  }
  auto reopened = Open(*store, budget);
  EXPECT_EQ(reopened->pending_timers(), 99);
  const std::vector<std::string> fired = FireAll(*reopened, 1999);
  ASSERT_EQ(fired.size(), 49u);
  EXPECT_EQ(fired.front(), "951 sla c49 t");
  EXPECT_EQ(fired.back(), "999 sla c1 t");
}

TEST(StateCacheTest, TheTimerIndexIsLocalAndBoundedInMemoryWhateverTheOpenTimers) {
  auto store = state::NewMemoryStore();
  constexpr int kOwners = 3 * static_cast<int>(StateCache::kIndexBatch) + 17;
  {
    auto cache = Open(*store);
    for (int i = 0; i < kOwners; ++i) {
      SetTimer(*cache, 100'000 - i, 0, "c" + std::to_string(i), "frt");
      SetTimer(*cache, 500'000 + i, 2, "c" + std::to_string(i), "expire");
    }
    cache->Flush();
    // What the changelog gets (everything but "L" keys): one record per owner.
    int shared = 0;
    ASSERT_TRUE(store
                    ->ForEachPending([&](std::string_view key, std::optional<std::string_view>) {
                      if (key.front() != 'L') ++shared;
                    })
                    .ok());
    EXPECT_EQ(shared, kOwners + 1);  // and the format marker
    ASSERT_TRUE(store->Commit().ok());
  }
  auto cache = Open(*store);
  EXPECT_EQ(cache->pending_timers(), 2 * kOwners);
  EXPECT_EQ(cache->index_in_memory(), 0u);  // a start-up reads nothing
  std::int64_t last = 0;
  int fired = 0;
  std::size_t most = 0;
  DueTimer t;
  Status error;
  while (cache->PopDue(Timestamp{1'000'000}, t, error)) {
    EXPECT_GE(t.when.ms, last);
    last = t.when.ms;
    ++fired;
    most = std::max(most, cache->index_in_memory());
  }
  ASSERT_TRUE(error.ok()) << error.message();
  EXPECT_EQ(fired, 2 * kOwners);
  EXPECT_LE(most, StateCache::kIndexBatch);
  EXPECT_EQ(cache->pending_timers(), 0);
}

TEST(StateCacheTest, TheIndexInMemoryStaysBoundedWhileTimersAreSet) {
  auto store = state::NewMemoryStore();
  auto cache = Open(*store);
  DueTimer t;
  Status error;
  EXPECT_FALSE(cache->PopDue(Timestamp{0}, t, error));  // the whole (empty) index is in memory now
  constexpr int kOwners = 5 * static_cast<int>(StateCache::kIndexBatch);
  for (int i = 0; i < kOwners; ++i) {
    SetTimer(*cache, 1'000'000 - i, 0, "c" + std::to_string(i), "t");
    EXPECT_LE(cache->index_in_memory(), 2 * StateCache::kIndexBatch) << i;
    if (i % 1000 == 999) cache->Trim();
  }
  std::int64_t last = 0;
  int fired = 0;
  while (cache->PopDue(Timestamp{2'000'000}, t, error)) {
    EXPECT_GE(t.when.ms, last);
    last = t.when.ms;
    ++fired;
  }
  ASSERT_TRUE(error.ok()) << error.message();
  EXPECT_EQ(fired, kOwners);
}

TEST(StateCacheTest, AStoreWithoutACompleteTimerIndexHasItDerivedFromTheOwners) {
  auto store = state::NewMemoryStore();
  {
    auto cache = Open(*store);
    SetTimer(*cache, 30, 0, "a", "t");
    SetTimer(*cache, 20, 0, "b", "t");
    cache->Flush();
    ASSERT_TRUE(store->Commit().ok());
  }
  // As a restore leaves it: owners written behind the index, which is
  // marked incomplete; an entry of it no owner has any more.
  OwnerState c;
  c.timers = {{Timestamp{10}, "sla", "restored"}};
  store->Put(OwnerKey("c"), EncodeOwner(c));
  store->Delete(OwnerKey("b"));
  store->Delete(kTimerIndexKey);
  ASSERT_TRUE(store->Commit().ok());
  auto cache = Open(*store);
  EXPECT_EQ(cache->pending_timers(), 2);
  EXPECT_EQ(FireAll(*cache, 100), (std::vector<std::string>{"10 sla c restored", "30 sla a t"}));
}

TEST(StateCacheTest, TimersWrittenOutOfOrderAreReadInFiringOrder) {
  auto store = state::NewMemoryStore();
  OwnerState c;  // as EncodeOwner allows: not in firing order
  c.timers = {{Timestamp{30}, "sla", "late"}, {Timestamp{10}, "sla", "early"}};
  store->Put(OwnerKey("c"), EncodeOwner(c));
  ASSERT_TRUE(store->Commit().ok());
  auto cache = Open(*store);
  SetTimer(*cache, 20, 0, "c", "middle");  // loads the owner
  EXPECT_EQ(FireAll(*cache, 100),
            (std::vector<std::string>{"10 sla c early", "20 sla c middle", "30 sla c late"}));
}

TEST(StateCacheTest, ErasingAnOwnerForgetsItsRecordsAndTimersOnly) {
  auto store = state::NewMemoryStore();
  auto cache = Open(*store);
  for (const char* owner : {"gone", "kept"}) {
    Put(*cache, owner, "sla/s/x", "v");
    SetTimer(*cache, 10, 0, owner, "t");
    SetTimer(*cache, 20, 1, owner, "u");
  }
  cache->Flush();
  ASSERT_TRUE(store->Commit().ok());
  Status error;
  cache->EraseOwner("gone", error);
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(cache->pending_timers(), 2);
  EXPECT_EQ(Get(*cache, "gone", "sla/s/x"), std::nullopt);
  cache->Flush();
  ASSERT_TRUE(store->Commit().ok());
  EXPECT_FALSE(Stored(*store, OwnerKey("gone")).has_value());
  EXPECT_EQ(FireAll(*cache, 100), (std::vector<std::string>{"10 sla kept t", "20 alerts kept u"}));
}

TEST(StateCacheTest, EvictsTheLeastRecentlyUsedOwnersUnderASmallBudgetWritingChangesThrough) {
  auto store = state::NewMemoryStore();
  auto budget = std::make_shared<ObjectBudget>(3000);
  auto cache = Open(*store, budget);
  for (int i = 0; i < 100; ++i) {
    const std::string owner = "o" + std::to_string(i % 20);
    const std::string name = "sla/k" + std::to_string(i);
    Status error;
    auto* t = static_cast<Text*>(
        cache->Add(owner, name, std::make_unique<Text>(std::string(100, static_cast<char>('a' + i % 26))), error));
    ASSERT_NE(t, nullptr);
    ASSERT_TRUE(cache->MarkChanged(owner, name));
    cache->Trim();
    EXPECT_LE(budget->used.load(), budget->limit) << i;
  }
  EXPECT_GT(cache->stats().evictions, 50u);
  EXPECT_GT(cache->stats().write_throughs, 0u);
  EXPECT_EQ(budget->used.load(), cache->bytes());
  // Nothing is lost: evicted owners are in the store, the rest reach it at
  // the flush, and a miss reads them again.
  cache->Flush();
  for (int i = 0; i < 100; ++i) {
    const std::string owner = "o" + std::to_string(i % 20);
    EXPECT_EQ(Find(*cache, owner, "sla/k" + std::to_string(i))->value,
              std::string(100, static_cast<char>('a' + i % 26)))
        << i;
    cache->Trim();
  }
}

TEST(StateCacheTest, ABudgetIsSharedByTheCachesOfAWorker) {
  auto a_store = state::NewMemoryStore(), b_store = state::NewMemoryStore();
  auto budget = std::make_shared<ObjectBudget>(4000);
  auto a = Open(*a_store, budget), b = Open(*b_store, budget);
  for (int i = 0; i < 20; ++i) Put(*a, "a" + std::to_string(i), "sla/x", std::string(100, 'a'));
  a->Trim();
  const std::size_t a_alone = a->bytes();
  for (int i = 0; i < 20; ++i) Put(*b, "b" + std::to_string(i), "sla/x", std::string(100, 'b'));
  b->Trim();
  EXPECT_LE(budget->used.load(), budget->limit);
  EXPECT_EQ(budget->used.load(), a->bytes() + b->bytes());
  EXPECT_GT(a_alone, 0u);
  a.reset();  // a task going away gives its share back
  EXPECT_EQ(budget->used.load(), b->bytes());
}

TEST(StateCacheTest, AnOwnerRecordOfAnotherFormatFailsItsReadNotTheOthers) {
  auto store = state::NewMemoryStore();
  auto cache = Open(*store);
  OwnerState s;
  s.records = {{"sla/x", "v"}};
  std::string bytes = EncodeOwner(s);
  bytes[0] = 1;
  store->Put(OwnerKey("bad"), bytes);
  Put(*cache, "good", "sla/x", "v");
  Status error;
  EXPECT_EQ(cache->Get("bad", "sla/x", error), nullptr);
  EXPECT_FALSE(error.ok());
  EXPECT_NE(error.message().find("bad"), std::string::npos);
  EXPECT_EQ(Get(*cache, "good", "sla/x"), "v");
}

}  // namespace
}  // namespace cx::engine
