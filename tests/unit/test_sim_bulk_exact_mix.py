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
