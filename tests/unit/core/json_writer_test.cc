#include "core/json_writer.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace cx
