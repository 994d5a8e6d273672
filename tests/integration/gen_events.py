#!/usr/bin/env python3
"""Deterministic test traffic: agents going online and away, conversations (some answered late, some
abandoned, some still open, bot replies and internal notes), orders (some
paid and waiting to ship) and a few malformed records, in time order with a little jitter within the lateness.

usage: gen_events.py OUT.ndjson CONVERSATIONS START_EPOCH_S [SEED]
"""
import json
import random
import sys
import time

out, n_conv, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
events = []
seq = 0


def ts(t):
    ms = int(round(t * 1000))
    s, ms = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{ms:03d}Z"


def emit(t, typ, cust, **f):
    global seq
    seq += 1
    e = {"event_id": f"g-{seq}", "type": typ, "ts": ts(t), "customer_id": cust}
    e.update(f)
    events.append((t, json.dumps(e, separators=(",", ":"))))


QUEUES = ["billing", "presales", "returns"]
# Agents: online at the start in one or two queues, then away and back now
# and then (cx.agents, keyed by agent_id).
for a in range(1, 9):
    queues = sorted(rng.sample(QUEUES, rng.choice([1, 2])))
    at = start + a
    seq += 1
    events.append((at, json.dumps({"event_id": f"g-{seq}", "type": "agent.status", "ts": ts(at),
                                   "agent_id": f"a{a}", "status": "online", "queues": queues,
                                   "max_concurrency": rng.choice([1, 2, 3])}, separators=(",", ":"))))
    t_away = at
    for _ in range(3):
        t_away += rng.uniform(600, 2400)
        for status, dt in (("away", 0), ("online", rng.uniform(60, 600))):
            seq += 1
            events.append((t_away + dt, json.dumps({"event_id": f"g-{seq}", "type": "agent.status",
                                                    "ts": ts(t_away + dt), "agent_id": f"a{a}",
                                                    "status": status, "queues": queues},
                                                   separators=(",", ":"))))

t = start
for i in range(n_conv):
    t += rng.expovariate(1 / 2.0)  # a conversation every 2 s on average
    cust = f"c{rng.randint(1, max(10, n_conv // 3))}"
    conv = f"v{i}"
    q = rng.choice(QUEUES)
    prio = rng.choice(["low", "normal", "normal", "high", "urgent"])
    emit(t, "conversation.opened", cust, conversation_id=conv, channel=rng.choice(["web", "app", "wechat"]),
         queue=q, priority=prio)
    emit(t + 1, "message.customer", cust, conversation_id=conv, text="hello")
    if rng.random() < 0.3:
        emit(t + 0.5, "message.agent", cust, conversation_id=conv, agent_id="bot", auto=True)
    wait = rng.lognormvariate(3.3, 0.9)
    if rng.random() < 0.08:
        emit(t + wait, "conversation.abandoned", cust, conversation_id=conv)
        continue
    if rng.random() < 0.2:
        emit(t + wait / 2, "message.agent", cust, conversation_id=conv, agent_id="a1", public=False)
    emit(t + wait, "message.agent", cust, conversation_id=conv, agent_id=f"a{rng.randint(1, 9)}")
    if rng.random() < 0.3:
        amount = round(rng.uniform(5, 500), 2)
        emit(t + 5, "order.created", cust, order_id=f"o{i}", amount=amount, currency="CNY")
        if rng.random() < 0.5:  # paid and not shipped yet: an open order_ship clock
            emit(t + 6, "order.paid", cust, order_id=f"o{i}", amount=amount)
    # Still open: its resolution clock runs on. Not high priority, whose 4 h
    # deadline would fall near "now" for input starting 4 h ago: run and
    # replay look at "now" a few seconds apart.
    if rng.random() < 0.05 and prio != "high":
        continue
    emit(t + wait + rng.uniform(60, 600), "conversation.closed", cust, conversation_id=conv)

events = [(tt + rng.uniform(0, 2), line) for tt, line in events]
events.sort(key=lambda x: x[0])
lines = [line for _, line in events]
for k in range(1, 4):  # malformed records
    lines.insert(len(lines) * k // 4, '{"event_id":"bad-%d","type":"conversation.opened"' % k)
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
