"""Sweep speed-up: the same sweep on a process pool of 2 workers against 1 worker, in the same run.

The sweep is the built-in ``herd`` scenario (six backoff strategies) scaled so each run is a few seconds
of CPU-bound simulation, times ``--replications``. Each configuration runs ``--repeat`` times,
interleaved (1, 2, 1, 2, …) so background load hits both alike; the speed-up is the ratio of the median
wall times (pool start-up included: that is what a user waits for). Both worker counts must write
byte-identical ``summary.csv`` files. Target on a 2-core machine: ≥ 1.8×.
Writes ``benchmarks/results/sweep.json``.

    python benchmarks/bench_sweep.py                      # 12 runs of ~2-3 s, 3 repeats
    python benchmarks/bench_sweep.py --clients 30000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def sweep_config(clients: int, replications: int) -> Any:
    from wssim.config import load_config

    return load_config("herd", [f"clients.count={clients}", f"replications={replications}"])


def timed_sweep(cfg: Any, workers: int, out: Path) -> tuple[float, float]:
    """Wall seconds of one sweep on a pool of ``workers`` processes (files to ``out``), and the CPU
    seconds its runs used (from the run info)."""
    from wssim.sweep import run

    t0 = time.perf_counter()
    res = run(cfg, executor="local", workers=workers, out=out, progress=False, report=False)
    wall = time.perf_counter() - t0
    if res.failures:
        raise RuntimeError(f"{len(res.failures)} run(s) failed: {res.failures[0]['error']}")
    runs = json.loads((out / "manifest.json").read_text())["runs"].values()
    return wall, sum(float(r.get("cpu_s", 0.0)) for r in runs)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20_000, help="clients per run (sets the run length)")
    ap.add_argument("--replications", type=int, default=2, help="replications per point (6 points)")
    ap.add_argument("--repeat", type=int, default=3, help="timed sweeps per worker count")
    ap.add_argument("--target", type=float, default=1.8, help="speed-up to reach")
    args = ap.parse_args(argv)

    cfg = sweep_config(args.clients, args.replications)
    n_runs = 6 * args.replications
    walls: dict[int, list[float]] = {1: [], 2: []}
    cpus: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        summaries: dict[int, bytes] = {}
        for i in range(args.repeat):
            for workers in (1, 2):
                out = Path(tmp) / f"w{workers}-{i}"
                wall, cpu = timed_sweep(cfg, workers, out)
                walls[workers].append(wall)
                cpus[workers].append(cpu)
                summaries.setdefault(workers, (out / "summary.csv").read_bytes())
                print(
                    f"repeat {i + 1}/{args.repeat}, {workers} worker(s): {walls[workers][-1]:.2f} s",
                    flush=True,
                )
        identical = summaries[1] == summaries[2]
    med1, med2 = statistics.median(walls[1]), statistics.median(walls[2])
    speedup = med1 / med2
    result = {
        "benchmark": "sweep speed-up, 2 workers vs 1",
        "scenario": "herd",
        "clients": args.clients,
        "runs_per_sweep": n_runs,
        "repeat": args.repeat,
        "wall_s_1_worker": walls[1],
        "wall_s_2_workers": walls[2],
        "median_s_1_worker": med1,
        "median_s_2_workers": med2,
        "mean_run_s": med1 / n_runs,
        # CPU seconds of the runs per wall second: ~1 and ~2 on an otherwise idle 2-core machine.
        "busy_cores_1_worker": statistics.median(c / w for c, w in zip(cpus[1], walls[1], strict=True)),
        "busy_cores_2_workers": statistics.median(c / w for c, w in zip(cpus[2], walls[2], strict=True)),
        "speedup": speedup,
        "target": args.target,
        "meets_target": speedup >= args.target,
        "summary_csv_identical": identical,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1min": os.getloadavg()[0],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{n_runs} runs of ~{med1 / n_runs:.2f} s: 1 worker {med1:.2f} s, 2 workers {med2:.2f} s -> "
        f"speed-up {speedup:.2f}x (target {args.target}x: {'met' if speedup >= args.target else 'NOT met'}); "
        f"summary.csv identical: {identical}; busy cores {result['busy_cores_1_worker']:.2f} / "
        f"{result['busy_cores_2_workers']:.2f}; load average {result['load_average_1min']:.2f}"
    )
    if result["busy_cores_2_workers"] < 1.5:
        print(
            f"note: the 2-worker sweep kept only {result['busy_cores_2_workers']:.2f} cores busy: the "
            "machine is shared (with autogroup scheduling a process tree gets a fixed share of the CPUs "
            "however many workers it starts), so this ratio measures the contention, not the sweep; "
            "rerun on an idle machine."
        )
    return result


if __name__ == "__main__":
    main()
