"""The batched path's share of state with the exact path: the backplane's throughput queue, and the
queued members of bulk rooms."""

from __future__ import annotations

import numpy as np
import pytest

from wssim.config import load_config
from wssim.sim import simulate
from wssim.sim.simulate import build_world

FLEET = {
    "name": "bulk",
    "seed": 2,
    "duration": "20s",
    "warmup": "5s",
    "clients": {
        "count": 2000,
        "connect_ramp": "2s",
        "rooms": {"count": 200, "per_client": 2},
        "publish_rate": "1/s",
        "slow_consumers": {"fraction": 0.02, "drain_rate": "4/s"},
    },
    "gateways": {"count": 3, "send_queue": {"limit": 8, "overflow": "drop_oldest"}},
    "backplane": {"kind": "redis_streams", "topology": "channel_per_room", "capacity": "100000/s"},
    "simulation": {"fanout": "batched"},
}


def test_an_exact_publication_waits_only_behind_the_bulk_ones_published_before_it() -> None:
    w = build_world(load_config(FLEET), batched=True)
    bp = w.backplane
    t = np.array([0.001, 0.002, 0.009])  # a step's bulk publications, each to the 3 gateways
    done = w.batched.arrivals(t, np.ones((3, 3), dtype=bool))
    one = 1 / bp.capacity
    assert bp.reserve(1, 0.0025) == pytest.approx(0.0025 + one)  # the two before it are through
    assert bp.reserve(1, 0.00902) == pytest.approx(0.009 + 3 * one + one)  # behind the third
    assert len(done) == 3


def test_rooms_with_slow_members_are_bulk_and_their_queues_get_every_publication() -> None:
    run = simulate(load_config(FLEET))
    world_pubs = run.metrics["messages_published"]
    assert run.metrics["messages_dropped_overflow"] > 0  # the slow members' queues were offered them
    assert run.info["bulk_publications"] / world_pubs > 0.99
