// Vocabulary: the small closed sets of names a processor's records repeat
// (queues, tenants, customer tiers, policies, calendars), each name held
// once. A record holds a Name, one pointer, where it held a string of its
// own: copying one is a count, comparing two is comparing pointers, and
// whether the name needs JSON escaping is known once.
//
// Names come from events as well as from the configuration, so a
// vocabulary holds what is in use only: a name whose last holder goes is
// dropped, and a stream of ever new queue names costs what the records
// that hold them cost, no more. One vocabulary per processor instance,
// used on its task's thread only (the counts are not atomic). Names may
// outlive their vocabulary (a task's cache is destroyed after its
// processors): the last holder then frees the name itself.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/json_writer.h"
#include "core/swar.h"

namespace cx::processors {

class Vocabulary;

class Name {
 public:
  Name() = default;  // the empty name
  Name(const Name& o) : e_(o.e_) {
    if (e_ != nullptr) ++e_->holders;
  }
  Name(Name&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  Name& operator=(const Name& o) {
    Name copy(o);
    std::swap(e_, copy.e_);
    return *this;
  }
  Name& operator=(Name&& o) noexcept {
    Name taken(std::move(o));  // `o` is left empty; what this held goes with `taken`
    std::swap(e_, taken.e_);
    return *this;
  }
  ~Name() {
    if (e_ != nullptr && --e_->holders == 0) Drop(e_);
  }

  // The empty name's view points at "" (never at nullptr: a copy of it is a
  // memcpy of 0 bytes, which must not be given a null pointer).
  std::string_view view() const {
    return e_ != nullptr ? std::string_view(e_->text) : std::string_view("", 0);
  }
  operator std::string_view() const { return view(); }  // NOLINT: a name reads as its text
  bool empty() const { return e_ == nullptr; }
  // Two names of one vocabulary are equal when they are the same name.
  friend bool operator==(const Name& a, const Name& b) { return a.e_ == b.e_; }

  // Writes the name as a JSON string, without an escaping scan when it
  // needs none (most names).
  void WriteJson(JsonWriter& w) const {
    if (e_ == nullptr)
      w.PlainString(JsonKey::Known({}));
    else if (e_->plain)
      w.PlainString(JsonKey::Known(e_->text));
    else
      w.String(e_->text);
  }

 private:
  friend class Vocabulary;
  struct Entry {
    std::string text;
    std::uint32_t holders = 0;
    bool plain = false;                // needs no JSON escaping
    Vocabulary* vocabulary = nullptr;  // nullptr once it is gone
  };
  explicit Name(Entry* e) : e_(e) { ++e_->holders; }
  static void Drop(Entry* e);

  Entry* e_ = nullptr;
};

class Vocabulary {
 public:
  Vocabulary() = default;
  Vocabulary(const Vocabulary&) = delete;
  Vocabulary& operator=(const Vocabulary&) = delete;
  ~Vocabulary();

  // The name `text` (the empty name for "").
  Name Intern(std::string_view text);
  // Names held now (for tests and memory accounting).
  std::size_t size() const { return names_.size(); }

 private:
  friend class Name;
  // By the entry's own text.
  std::unordered_map<std::string_view, Name::Entry*, swar::KeyHash, swar::KeyEqual> names_;
};

}  // namespace cx::processors
