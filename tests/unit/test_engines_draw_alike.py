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
def test_same_rooms_slow_consumers_and_stalls_for_every_client(rooms, tmp_path) -> None:
    cfg = config(**rooms)
    sim = build_world(cfg, replication=2).clients
    plans, _ = LiveRun(cfg, 2, tmp_path, None).plan_clients()
    k = sim.k
    assert len(plans) == sim.total == 530
    for p in plans:
        assert p.rooms == [room_name(r) for r in sim.rooms[p.cid * k : p.cid * k + k]]
        assert p.slow == bool(sim.slow[p.cid])
    consumers = build_world(cfg, replication=2).consumers
    phases = {p.cid: p.stall_phase for p in plans if p.slow}
    assert phases and phases == {c: st.phase for c, st in consumers.states.items()}
    assert all(0 <= ph < 4.0 for ph in phases.values())  # one period: 3 s reading + 1 s stall


def test_both_engines_build_the_same_policies(tmp_path) -> None:
    cfg = load_config(config().model_dump(mode="json"), ["clients.drain_rate=50/s"])
    cfg.live.time_scale = 1.0
    w = build_world(cfg)
    spec = LiveRun(cfg, 0, tmp_path, None).worker_specs(*LiveRun(cfg, 0, tmp_path, None).plan_clients())[0]
    assert state(spec.reconnect) == state(w.clients.reconnector)
    assert state(spec.slow_reader) == state(w.consumers.slow_reader)
    assert state(spec.reader) == state(w.consumers.reader)
    assert (spec.reader.rate, spec.slow_reader.stall_every) == (50.0, 3.0)


def state(policy) -> dict:
    """A policy's settings, nested policies by their own settings."""
    out = {}
    for name in policy.__slots__:
        value = getattr(policy, name)
        out[name] = state(value) if hasattr(value, "__slots__") else value
    return out
