// RecentContacts: a customer's recent contacts, and the one definition of a
// repeat contact that the alert and profile processors share
// (docs/profiles.md#repeat-contacts).
//
// A contact (conversation.opened) is about its order when it names one, else
// about its topic; one that names neither is about nothing a later contact
// can repeat. A contact repeats an earlier one when both are about the same
// thing and the earlier was opened at most `window` before it (default 7
// days, the usual first-contact-resolution convention). An earlier contact
// eight months ago is history, not a repeat.
//
// A value type held inside each processor's state record; bounded to the
// kMaxEntries most recent contacts that are about something.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/encoding.h"
#include "core/event.h"
#include "core/time.h"

namespace cx::processors {

class RecentContacts {
 public:
  static constexpr std::size_t kMaxEntries = 16;

  // What a conversation.opened is about: "order/<id>", "topic/<topic>", or
  // empty.
  static std::string About(const Event& opened);

  // Records a contact about `about` opened at `ts` and returns how many
  // contacts about it were opened within `window` up to `ts`, this one
  // included: 1 for a first contact, 2 or more for a repeat. A contact about
  // nothing returns 1 and is not kept.
  int Record(std::string_view about, Timestamp ts, DurationMs window);

  void EncodeTo(std::string& out) const;
  // The same, into a writer the caller's record is being written with.
  void EncodeTo(ByteWriter& w) const;
  // False when `in` does not hold a list written by EncodeTo.
  bool DecodeFrom(Reader& in);

  std::size_t size() const { return entries_.size(); }
  // Heap bytes held, approximately (libstdc++, 64-bit).
  std::size_t MemoryBytes() const {
    std::size_t n = entries_.capacity() * sizeof(Entry);
    for (const Entry& e : entries_) n += e.about.capacity() > 15 ? e.about.capacity() + 1 : 0;
    return n;
  }

 private:
  struct Entry {
    Timestamp opened;
    std::string about;
  };
  std::vector<Entry> entries_;  // oldest first
};

}  // namespace cx::processors
