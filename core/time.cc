#include "core/time.h"

#include <charconv>
#include <chrono>
#include <cstring>
#include <limits>

namespace cx {
namespace {

// Reads exactly n ASCII digits at text[pos]; false on anything else.
bool Digits(std::string_view text, size_t pos, size_t n, int& out) {
  if (pos + n > text.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

bool Fail(std::string* why, const char* reason) {
  if (why) *why = reason;
  return false;
}

}  // namespace

std::optional<Timestamp> ParseRfc3339(std::string_view s, std::string* why) {
  // YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|+hh:mm|-hh:mm)
  int year = 0, month = 0, day = 0, hour, minute, second;
  auto at = [s](size_t i) { return i < s.size() ? s[i] : '\0'; };
  // The date of the last time parsed on this thread ("YYYY-MM-DD", checked
  // then) and its day number: events in a row mostly share their day, and
  // the civil date is most of the cost.
  thread_local char last_date[10] = {'1', '9', '7', '0', '-', '0', '1', '-', '0', '1'};
  thread_local std::int64_t last_days = 0;
  const bool same_date = s.size() >= 10 && std::memcmp(s.data(), last_date, 10) == 0;
  if (!same_date && (!Digits(s, 0, 4, year) || at(4) != '-' || !Digits(s, 5, 2, month) || at(7) != '-' ||
      !Digits(s, 8, 2, day))) {
    Fail(why, "expected RFC 3339 date YYYY-MM-DD");
    return std::nullopt;
  }
  if (at(10) != 'T' && at(10) != 't') {
    Fail(why, "expected 'T' between date and time");
    return std::nullopt;
  }
  if (!Digits(s, 11, 2, hour) || at(13) != ':' || !Digits(s, 14, 2, minute) || at(16) != ':' ||
      !Digits(s, 17, 2, second)) {
    Fail(why, "expected RFC 3339 time hh:mm:ss");
    return std::nullopt;
  }
  size_t pos = 19;
  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 3) millis = millis * 10 + (s[pos] - '0');
      ++pos;
    }
    size_t n = pos - start;
    if (n == 0 || n > 9) {
      Fail(why, "fraction of a second must have 1 to 9 digits");
      return std::nullopt;
    }
    for (size_t i = n; i < 3; ++i) millis *= 10;
  }
  int offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, oh) || at(pos + 3) != ':' || !Digits(s, pos + 4, 2, om) || oh > 23 ||
        om > 59) {
      Fail(why, "expected offset +hh:mm or -hh:mm");
      return std::nullopt;
    }
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    Fail(why, "missing offset (Z or +hh:mm)");
    return std::nullopt;
  }
  if (pos != s.size()) {
    Fail(why, "trailing characters after the offset");
    return std::nullopt;
  }
  using namespace std::chrono;
  std::int64_t days = last_days;
  if (!same_date) {
    year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                       std::chrono::day{static_cast<unsigned>(day)}};
    if (year < 1 || !ymd.ok()) {
      Fail(why, "no such calendar date");
      return std::nullopt;
    }
    days = sys_days{ymd}.time_since_epoch().count();
  }
  if (hour > 23 || minute > 59 || second > 59) {
    Fail(why, "time of day out of range (leap seconds are not accepted)");
    return std::nullopt;
  }
  if (!same_date) {
    std::memcpy(last_date, s.data(), 10);
    last_days = days;
  }
  std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_min * 60;
  return Timestamp{secs * 1000 + millis};
}

void AppendRfc3339(Timestamp t, std::string& out) {
  char buf[kRfc3339Bytes];
  out.append(buf, WriteRfc3339(t, buf));
}

char* WriteRfc3339(Timestamp t, char* out) {
  using namespace std::chrono;
  std::int64_t ms = t.ms;
  std::int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
  std::int64_t rem = ms - days * 86400000;
  auto two = [](char* p, unsigned v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
  };
  // "YYYY-MM-DDT" of the last day written on this thread: the timestamps of
  // one record, and of records in a row, mostly share their day, and the
  // civil date is most of the cost.
  thread_local std::int64_t last_day = std::numeric_limits<std::int64_t>::min();
  thread_local char date[11];
  if (days != last_day) {
    year_month_day ymd{sys_days{std::chrono::days{days}}};
    int y = static_cast<int>(ymd.year());
    if (y < 0 || y > 9999) y = y < 0 ? 0 : 9999;
    date[0] = static_cast<char>('0' + y / 1000);
    date[1] = static_cast<char>('0' + y / 100 % 10);
    two(date + 2, static_cast<unsigned>(y % 100));
    date[4] = '-';
    two(date + 5, static_cast<unsigned>(ymd.month()));
    date[7] = '-';
    two(date + 8, static_cast<unsigned>(ymd.day()));
    date[10] = 'T';
    last_day = days;
  }
  std::memcpy(out, date, sizeof date);
  char* p = out + sizeof date;
  const auto h = static_cast<unsigned>(rem / 3600000), mi = static_cast<unsigned>(rem / 60000 % 60),
             se = static_cast<unsigned>(rem / 1000 % 60), milli = static_cast<unsigned>(rem % 1000);
  two(p, h);
  p[2] = ':';
  two(p + 3, mi);
  p[5] = ':';
  two(p + 6, se);
  p[8] = '.';
  p[9] = static_cast<char>('0' + milli / 100);
  two(p + 10, milli % 100);
  p[12] = 'Z';
  return p + 13;
}

std::string FormatRfc3339(Timestamp t) {
  std::string s;
  AppendRfc3339(t, s);
  return s;
}

std::optional<DurationMs> ParseDuration(std::string_view text) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data() || value < 0) return std::nullopt;
  std::string_view unit(ptr, text.data() + text.size() - ptr);
  std::int64_t mult;
  // A bare number has no unit: "5" would be 5 ms to one reader and 5 s to
  // another, so it is refused.
  if (unit == "ms")
    mult = 1;
  else if (unit == "s")
    mult = 1000;
  else if (unit == "m" || unit == "min")
    mult = 60'000;
  else if (unit == "h")
    mult = 3'600'000;
  else if (unit == "d")
    mult = 86'400'000;
  else
    return std::nullopt;
  if (value > std::numeric_limits<std::int64_t>::max() / mult) return std::nullopt;
  return value * mult;
}

std::string FormatDuration(DurationMs d) {
  if (d != 0 && d % 86'400'000 == 0) return std::to_string(d / 86'400'000) + "d";
  if (d != 0 && d % 3'600'000 == 0) return std::to_string(d / 3'600'000) + "h";
  if (d != 0 && d % 60'000 == 0) return std::to_string(d / 60'000) + "m";
  if (d != 0 && d % 1000 == 0) return std::to_string(d / 1000) + "s";
  return std::to_string(d) + "ms";
}

Timestamp SystemClock::Now() const {
  using namespace std::chrono;
  return {duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count()};
}

}  // namespace cx
