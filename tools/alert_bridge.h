// `cxstream alert-bridge`: delivers the alert topic to Alertmanager
// (docs/alerts.md#alert-bridge).
//
// Stateless: it reads the alert topic from its beginning (keep cx.alerts
// compacted, key dedup_key, so the latest action of every condition stays),
// rebuilds the set of open alerts, then follows the topic. New and resolved
// alerts are posted to Alertmanager's /api/v2/alerts at once; the open ones
// are posted again every `alert_bridge.resend_every`, as Alertmanager
// expects. Failed posts are retried with exponential back-off. Alerts
// grouped under a storm are not posted: the storm pages for them.
#pragma once

#include <atomic>
#include <string>

#include "config/config.h"

namespace cx::tools {

// Runs until `stop`; returns the exit code.
int RunAlertBridge(const config::Config& config, const std::atomic<bool>& stop);

}  // namespace cx::tools
