"""benchmarks/bench_capstone.py runs end to end: ``--smoke`` prints the batched and the exact run.

A smoke test only: what the benchmark measures (time, memory) is never asserted here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_the_capstone_benchmark_smoke_prints_the_batched_and_the_exact_run(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "capstone.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_capstone.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = r"wall [\d.]+ s \(CPU [\d.]+ s\), peak RSS [\d,]+ MiB, [\d,]+ publications, "
    figures += r"[\d.]+ µs per publication"
    lines = proc.stdout.splitlines()
    assert re.match(r"batched: batched path, 2,000 clients, 600 rooms, 40 s simulated: " + figures, lines[0])
    assert re.match(r"exact: exact path, 100 clients, 30 rooms, 40 s simulated: " + figures, lines[1])
    assert re.match(r"ratio batched / exact per publication: [\d.]+;", lines[2]), lines[2]
    saved = json.loads(out.read_text())
    assert saved["batched"]["fanout_path"] == "batched" and saved["exact"]["fanout_path"] == "exact"
    assert saved["batched"]["publications"] > 0 and saved["exact"]["publications"] > 0
