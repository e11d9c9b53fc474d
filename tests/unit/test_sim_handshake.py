"""The gateway's handshake service time and the clients' connect timings, on tiny exact configs."""

from __future__ import annotations

import pytest

from wssim.config import load_config
from wssim.sim.gateway import OK
from wssim.sim.run import build_world


def world(**gateways):
    cfg = load_config(
        {
            "name": "tiny",
            "duration": 5,
            "clients": {"count": 3, "rooms": {"count": 1, "per_client": 1}},
            "gateways": {"count": 1, "handshake_cost": 0.001, **gateways},
            "edge": {"idle_timeout": None},
        }
    )
    return build_world(cfg)


def accept_all(w, n: int) -> list[float]:
    gw = w.gateways[0]
    done = []
    for c in range(n):
        outcome, t = gw.accept(c, 0.0)
        assert outcome == OK
        done.append(t)
    return done


def test_handshake_cost_is_flat_by_default():
    assert accept_all(world(), 3) == pytest.approx([0.001, 0.002, 0.003])


def test_handshake_cost_grows_with_connections_held():
    # Service times 1 ms + 0, 1 ms + 1 ms, 1 ms + 2 ms, served back to back.
    w = world(handshake_cost_per_connection=0.001)
    assert accept_all(w, 3) == pytest.approx([0.001, 0.003, 0.006])
