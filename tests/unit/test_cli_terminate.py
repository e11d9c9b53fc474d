"""SIGTERM, SIGHUP or SIGKILL to `wssim run` on the simulator: no pool worker outlives it.

The command runs in a subprocess on a process pool of two workers, each computing a real simulation
that takes minutes; the signal arrives while both compute.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow

GRACE = 5.0  # seconds the descendants get to be gone after the signal


@pytest.fixture
def started() -> Iterator[list[psutil.Process]]:
    """Processes a test started: whatever is left of them is killed afterwards, pass or fail."""
    procs: list[psutil.Process] = []
    yield procs
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()


def start_long_sweep(
    out: Path, started: list[psutil.Process]
) -> tuple[subprocess.Popen, list[psutil.Process]]:
    """`wssim run herd` at 200,000 clients on two workers; returns once both workers compute."""
    args = ["run", "herd", "--set", "clients.count=200000", "--workers", "2", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "wssim", *args, "--no-report"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started.append(psutil.Process(proc.pid))
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the workers did not start computing within a minute"
        workers = psutil.Process(proc.pid).children(recursive=True)
        if len(workers) >= 2 and all(w.cpu_times().user > 1.0 for w in workers):
            started.extend(workers)
            return proc, workers
        time.sleep(0.2)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_stops_the_pool_workers_and_keeps_a_resumable_folder(tmp_path, sig, started):
    proc, workers = start_long_sweep(tmp_path / "out", started)
    proc.send_signal(sig)
    _, alive = psutil.wait_procs(workers, timeout=GRACE)
    assert alive == [], f"still running {GRACE} s after {sig.name}: {alive}"
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, err
    assert f"stopped by {sig.name}" in err and "--resume" in err
    assert "Traceback" not in err


def test_a_killed_parent_takes_its_pool_workers_with_it(tmp_path, started):
    proc, workers = start_long_sweep(tmp_path / "out", started)
    os.kill(proc.pid, signal.SIGKILL)
    _, alive = psutil.wait_procs(workers, timeout=GRACE)
    assert alive == [], f"workers outlived a SIGKILLed parent: {alive}"
