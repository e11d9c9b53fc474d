"""The gateway's handshake service time and the clients' connect timings, on tiny exact configs."""

from __future__ import annotations

import pytest

from wssim.config import load_config
from wssim.sim import simulate
from wssim.sim.edge import DROPPED
from wssim.sim.gateway import OK, REFUSED
from wssim.sim.simulate import build_world


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


def one_client(outcome: int, **clients):
    """One client connecting at 0 whose every attempt ends in ``outcome``; a negligible backoff."""
    cfg = load_config(
        {
            "name": "tiny",
            "duration": 20,
            "clients": {
                "count": 1,
                "connect_ramp": 0,
                "rooms": {"count": 1, "per_client": 1},
                "reconnect": {"strategy": "constant", "base": "1ms", "cap": "1ms"},
                **clients,
            },
            "gateways": {"count": 1},
            "edge": {"idle_timeout": None},
        }
    )
    w = build_world(cfg)
    w.edge.connect = lambda c, now, resumed=False: (outcome, -1, now)
    return w


def attempts_by(w, t: float) -> int:
    w.env.run(until=t)
    return w.clients.actions


@pytest.mark.parametrize(
    ("outcome", "field", "default"), [(DROPPED, "syn_retry", 1.0), (REFUSED, "refused_cost", 0.1)]
)
def test_failed_attempts_wait_the_configured_time(outcome, field, default):
    w = one_client(outcome)
    assert attempts_by(w, default * 0.9) == 1
    assert attempts_by(w, default * 1.1) == 2
    w = one_client(outcome, **{field: 3.0})
    assert attempts_by(w, 2.9) == 1
    assert attempts_by(w, 3.1) == 2


@pytest.mark.parametrize(("timeout", "abandoned"), [(None, 0), (0.8, 2)])
def test_clients_abandon_handshakes_queued_past_connect_timeout(timeout, abandoned):
    # Three clients at once, 0.5 s per handshake: served at 0.5, 1 and 1.5 s.
    clients = {} if timeout is None else {"connect_timeout": timeout}
    cfg = load_config(
        {
            "name": "tiny",
            "duration": 1.2,
            "clients": {"count": 3, "connect_ramp": 0, "rooms": {"count": 1, "per_client": 1}, **clients},
            "gateways": {"count": 1, "handshake_cost": 0.5},
            "edge": {"idle_timeout": None},
        }
    )
    assert simulate(cfg).metrics["connect_timeouts"] == abandoned


@pytest.mark.parametrize(("burst", "admitted"), [(None, 50), (5, 5), (120, 120)])
def test_admission_burst_is_the_token_bucket_size(burst, admitted):
    """200 clients at once against 50 handshakes/s: the burst, not one second's worth, gets in at t=0."""
    cfg = load_config(
        {
            "name": "burst",
            "duration": 5,
            "clients": {"count": 200, "connect_ramp": 0, "rooms": {"count": 1, "per_client": 1}},
            "gateways": {
                "count": 1,
                "handshake_cost": 0.0001,
                "admission": {"handshake_rate": "50/s", "burst": burst, "retry_after": "1s"},
            },
            "edge": {"idle_timeout": None},
        }
    )
    w = build_world(cfg)
    w.env.run(until=0.5)
    assert w.rec.summary()["admission_rejections"] == 200 - admitted
    w.env.run(until=0.999)
    assert w.clients.connected == admitted


def test_a_connect_ramp_schedules_no_event_per_handshake():
    # 1,000 clients over 1 s on an idle gateway: each handshake (0.1 ms) completes before the next
    # arrival, and the clients' agenda runs arrivals and completions alike without a SimPy event each.
    cfg = load_config(
        {
            "name": "ramp",
            "duration": 2,
            "clients": {"count": 1000, "connect_ramp": 1, "rooms": {"count": 10, "per_client": 1}},
            "gateways": {"count": 1, "handshake_cost": 0.0001},
            "edge": {"idle_timeout": None},
        }
    )
    w = build_world(cfg)
    w.env.run(until=2)
    assert w.clients.connected == 1000
    assert next(w.env._eid) < 100  # SimPy events scheduled in the run
