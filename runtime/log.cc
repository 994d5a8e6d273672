#include "runtime/log.h"

#include <unistd.h>

#include <atomic>

#include "core/json_writer.h"
#include "core/time.h"

namespace cx::runtime {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
constexpr std::string_view kNames[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
}  // namespace

LogLevel ParseLogLevel(std::string_view name) {
  for (int i = 0; i < 7; ++i) {
    if (kNames[i] == name) return static_cast<LogLevel>(i);
  }
  return LogLevel::kInfo;
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

void Log(LogLevel level, std::string_view component, std::string_view message,
         std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) < g_level.load() || level == LogLevel::kOff) return;
  JsonWriter w;
  w.BeginObject()
      .TimeField("time", SystemClock().Now())
      .Field("level", kNames[static_cast<int>(level)])
      .Field("component", component)
      .Field("msg", message);
  for (const auto& [k, v] : fields) {
    w.DynamicKey(k);
    std::visit(
        [&w](auto&& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string_view>)
            w.String(x);
          else if constexpr (std::is_same_v<T, std::int64_t>)
            w.Int(x);
          else if constexpr (std::is_same_v<T, double>)
            w.Double(x);
          else
            w.Bool(x);
        },
        v);
  }
  w.EndObject();
  std::string line = w.Take();
  line.push_back('\n');
  ssize_t ignored = ::write(2, line.data(), line.size());
  (void)ignored;
}

}  // namespace cx::runtime
