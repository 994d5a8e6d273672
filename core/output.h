// Output records: what processors emit, one per Kafka message on the
// contract streams (docs/outputs.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cx {

// One output stream per contract topic.
enum class Stream : std::uint8_t { kSla, kAlerts, kProfiles, kStaffing, kDlq };
inline constexpr int kStreamCount = 5;
std::string_view ToString(Stream s);

struct OutputRecord {
  Stream stream = Stream::kSla;
  std::string key;
  // nullopt is a tombstone (a Kafka record with a null value).
  std::optional<std::string> value;
};

// Receives outputs in the order they were made. Owned by the caller of the
// stage; called from the task's thread.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual void Emit(OutputRecord record) = 0;
};

}  // namespace cx
