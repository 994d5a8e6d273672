#include "processors/alerts/alert.h"

#include "core/encoding.h"
#include "core/hash.h"
#include "core/json_writer.h"
#include "processors/processor.h"

namespace cx::processors {
namespace {

// Format 2 keeps labels and details as JSON members; format 1 (pairs) still
// decodes.
constexpr std::uint8_t kFormat = 2;
constexpr std::size_t kAlertJsonBytes = 1024;  // an alert is about 650 bytes: its writer grows once at most

// Appends the member `"key":` to `members` (a comma first unless empty).
// The first one makes room for what an alert's labels or details usually
// hold (128 to 256 bytes), so that adding them grows the string once.
void AppendKey(std::string_view key, std::string& members) {
  if (members.empty())
    members.reserve(256);
  else
    members.push_back(',');
  AppendJsonString(key, members);
  members.push_back(':');
}

}  // namespace

void Alert::Label(JsonKey k, std::string_view v) {
  if (v.empty()) return;
  AppendJsonMember(k, v, labels);
  if (k.view() == "queue") queue.assign(v);
}

void Alert::DetailString(JsonKey k, std::string_view v) {
  if (v.empty()) return;
  AppendJsonMember(k, v, details);
}

void Alert::DetailNumber(JsonKey k, double v) {
  JsonWriter w(32);
  w.Double(v);
  AppendKey(k.view(), details);
  details.append(w.str());
}

void Alert::DetailSeconds(JsonKey k, DurationMs ms) {
  JsonWriter w(32);
  w.Millis(ms);
  AppendKey(k.view(), details);
  details.append(w.str());
}

void Alert::DetailTime(JsonKey k, Timestamp t) {
  if (t == Timestamp::Min() || t == Timestamp::Max()) return;
  char buf[kRfc3339Bytes];
  DetailString(k, std::string_view(buf, static_cast<std::size_t>(WriteRfc3339(t, buf) - buf)));
}

void Alert::EmitTo(ProcessorContext& ctx, std::string_view source) const {
  OutputTags tags;
  tags.kind = kind;
  tags.event = action;
  tags.severity = severity;
  tags.queue = queue;
  JsonWriter w(kAlertJsonBytes);
  WriteJson(source, w);
  ctx.Emit(Stream::kAlerts, dedup_key, w.str(), tags);
}

std::string Alert::ToJson(std::string_view source) const {
  JsonWriter w(kAlertJsonBytes);
  WriteJson(source, w);
  return w.Take();
}

void Alert::WriteJson(std::string_view source, JsonWriter& w) const {
  w.BeginObject()
      .Field("dedup_key", dedup_key)
      .Field("action", action)
      .Field("severity", severity)
      .Field("kind", kind)
      .Field("summary", summary)
      .Field("source", source)
      .TimeField("ts", ts);
  w.ObjectField("labels");
  if (!labels.empty()) w.Raw(labels);
  w.EndObject();
  w.ObjectField("details");
  if (!details.empty()) w.Raw(details);
  w.EndObject();
  if (!grouped_under.empty()) w.Field("grouped_under", grouped_under);
  w.EndObject();
}

std::string Alert::Encode() const {
  std::string v;
  EncodeTo(v);
  return v;
}

void Alert::EncodeTo(std::string& v) const {
  // Its size, but for strings of 16 KB or more (a longer length prefix).
  std::size_t size = 1 + 10;
  for (const std::string* s :
       {&dedup_key, &action, &severity, &kind, &summary, &grouped_under, &labels, &details, &queue})
    size += 2 + s->size();
  ByteWriter w(v, size);
  w.Byte(kFormat);
  for (const std::string* s : {&dedup_key, &action, &severity, &kind, &summary, &grouped_under}) w.String(*s);
  w.VarintSigned(ts.ms);
  for (const std::string* s : {&labels, &details, &queue}) w.String(*s);
}

bool Alert::Decode(std::string_view in) {
  Reader r(in);
  const std::uint8_t format = r.Byte();
  if (format != 1 && format != kFormat) return false;
  for (std::string* s : {&dedup_key, &action, &severity, &kind, &summary, &grouped_under})
    s->assign(r.String());
  ts.ms = r.VarintSigned();
  if (format == kFormat) {
    for (std::string* s : {&labels, &details, &queue}) s->assign(r.String());
    return r.ok() && r.done();
  }
  // Format 1: labels as (name, value) pairs, details as (name, JSON value).
  labels.clear();
  details.clear();
  queue.clear();
  for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
    const std::string_view k = r.String(), x = r.String();
    if (x.empty()) continue;  // as Label: a label without a value is left out
    AppendJsonMember(k, x, labels);
    if (k == "queue") queue.assign(x);
  }
  for (std::uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
    const std::string_view k = r.String(), x = r.String();
    AppendKey(k, details);
    details.append(x);
  }
  return r.ok() && r.done();
}

void DedupKeyTo(std::string& k, std::string_view kind, std::initializer_list<std::string_view> parts) {
  std::size_t size = kind.size();
  for (std::string_view p : parts) size += 1 + p.size();
  k.clear();
  k.reserve(size);
  k.append(kind);
  for (std::string_view p : parts) {
    k.push_back(':');
    k.append(p);
  }
  constexpr std::size_t kMax = 255;
  if (k.size() <= kMax) return;
  std::string hash = "~";
  PutHex64(hash, StableHash64(k));
  k.resize(kMax - 17);
  // Do not cut a UTF-8 sequence in the middle.
  while (!k.empty() && (static_cast<unsigned char>(k.back()) & 0xC0) == 0x80) k.pop_back();
  if (!k.empty() && (static_cast<unsigned char>(k.back()) & 0x80)) k.pop_back();
  k.append(hash);
}

std::string DedupKey(std::string_view kind, std::initializer_list<std::string_view> parts) {
  std::string k;
  DedupKeyTo(k, kind, parts);
  return k;
}

}  // namespace cx::processors
