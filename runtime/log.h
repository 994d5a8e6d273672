// Structured logging: one JSON object per line on stderr, with level, time,
// component and fields. Never log message text or personal data: ids of
// partitions and topics, counts and reasons only.
// Thread-safe (one write(2) per line).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace cx::runtime {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kCritical, kOff };

// Parses a level name as in config `log.level`; unknown names give kInfo.
LogLevel ParseLogLevel(std::string_view name);
void SetLogLevel(LogLevel level);

using LogValue = std::variant<std::string_view, std::int64_t, double, bool>;
using LogField = std::pair<std::string_view, LogValue>;

void Log(LogLevel level, std::string_view component, std::string_view message,
         std::initializer_list<LogField> fields = {});

}  // namespace cx::runtime
