#include "processors/vocabulary.h"

namespace cx::processors {

void Name::Drop(Entry* e) {
  if (e->vocabulary != nullptr) e->vocabulary->names_.erase(e->text);
  delete e;
}

Vocabulary::~Vocabulary() {
  // Names still held free themselves when their last holder goes.
  for (auto& [text, e] : names_) e->vocabulary = nullptr;
}

Name Vocabulary::Intern(std::string_view text) {
  if (text.empty()) return Name();
  if (auto it = names_.find(text); it != names_.end()) return Name(it->second);
  auto* e = new Name::Entry{std::string(text), 0, !JsonNeedsEscape(text), this};
  names_.emplace(e->text, e);
  return Name(e);
}

}  // namespace cx::processors
