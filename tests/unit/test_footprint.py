"""The footprint guard estimates a run's memory on the fan-out path it will take (wssim.sim.bulk.choose).

The costs are measured (benchmarks/measure_footprint.py, figures in wssim/sweep/footprint.py); these
tests check how they are combined and what the guard refuses, not the measurements."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wssim.config import load_config
from wssim.sweep import SweepError, footprint, plan

GiB = 2**30
LAPTOP = (12 * GiB, 16 * GiB)  # available, total: a 16 GiB machine with 12 GiB free
HUNDRED_TIMES = ["clients.count=200000000", "clients.rooms.count=60000000"]


def test_the_capstone_is_estimated_on_its_batched_path_and_accepted():
    """2M clients publishing 166,700/s: auto batches it. On the exact path's costs it was estimated at
    11.4 GiB, more than the 10.8 GiB a 16 GiB machine with 12 GiB free may give a run; on the batched
    path's, with its replay window bounding what it holds, it fits."""
    cfg = load_config("capstone")
    e = footprint.estimate(cfg)
    assert e.path == "batched"
    assert e.memory < LAPTOP[0] * footprint.MEMORY_SHARE
    footprint.check_memory(plan(cfg), 1, LAPTOP)


def test_a_hundred_times_the_capstone_is_refused_naming_the_field():
    runs = plan(load_config("capstone", HUNDRED_TIMES))
    with pytest.raises(SweepError) as refused:
        footprint.check_memory(runs, 1, LAPTOP)
    text = str(refused.value)
    assert text.startswith("clients.publish_rate = 0.0833333/s: one run needs about "), text
    assert "on the batched fan-out path" in text and "Nothing was run." in text
    assert "\n" not in text  # one paragraph


def test_the_refusal_through_the_cli_is_one_paragraph_and_exit_2():
    argv = [sys.executable, "-m", "wssim", "validate", "capstone"]
    for o in HUNDRED_TIMES:
        argv += ["--set", o]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr
    assert "clients.publish_rate = 0.0833333/s: one run needs about" in proc.stderr, proc.stderr


def test_the_estimate_takes_the_costs_of_the_path_the_run_takes():
    """The same fleet forced onto the exact path is estimated with the exact path's costs."""
    batched = footprint.estimate(load_config("capstone"))
    exact = footprint.estimate(load_config("capstone", ["simulation.fanout=exact"]))
    assert exact.path == "exact"
    for e in (batched, exact):
        c = footprint.COSTS[e.path]
        cfg = load_config("capstone", [f"simulation.fanout={e.path}"])
        cl = cfg.clients
        clients = cl.count * c.client + 2 * cl.count * c.room_slot + 2_000 * c.slow_consumer
        publications = footprint.held(cfg, cl.publish_rate * cl.count * 600, e.path) * c.publication
        assert e.memory == pytest.approx(footprint.BASE_BYTES + clients + publications)
    assert footprint.COSTS["exact"] != footprint.COSTS["batched"]


def test_a_run_longer_than_its_replay_window_holds_the_window():
    """Past ``max_age`` a room lets go of what aged out: 10 and 20 minutes hold as much (the batched
    path lets go of whole steps); a backplane without history, or a shorter run, counts every
    publication."""
    ten = load_config("capstone")
    twenty = load_config("capstone", ["duration=20min"])
    rate = ten.clients.publish_rate * ten.clients.count
    window = rate * 180 + footprint.AGED_HELD_PER_ROOM * 600_000
    assert footprint.held(ten, rate * 600) == pytest.approx(window)
    assert footprint.held(twenty, rate * 1200) == pytest.approx(window)
    assert footprint.held(ten, rate * 600, "batched") == pytest.approx(rate * 180.05)
    assert footprint.estimate(twenty).memory == pytest.approx(footprint.estimate(ten).memory)
    nats = load_config("capstone", ["backplane.kind=nats"])
    assert footprint.held(nats, rate * 600) == rate * 600
    short = load_config("capstone", ["duration=4min"])
    assert footprint.held(short, rate * 240) == rate * 240
