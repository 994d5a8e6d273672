#include "core/json_writer.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <charconv>
#include <cstdint>
#include <limits>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace cx {
namespace {

TEST(JsonWriterTest, WritesCompactObjectsInOrder) {
  JsonWriter w;
  w.BeginObject()
      .Field("b", 1)
      .Field("a", "x")
      .Key("l")
      .BeginArray()
      .Int(1)
      .Int(2)
      .EndArray()
      .Key("n")
      .Null()
      .Field("t", true)
      .EndObject();
  EXPECT_EQ(w.str(), R"({"b":1,"a":"x","l":[1,2],"n":null,"t":true})");
}

TEST(JsonWriterTest, EscapesControlCharactersAndQuotes) {
  std::string out;
  AppendJsonString("a\"b\\c\nd\x01", out);
  EXPECT_EQ(out, R"("a\"b\\c\nd\u0001")");
}

TEST(JsonWriterTest, KeepsValidUtf8AndReplacesInvalidBytes) {
  std::string out;
  AppendJsonString("投诉", out);
  EXPECT_EQ(out, "\"投诉\"");
  out.clear();
  AppendJsonString(
      "a\xff"
      "b\xc3",
      out);
  EXPECT_EQ(out,
            "\"a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\"");
}

TEST(JsonWriterTest, DoublesAreStableAndShort) {
  JsonWriter w;
  w.BeginArray().Double(60).Double(0.5).Double(12.345678).Double(-0.0000001).Double(1e300 * 1e300).EndArray();
  EXPECT_EQ(w.str(), "[60,0.5,12.345678,0,null]");
}

// The trimmed %.6f the writer used to print with snprintf: to_chars must
// give the same bytes (replay outputs are compared byte for byte).
std::string PrintfSix(double v) {
  char buf[400];
  int n = std::snprintf(buf, sizeof buf, "%.6f", v);
  while (n > 1 && buf[n - 1] == '0') --n;
  if (buf[n - 1] == '.') --n;
  std::string s(buf, static_cast<std::size_t>(n));
  return s == "-0" ? "0" : s;
}

TEST(JsonWriterTest, DoublesAreWrittenAsPrintfWouldWithSixDecimals) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> unit(-1, 1);
  std::uniform_int_distribution<int> exponent(-12, 15);
  std::vector<double> values = {
      0.0000005, 0.0000015,         0.0000025, 2.5,      0.1,     1.0 / 3,           1e-7,
      -1e-7,     123456789.0000005, DBL_MAX,   -DBL_MAX, DBL_MIN, 9007199254740993.0};
  for (int i = 0; i < 20000; ++i) values.push_back(unit(rng) * std::pow(10.0, exponent(rng)));
  // Near the fast path's edges: about half a millionth past a 6-decimal
  // value (ties in decimal, not quite in binary), money with 2 decimals,
  // and around 2^42 millionths.
  std::uniform_int_distribution<std::int64_t> micros(-4'000'000'000'000, 4'000'000'000'000);
  for (int i = 0; i < 20000; ++i) {
    const auto m = static_cast<double>(micros(rng));
    values.push_back((m + 0.5) / 1e6);
    values.push_back(std::nextafter((m + 0.5) / 1e6, 0.0));
    values.push_back(std::nextafter((m + 0.5) / 1e6, 1e300));
    values.push_back(std::round(m / 1e4) / 100);
  }
  for (double edge : {0x1p42 / 1e6, -0x1p42 / 1e6})
    for (int k = -3; k <= 3; ++k) values.push_back(edge + k * 1e-6);
  for (double v : values) {
    JsonWriter w;
    w.Double(v);
    ASSERT_EQ(w.str(), PrintfSix(v)) << v;
  }
}

// Writers reuse their thread's buffers: one alive while another writes
// (nested) keeps its bytes, Take() starts a writer again empty, and a
// moved writer carries what it wrote.
TEST(JsonWriterTest, BuffersAreReusedWithoutMixingWriters) {
  std::string first;
  {
    JsonWriter outer(64);
    outer.BeginObject().Field("a", "x");
    {
      JsonWriter inner(64);
      inner.BeginArray().Int(1).Int(2).EndArray();
      EXPECT_EQ(inner.Take(), "[1,2]");
      inner.BeginArray().EndArray();
      EXPECT_EQ(inner.str(), "[]");
    }
    outer.Field("b", std::int64_t{2}).EndObject();
    JsonWriter moved(std::move(outer));
    first = moved.Take();
  }
  EXPECT_EQ(first, R"({"a":"x","b":2})");
  for (int i = 0; i < 3; ++i) {  // the buffers come back to the pool
    JsonWriter w;
    w.String(std::string(2000, 'z'));
    EXPECT_EQ(w.str().size(), 2002u);
  }
}

TEST(JsonWriterTest, ConstantAndDynamicKeysGiveTheSameBytes) {
  JsonWriter a(64), b;
  a.BeginObject()
      .Key("x")
      .Int(1)
      .Field("y", "z")
      .Key("o")
      .BeginObject()
      .Key("p")
      .Null()
      .EndObject()
      .EndObject();
  b.BeginObject().DynamicKey("x").Int(1).DynamicKey("y").String("z").DynamicKey("o").BeginObject();
  b.DynamicKey("p").Null().EndObject().EndObject();
  EXPECT_EQ(a.str(), R"({"x":1,"y":"z","o":{"p":null}})");
  EXPECT_EQ(a.str(), b.str());
  // A key made at run time is escaped (a constant one that would need it
  // does not compile).
  JsonWriter c;
  c.BeginObject().DynamicKey("a\"b").Int(1).EndObject();
  EXPECT_EQ(c.str(), R"({"a\"b":1})");
}

// Integers are written as std::to_chars writes them, at the edges of
// their digit counts and of their range.
TEST(JsonWriterTest, IntegersAreWrittenAsToCharsWritesThem) {
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{1}, std::int64_t{9}, std::int64_t{10}, std::int64_t{42},
                         std::int64_t{99}, std::int64_t{100}, std::int64_t{101}, std::int64_t{-1}, std::int64_t{-10},
                         std::int64_t{-99}, std::int64_t{-100}, std::numeric_limits<std::int64_t>::max(),
                         std::numeric_limits<std::int64_t>::min()}) {
    JsonWriter w;
    w.Int(v);
    char want[24];
    const auto r = std::to_chars(want, want + sizeof want, v);
    EXPECT_EQ(w.str(), std::string_view(want, static_cast<std::size_t>(r.ptr - want))) << v;
  }
}

// Members built one by one (alert labels and details) read as the object a
// writer makes, escaped where needed, and grow past any first reservation.
TEST(JsonWriterTest, MembersAppendedOneByOneMakeTheWritersObject) {
  const std::vector<std::pair<std::string, std::string>> kMembers = {
      {"queue", "billing"}, {"tier", "vip \"gold\""}, {"note", "line\nnext"}, {"id", std::string(300, 'x')},
      {"k\x01", "\xff"}, {"", ""}};
  std::string members;
  JsonWriter w;
  w.BeginObject();
  for (const auto& [k, v] : kMembers) {
    AppendJsonMember(k, v, members);
    w.DynamicKey(k).String(v);
  }
  w.EndObject();
  EXPECT_EQ("{" + members + "}", w.str());
}

// The one-step members write what the key and value written apart do,
// first in an object or after another member, and grow the buffer alike.
// A duration in milliseconds written from the integer is what Double writes
// for it in seconds: small and large, negative, whole seconds and every
// count of trailing zeros.
TEST(JsonWriterTest, MillisecondsAreWrittenAsDoubleWritesTheirSeconds) {
  std::vector<std::int64_t> values = {0, 1, -1, 5, 10, 50, 100, 500, 999, 1000, 1001, 1010, 1100, 59'999,
                                      60'000, -60'000, -5, -999, 86'400'000, 4'398'046'511'103,
                                      4'398'046'511'104, 1'000'000'000'000'001, -1'000'000'000'000'001};
  std::mt19937_64 rng(3);
  for (int i = 0; i < 20000; ++i) {
    const int bits = static_cast<int>(rng() % 50);
    auto v = static_cast<std::int64_t>(rng() >> (63 - bits));
    values.push_back(i % 2 ? v : -v);
  }
  for (const std::int64_t ms : values) {
    JsonWriter a, b;
    a.BeginObject().Field("s", static_cast<double>(ms) / 1000.0).EndObject();
    b.BeginObject().Key("s").Millis(ms).EndObject();
    ASSERT_EQ(b.str(), a.str()) << ms;
  }
}

// A document written as constant runs between its values (Lit, with the
// commas in the runs) is the one the key-by-key calls write, dynamic keys,
// known-key members and arrays inside it included.
TEST(JsonWriterTest, ConstantRunsBetweenValuesWriteWhatKeysAndValuesWrite) {
  JsonWriter a, b;
  a.BeginObject().Field("id", "c\"1").Field("n", 7).ObjectField("m");
  a.DynamicKey("EUR").Double(1.5).DynamicKey("USD").Double(2);
  a.EndObject().PlainField("kind", "refund").Key("list").BeginArray().String("x").String("y").EndArray();
  a.ObjectField("counts").Field(JsonKey::Known("web"), 2).Field(JsonKey::Known("app"), 3).EndObject();
  a.NullField("none").TimeField("ts", Timestamp{0}).EndObject();

  b.Lit(R"({"id":)").String("c\"1").Lit(R"(,"n":)").Int(7).Lit(R"(,"m":{)");
  b.DynamicKey("EUR").Double(1.5).DynamicKey("USD").Double(2);
  b.Lit(R"(},"kind":)").PlainString("refund").Lit(R"(,"list":[)").String("x").String("y");
  b.Lit(R"(],"counts":{)").Field(JsonKey::Known("web"), 2).Field(JsonKey::Known("app"), 3);
  b.Lit(R"(},"none":null,"ts":)").Time(Timestamp{0}).Lit("}");
  EXPECT_EQ(b.str(), a.str());
  EXPECT_EQ(a.str(), R"({"id":"c\"1","n":7,"m":{"EUR":1.5,"USD":2},"kind":"refund","list":["x","y"],)"
                     R"("counts":{"web":2,"app":3},"none":null,"ts":"1970-01-01T00:00:00.000Z"})");
}

TEST(JsonWriterTest, OneStepMembersWriteWhatKeyAndValueApartWrite) {
  for (const std::int64_t n : {std::int64_t{0}, std::int64_t{7}, std::int64_t{10}, std::int64_t{-3},
                               std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()}) {
    for (const bool first : {true, false}) {
      JsonWriter fused, apart;
      for (JsonWriter* w : {&fused, &apart}) {
        w->BeginObject();
        if (!first) w->Field("before", "x");
      }
      fused.Field("count", n).ObjectField("inner").PlainField("metric", JsonKey::Known("first_response"));
      fused.NullField("none").EndObject().Field("after_a_long_key_of_more_than_sixteen_bytes", n);
      fused.PlainField("e", "").EndObject();
      apart.Key("count").Int(n).Key("inner").BeginObject().Key("metric").String("first_response");
      apart.Key("none").Null().EndObject().Key("after_a_long_key_of_more_than_sixteen_bytes").Int(n);
      apart.Key("e").String("").EndObject();
      EXPECT_EQ(fused.str(), apart.str());
    }
  }
}

TEST(JsonWriterTest, EveryByteThatNeedsEscapingIsFoundWhereverItStands) {
  // The writer and AppendJsonString look for such bytes eight at a time
  // and copy a string without one as it is: each one, at every place in
  // strings of 1 to 24 bytes, must be escaped (the output is not the
  // string between quotes), its neighbours (space, '~') must not, and both
  // must give the same bytes.
  for (const char special : {'"', '\\', '\n', '\x01', '\x1f', '\x7f', '\xc3', '\xff', ' ', '~'}) {
    const bool plain = special == ' ' || special == '~' || special == '\x7f';
    for (std::size_t len = 1; len <= 24; ++len) {
      for (std::size_t at = 0; at < len; ++at) {
        std::string s(len, 'a');
        s[at] = special;
        JsonWriter w;
        w.String(s);
        std::string appended;
        AppendJsonString(s, appended);
        const std::string quoted = '"' + s + '"';
        ASSERT_EQ(w.str(), appended) << "byte " << static_cast<int>(static_cast<unsigned char>(special)) << " at "
                                     << at << " of " << len;
        ASSERT_EQ(w.str() == quoted, plain) << "byte " << static_cast<int>(static_cast<unsigned char>(special))
                                            << " at " << at << " of " << len;
      }
    }
  }
}

}  // namespace
}  // namespace cx
