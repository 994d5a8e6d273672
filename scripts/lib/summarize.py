#!/usr/bin/env python3
"""Prints a per-queue summary of a replay's output directory (used by scripts/demo)."""
import collections
import json
import statistics
import sys

out = sys.argv[1]
per_queue = collections.defaultdict(lambda: collections.Counter())
per_metric = collections.defaultdict(lambda: collections.Counter())
waits = collections.defaultdict(list)
breaches = []
with open(f"{out}/sla.ndjson") as f:
    for line in f:
        r = json.loads(line)
        per_metric[r["metric"]][r["event"]] += 1
        if r["metric"] != "first_response":
            continue
        q = r.get("queue", "-")
        per_queue[q][r["event"]] += 1
        if r["event"] == "fulfill":
            waits[q].append(r["elapsed_s"])
        if r["event"] == "breach":
            breaches.append(r)

print("first response, per queue:")
print(f"{'queue':<10} {'opened':>6} {'answered':>8} {'warned':>6} {'breached':>8} {'cancelled':>9} {'median 1st reply':>17}")
for q in sorted(per_queue):
    c = per_queue[q]
    med = f"{statistics.median(waits[q]):.1f} s" if waits[q] else "-"
    print(f"{q:<10} {c['activate']:>6} {c['fulfill']:>8} {c['warning']:>6} {c['breach']:>8} {c['cancel']:>9} {med:>17}")

print()
print(f"{'all SLA metrics':<22} {'started':>7} {'warned':>6} {'breached':>8} {'met':>5} {'cancelled':>9} {'open':>5}")
for m in sorted(per_metric):
    c = per_metric[m]
    print(f"{m:<22} {c['activate']:>7} {c['warning']:>6} {c['breach']:>8} {c['fulfill']:>5} {c['cancel']:>9} "
          f"{c['activate'] - c['fulfill'] - c['cancel']:>5}")

print()
print("first SLA breaches (customer waited past the first-response target):")
for r in breaches[:5]:
    print(f"  {r['ts']}  {r['queue']:<9} {r['subject_id']:<28} target {r['target_s']:g} s  priority {r['priority']}")
if len(breaches) > 5:
    print(f"  ... and {len(breaches) - 5} more")

with open(f"{out}/staffing.ndjson") as f:
    staffing = [json.loads(line) for line in f]
busy = [r for r in staffing if r["arrivals"] or r["answered"] or r["backlog"]]
print()
print("staffing per queue and 15-minute interval (docs/staffing.md; Erlang C for 80 % within 20 s):")
print(f"{'queue':<10} {'interval (UTC)':<14} {'arrivals':>8} {'answered':>8} {'SL':>5} {'ASA':>7} {'AHT':>7} "
      f"{'forecast':>8} {'required':>8} {'scheduled':>9}")
for r in busy:
    sl = f"{r['service_level']:.2f}" if r["service_level"] is not None else "-"
    asa = f"{r['asa_s']:.0f} s" if r["asa_s"] is not None else "-"
    aht = f"{r['aht_s']:.0f} s" if r["aht_s"] is not None else "-"
    req = r["required_agents"] if r["required_agents"] is not None else "-"
    sch = r["scheduled_agents"] if r["scheduled_agents"] is not None else "-"
    print(f"{r['queue']:<10} {r['interval_start'][11:16] + '-' + r['interval_end'][11:16]:<14} {r['arrivals']:>8} "
          f"{r['answered']:>8} {sl:>5} {asa:>7} {aht:>7} {r['forecast_arrivals']:>8.1f} {req:>8} {sch:>9}")

with open(f"{out}/dlq.ndjson") as f:
    dead = [json.loads(line) for line in f]
print()
print(f"dead-lettered records: {len(dead)}")
for d in dead:
    src = d["source"]
    print(f"  line {src.get('line')}: {d['reason']}")
