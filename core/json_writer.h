// JsonWriter: appends compact JSON to a string. Used for every output record.
//
// Keys are written in the order the caller gives them, so the same record
// always has the same bytes (replay outputs are compared byte for byte).
// Strings are escaped per RFC 8259; bytes that are not valid UTF-8 are
// replaced by U+FFFD so the output is always valid JSON.
#pragma once

#include <cassert>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/swar.h"
#include "core/time.h"

namespace cx {

// True when `s` has a byte JSON escapes (a control character, '"' or '\\')
// or one that is not ASCII (checked as UTF-8 when escaped). Eight bytes at
// a time.
[[gnu::always_inline]] inline bool JsonNeedsEscape(std::string_view s) {
  // Spaces fill a short string's word: never escaped.
  return swar::AnyByte(s, 0x2020202020202020ULL, [](std::uint64_t x) {
    return swar::High(x) | swar::Below(x, 0x20) | swar::Equal(x, '"') | swar::Equal(x, '\\');
  });
}

// A key known when the program is compiled, checked then to need no
// escaping, so that writing it is one copy. Keys made at run time (a
// currency, a label name) go through JsonWriter::DynamicKey instead.
class JsonKey {
 public:
  consteval JsonKey(const char* k) : data_(k), size_(0) {  // NOLINT: implicit from a literal, by design
    while (k[size_] != '\0') {
      const auto c = static_cast<unsigned char>(k[size_]);
      // Not a constant expression, so a compile error, when reached.
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') throw "JsonKey: the key needs escaping";
      ++size_;
    }
  }
  // A name of the program's own closed vocabulary (an enum's ToString),
  // which needs no escaping by construction; checked in debug builds.
  static JsonKey Known(std::string_view k) {
    assert(!JsonNeedsEscape(k));
    return JsonKey(k.data(), k.size());
  }
  std::string_view view() const { return {data_, size_}; }

 private:
  JsonKey(const char* data, std::size_t size) : data_(data), size_(size) {}
  const char* data_;
  std::size_t size_;
};

// Writes into a buffer of its thread's, reused from record to record: in
// steady state a record costs one allocation, that of the string Take()
// returns, of its exact size.
class JsonWriter {
 public:
  JsonWriter() : JsonWriter(0) {}
  // Room for a record of about `bytes`, so that writing it grows the
  // buffer once at most.
  explicit JsonWriter(std::size_t bytes) : out_(Acquire()) {
    if (out_->size() < bytes) out_->resize(bytes);
    cur_ = out_->data();
    end_ = cur_ + out_->size();
  }
  ~JsonWriter() {
    if (out_ != nullptr) Release(out_);
  }
  JsonWriter(JsonWriter&& o) noexcept : out_(o.out_), cur_(o.cur_), end_(o.end_), need_comma_(o.need_comma_) {
    o.out_ = nullptr;
  }
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;
  JsonWriter& operator=(JsonWriter&&) = delete;

  JsonWriter& BeginObject() { return Open('{'); }
  JsonWriter& EndObject() { return Close('}'); }
  JsonWriter& BeginArray() { return Open('['); }
  JsonWriter& EndArray() { return Close(']'); }
  [[gnu::always_inline]] JsonWriter& Key(JsonKey k) {
    cur_ = PutKey(Room(k.view().size() + 4), k);
    need_comma_ = false;
    return *this;
  }
  // A key made at run time: escaped.
  JsonWriter& DynamicKey(std::string_view k);

  JsonWriter& String(std::string_view s) {
    Separate();
    Quoted(s);
    return *this;
  }
  // Inline: most numbers of a record are small counts (a digit: one store).
  JsonWriter& Int(std::int64_t v) {
    char* p = Room(24);
    if (need_comma_) *p++ = ',';
    need_comma_ = true;
    cur_ = PutInt(p, v);
    return *this;
  }
  // Written with 6 decimals, trailing zeros cut; not finite: null.
  JsonWriter& Double(double v);
  JsonWriter& Bool(bool v) {
    Separate();
    return Append(v ? std::string_view("true") : std::string_view("false"));
  }
  JsonWriter& Null() {
    Separate();
    return Append("null");
  }
  JsonWriter& Time(Timestamp t);  // RFC 3339 string
  // A value already written as JSON by a JsonWriter (inserted as is).
  JsonWriter& Raw(std::string_view json) {
    Separate();
    Append(json);
    need_comma_ = true;
    return *this;
  }

  // Constant JSON text of the program's own record layout (punctuation and
  // keys, commas included: `},"paid":`), written as is in one copy of a
  // size known when compiled. The caller writes every comma of such a run:
  // the value after it is written without one.
  template <std::size_t N>
  [[gnu::always_inline]] JsonWriter& Lit(const char (&text)[N]) {
    std::memcpy(Room(N - 1), text, N - 1);
    cur_ += N - 1;
    need_comma_ = false;
    return *this;
  }
  // "value" for a name of the program's own vocabulary (JsonKey::Known of
  // an enum's name), without an escaping scan.
  [[gnu::always_inline]] JsonWriter& PlainString(JsonKey value) {
    const std::string_view v = value.view();
    char* p = Room(v.size() + 3);
    if (need_comma_) *p++ = ',';
    *p++ = '"';
    CopyShort(p, v);
    p += v.size();
    *p++ = '"';
    cur_ = p;
    need_comma_ = true;
    return *this;
  }

  // Key plus value shorthands.
  [[gnu::always_inline]] JsonWriter& Field(JsonKey k, std::string_view v) { return Key(k).String(v); }
  JsonWriter& Field(JsonKey k, const char* v) { return Key(k).String(v); }
  // "key":number with one check for room.
  [[gnu::always_inline]] JsonWriter& Field(JsonKey k, std::int64_t v) {
    cur_ = PutInt(PutKey(Room(k.view().size() + 4 + 21), k), v);
    need_comma_ = true;
    return *this;
  }
  JsonWriter& Field(JsonKey k, int v) { return Field(k, static_cast<std::int64_t>(v)); }
  // "key":"value" for a value of the program's own vocabulary (a literal,
  // or JsonKey::Known of an enum's name), written as is in one step.
  [[gnu::always_inline]] JsonWriter& PlainField(JsonKey k, JsonKey value) {
    const std::string_view v = value.view();
    char* p = PutKey(Room(k.view().size() + 6 + v.size()), k);
    *p++ = '"';
    CopyShort(p, v);
    p += v.size();
    *p++ = '"';
    cur_ = p;
    need_comma_ = true;
    return *this;
  }
  // "key":{ and "key":null, each in one step.
  [[gnu::always_inline]] JsonWriter& ObjectField(JsonKey k) {
    char* p = PutKey(Room(k.view().size() + 5), k);
    *p++ = '{';
    cur_ = p;
    need_comma_ = false;
    return *this;
  }
  [[gnu::always_inline]] JsonWriter& NullField(JsonKey k) {
    char* p = PutKey(Room(k.view().size() + 8), k);
    std::memcpy(p, "null", 4);
    cur_ = p + 4;
    need_comma_ = true;
    return *this;
  }
  JsonWriter& Field(JsonKey k, double v) { return Key(k).Double(v); }
  // Seconds for a duration in milliseconds: the bytes Double(ms / 1000.0)
  // writes (three decimals at most, trailing zeros cut), from the integer.
  // Below 2^42 ms (139 years) the double's error is under half of the sixth
  // decimal, so both write the exact value; beyond, Double.
  [[gnu::always_inline]] JsonWriter& Millis(std::int64_t ms) {
    if (ms >= (std::int64_t{1} << 42) || ms <= -(std::int64_t{1} << 42))
      return Double(static_cast<double>(ms) / 1000.0);
    char* p = Room(25);
    if (need_comma_) *p++ = ',';
    cur_ = PutMillis(p, ms);
    need_comma_ = true;
    return *this;
  }
  JsonWriter& Field(JsonKey k, bool v) { return Key(k).Bool(v); }
  JsonWriter& TimeField(JsonKey k, Timestamp t) { return Key(k).Time(t); }

  std::string_view str() const { return {out_->data(), static_cast<std::size_t>(cur_ - out_->data())}; }
  // What was written, as a string of its own; the writer starts again empty.
  std::string Take() {
    std::string s(str());
    cur_ = out_->data();
    need_comma_ = false;
    return s;
  }

 private:
  // Room for `n` more bytes at cur_; the caller moves cur_ past what it
  // writes there. The buffer grows (geometrically) only when full.
  [[gnu::always_inline]] char* Room(std::size_t n) {
    if (static_cast<std::size_t>(end_ - cur_) < n) Grow(n);
    return cur_;
  }
  void Grow(std::size_t more);
  // A buffer of this thread's pool (one per writer alive at a time), and
  // back.
  static std::string* Acquire();
  static void Release(std::string* buffer);
  // memcpy of `s` to `to`, without a call for the short strings most keys
  // and ids are: two overlapping fixed-size copies within `s`.
  [[gnu::always_inline]] static void CopyShort(char* to, std::string_view s) {
    const std::size_t n = s.size();
    const char* from = s.data();
    if (n >= 8 && n <= 16) {
      std::uint64_t a, b;
      std::memcpy(&a, from, 8);
      std::memcpy(&b, from + n - 8, 8);
      std::memcpy(to, &a, 8);
      std::memcpy(to + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
      std::uint32_t a, b;
      std::memcpy(&a, from, 4);
      std::memcpy(&b, from + n - 4, 4);
      std::memcpy(to, &a, 4);
      std::memcpy(to + n - 4, &b, 4);
    } else if (n < 4) {
      for (std::size_t i = 0; i < n; ++i) to[i] = from[i];
    } else {
      std::memcpy(to, from, n);
    }
  }
  // Writes [,]"key": at `p` (room for it made) and returns its end; the
  // caller sets need_comma_.
  [[gnu::always_inline]] char* PutKey(char* p, JsonKey k) const {
    const std::string_view v = k.view();
    if (need_comma_) *p++ = ',';
    *p++ = '"';
    CopyShort(p, v);
    p += v.size();
    *p++ = '"';
    *p++ = ':';
    return p;
  }
  // Writes `v` at `p` (room for 21 bytes) and returns its end.
  [[gnu::always_inline]] static char* PutInt(char* p, std::int64_t v) {
    if (static_cast<std::uint64_t>(v) < 10) {
      *p = static_cast<char>('0' + v);
      return p + 1;
    }
    return std::to_chars(p, p + 21, v).ptr;
  }
  static char* PutMillis(char* p, std::int64_t ms) {
    std::uint64_t n = static_cast<std::uint64_t>(ms);
    if (ms < 0) {
      *p++ = '-';
      n = 0 - n;
    }
    p = std::to_chars(p, p + 20, n / 1000).ptr;
    if (auto frac = static_cast<std::uint32_t>(n % 1000); frac != 0) {
      *p++ = '.';
      *p++ = static_cast<char>('0' + frac / 100);
      frac %= 100;
      if (frac != 0) {
        *p++ = static_cast<char>('0' + frac / 10);
        if (frac % 10 != 0) *p++ = static_cast<char>('0' + frac % 10);
      }
    }
    return p;
  }
  JsonWriter& Append(std::string_view s) {
    std::memcpy(Room(s.size()), s.data(), s.size());
    cur_ += s.size();
    return *this;
  }
  void Separate() {
    if (need_comma_) Append(",");
    need_comma_ = true;
  }
  JsonWriter& Open(char c) {
    Separate();
    *Room(1) = c;
    ++cur_;
    need_comma_ = false;
    return *this;
  }
  JsonWriter& Close(char c) {
    *Room(1) = c;
    ++cur_;
    need_comma_ = true;
    return *this;
  }
  // `s` as a JSON string literal.
  void Quoted(std::string_view s);

  // Pointers into *out_, whose size is its room: [data, cur_) is written,
  // [cur_, end_) free. Kept as pointers so that a write is a store and a
  // pointer move, not an index into the string.
  std::string* out_;
  char* cur_ = nullptr;
  char* end_ = nullptr;
  bool need_comma_ = false;
};

// Appends `s` as a JSON string literal (with quotes).
void AppendJsonString(std::string_view s, std::string& out);
// Appends the member "key":"value" (both escaped) to the members of an
// object being built in `members`, after a comma unless it is the first.
void AppendJsonMember(std::string_view key, std::string_view value, std::string& members);
// The same for a key known when compiled (checked then: only the value is
// looked at for escaping).
void AppendJsonMember(JsonKey key, std::string_view value, std::string& members);

}  // namespace cx
