// JsonWriter: appends compact JSON to a string. Used for every output record.
//
// Keys are written in the order the caller gives them, so the same record
// always has the same bytes (replay outputs are compared byte for byte).
// Strings are escaped per RFC 8259; bytes that are not valid UTF-8 are
// replaced by U+FFFD so the output is always valid JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/time.h"

namespace cx {

class JsonWriter {
 public:
  JsonWriter() = default;

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view k);

  JsonWriter& String(std::string_view s);
  JsonWriter& Int(std::int64_t v);
  // Finite doubles only; written with up to 6 decimals, trailing zeros cut.
  JsonWriter& Double(double v);
  JsonWriter& Bool(bool v);
  JsonWriter& Null();
  JsonWriter& Time(Timestamp t);  // RFC 3339 string
  // A value already written as JSON by a JsonWriter (inserted as is).
  JsonWriter& Raw(std::string_view json);

  // Key plus value shorthands.
  JsonWriter& Field(std::string_view k, std::string_view v) { return Key(k).String(v); }
  JsonWriter& Field(std::string_view k, const char* v) { return Key(k).String(v); }
  JsonWriter& Field(std::string_view k, std::int64_t v) { return Key(k).Int(v); }
  JsonWriter& Field(std::string_view k, int v) { return Key(k).Int(v); }
  JsonWriter& Field(std::string_view k, double v) { return Key(k).Double(v); }
  JsonWriter& Field(std::string_view k, bool v) { return Key(k).Bool(v); }
  JsonWriter& TimeField(std::string_view k, Timestamp t) { return Key(k).Time(t); }

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
