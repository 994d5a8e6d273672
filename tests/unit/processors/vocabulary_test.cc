#include "processors/vocabulary.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace cx::processors {
namespace {

TEST(VocabularyTest, OneNameForOneText) {
  Vocabulary v;
  Name a = v.Intern("billing");
  Name b = v.Intern(std::string("bill") + "ing");
  Name c = v.Intern("returns");
  EXPECT_EQ(a, b);
  EXPECT_FALSE(a == c);
  EXPECT_EQ(a.view(), "billing");
  EXPECT_EQ(v.size(), 2u);
}

TEST(VocabularyTest, EmptyTextIsTheEmptyName) {
  Vocabulary v;
  Name e = v.Intern("");
  EXPECT_TRUE(e.empty());
  EXPECT_EQ(e, Name());
  EXPECT_EQ(e.view(), "");
  EXPECT_NE(e.view().data(), nullptr);  // copied with memcpy: never a null source
  EXPECT_EQ(v.size(), 0u);
}

// A name whose last holder goes is dropped: a stream of ever new names
// costs what is held, no more.
TEST(VocabularyTest, HoldsOnlyWhatIsInUse) {
  Vocabulary v;
  {
    std::vector<Name> held;
    for (int i = 0; i < 1000; ++i) held.push_back(v.Intern("queue-" + std::to_string(i % 10)));
    EXPECT_EQ(v.size(), 10u);
    Name copy = held.front();
    held.clear();
    EXPECT_EQ(v.size(), 1u);
    EXPECT_EQ(copy.view(), "queue-0");
  }
  EXPECT_EQ(v.size(), 0u);
  for (int i = 0; i < 10000; ++i) v.Intern("q" + std::to_string(i));
  EXPECT_EQ(v.size(), 0u);
}

TEST(VocabularyTest, CopiesMovesAndAssignmentsKeepCounts) {
  Vocabulary v;
  Name a = v.Intern("a");
  Name b = a;
  Name c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): a moved-from name is empty
  b = c;
  a = v.Intern("z");
  c = Name();
  EXPECT_EQ(b.view(), "a");
  EXPECT_EQ(v.size(), 2u);
  b = std::move(a);
  EXPECT_EQ(v.size(), 1u);
  EXPECT_EQ(b.view(), "z");
}

// A task's cache is destroyed after its processors: names outlive their
// vocabulary and free themselves (the sanitizer build checks for leaks and
// use after free).
TEST(VocabularyTest, NamesMayOutliveTheirVocabulary) {
  std::vector<Name> held;
  {
    Vocabulary v;
    held.push_back(v.Intern("billing"));
    held.push_back(held.front());
  }
  EXPECT_EQ(held.back().view(), "billing");
  held.clear();
}

TEST(VocabularyTest, WritesJsonAsAStringWould) {
  Vocabulary v;
  for (std::string text : {"billing", "a\"b", "tab\there", "caf\xc3\xa9", "bad\xff"}) {
    JsonWriter named, plain;
    v.Intern(text).WriteJson(named);
    plain.String(text);
    EXPECT_EQ(named.str(), plain.str()) << text;
  }
}

}  // namespace
}  // namespace cx::processors
