// Whether a customer message is negative, for the negative_sentiment alert
// (docs/alerts.md#negative-sentiment).
//
// An explicit `sentiment` score decides whenever the message has one: a
// sentiment model has read the whole text, a keyword list has not. Without
// a score, an escalation keyword counts unless a negation stands before it
// in the same clause: 不, 没, 别 or 无 among the four characters before a
// Chinese keyword ("不会投诉的"), not, no, never, without or a word ending in
// n't among the four words before an English one ("no complaints at all").
// A clause ends at , . ; : ! ? and their full-width forms, 、 and a newline.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cx::processors {

enum class Negativity { kNone, kScore, kKeyword };

// `keywords`: lower-case (ASCII letters are compared case-insensitively);
// `threshold`: a score below it is negative.
Negativity JudgeMessage(std::optional<double> sentiment, std::string_view text, double threshold,
                        const std::vector<std::string>& keywords);

// Whether the text just before byte offset `at` of `text` negates what
// follows (the rule above). Exposed for tests.
bool NegatedBefore(std::string_view text, std::size_t at);

}  // namespace cx::processors
