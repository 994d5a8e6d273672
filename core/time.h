// Event time. Timestamps are milliseconds since the Unix epoch (UTC), the
// precision of the event contract; durations are milliseconds too.
//
// Clock is the only way code asks for "now", so tests drive time by hand
// (ManualClock) and replay never reads the wall clock.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace cx {

using DurationMs = std::int64_t;

// A point in event time: milliseconds since 1970-01-01T00:00:00Z.
struct Timestamp {
  std::int64_t ms = 0;

  static constexpr Timestamp Min() { return {std::numeric_limits<std::int64_t>::min()}; }
  static constexpr Timestamp Max() { return {std::numeric_limits<std::int64_t>::max()}; }

  friend constexpr auto operator<=>(Timestamp, Timestamp) = default;
  friend constexpr Timestamp operator+(Timestamp t, DurationMs d) { return {t.ms + d}; }
  friend constexpr Timestamp operator-(Timestamp t, DurationMs d) { return {t.ms - d}; }
  friend constexpr DurationMs operator-(Timestamp a, Timestamp b) { return a.ms - b.ms; }
};

// Parses an RFC 3339 date-time with a mandatory offset ("Z" or "+hh:mm"),
// e.g. "2026-11-23T10:15:30.250+08:00". A fraction of 1 to 9 digits is
// accepted and truncated to milliseconds. Returns nullopt and sets *why
// (when given) on any deviation from the grammar or an out-of-range field.
std::optional<Timestamp> ParseRfc3339(std::string_view text, std::string* why = nullptr);

// Formats as "YYYY-MM-DDThh:mm:ss.sssZ" (UTC, always milliseconds), the form
// of every timestamp cxstream writes.
std::string FormatRfc3339(Timestamp t);
// Appends the same text to *out without a temporary.
void AppendRfc3339(Timestamp t, std::string& out);
// The same into `out`, which has room for kRfc3339Bytes; returns the end.
inline constexpr std::size_t kRfc3339Bytes = 24;  // 2026-11-23T00:14:14.701Z
char* WriteRfc3339(Timestamp t, char* out);

// Parses a duration such as "250ms", "5s", "15m", "8h" or "7d" (also
// "min"); nullopt without a unit or for anything else.
std::optional<DurationMs> ParseDuration(std::string_view text);
std::string FormatDuration(DurationMs d);

// How many whole `step`s (> 0) lie between the epoch and `t`, rounded down
// (also before 1970): the index of t's interval, day, ...
inline std::int64_t StepsSinceEpoch(Timestamp t, DurationMs step) {
  const std::int64_t q = t.ms / step;
  return t.ms % step < 0 ? q - 1 : q;
}

// Source of "now". Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp Now() const = 0;
};

// The wall clock (system_clock).
class SystemClock final : public Clock {
 public:
  Timestamp Now() const override;
};

// A clock moved only by the test that owns it.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start = {0}) : now_(start.ms) {}
  Timestamp Now() const override { return {now_.load()}; }
  void Set(Timestamp t) { now_.store(t.ms); }
  void Advance(DurationMs d) { now_.fetch_add(d); }

 private:
  std::atomic<std::int64_t> now_;
};

}  // namespace cx
