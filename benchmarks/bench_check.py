"""`wssim check`: how long a review takes, through the real CLI, for every example design.

`--quick` (the arithmetic only) is what a user waits for in an editor or a pre-commit hook: target under
a second, process start-up included. Its baseline in the same run is `wssim --help` — the same
interpreter start-up and CLI, without loading a config or reviewing it — alternated with it
``--repeat`` times so background load hits both alike; the ratio says what the review adds. The full
review (arithmetic and the probes, in a pool of one worker per core) is timed once per design
(``--full-repeat`` to do more): target under a minute on two cores. Each command's CPU seconds (its
processes and their workers) are recorded beside its wall time, with the load average: on a shared
machine wall time drifts with the load, CPU time much less, and on an idle machine of ``cores`` cores a
review takes about max(CPU ÷ cores, the longest probe).
Writes ``benchmarks/results/check.json``.

    python benchmarks/bench_check.py                  # every design in data/designs/, quick ×5, full ×1
    python benchmarks/bench_check.py --designs good chat --repeat 10 --no-full
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DESIGNS = ROOT / "data" / "designs"
RESULTS = Path(__file__).resolve().parent / "results"
QUICK_TARGET_S = 1.0
FULL_TARGET_S = 60.0


def child_cpu() -> float:
    """CPU seconds (user + system) of the finished children of this process, and theirs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(*args: str) -> tuple[float, float, int, dict[str, Any] | None]:
    """Wall and CPU seconds of ``python -m wssim ARGS``, its exit code, and check.json if written."""
    with tempfile.TemporaryDirectory() as tmp:
        out = ["--out", str(Path(tmp) / "review")] if args[0] == "check" else []
        cpu0, t0 = child_cpu(), time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "wssim", *args, *out], capture_output=True, text=True, cwd=ROOT
        )
        wall, cpu = time.perf_counter() - t0, child_cpu() - cpu0
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"wssim {' '.join(args)} exited {proc.returncode}: {proc.stderr[-500:]}")
        path = Path(tmp) / "review" / "check.json"
        return wall, cpu, proc.returncode, json.loads(path.read_text()) if path.exists() else None


def bench_design(path: Path, repeat: int, full_repeat: int) -> dict[str, Any]:
    """Quick review against the CLI's start-up (alternated), then the full review."""
    quick, quick_cpu, base, base_cpu, inside = [], [], [], [], []
    for _ in range(repeat):
        wall, cpu, code, doc = timed("check", str(path), "--quick")
        quick.append(wall)
        quick_cpu.append(cpu)
        inside.append(doc["wall_s"])
        wall, cpu, _, _ = timed("--help")
        base.append(wall)
        base_cpu.append(cpu)
    row: dict[str, Any] = {
        "design": path.stem,
        "quick_s": statistics.median(quick),
        "quick_max_s": max(quick),
        "quick_cpu_s": statistics.median(quick_cpu),
        "quick_in_process_s": statistics.median(inside),
        "startup_s": statistics.median(base),
        "startup_cpu_s": statistics.median(base_cpu),
        "quick_over_startup": statistics.median(quick) / statistics.median(base),
        "verdict": doc["verdict"],
        "exit_code": code,
    }
    fulls = []
    for _ in range(full_repeat):
        load = os.getloadavg()[0]
        wall, cpu, code, doc = timed("check", str(path))
        fulls.append({"wall_s": wall, "cpu_s": cpu, "load_before": load, "verdict": doc["verdict"]})
    if fulls:
        row["full_s"] = statistics.median(f["wall_s"] for f in fulls)
        row["full_max_s"] = max(f["wall_s"] for f in fulls)
        row["full_cpu_s"] = statistics.median(f["cpu_s"] for f in fulls)
        row["full_load_before"] = [round(f["load_before"], 1) for f in fulls]
        row["full_verdict"] = fulls[-1]["verdict"]
    return row


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--designs", nargs="*", help="design names in data/designs/ (default: all)")
    ap.add_argument("--repeat", type=int, default=5, help="quick reviews (and validates) per design")
    ap.add_argument("--full-repeat", type=int, default=1, help="full reviews per design")
    ap.add_argument("--no-full", action="store_true", help="time the quick reviews only")
    args = ap.parse_args(argv)
    names = args.designs or sorted(p.stem for p in DESIGNS.glob("*.yaml"))
    full_repeat = 0 if args.no_full else args.full_repeat
    load = os.getloadavg()[0]
    rows = [bench_design(DESIGNS / f"{name}.yaml", args.repeat, full_repeat) for name in names]
    print(f"load average before: {load:.1f}; {os.cpu_count()} cores")
    head = ("design", "quick", "max", "cpu", "review", "start-up", "ratio", "full", "cpu")
    print("{:<12} {:>7} {:>7} {:>7} {:>7} {:>8} {:>6} {:>7} {:>7}".format(*head))
    for r in rows:
        full = f"{r['full_s']:6.1f}s {r['full_cpu_s']:6.1f}s" if "full_s" in r else f"{'-':>7} {'-':>7}"
        print(
            f"{r['design']:<12} {r['quick_s']:6.3f}s {r['quick_max_s']:6.3f}s {r['quick_cpu_s']:6.3f}s "
            f"{r['quick_in_process_s']:6.3f}s {r['startup_s']:7.3f}s {r['quick_over_startup']:6.2f} {full}"
        )
    quick_ok = all(r["quick_max_s"] < QUICK_TARGET_S for r in rows)
    full_ok = all(r.get("full_max_s", 0.0) < FULL_TARGET_S for r in rows)
    print(
        f"--quick under {QUICK_TARGET_S:g} s (every repeat): {'yes' if quick_ok else 'NO'}; "
        f"full review under {FULL_TARGET_S:g} s: {'yes' if full_ok else 'NO'}"
    )
    result = {
        "rows": rows,
        "quick_target_s": QUICK_TARGET_S,
        "full_target_s": FULL_TARGET_S,
        "quick_ok": quick_ok,
        "full_ok": full_ok,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "check.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    sys.exit(0 if (r := main()) and r["quick_ok"] and r["full_ok"] else 1)
