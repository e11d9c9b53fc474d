"""The batched path's publications and the exact path's share the backplane's throughput queue."""

from __future__ import annotations

import numpy as np
import pytest

from wssim.config import load_config
from wssim.sim.simulate import build_world

FLEET = {
    "name": "bulk-mix",
    "duration": "1s",
    "clients": {"count": 10, "rooms": {"count": 2}, "publish_rate": "1/s"},
    "gateways": {"count": 2},
    "backplane": {"kind": "redis_pubsub", "capacity": "1000/s", "latency": {"median": 0, "p99": 0}},
    "simulation": {"fanout": "batched"},
}


def test_an_exact_publication_queues_behind_the_batched_ones_before_it_only() -> None:
    """Two batched publications of a step at 0 and 8 ms, one delivery each at 1000/s: through at 1
    and 9 ms. An exact one at 2 ms finds the queue free (through at 3 ms), not behind the one at 8 ms;
    the next step's batched ones queue behind both."""
    w = build_world(load_config(FLEET), batched=True)
    bp = w.backplane
    reach = np.array([[True, True], [False, False]])
    assert w.batched.arrivals(np.array([0.0, 0.008]), reach) == pytest.approx([0.001, 0.009])
    assert bp.reserve(1, 0.002) == pytest.approx(0.003)
    assert bp.reserve(1, 0.0085) == pytest.approx(0.010)  # behind the exact one and the one at 8 ms
    assert w.batched.arrivals(np.array([0.0095]), reach[:, :1]) == pytest.approx([0.011])


def test_a_batched_job_on_an_idle_cpu_starts_at_its_arrival_and_holds_no_frame() -> None:
    """Jobs far apart on an idle CPU (these arrival times make Lindley's ``done − service`` come out
    one rounding step after the arrival of the third): none waits, none holds its frames in memory."""
    w = build_world(load_config(FLEET), batched=True)
    b, gw = w.batched, w.gateways[0]
    peak = gw.peak_memory
    n = 3
    arr = np.array([0.46, 1.748, 1.918])
    job = {"g": np.zeros(n, dtype=np.int64), "arr": arr, "work": np.full(n, 3.3e-5)}
    job |= {"fast": np.full(n, 5), "tpub": arr, "pub": np.arange(n), "room": np.zeros(n, dtype=np.int64)}
    b.jobs.add(job | {"off": np.arange(1, n + 1)})
    b.settle(2.0)
    assert gw.peak_memory == peak  # no frame held
    assert gw.cpu.wait_sum == 0.0 and gw.cpu.backlog_max == 0.0
