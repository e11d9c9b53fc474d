"""Ctrl-C during `wssim run`: finished rows are kept, workers stop, and the printed command completes it.

The command runs in a subprocess (the real signal path) on the process pool with the stand-in engine,
slowed to about a second per run so the interrupt lands mid-sweep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from wssim.sweep import run

pytestmark = pytest.mark.slow

UNIT = Path(__file__).resolve().parent
CONFIG = {
    "name": "interrupt",
    "duration": 60,
    "replications": 2,
    "sweep": {"clients.count": [100, 200], "gateways.count": [1, 2]},
}


def wssim(*args: str, env: dict[str, str]) -> subprocess.Popen:
    """``wssim ARGS`` as a terminal starts it: Ctrl-C at its default action, even where this test
    runs with SIGINT ignored (a background job of a non-interactive shell inherits that)."""
    return subprocess.Popen(
        [sys.executable, "-m", "wssim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_ctrl_c_keeps_finished_rows_and_resume_completes(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(UNIT), os.environ.get("PYTHONPATH", "")])}
    slow = {**env, "WSSIM_TEST_SLEEP": "1.0"}
    engine = ["--engine", "test_sweep_engine:standin"]
    overrides = ["--set", "duration=50s", "--replications", "3"]  # the folder must remember them
    proc = wssim("run", str(cfg), *overrides, "--out", str(out), "--workers", "2", *engine, env=slow)
    partial = out / "partial" / "summary.jsonl"
    deadline = time.monotonic() + 60
    while not (partial.exists() and len(partial.read_text().splitlines()) >= 3):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no run finished within a minute"
        time.sleep(0.05)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children  # the pool's workers
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    hint = err.splitlines()[-1].split()
    assert hint == ["wssim", "run", "--resume", str(out)], err
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []  # no orphaned workers

    rows = (out / "summary.csv").read_text().splitlines()
    kept = len(rows) - 1
    assert 3 <= kept < 12
    assert not (out / "partial").exists()
    keys = [tuple(map(int, r.split(",")[:2])) for r in rows[1:]]
    assert keys == sorted(keys)

    log = tmp_path / "log.txt"
    resumed = wssim(*hint[1:], "-q", env={**env, "WSSIM_TEST_LOG": str(log)})
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert len(log.read_text().splitlines()) == 12 - kept  # finished runs were skipped
    sys.path.insert(0, str(UNIT))
    from test_sweep_engine import standin

    reference = {**CONFIG, "duration": 50, "replications": 3}
    run(reference, engine=standin, executor="serial", out=tmp_path / "ref", progress=False, report=False)
    assert (out / "summary.csv").read_bytes() == (tmp_path / "ref" / "summary.csv").read_bytes()
