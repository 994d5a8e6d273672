#!/usr/bin/env python3
"""Discrete-event simulation of an Erlang A queue (M/M/n+M, FCFS), the
independent reference for ErlangATest.MatchesASimulationOfTheReferenceQueue.

usage: erlang_a_simulation.py [SERVERS ARRIVALS_PER_S AHT_S PATIENCE_S THRESHOLD_S N SEED]
Prints the service level (answered within the threshold / arrivals), the
abandonment and wait probabilities and the mean wait of all arrivals.
Defaults: the staffing issue's reference queue with 12 servers, patience 120 s,
2,000,000 arrivals, seed 11 (about 5 s).
"""
import collections
import heapq
import random
import sys

args = [float(a) for a in sys.argv[1:]] or [12, 100 / 1800, 180, 120, 20, 2_000_000, 11]
n, lam, aht, pat, T, N, seed = int(args[0]), args[1], args[2], args[3], args[4], int(args[5]), int(args[6])
rng = random.Random(seed)
busy = []  # completion times of busy servers
queue = collections.deque()  # (arrival time, time the patience runs out)
answered_in_time = abandoned = waited = arrivals = 0
total_wait = 0.0
next_arrival = rng.expovariate(lam)
while arrivals < N or queue:
    next_done = busy[0] if busy else float("inf")
    if arrivals < N and next_arrival <= next_done:
        t = next_arrival
        arrivals += 1
        next_arrival = t + rng.expovariate(lam)
        if len(busy) < n and not queue:
            heapq.heappush(busy, t + rng.expovariate(1 / aht))
            answered_in_time += 1
        else:
            waited += 1
            queue.append((t, t + rng.expovariate(1 / pat)))
    else:
        if next_done == float("inf"):
            break
        t = heapq.heappop(busy)
        while queue:  # the head of the queue takes the free server, unless it already left
            a, gone = queue.popleft()
            if gone < t:
                abandoned += 1
                total_wait += gone - a
                continue
            total_wait += t - a
            answered_in_time += (t - a) <= T
            heapq.heappush(busy, t + rng.expovariate(1 / aht))
            break
print(f"service_level {answered_in_time / N:.4f} abandon {abandoned / N:.4f} "
      f"wait {waited / N:.4f} mean_wait_s {total_wait / N:.2f}")
