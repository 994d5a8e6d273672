#include "state/timers.h"

#include <vector>

#include "core/encoding.h"

namespace cx::state {
namespace {
constexpr char kTimerPrefix = 'T';
constexpr std::string_view kTimerBegin = "T";
constexpr std::string_view kTimerEnd = "U";  // 'T' + 1
}  // namespace

void TimerService::EncodeKey(Timestamp when, std::string_view processor, std::string_view owner,
                             std::string_view tag, std::string& out) {
  out.clear();
  out.reserve(1 + 8 + processor.size() + owner.size() + tag.size() + 4);
  out.push_back(kTimerPrefix);
  PutOrderedInt64(out, when.ms);
  PutString(out, processor);
  PutString(out, owner);
  out.append(tag);
}

std::string TimerService::EncodeKey(const Timer& t) {
  std::string k;
  EncodeKey(t.when, t.processor, t.owner, t.tag, k);
  return k;
}

Status TimerService::CancelOwner(std::string_view owner) {
  std::vector<Timer> mine;
  const std::string begin(1, kTimerPrefix), end(1, static_cast<char>(kTimerPrefix + 1));
  Status s = store_.Scan(begin, end, [&](std::string_view key, std::string_view) {
    Timer t;
    if (DecodeKey(key, t) && t.owner == owner) mine.push_back(std::move(t));
    return true;
  });
  if (!s.ok()) return s;
  for (const Timer& t : mine) Cancel(t);
  return Status::Ok();
}

bool TimerService::DecodeKey(std::string_view key, Timer& t) {
  if (key.size() < 9 || key[0] != kTimerPrefix) return false;
  t.when = Timestamp{GetOrderedInt64(key.data() + 1)};
  Reader r(key.substr(9));
  t.processor.assign(r.String());
  t.owner.assign(r.String());
  if (!r.ok()) return false;
  std::size_t used =
      9 + VarintLen(t.processor.size()) + t.processor.size() + VarintLen(t.owner.size()) + t.owner.size();
  t.tag.assign(key.substr(used));
  return true;
}

Status TimerService::Load() {
  loaded_ = 0;
  pending_delta_ = 0;
  Status s = store_.Scan(kTimerBegin, kTimerEnd, [this](std::string_view, std::string_view) {
    ++loaded_;
    return true;
  });
  if (!s.ok()) return s;
  Timer t;
  bool found = false;
  return First(Timestamp::Max(), t, found);
}

void TimerService::Set(Timestamp when, std::string_view processor, std::string_view owner,
                       std::string_view tag) {
  EncodeKey(when, processor, owner, tag, key_);
  store_.Put(key_, {});
  ++pending_delta_;
  if (when < next_) next_ = when;
}

void TimerService::Cancel(Timestamp when, std::string_view processor, std::string_view owner,
                          std::string_view tag) {
  EncodeKey(when, processor, owner, tag, key_);
  store_.Delete(key_);
  --pending_delta_;
}

Status TimerService::First(Timestamp limit, Timer& t, bool& found) {
  found = false;
  bool corrupt = false;
  // next_ is a lower bound of every pending deadline, so the scan may start
  // there and skip the tombstones of timers already fired.
  std::string begin(kTimerBegin);
  if (next_ != Timestamp::Max()) PutOrderedInt64(begin, next_.ms);
  Status s = store_.Scan(begin, kTimerEnd, [&](std::string_view k, std::string_view) {
    if (!DecodeKey(k, t)) {
      corrupt = true;
      return false;
    }
    found = true;
    return false;
  });
  if (!s.ok()) return s;
  if (corrupt) return Status::Corruption("undecodable timer key");
  next_ = found ? t.when : Timestamp::Max();
  if (found && t.when > limit) found = false;
  return Status::Ok();
}

}  // namespace cx::state
