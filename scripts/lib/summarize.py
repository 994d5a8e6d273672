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

with open(f"{out}/dlq.ndjson") as f:
    dead = [json.loads(line) for line in f]
print()
print(f"dead-lettered records: {len(dead)}")
for d in dead:
    src = d["source"]
    print(f"  line {src.get('line')}: {d['reason']}")
