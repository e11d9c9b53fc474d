"""The simulator's memory and time per client and per publication, for :mod:`wssim.sweep.footprint`.

Runs ``quickstart`` and ``herd`` at a few sizes on the exact path, and the ``capstone`` scaled down
(50k and 100k clients, 2 and 4 simulated minutes without the crash, and 100k for its whole 10
minutes) on the batched path, each in a fresh
process, and prints per run the wall time, the events SimPy scheduled, the peak RSS above the
imports and the RSS of the process with the model loaded; then the differences that give the costs
per client, per room slot, per slow consumer and per publication. Writes
``benchmarks/results/footprint.json``. Takes about eight minutes on two cores.

    nice -n 10 python benchmarks/measure_footprint.py
    nice -n 10 python benchmarks/measure_footprint.py --only batched
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CHILD = """
import json, resource, sys, time
from wssim.config import load_config
from wssim.sim.simulate import build_world
cfg = load_config(sys.argv[2], sys.argv[3:])
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
w = build_world(cfg, 0, batched=sys.argv[1] == "batched")
w.env.run(until=float(cfg.duration))
wall = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pubs = w.rec.counters.get("messages_published", 0.0)
print(json.dumps({"wall_s": wall, "events": next(w.env._eid), "rss_mib": (r1 - r0) / 1024,
                  "base_mib": r0 / 1024, "publications": pubs}))
"""
QUIET = "clients.publish_rate=0/s"
CASES = {
    "clients 10k": ("quickstart", ["clients.count=10000", QUIET]),
    "clients 200k": ("quickstart", ["clients.count=200000", QUIET]),
    "clients 40k": ("quickstart", ["clients.count=40000", QUIET]),
    "room slots 4": ("quickstart", ["clients.count=40000", QUIET, "clients.rooms.per_client=4"]),
    "slow half": ("quickstart", ["clients.count=40000", QUIET, "clients.slow_consumers.fraction=0.5"]),
    "publish 2/min": ("quickstart", ["clients.count=10000"]),
    "publish 60/min": ("quickstart", ["clients.count=10000", "clients.publish_rate=60/min"]),
    "herd 20k": ("herd", ["clients.count=20000"]),
    "herd 200k": ("herd", ["clients.count=200000"]),
}
# The capstone's shape (3 rooms per client, Zipf rooms, 8 gateways with the CPU model) at 1/40 and
# 1/20 of its clients and rooms, on the batched path: a 48 s ramp, 1 min warm-up, no crash.
CAPSTONE = ["faults=[]", "warmup=1min", "clients.connect_ramp=48s"]
BATCHED = {
    "batched 50k": ("capstone", ["clients.count=50000", "clients.rooms.count=15000", "duration=2min"]),
    "batched 100k": ("capstone", ["clients.count=100000", "clients.rooms.count=30000", "duration=2min"]),
    "batched 100k 4min": ("capstone", ["clients.count=100000", "clients.rooms.count=30000", "duration=4min"]),
}
WHOLE = ["clients.count=100000", "clients.rooms.count=30000"]  # the capstone at 1/20, its 10 minutes


def measure(path: str, scenario: str, overrides: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, path, scenario, *overrides], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def exact_costs(m: dict[str, dict[str, float]]) -> dict[str, float]:
    """The exact path's costs from the quickstart and herd runs."""
    mib = 2**20
    pubs = 10_000 * (60 - 2) / 60 * 120  # the extra publications of "publish 60/min" (2 min)
    return {
        "bytes_per_client": (m["clients 200k"]["rss_mib"] - m["clients 10k"]["rss_mib"]) * mib / 190_000,
        "bytes_per_room_slot": (m["room slots 4"]["rss_mib"] - m["clients 40k"]["rss_mib"]) * mib / 120_000,
        "bytes_per_slow_consumer": (m["slow half"]["rss_mib"] - m["clients 40k"]["rss_mib"]) * mib / 19_600,
        "bytes_per_publication": (m["publish 60/min"]["rss_mib"] - m["publish 2/min"]["rss_mib"])
        * mib
        / pubs,
        "us_per_client": m["clients 200k"]["wall_s"] / 200_000 * 1e6,
        "us_per_client_herd_20k": m["herd 20k"]["wall_s"] / 20_000 * 1e6,
        "us_per_client_herd_200k": m["herd 200k"]["wall_s"] / 200_000 * 1e6,
        "us_per_publication": (m["publish 60/min"]["wall_s"] - m["publish 2/min"]["wall_s"]) / pubs * 1e6,
        "us_per_event": m["clients 200k"]["wall_s"] / m["clients 200k"]["events"] * 1e6,
    }


def batched_costs(m: dict[str, dict[str, float]]) -> dict[str, float]:
    """The batched path's costs from the scaled capstone: per publication from the 2 and 4 minute runs
    (every publication still in its room's replay window), per client (with its 3 room slots and its
    share of the rooms) from 50k and 100k clients once their publications are taken out, and per
    publication over the whole 10 minutes (the window full and turning over, as in the capstone)."""
    mib = 2**20
    half, short, long, whole = (
        m[k] for k in ("batched 50k", "batched 100k", "batched 100k 4min", "batched 100k 10min")
    )
    per_pub = (long["rss_mib"] - short["rss_mib"]) * mib / (long["publications"] - short["publications"])
    pubs = short["publications"] - half["publications"]
    per_client = ((short["rss_mib"] - half["rss_mib"]) * mib - pubs * per_pub) / 50_000
    return {
        "batched_bytes_per_publication_in_window": per_pub,
        "batched_bytes_per_client": per_client,
        "batched_bytes_per_publication_10min": (whole["rss_mib"] * mib - 100_000 * per_client)
        / whole["publications"],
        "batched_us_per_publication": (long["wall_s"] - short["wall_s"])
        / (long["publications"] - short["publications"])
        * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["exact", "batched"], help="measure one path only")
    args = parser.parse_args()
    m, costs = {}, {}
    if args.only != "batched":
        m.update({name: measure("exact", *case) for name, case in CASES.items()})
    if args.only != "exact":
        m.update({name: measure("batched", s, [*CAPSTONE, *o]) for name, (s, o) in BATCHED.items()})
        m["batched 100k 10min"] = measure("batched", "capstone", WHOLE)
    for name, r in m.items():
        print(
            f"{name:18} {r['wall_s']:7.2f} s  {r['events']:>10,} events  {r['rss_mib']:7.1f} MiB "
            f"(model loaded: {r['base_mib']:.1f} MiB)"
        )
    if args.only != "batched":
        costs.update(exact_costs(m))
    if args.only != "exact":
        costs.update(batched_costs(m))
    for name, value in costs.items():
        print(f"{name:30} {value:,.1f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "footprint.json").write_text(json.dumps({"runs": m, "costs": costs}, indent=1))


if __name__ == "__main__":
    main()
