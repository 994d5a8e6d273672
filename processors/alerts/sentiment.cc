#include "processors/alerts/sentiment.h"

#include <array>
#include <cstdint>

namespace cx::processors {
namespace {

constexpr int kWindow = 4;  // tokens (words or CJK characters) looked back

// Chinese negations, one character each (UTF-8).
constexpr std::array<std::string_view, 4> kCjkNegations = {"不", "没", "别", "无"};
// Full-width and CJK clause punctuation: ，。！？；：、
constexpr std::array<std::string_view, 7> kCjkClauseEnds = {"，", "。", "！", "？", "；", "：", "、"};

bool IsAsciiWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'';
}
bool IsAsciiClauseEnd(char c) {
  return c == ',' || c == '.' || c == ';' || c == ':' || c == '!' || c == '?' || c == '\n';
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsEnglishNegation(std::string_view word) {
  std::string w;
  for (char c : word) w.push_back(Lower(c));
  return w == "not" || w == "no" || w == "never" || w == "without" ||
         (w.size() > 3 && w.compare(w.size() - 3, 3, "n't") == 0);
}

template <std::size_t N>
bool OneOf(std::string_view s, const std::array<std::string_view, N>& set) {
  for (std::string_view x : set)
    if (s == x) return true;
  return false;
}

}  // namespace

bool NegatedBefore(std::string_view text, std::size_t at) {
  std::size_t i = at;
  int tokens = 0;
  while (i > 0 && tokens < kWindow) {
    const auto byte = static_cast<unsigned char>(text[i - 1]);
    if (byte < 0x80) {
      const char c = text[i - 1];
      if (IsAsciiClauseEnd(c)) return false;
      if (!IsAsciiWordChar(c)) {  // space and other separators
        --i;
        continue;
      }
      std::size_t start = i;
      while (start > 0 && IsAsciiWordChar(text[start - 1])) --start;
      if (IsEnglishNegation(text.substr(start, i - start))) return true;
      ++tokens;
      i = start;
      continue;
    }
    // One UTF-8 code point, read backwards over its continuation bytes.
    std::size_t start = i - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    const std::string_view cp = text.substr(start, i - start);
    if (OneOf(cp, kCjkClauseEnds)) return false;
    if (OneOf(cp, kCjkNegations)) return true;
    ++tokens;
    i = start;
  }
  return false;
}

Negativity JudgeMessage(std::optional<double> sentiment, std::string_view text, double threshold,
                        const std::vector<std::string>& keywords) {
  if (sentiment) return *sentiment < threshold ? Negativity::kScore : Negativity::kNone;
  if (text.empty()) return Negativity::kNone;
  std::string lower(text);
  for (char& c : lower) c = Lower(c);
  for (const std::string& k : keywords) {
    if (k.empty()) continue;
    for (std::size_t at = lower.find(k); at != std::string::npos; at = lower.find(k, at + k.size())) {
      if (!NegatedBefore(lower, at)) return Negativity::kKeyword;
    }
  }
  return Negativity::kNone;
}

}  // namespace cx::processors
