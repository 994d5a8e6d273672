// Binary encoding of state keys and values.
//
// Keys use big-endian fixed-width integers so that RocksDB's bytewise order
// equals numeric order (timers are scanned by deadline). Values use
// varints and length-prefixed strings; every value starts with a format
// version byte so a later release can read what an earlier one wrote.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace cx {

inline void PutFixed64BE(std::string& out, std::uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out.append(buf, 8);
}
inline void PutFixed32BE(std::string& out, std::uint32_t v) {
  char buf[4];
  for (int i = 3; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out.append(buf, 4);
}
inline std::uint64_t GetFixed64BE(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
// Signed values are biased so negative timestamps still sort first.
inline void PutOrderedInt64(std::string& out, std::int64_t v) {
  PutFixed64BE(out, static_cast<std::uint64_t>(v) ^ (1ull << 63));
}
inline std::int64_t GetOrderedInt64(const char* p) {
  return static_cast<std::int64_t>(GetFixed64BE(p) ^ (1ull << 63));
}

inline void PutVarint(std::string& out, std::uint64_t v) {
  if (v < 0x80) {  // the common case: one byte
    out.push_back(static_cast<char>(v));
    return;
  }
  char buf[10];
  std::size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out.append(buf, n);
}
inline void PutVarintSigned(std::string& out, std::int64_t v) {
  PutVarint(out, (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
}
inline std::size_t VarintLen(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
inline void PutString(std::string& out, std::string_view s) {
  PutVarint(out, s.size());
  out.append(s);
}
// 16 lower-case hex digits of `v`, most significant first (names and ids
// that order or compare as text).
inline void PutHex64(std::string& out, std::uint64_t v) {
  char buf[16];
  for (int i = 15; i >= 0; --i, v >>= 4) buf[i] = "0123456789abcdef"[v & 0xf];
  out.append(buf, 16);
}
// What PutHex64 wrote (the first 16 bytes of `p`, digits in either case).
inline std::uint64_t GetHex64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 16; ++i) {
    const char c = p[i];
    v = v << 4 | static_cast<std::uint64_t>((c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10) & 0xf);
  }
  return v;
}
inline void PutDouble(std::string& out, double d) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, 8);
  PutFixed64BE(out, bits);
}

// Writes what the Put functions write, at the end of `out`, through a
// pointer: a byte is a store, not a call (std::string::push_back is not
// inlined, and a record is mostly one-byte varints and short strings).
// `out` has its final size once the writer is destroyed; until then it
// holds spare bytes at its end and must not be used otherwise.
class ByteWriter {
 public:
  // Room for about `expect` bytes, so that a record of that size grows
  // `out` once.
  explicit ByteWriter(std::string& out, std::size_t expect = 64) : out_(out) {
    const std::size_t used = out.size();
    out.resize(used + expect);
    cur_ = out.data() + used;
    end_ = out.data() + out.size();
  }
  ~ByteWriter() { out_.resize(static_cast<std::size_t>(cur_ - out_.data())); }
  ByteWriter(const ByteWriter&) = delete;
  ByteWriter& operator=(const ByteWriter&) = delete;

  [[gnu::always_inline]] void Byte(std::uint8_t b) { *Room(1) = static_cast<char>(b); ++cur_; }
  [[gnu::always_inline]] void Varint(std::uint64_t v) {
    char* p = Room(10);
    while (v >= 0x80) {
      *p++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<char>(v);
    cur_ = p;
  }
  [[gnu::always_inline]] void VarintSigned(std::int64_t v) {
    Varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  [[gnu::always_inline]] void String(std::string_view s) {
    Varint(s.size());
    std::memcpy(Room(s.size()), s.data(), s.size());
    cur_ += s.size();
  }
  [[gnu::always_inline]] void Fixed64BE(std::uint64_t v) {
    if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
    std::memcpy(Room(8), &v, 8);
    cur_ += 8;
  }
  void Double(double d) {
    std::uint64_t bits;
    std::memcpy(&bits, &d, 8);
    Fixed64BE(bits);
  }

 private:
  [[gnu::always_inline]] char* Room(std::size_t n) {
    if (static_cast<std::size_t>(end_ - cur_) < n) Grow(n);
    return cur_;
  }
  void Grow(std::size_t n) {
    const auto used = static_cast<std::size_t>(cur_ - out_.data());
    out_.resize(std::max(out_.size() * 2, used + n));
    cur_ = out_.data() + used;
    end_ = out_.data() + out_.size();
  }

  std::string& out_;
  char* cur_;
  char* end_;
};

// Reads what the Put functions wrote. Any read past the end, or a malformed
// varint, sets ok() to false and returns zero values from then on, so a
// caller checks once at the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  std::uint64_t Varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return Bad();
      auto b = static_cast<unsigned char>(in_[pos_++]);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    return Bad();
  }
  std::int64_t VarintSigned() {
    std::uint64_t u = Varint();
    return static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
  }
  std::string_view String() {
    std::uint64_t n = Varint();
    if (!ok_ || n > in_.size() - pos_) {
      Bad();
      return {};
    }
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  double Double() {
    if (in_.size() - pos_ < 8) {
      Bad();
      return 0;
    }
    std::uint64_t bits = GetFixed64BE(in_.data() + pos_);
    pos_ += 8;
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  std::uint8_t Byte() {
    if (pos_ >= in_.size()) return static_cast<std::uint8_t>(Bad());
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  bool ok() const { return ok_; }
  bool done() const { return pos_ == in_.size(); }
  // Bytes not read yet.
  std::size_t remaining() const { return in_.size() - pos_; }

 private:
  std::uint64_t Bad() {
    ok_ = false;
    pos_ = in_.size();
    return 0;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace cx
