// The SLA metrics of the contract (docs/sla.md). In core because the
// configuration validates metric names and the SLA engine measures them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace cx {

enum class Metric : std::uint8_t {
  kFirstResponse,
  kNextResponse,
  kResolution,
  kAftersalesApproval,
  kAftersalesRefund,
  kAftersalesResolution,
  kOrderShip,
  kOrderDelivery,
};
inline constexpr int kMetricCount = 8;

inline constexpr std::array<std::string_view, kMetricCount> kMetricNames = {
    "first_response",    "next_response",         "resolution", "aftersales_approval",
    "aftersales_refund", "aftersales_resolution", "order_ship", "order_delivery"};

inline std::string_view ToString(Metric m) { return kMetricNames[static_cast<std::size_t>(m)]; }
inline std::optional<Metric> ParseMetric(std::string_view s) {
  for (int i = 0; i < kMetricCount; ++i) {
    if (kMetricNames[i] == s) return static_cast<Metric>(i);
  }
  return std::nullopt;
}

}  // namespace cx
