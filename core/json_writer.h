// JsonWriter: appends compact JSON to a string. Used for every output record.
//
// Keys are written in the order the caller gives them, so the same record
// always has the same bytes (replay outputs are compared byte for byte).
// Strings are escaped per RFC 8259; bytes that are not valid UTF-8 are
// replaced by U+FFFD so the output is always valid JSON.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/time.h"

namespace cx {

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
  std::string_view view() const { return {data_, size_}; }

 private:
  const char* data_;
  std::size_t size_;
};

class JsonWriter {
 public:
  JsonWriter() = default;
  // Reserves room for a record of about `bytes`, so that writing it grows
  // the buffer once at most.
  explicit JsonWriter(std::size_t bytes) { out_.reserve(bytes); }

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(JsonKey k);
  // A key made at run time: escaped.
  JsonWriter& DynamicKey(std::string_view k);

  JsonWriter& String(std::string_view s);
  JsonWriter& Int(std::int64_t v);
  // Written with 6 decimals, trailing zeros cut; not finite: null.
  JsonWriter& Double(double v);
  JsonWriter& Bool(bool v);
  JsonWriter& Null();
  JsonWriter& Time(Timestamp t);  // RFC 3339 string
  // A value already written as JSON by a JsonWriter (inserted as is).
  JsonWriter& Raw(std::string_view json);

  // Key plus value shorthands.
  JsonWriter& Field(JsonKey k, std::string_view v) { return Key(k).String(v); }
  JsonWriter& Field(JsonKey k, const char* v) { return Key(k).String(v); }
  JsonWriter& Field(JsonKey k, std::int64_t v) { return Key(k).Int(v); }
  JsonWriter& Field(JsonKey k, int v) { return Key(k).Int(v); }
  JsonWriter& Field(JsonKey k, double v) { return Key(k).Double(v); }
  JsonWriter& Field(JsonKey k, bool v) { return Key(k).Bool(v); }
  JsonWriter& TimeField(JsonKey k, Timestamp t) { return Key(k).Time(t); }

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Separate();

  std::string out_;
  bool need_comma_ = false;
};

// Appends `s` as a JSON string literal (with quotes).
void AppendJsonString(std::string_view s, std::string& out);

}  // namespace cx
