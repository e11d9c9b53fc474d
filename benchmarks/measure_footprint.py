"""The simulator's memory and time per client and per publication, for :mod:`wssim.sweep.footprint`.

Runs ``quickstart`` and ``herd`` at a few sizes, each in a fresh process, and prints per run the wall
time, the events SimPy scheduled and the peak RSS above the imports; then the differences that give
the costs per client, per room slot, per slow consumer and per publication. Writes
``benchmarks/results/footprint.json``. Takes about two minutes on two cores.

    nice -n 10 python benchmarks/measure_footprint.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CHILD = """
import json, resource, sys, time
from wssim.config import load_config
from wssim.sim.simulate import build_world
cfg = load_config(sys.argv[1], sys.argv[2:])
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
w = build_world(cfg, 0)
w.env.run(until=float(cfg.duration))
wall = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall_s": wall, "events": next(w.env._eid), "rss_mib": (r1 - r0) / 1024}))
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


def measure(scenario: str, overrides: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, scenario, *overrides], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def main() -> None:
    m = {name: measure(*case) for name, case in CASES.items()}
    for name, r in m.items():
        print(f"{name:16} {r['wall_s']:7.2f} s  {r['events']:>10,} events  {r['rss_mib']:7.1f} MiB")
    mib = 2**20
    pubs = 10_000 * (60 - 2) / 60 * 120  # the extra publications of "publish 60/min" (2 min)
    costs = {
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
    for name, value in costs.items():
        print(f"{name:26} {value:,.1f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "footprint.json").write_text(json.dumps({"runs": m, "costs": costs}, indent=1))


if __name__ == "__main__":
    main()
