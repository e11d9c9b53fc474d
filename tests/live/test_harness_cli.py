"""`wssim run --engine live`: the CLI drives the harness and writes the simulator's files."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml
from test_harness import small
from typer.testing import CliRunner

from wssim.cli import app
from wssim.metrics import METRICS

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]


def test_wssim_run_engine_live_writes_a_summary_row_with_every_metric(tmp_path: Path) -> None:
    cfg = small("none", faults=[{"kind": "gateway_crash", "at": "2s", "gateway": 0, "restart": False}])
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    args = ["run", str(path), "--engine", "live", "--out", str(out), "--no-report", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 1
    assert set(METRICS) <= set(summary.columns)
    row = summary.iloc[0]
    assert row["connections_peak"] == 60 and row["reconnect_attempts"] >= 25
    assert row["herd_convergence_s"] > 0
    assert (out / "timeseries.parquet").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_to_a_live_run_stops_every_process_it_started(tmp_path: Path, sig: signal.Signals) -> None:
    """Gateways, balancer, load generators and the private redis-server all end with `wssim run`."""
    if shutil.which("redis-server") is None:  # a skip fails under CI (tests/conftest.py)
        pytest.skip("redis-server not on PATH: install it (apt-get install redis-server)")
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(small("redis_pubsub", duration="60s")))
    env = {k: v for k, v in os.environ.items() if k != "WSSIM_REDIS_URL"}  # the harness starts its own
    args = ["run", str(path), "--engine", "live", "--out", str(tmp_path / "out"), "-q"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "wssim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    started = [psutil.Process(proc.pid)]
    try:
        deadline = time.monotonic() + 60
        while not any("loadgen" in " ".join(p.cmdline()) for p in _descendants(proc.pid)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the load generators did not start within a minute"
            time.sleep(0.2)
        time.sleep(1.0)  # clients connected, messages flowing
        fleet = _descendants(proc.pid)
        started += fleet
        names = " ".join(" ".join(p.cmdline()) for p in fleet)
        assert "redis-server" in names and "gateway" in names and "balancer" in names, names
        proc.send_signal(sig)
        _, alive = psutil.wait_procs(fleet, timeout=5.0)
        assert alive == [], f"still running 5 s after {sig.name}: {[p.cmdline() for p in alive]}"
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 128 + sig, err
        assert f"stopped by {sig.name}" in err and "Traceback" not in err
    finally:
        for p in started:
            with contextlib.suppress(psutil.Error):
                p.kill()


def _descendants(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).children(recursive=True)
    return []
