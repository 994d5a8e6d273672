#!/usr/bin/env python3
"""Writes samples/quickstart.ndjson: one busy hour of a small shop, seeded.

Used by scripts/demo until `cxstream simulate` (the simulator issue) replaces
it. Three queues with Poisson arrivals, agents who answer after a log-normal
delay (some too late), bot replies and internal notes that do not count,
abandonment, orders, and a few malformed records for the dead-letter stream.
Events are nearly in time order, with a little jitter (within the lateness).
"""
import json
import random

rng = random.Random(7)
START = 1795399200  # 2026-11-23T02:00:00Z = 10:00 in Shanghai
QUEUES = {"presales": ("web", 40), "billing": ("app", 30), "returns": ("wechat", 20)}  # arrivals per hour
events = []
n = 0


def ts(t):
    ms = int(round(t * 1000))
    s, ms = divmod(ms, 1000)
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s + 8 * 3600)) + f".{ms:03d}+08:00"


def emit(t, typ, cust, **fields):
    global n
    n += 1
    e = {"event_id": f"qs-{n:05d}", "type": typ, "ts": ts(t)}
    if cust:
        e["customer_id"] = cust
    e.update(fields)
    events.append((t, json.dumps(e, ensure_ascii=False, separators=(",", ":"))))


for q, (channel, rate) in QUEUES.items():
    t = START
    while True:
        t += rng.expovariate(rate / 3600.0)
        if t > START + 3600:
            break
        cust = f"cust-{rng.randint(1, 400):04d}"
        conv = f"conv-{q}-{len(events):05d}"
        prio = rng.choices(["low", "normal", "high", "urgent"], [2, 6, 2, 0.5])[0]
        extra = {"customer_tier": "vip"} if rng.random() < 0.1 else {}
        emit(t, "conversation.opened", cust, conversation_id=conv, channel=channel, queue=q, priority=prio, **extra)
        emit(t + 2, "message.customer", cust, conversation_id=conv, text="hi, about my order",
             sentiment=round(rng.uniform(-0.8, 0.6), 2))
        if rng.random() < 0.5:
            emit(t + 1, "message.agent", cust, conversation_id=conv, agent_id="bot", auto=True)
        wait = rng.lognormvariate(3.6, 0.8)  # median about 37 s
        if rng.random() < 0.08:
            emit(t + min(wait, 200), "conversation.abandoned", cust, conversation_id=conv)
            continue
        agent = f"agent-{rng.randint(1, 12)}"
        if rng.random() < 0.2:
            emit(t + wait / 2, "message.agent", cust, conversation_id=conv, agent_id=agent, public=False)
        emit(t + wait, "message.agent", cust, conversation_id=conv, agent_id=agent)
        emit(t + wait + rng.uniform(120, 900), "conversation.closed", cust, conversation_id=conv)

for i in range(60):
    t = START + rng.uniform(0, 3600)
    cust = f"cust-{rng.randint(1, 400):04d}"
    amount = round(rng.uniform(19, 599), 2)
    emit(t, "order.created", cust, order_id=f"ord-{i}", amount=amount, currency="CNY")
    emit(t + 30, "order.paid", cust, order_id=f"ord-{i}", amount=amount)

# A little arrival jitter (within the 5 s lateness), then a few bad records.
events = [(t + rng.uniform(0, 2), line) for t, line in events]
events.sort(key=lambda x: x[0])
lines = [line for _, line in events]
bad = ['{"event_id":"bad-1","type":"conversation.opened"',
       '{"event_id":"bad-2","type":"order.paid","ts":"2026-11-23T10:30:00+08:00","customer_id":"cust-0001","order_id":"o","amount":"free"}',
       '{"event_id":"bad-3","type":"conversation.teleported","ts":"2026-11-23T10:40:00+08:00","customer_id":"cust-0002"}']
for b, pos in zip(bad, (len(lines) // 4, len(lines) // 2, 3 * len(lines) // 4)):
    lines.insert(pos, b)
lines.insert(len(lines) // 3, lines[len(lines) // 3 - 5])  # a producer retry: same event again

with open("quickstart.ndjson", "w") as f:
    f.write("\n".join(lines) + "\n")
print(f"wrote {len(lines)} records")
