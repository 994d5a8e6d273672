"""The benchmark mix, shared by bench/run and bench/replay: the simulator's
realistic shop (docs/simulator.md), seed 7, cached by parameters."""
import math
import os
import subprocess


def simulated_input(binary, cache_dir, events, customers):
    """A realistic mix from the simulator (docs/simulator.md), busy enough
    that `events` records span a few simulated hours; cached by parameters."""
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, f"sim-{customers}-{events}.ndjson")
    if os.path.exists(path):
        return path
    hours = max(2, math.ceil(events / 80000) + 1)
    tmp = path + ".tmp"
    subprocess.run([binary, "simulate", "--out", tmp, "--seed", "7", "--start", "2026-11-23T00:00:00Z",
                    "--duration", f"{hours}h", "--customers", str(customers), "--agents", "600",
                    "--queue", "billing:3000", "--queue", "presales:4500", "--queue", "returns:2500",
                    "--orders-per-hour", "6000", "--malformed-share", "0.001"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(tmp) as f, open(path, "w") as out:
        for i, line in enumerate(f):
            if i >= events:
                break
            out.write(line)
    os.remove(tmp)
    return path
