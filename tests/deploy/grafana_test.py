#!/usr/bin/env python3
"""Checks deploy/grafana/cxstream.json without a Grafana: it is a dashboard
Grafana can import (uid, title, a Prometheus datasource variable, panels
that do not overlap), it shows what the operations issue asks for, and every
query is valid PromQL (promtool, with the dashboard variables substituted).
That every metric it uses is exported is checked against a running worker
by the integration test runtime.rules_metrics_are_exported.

usage: grafana_test.py SOURCE_DIR
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

source = sys.argv[1]
dash = json.load(open(os.path.join(source, "deploy", "grafana", "cxstream.json")))
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


check(dash.get("uid") and dash.get("title"), "uid and title are required")
variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
check(variables.get("datasource", {}).get("type") == "datasource"
      and variables["datasource"].get("query") == "prometheus", "a Prometheus datasource variable is required")

panels = dash["panels"]
ids = [p["id"] for p in panels]
check(len(ids) == len(set(ids)), "panel ids must be unique")
cells = {}
for p in panels:
    g = p["gridPos"]
    check(g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, f"panel {p['title']}: outside the 24-column grid")
    overlapped = {cells[(x, y)] for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
                  if (x, y) in cells}
    check(not overlapped, f"panel {p['title']!r} overlaps {sorted(overlapped)}")
    cells.update({(x, y): p["title"] for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])})

exprs = []
for p in panels:
    if p["type"] == "row":
        continue
    check(p.get("datasource", {}).get("uid") == "${datasource}", f"panel {p['title']}: datasource must be the variable")
    check(p.get("description"), f"panel {p['title']}: a description says what it shows")
    check(p.get("targets"), f"panel {p['title']}: no query")
    for t in p.get("targets", []):
        check(t.get("expr", "").strip(), f"panel {p['title']}: empty query")
        exprs.append((p["title"], t["expr"]))

# What an operator must see at a glance (the operations issue).
everything = "\n".join(e for _, e in exprs)
wanted = {
    "throughput": r"rate\(cxstream_records_consumed_total",
    "consumer lag": r"cxstream_consumer_lag_records",
    "processing latency p50": r"histogram_quantile\(0\.5, .*cxstream_processing_latency_seconds_bucket",
    "processing latency p99": r"histogram_quantile\(0\.99, .*cxstream_processing_latency_seconds_bucket",
    "breach rate by queue and metric": r"by \(queue, metric\) \(rate\(cxstream_sla_events_total\{[^}]*event=\"breach\"",
    "warning rate by queue and metric": r"by \(queue, metric\) \(rate\(cxstream_sla_events_total\{[^}]*event=\"warning\"",
    "open SLA clocks": r"cxstream_sla_open_clocks",
    "staffing required": r"by \(queue\) \(cxstream_staffing_agents_required",
    "staffing online": r"by \(queue\) \(cxstream_staffing_agents_online",
    "dead-letter rate": r"rate\(cxstream_dead_lettered_total",
    "restore progress": r"cxstream_restore_remaining_records",
    "memory": r"cxstream_process_resident_memory_bytes",
    "memory budget": r"cxstream_state_memory_budget_bytes",
}
for what, pattern in wanted.items():
    check(re.search(pattern, everything), f"the dashboard does not show {what} ({pattern})")

# Every query parses: promtool checks them as recording rules once the
# dashboard's variables are replaced by what Grafana would put there.
subst = {"$__rate_interval": "1m", "$job": "cxstream", "$instance": ".*", "$queue": ".*"}
rules = []
for i, (title, e) in enumerate(exprs):
    for k, v in subst.items():
        e = e.replace(k, v)
    check("$" not in e.replace("{{", ""), f"panel {title}: unknown variable in {e}")
    rules.append({"record": f"dashboard:query_{i}", "expr": e})
with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
r = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
os.remove(f.name)
check(r.returncode == 0, "promtool rejects a dashboard query:\n" + r.stdout + r.stderr)

for f in failures:
    print("FAIL:", f)
print(f"grafana: {len(panels)} panels, {len(exprs)} queries checked" if not failures else "grafana: FAILED")
sys.exit(1 if failures else 0)
