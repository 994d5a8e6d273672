// TimerService: event-time timers persisted in a task's Store.
//
// A timer is (when, processor, owner, tag): `owner` is the partitioning key
// (customer or agent id), `tag` is the processor's own name for it (e.g. the
// clock it belongs to). Timers are stored under keys ordered by `when`, so
// firing is a range scan from the start, and the earliest deadline is cached
// so that an event that makes nothing due costs no scan at all.
// They are committed together with the state that set them.
// Not thread-safe: used by the owning task's thread.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "core/time.h"
#include "state/store.h"

namespace cx::state {

struct Timer {
  Timestamp when;
  std::string processor;
  std::string owner;
  std::string tag;
  friend bool operator==(const Timer&, const Timer&) = default;
};

class TimerService {
 public:
  // `store` must outlive the service. Load() must be called before use.
  explicit TimerService(Store& store) : store_(store) {}

  // Reads the earliest persisted deadline.
  Status Load();

  void Set(const Timer& t) { Set(t.when, t.processor, t.owner, t.tag); }
  void Cancel(const Timer& t) { Cancel(t.when, t.processor, t.owner, t.tag); }
  // The same without a Timer (no copies of the names).
  void Set(Timestamp when, std::string_view processor, std::string_view owner, std::string_view tag);
  void Cancel(Timestamp when, std::string_view processor, std::string_view owner, std::string_view tag);

  // Removes and returns, one by one and in deadline order, the timers due at
  // or before `watermark`, calling fn for each. Timers that fn sets at or
  // before the watermark fire in the same call.
  template <typename Fn>
  Status FireDue(Timestamp watermark, Fn&& fn) {
    while (next_ <= watermark) {
      Timer t;
      bool found = false;
      Status s = First(watermark, t, found);
      if (!s.ok()) return s;
      if (!found) break;
      Cancel(t);
      ++fired_;
      fn(t);
    }
    return Status::Ok();
  }

  // Earliest deadline known, or Timestamp::Max() when none. May be earlier
  // than the true earliest after a Cancel (the next FireDue corrects it).
  Timestamp next() const { return next_; }
  std::uint64_t fired() const { return fired_; }
  // Timers waiting: counted at Load(), then kept up to date. A Set of an
  // existing timer or a Cancel of an absent one makes it approximate.
  std::int64_t pending() const { return loaded_ + pending_delta_; }

  // Cancels every timer of `owner` (a scan of all timers: for erasure,
  // which is rare).
  Status CancelOwner(std::string_view owner);

  static std::string EncodeKey(const Timer& t);
  static void EncodeKey(Timestamp when, std::string_view processor, std::string_view owner,
                        std::string_view tag, std::string& out);
  static bool DecodeKey(std::string_view key, Timer& t);

 private:
  // The first timer at or before `limit`; updates next_.
  Status First(Timestamp limit, Timer& t, bool& found);

  Store& store_;
  Timestamp next_ = Timestamp::Max();
  std::uint64_t fired_ = 0;
  std::int64_t pending_delta_ = 0;
  std::int64_t loaded_ = 0;
  std::string key_;  // Set and Cancel encode here: no allocation once it is big enough
};

}  // namespace cx::state
