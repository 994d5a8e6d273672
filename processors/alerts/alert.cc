#include "processors/alerts/alert.h"

#include <cstdio>

#include "core/encoding.h"
#include "core/hash.h"
#include "core/json_writer.h"
#include "processors/processor.h"

namespace cx::processors {
namespace {
constexpr std::uint8_t kFormat = 1;
}

void Alert::Label(std::string_view k, std::string_view v) {
  if (!v.empty()) labels.emplace_back(k, v);
}

void Alert::DetailString(std::string_view k, std::string_view v) {
  if (v.empty()) return;
  std::string json;
  AppendJsonString(v, json);
  details.emplace_back(k, std::move(json));
}

void Alert::DetailNumber(std::string_view k, double v) {
  JsonWriter w;
  w.Double(v);
  details.emplace_back(k, w.Take());
}

void Alert::DetailTime(std::string_view k, Timestamp t) {
  if (t == Timestamp::Min() || t == Timestamp::Max()) return;
  DetailString(k, FormatRfc3339(t));
}

void Alert::EmitTo(ProcessorContext& ctx, std::string_view source) const {
  OutputTags tags;
  tags.kind = kind;
  tags.event = action;
  tags.severity = severity;
  for (const auto& [k, v] : labels) {
    if (k == "queue") tags.queue = v;
  }
  ctx.Emit(Stream::kAlerts, dedup_key, ToJson(source), std::move(tags));
}

std::string Alert::ToJson(std::string_view source) const {
  JsonWriter w(1024);  // an alert is about 650 bytes
  w.BeginObject()
      .Field("dedup_key", dedup_key)
      .Field("action", action)
      .Field("severity", severity)
      .Field("kind", kind)
      .Field("summary", summary)
      .Field("source", source)
      .TimeField("ts", ts);
  w.Key("labels").BeginObject();
  for (const auto& [k, v] : labels) w.DynamicKey(k).String(v);
  w.EndObject();
  w.Key("details").BeginObject();
  for (const auto& [k, v] : details) w.DynamicKey(k).Raw(v);
  w.EndObject();
  if (!grouped_under.empty()) w.Field("grouped_under", grouped_under);
  w.EndObject();
  return w.Take();
}

std::string Alert::Encode() const {
  std::string v;
  v.push_back(static_cast<char>(kFormat));
  for (const std::string* s : {&dedup_key, &action, &severity, &kind, &summary, &grouped_under})
    PutString(v, *s);
  PutVarintSigned(v, ts.ms);
  for (const auto* l : {&labels, &details}) {
    PutVarint(v, l->size());
    for (const auto& [k, x] : *l) {
      PutString(v, k);
      PutString(v, x);
    }
  }
  return v;
}

bool Alert::Decode(std::string_view in) {
  Reader r(in);
  if (r.Byte() != kFormat) return false;
  for (std::string* s : {&dedup_key, &action, &severity, &kind, &summary, &grouped_under})
    s->assign(r.String());
  ts.ms = r.VarintSigned();
  for (auto* l : {&labels, &details}) {
    l->clear();
    for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
      std::string k(r.String());
      l->emplace_back(std::move(k), std::string(r.String()));
    }
  }
  return r.ok() && r.done();
}

std::string DedupKey(std::string_view kind, std::initializer_list<std::string_view> parts) {
  std::string k(kind);
  for (std::string_view p : parts) {
    k.push_back(':');
    k.append(p);
  }
  constexpr std::size_t kMax = 255;
  if (k.size() <= kMax) return k;
  char hash[18];
  std::snprintf(hash, sizeof hash, "~%016llx", static_cast<unsigned long long>(StableHash64(k)));
  k.resize(kMax - 17);
  // Do not cut a UTF-8 sequence in the middle.
  while (!k.empty() && (static_cast<unsigned char>(k.back()) & 0xC0) == 0x80) k.pop_back();
  if (!k.empty() && (static_cast<unsigned char>(k.back()) & 0x80)) k.pop_back();
  k.append(hash);
  return k;
}

}  // namespace cx::processors
