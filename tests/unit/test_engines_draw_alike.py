"""The simulator and the live harness give every client id the same draws from the named streams."""

from __future__ import annotations

import pytest

from reference_impl.driver.harness import LiveRun
from reference_impl.driver.loadgen import room_name
from wssim.config import load_config
from wssim.sim.simulate import build_world


def config(**rooms):
    return load_config(
        {
            "name": "alike",
            "seed": 13,
            "duration": "10s",
            "clients": {
                "count": 500,
                "rooms": {"count": 40, **rooms},
                "slow_consumers": {"fraction": 0.2, "stall_every": "3s", "stall_duration": "1s"},
            },
            "gateways": {"count": 2},
            "backplane": {"kind": "redis_streams"},
            "faults": [{"kind": "spike", "at": "5s", "duration": "1s", "connect_clients": 30}],
        }
    )


@pytest.mark.parametrize(
    "rooms",
    [{"per_client": 1}, {"per_client": 3, "popularity": "zipf"}, {"per_client": 40, "popularity": "zipf"}],
)
def test_same_rooms_and_slow_consumers_for_every_client(rooms, tmp_path) -> None:
    cfg = config(**rooms)
    sim = build_world(cfg, replication=2).clients
    plans, _ = LiveRun(cfg, 2, tmp_path, None).plan_clients()
    k = sim.k
    assert len(plans) == sim.total == 530
    for p in plans:
        assert p.rooms == [room_name(r) for r in sim.rooms[p.cid * k : p.cid * k + k]]
        assert p.slow == bool(sim.slow[p.cid])
