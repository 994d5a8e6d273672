// ProfileProcessor: an always-current profile per customer (docs/profiles.md).
//
// One record per customer holds every counter the traits need, updated
// incrementally by each event (never a scan of the customer's history):
// windows are daily buckets pruned past 90 days, lists are bounded. When a
// trait changes, a debounce timer emits the profile once per
// `debounce` of event time, with a version number. `customer.erased` and
// retention delete the customer's state and emit a tombstone.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>

#include "processors/conversations/conversation_keeper.h"
#include "processors/processor.h"

namespace cx {
class JsonWriter;
}  // namespace cx

namespace cx::processors {

// Built from the configuration by engine::ProfileOptionsFrom; the defaults
// are in the option table (config/config.cc), none here.
struct ProfileOptions {
  DurationMs debounce = 0;
  DurationMs retention = 0;
  DurationMs repeat_window = 0;  // RecentContacts: a contact about the same order or topic within it repeats
  std::string base_currency;
  std::map<std::string, double, std::less<>> rates;  // currency -> value in base currency
  int low_csat = 0;                                  // CSAT at or below is low
  double negative_sentiment = 0;                     // sentiment below is negative
  // RFM thresholds, ascending: a value at or past threshold[i] scores i + 2
  // (recency reversed: fewer days scores higher).
  std::array<double, 4> recency_days{}, frequency{}, monetary{};
  double vip_gmv = 0;  // tier rule when events name no tier
};

class ProfileProcessor final : public Processor {
 public:
  // `conversations`: the keeper of the task's conversations, which it runs
  // after this processor.
  ProfileProcessor(ProfileOptions options, ConversationKeeper& conversations)
      : options_(std::move(options)), conversations_(conversations) {}

  std::string_view name() const override { return "profile"; }
  void OnEvent(const Event& event, ProcessorContext& ctx) override;
  void OnTimer(Timestamp when, std::string_view owner, std::string_view tag, ProcessorContext& ctx) override;
  void OnSignal(const Signal& signal, ProcessorContext& ctx) override;

  struct Profile;

  // The profile as JSON, as of `now` (windows and recency are measured
  // against it). Exposed for the HTTP API and tests.
  std::string ToJson(const Profile& p, std::string_view customer_id, Timestamp now) const;
  // The same, written to `w` (the emission writes it there and emits it).
  void WriteJson(const Profile& p, std::string_view customer_id, Timestamp now, JsonWriter& w) const;
  // The stored record ("p") as JSON, or nullopt when it cannot be read.
  std::optional<std::string> Render(std::string_view stored, std::string_view customer_id,
                                    Timestamp now) const;
  static constexpr std::string_view kRecordName = "p";

 private:
  // Applies `e` to `p` (`open`: the event's conversation is open before
  // it); true when it changed a stored field.
  bool Apply(const Event& e, bool open, Profile& p) const;
  // Marks `p` changed for the next commit; when it `changed`, makes sure an
  // emission is pending.
  void Save(std::string_view customer, Profile& p, Timestamp ts, bool changed, ProcessorContext& ctx);
  void Forget(std::string_view customer, const Profile& p, ProcessorContext& ctx);

  const ProfileOptions options_;
  ConversationKeeper& conversations_;
};

}  // namespace cx::processors
