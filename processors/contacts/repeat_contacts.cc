#include "processors/contacts/repeat_contacts.h"

#include <algorithm>

namespace cx::processors {

std::string RecentContacts::About(const Event& opened) {
  if (!opened.order_id.empty()) return "order/" + opened.order_id;
  if (!opened.topic.empty()) return "topic/" + opened.topic;
  return {};
}

int RecentContacts::Record(std::string_view about, Timestamp ts, DurationMs window) {
  if (about.empty()) return 1;
  int count = 1;
  for (const Entry& e : entries_) {
    if (e.about == about && e.opened <= ts && ts - e.opened <= window) ++count;
  }
  // Entries past the window of the newest contact can repeat nothing any
  // more (a contact later than them all would be further still).
  Timestamp newest = ts;
  for (const Entry& e : entries_) newest = std::max(newest, e.opened);
  std::erase_if(entries_, [&](const Entry& e) { return newest - e.opened > window; });
  entries_.push_back({ts, std::string(about)});
  if (entries_.size() > kMaxEntries) entries_.erase(entries_.begin());
  return count;
}

void RecentContacts::EncodeTo(std::string& out) const {
  ByteWriter w(out);
  EncodeTo(w);
}

void RecentContacts::EncodeTo(ByteWriter& w) const {
  w.Varint(entries_.size());
  for (const Entry& e : entries_) {
    w.VarintSigned(e.opened.ms);
    w.String(e.about);
  }
}

bool RecentContacts::DecodeFrom(Reader& in) {
  entries_.clear();
  const std::uint64_t n = in.Varint();
  if (n > kMaxEntries) return false;
  for (std::uint64_t i = 0; i < n && in.ok(); ++i) {
    Entry e;
    e.opened.ms = in.VarintSigned();
    e.about.assign(in.String());
    entries_.push_back(std::move(e));
  }
  return in.ok();
}

}  // namespace cx::processors
