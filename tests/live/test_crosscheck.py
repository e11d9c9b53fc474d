"""`wssim crosscheck` on its five scenarios, against real Redis and NATS, on a calibration of this machine.

The calibration is measured first, in the same session (a calibration from another machine describes
another machine's costs); then each scenario runs through the CLI, as a user runs it: the simulator's
replications, a live run playing replication 0's schedule, and the scenario's declared checks. The
command exits 1 when a check misses, and so does this test, with the verdict table in its message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from live_runs import need_server

from wssim.crosscheck import SUITE, Calibration, check_machine

pytestmark = [pytest.mark.live, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
BACKPLANES = {"herd": (), "backpressure": ("redis_streams",), "replay": ("redis_streams",),
              "fanout": ("redis_pubsub",), "semantics": ("redis_pubsub", "jetstream")}  # fmt: skip


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This machine, measured now (one backplane kind: the costs the checks depend on do not vary
    by kind; private Redis and NATS servers)."""
    need_server("redis_streams")
    out = tmp_path_factory.mktemp("calibration") / "this-machine.yaml"
    args = ["--kind", "redis_streams", "--herds", "1", "--connections", "300", "--seconds", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "wssim", "calibrate", *args, "--out", str(out)],
        capture_output=True, text=True, timeout=420, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    check_machine(out)
    assert Calibration.load(out).per_send_buffer, "the path to a slow reader was measured"
    return out


@pytest.mark.timeout(720)  # the first includes the calibration (about 2.5 minutes)
@pytest.mark.parametrize("name", SUITE)
def test_the_crosscheck_scenario_passes_every_check(name: str, calibration: Path, tmp_path: Path) -> None:
    for kind in BACKPLANES[name]:
        need_server(kind)
    out = tmp_path / name
    done = subprocess.run(
        [sys.executable, "-m", "wssim", "crosscheck", f"crosscheck/{name}", "--calibration", str(calibration),
         "--workers", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=280, cwd=ROOT, env={**os.environ, "COLUMNS": "160"},
    )  # fmt: skip
    verdicts = pd.read_csv(out / "crosscheck.csv") if (out / "crosscheck.csv").exists() else None
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert verdicts is not None and len(verdicts) and verdicts["passed"].all()
    assert (out / "crosscheck.html").stat().st_size > 100_000  # the overlay page, plotly inline
    if name == "herd":  # the headline phenomenon ranks the strategies the same way in both engines
        rank = verdicts[verdicts["tolerance"] == "rank"].iloc[0]
        assert rank["sim_text"] == rank["live_text"] == "none > full_jitter"
