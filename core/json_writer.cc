#include "core/json_writer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "core/swar.h"

namespace cx {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
std::size_t Utf8Length(std::string_view s, std::size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  std::size_t n;
  std::uint32_t cp;
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) {
    n = 2;
    cp = b & 0x1F;
  } else if ((b & 0xF0) == 0xE0) {
    n = 3;
    cp = b & 0x0F;
  } else if ((b & 0xF8) == 0xF0) {
    n = 4;
    cp = b & 0x07;
  } else
    return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  // Overlong forms, surrogates and values beyond U+10FFFF are invalid.
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

}  // namespace

void AppendJsonString(std::string_view s, std::string& out) {
  out.push_back('"');
  if (!JsonNeedsEscape(s)) {  // plain ASCII (ids, names, enums): one copy
    out.append(s);
    out.push_back('"');
    return;
  }
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      // Copy a run of plain ASCII at once.
      std::size_t j = i + 1;
      while (j < s.size()) {
        auto d = static_cast<unsigned char>(s[j]);
        if (d < 0x20 || d == '"' || d == '\\' || d >= 0x80) break;
        ++j;
      }
      out.append(s.data() + i, j - i);
      i = j;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      ++i;
      continue;
    }
    std::size_t n = Utf8Length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
  out.push_back('"');
}

namespace {

// ,"key":"value" (no comma when the first) for a key and a value that need
// no escaping: room made for what an object's members usually hold (128 to
// 256 bytes) so that adding them grows the string once, then one append of
// a member built on the stack (longer ones: copied in place).
[[gnu::always_inline]] inline void AppendPlainMember(std::string_view key, std::string_view value,
                                                  std::string& members) {
  const std::size_t at = members.size(), comma = at == 0 ? 0 : 1;
  const std::size_t n = comma + key.size() + value.size() + 5;
  if (members.capacity() < at + n) members.reserve(std::max<std::size_t>(256, 2 * (at + n)));
  constexpr std::size_t kStackBytes = 160;
  char buf[kStackBytes];
  char* const start = n <= kStackBytes ? buf : (members.resize(at + n), members.data() + at);
  char* p = start;
  if (comma) *p++ = ',';
  *p++ = '"';
  std::memcpy(p, key.data(), key.size());
  p += key.size();
  std::memcpy(p, "\":\"", 3);
  p += 3;
  std::memcpy(p, value.data(), value.size());
  p += value.size();
  *p = '"';
  if (start == buf) members.append(buf, n);
}

}  // namespace

void AppendJsonMember(std::string_view key, std::string_view value, std::string& members) {
  if (JsonNeedsEscape(key) || JsonNeedsEscape(value)) {  // rare: the general way
    if (!members.empty()) members.push_back(',');
    AppendJsonString(key, members);
    members.push_back(':');
    AppendJsonString(value, members);
    return;
  }
  AppendPlainMember(key, value, members);
}

void AppendJsonMember(JsonKey key, std::string_view value, std::string& members) {
  if (JsonNeedsEscape(value)) return AppendJsonMember(key.view(), value, members);
  AppendPlainMember(key.view(), value, members);
}

void JsonWriter::Grow(std::size_t more) {
  const auto len = static_cast<std::size_t>(cur_ - out_->data());
  out_->resize(std::max({len + more, out_->size() * 2, std::size_t{256}}));
  cur_ = out_->data() + len;
  end_ = out_->data() + out_->size();
}

namespace {
// Buffers of writers no longer alive, per thread. A few are kept (a writer
// may be alive while another writes, nested), none past 1 MiB.
constexpr std::size_t kPooledBuffers = 8, kPooledBytes = 1 << 20;
thread_local std::vector<std::unique_ptr<std::string>> pool;
}  // namespace

std::string* JsonWriter::Acquire() {
  if (pool.empty()) return new std::string();
  std::string* b = pool.back().release();
  pool.pop_back();
  return b;
}

void JsonWriter::Release(std::string* buffer) {
  if (pool.size() >= kPooledBuffers || buffer->size() > kPooledBytes) {
    delete buffer;
    return;
  }
  pool.emplace_back(buffer);
}

void JsonWriter::Quoted(std::string_view s) {
  // Plain ASCII with nothing to escape (ids, names, enums): one copy.
  if (!JsonNeedsEscape(s)) {
    char* p = Room(s.size() + 2);
    *p = '"';
    CopyShort(p + 1, s);
    p[s.size() + 1] = '"';
    cur_ += s.size() + 2;
    return;
  }
  std::string escaped;
  AppendJsonString(s, escaped);
  Append(escaped);
}

JsonWriter& JsonWriter::DynamicKey(std::string_view k) {
  Separate();
  Quoted(k);
  Append(":");
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::Double(double v) {
  Separate();
  if (!std::isfinite(v)) return Append("null");
  // Fast path: v * 10^6 rounded to an integer, which is v with 6 decimals
  // correctly rounded whenever the product is not near a half. Below 2^42
  // the product is within 2^-11 of the exact one, so a distance to the
  // nearest integer under 0.5 - 2^-10 decides the rounding as the exact
  // value would; the rest (ties, large values) takes to_chars below.
  const double scaled = v * 1e6;
  if (std::fabs(scaled) < 0x1p42) {
    const double nearest = std::nearbyint(scaled);
    if (std::fabs(scaled - nearest) < 0.5 - 0x1p-10) {
      auto n = static_cast<std::int64_t>(nearest);
      char* p = Room(24);
      if (n < 0) {
        *p++ = '-';
        n = -n;
      }
      p = std::to_chars(p, p + 16, n / 1'000'000).ptr;
      if (auto frac = static_cast<std::uint32_t>(n % 1'000'000); frac != 0) {
        int digits = 6;
        while (frac % 10 == 0) {
          frac /= 10;
          --digits;
        }
        *p++ = '.';
        for (int i = digits - 1; i >= 0; --i) {
          p[i] = static_cast<char>('0' + frac % 10);
          frac /= 10;
        }
        p += digits;
      }
      cur_ = p;
      return *this;
    }
  }
  // Fixed 6 decimals (correctly rounded, as printf's %.6f), then trim:
  // stable across platforms, no exponent.
  char buf[352];  // the longest finite double in fixed notation with 6 decimals, and a sign
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 6);
  if (r.ec != std::errc()) return Append("null");
  int n = static_cast<int>(r.ptr - buf);
  while (n > 1 && buf[n - 1] == '0') --n;
  if (buf[n - 1] == '.') --n;
  if (n == 2 && buf[0] == '-' && buf[1] == '0') {
    buf[0] = '0';
    n = 1;
  }
  return Append(std::string_view(buf, static_cast<std::size_t>(n)));
}

JsonWriter& JsonWriter::Time(Timestamp t) {
  Separate();
  char* p = Room(kRfc3339Bytes + 2);
  *p++ = '"';
  p = WriteRfc3339(t, p);
  *p++ = '"';
  cur_ = p;
  return *this;
}

}  // namespace cx
