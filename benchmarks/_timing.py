"""What the model benchmarks share: a run in a fresh process, its wall and CPU time, the median
ratio of side-by-side pairs, and the JSON they write with the software they ran on."""

from __future__ import annotations

import json
import multiprocessing as mp
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import simpy

RESULTS = Path(__file__).resolve().parent / "results"


def in_child(target: Callable[..., None], *args: Any) -> dict[str, Any]:
    """Run ``target(*args, queue)`` in a fresh process (clean peak RSS) and return what it puts."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    res = q.get()
    p.join()
    return res


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """``with timed() as t: ...``; afterwards ``t`` holds ``wall_s`` and ``cpu_s`` of the block."""
    t: dict[str, float] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield t
    finally:
        t["wall_s"] = time.perf_counter() - t0
        t["cpu_s"] = time.process_time() - c0


def ratios(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> tuple[float, float]:
    """Median wall and CPU ratios of (run, baseline) pairs (NaN where a baseline took no time)."""

    def median(key: str) -> float:
        return statistics.median(a[key] / b[key] if b[key] > 0 else float("nan") for a, b in pairs)

    return median("wall_s"), median("cpu_s")


def write(out: Path, result: dict[str, Any]) -> None:
    """Write ``result`` as JSON to ``out``, with the Python, SimPy and NumPy versions and the CPUs."""
    result = {
        **result,
        "python": platform.python_version(),
        "simpy": simpy.__version__,
        "numpy": np.__version__,
        "cpus": mp.cpu_count(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
