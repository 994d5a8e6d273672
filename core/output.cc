#include "core/output.h"

namespace cx {

std::string_view ToString(Stream s) {
  switch (s) {
    case Stream::kSla:
      return "sla";
    case Stream::kAlerts:
      return "alerts";
    case Stream::kProfiles:
      return "profiles";
    case Stream::kStaffing:
      return "staffing";
    case Stream::kDlq:
      return "dlq";
    case Stream::kRepartition:
      return "repartition";
  }
  return "unknown";
}

std::string_view ToString(Severity s) {
  switch (s) {
    case Severity::kCritical:
      return "critical";
    case Severity::kError:
      return "error";
    case Severity::kWarning:
      return "warning";
    case Severity::kInfo:
      return "info";
  }
  return "unknown";
}

}  // namespace cx
