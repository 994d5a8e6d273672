// Byte tests on eight bytes at a time (SWAR), for the scans of short
// strings on the hot path (JSON escaping, id checks). Each says exactly
// whether any byte of the word qualifies (not which one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace cx::swar {

inline constexpr std::uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;

// The eight bytes at `p`, in memory order.
inline std::uint64_t Load(const char* p) {
  std::uint64_t x;
  std::memcpy(&x, p, 8);
  return x;
}
// Each returns a mask of the word's high bits, not zero when some byte
// qualifies, so that several tests combine with `|` and one branch.
//
// A byte below `n` (n at most 0x80; bytes from 0x80 up never are).
inline std::uint64_t Below(std::uint64_t x, std::uint8_t n) { return (x - kOnes * n) & ~x & kHigh; }
// A byte equal to `b`.
inline std::uint64_t Equal(std::uint64_t x, std::uint8_t b) {
  const std::uint64_t y = x ^ (kOnes * b);
  return (y - kOnes) & ~y & kHigh;
}
// A byte of 0x80 or above (not ASCII).
inline std::uint64_t High(std::uint64_t x) { return x & kHigh; }

// Every byte of a string shorter than a word (n < 8) in one word, some of
// them twice, the rest of the word from `fill` (all of it when n is 0): two
// overlapping four-byte loads, or the first, middle and last bytes.
inline std::uint64_t LoadShort(const char* p, std::size_t n, std::uint64_t fill) {
  if (n >= 4) {
    std::uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    return a | std::uint64_t{b} << 32;
  }
  if (n == 0) return fill;
  return fill << 24 | std::uint64_t{static_cast<unsigned char>(p[0])} |
         std::uint64_t{static_cast<unsigned char>(p[n / 2])} << 8 |
         std::uint64_t{static_cast<unsigned char>(p[n - 1])} << 16;
}

// Whether `test` (a mask from the tests above, not zero when some byte
// qualifies) finds a byte of `s`: eight bytes at a time, the tail as the
// last eight bytes (overlapping what was tested), a string shorter than a
// word as one word with the rest from `fill` (bytes `test` never takes).
template <typename Test>
[[gnu::always_inline]] inline bool AnyByte(std::string_view s, std::uint64_t fill, Test test) {
  const std::size_t n = s.size();
  const char* p = s.data();
  if (n < 8) return test(LoadShort(p, n, fill)) != 0;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    if (test(Load(p + i)) != 0) return true;
  return i < n && test(Load(p + n - 8)) != 0;
}

// Whether `a` and `b` hold the same bytes, as operator== says, without a
// call: eight bytes at a time, the tail as the last eight (overlapping), a
// string shorter than a word as one LoadShort word (which, for two strings
// of the same size, holds every byte).
[[gnu::always_inline]] inline bool Same(std::string_view a, std::string_view b) {
  const std::size_t n = a.size();
  if (n != b.size()) return false;
  const char *p = a.data(), *q = b.data();
  if (n < 8) return LoadShort(p, n, 0) == LoadShort(q, n, 0);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    if (Load(p + i) != Load(q + i)) return false;
  return i == n || Load(p + n - 8) == Load(q + n - 8);
}

// A hash of `s` for lookups in memory (never stored: it may change from
// build to build): eight bytes at a time, the tail as the last eight
// (overlapping), a string shorter than that as one word (LoadShort).
inline std::uint64_t Hash(std::string_view s) {
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ull;
  const std::size_t n = s.size();
  const char* p = s.data();
  std::uint64_t h = n * kMul;
  auto mix = [&](std::uint64_t x) {
    h = (h ^ x) * kMul;
    h ^= h >> 29;
  };
  if (n >= 8) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) mix(Load(p + i));
    if (i < n) mix(Load(p + n - 8));
  } else if (n > 0) {
    mix(LoadShort(p, n, 0));
  }
  h *= kMul;
  return h ^ (h >> 32);
}

// The byte order of `a` and `b` (<0, 0, >0), as std::string_view::compare
// gives it, without a call: eight bytes at a time, as big-endian words.
// For the ordered keys of the in-memory store, most of whose comparisons
// are decided within the first two words.
inline int Compare(std::string_view a, std::string_view b) {
  const std::size_t n = a.size() < b.size() ? a.size() : b.size();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t x = Load(a.data() + i), y = Load(b.data() + i);
    if (x != y) return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
  }
  for (; i < n; ++i) {
    const auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

// The functions above as transparent function objects, for containers of
// std::string looked up by string_view: byte order (RocksDB's default
// comparator's), hash and equality, each inline.
struct KeyLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return Compare(a, b) < 0; }
};
struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return Hash(s); }
};
struct KeyEqual {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return Same(a, b); }
};

}  // namespace cx::swar
