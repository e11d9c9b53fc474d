"""Exact event traces of tiny deterministic configs."""

from __future__ import annotations

import math

import pytest

from wssim.config import load_config
from wssim.sim import simulate
from wssim.sim.clients import CONNECTED
from wssim.sim.simulate import build_world

FREE_FANOUT = {"frame": 0, "per_byte": 0, "backplane_message": 0, "ping": 0}


def tiny(**over):
    base = {
        "name": "tiny",
        "duration": 20,
        "clients": {
            "count": 3,
            "connect_ramp": 3,
            "rooms": {"count": 1, "per_client": 1},
            "reconnect": {"strategy": "constant", "base": 1, "cap": 1},
        },
        # Delivering and pinging cost no CPU here (the CPU's own traces are in test_sim_cpu.py).
        "gateways": {"count": 1, "handshake_cost": 0.001, "cpu": FREE_FANOUT},
        "edge": {"idle_timeout": None},
        "backplane": {"kind": "in_memory"},
    }
    for path, value in over.items():
        node = base
        parts = path.split("__")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return load_config(base)


def test_ramp_connects_at_exact_times():
    w = build_world(tiny())
    times = []
    w.env.run(until=0.5)
    times.append(w.clients.connected)
    w.env.run(until=1.0005)
    times.append(w.clients.connected)
    w.env.run(until=1.0015)
    times.append(w.clients.connected)
    w.env.run(until=2.5)
    times.append(w.clients.connected)
    # Client i arrives at i s and is established one handshake (1 ms) later.
    assert times == [1, 1, 2, 3]
    assert list(w.clients.state) == [CONNECTED] * 3


def test_publish_reaches_every_member_once():
    w = build_world(tiny())
    w.env.run(until=5)
    for _ in range(4):
        w.backplane.publish(0, w.env.now, 0)
    w.observer.finish()
    m = w.rec.summary()
    assert m["messages_published"] == 4
    assert m["deliveries_expected"] == 12
    assert m["deliveries_delivered"] == 12
    assert m["backplane_deliveries"] == 4
    assert m["messages_lost"] == 0
    assert m["latency_p50_s"] == 0.0


def test_handshake_queue_serves_a_burst_in_order():
    w = build_world(tiny(clients__connect_ramp=0, gateways__handshake_cost=0.01))
    w.env.run(until=0.015)
    assert w.clients.connected == 1
    w.env.run(until=0.025)
    assert w.clients.connected == 2
    w.env.run(until=0.035)
    assert w.clients.connected == 3


def test_crash_reconnects_after_constant_backoff_and_resumes():
    cfg = tiny(
        gateways__count=2,
        gateways__restart_delay=100,
        edge__balancer="round_robin",
        edge__health_check=None,  # the crashed gateway leaves the pool at once
        faults=[{"kind": "gateway_crash", "at": 10, "gateway": 0}],
    )
    w = build_world(cfg)
    w.env.run(until=9)
    on0 = sorted(w.gateways[0].conns)
    assert on0 == [0, 2]  # round robin: 0 -> gw0, 1 -> gw1, 2 -> gw0
    for _ in range(3):
        w.backplane.publish(0, w.env.now, 1)
    w.env.run(until=10.5)
    assert w.clients.connected == 3 - len(on0)
    w.backplane.publish(0, w.env.now, 1)  # missed by the crashed clients, replayed on resume
    w.env.run(until=11.0005)
    assert w.clients.connected == 3 - len(on0)
    w.env.run(until=11.0015 + 0.001 * len(on0))
    assert w.clients.connected == 3
    assert sorted(w.gateways[1].conns) == [0, 1, 2]
    w.observer.finish()
    m = w.rec.summary()
    assert m["reconnect_attempts"] == len(on0)
    assert m["resume_attempts"] == len(on0)
    assert m["replay_hits"] == len(on0)
    assert m["messages_replayed"] == len(on0)
    assert m["deliveries_delivered"] == m["deliveries_expected"] == 12
    assert m["herd_convergence_s"] == pytest.approx(1.0 + 0.001 * len(on0), abs=1e-9)


def test_fd_limit_rejects_exactly_beyond_the_limit():
    r = simulate(tiny(clients__count=8, gateways__fd_limit=5, clients__reconnect={"max_attempts": 1}))
    assert r.metrics["connections_peak"] == 5
    assert r.metrics["emfile_rejections"] == 6  # 3 refused at first, and again on their one retry


def test_conntrack_drops_syns_when_full():
    r = simulate(tiny(clients__count=6, edge__conntrack_max=4, clients__reconnect={"max_attempts": 1}))
    assert r.metrics["connections_peak"] == 4
    assert r.metrics["conntrack_drops"] == 4  # 2 dropped, and again on their one retry


@pytest.mark.parametrize(("ping", "cuts"), [(2, False), (5, True), (None, True)])
def test_idle_timeout_cuts_only_without_pings(ping, cuts):
    r = simulate(tiny(edge__idle_timeout=5, gateways__keepalive={"ping_interval": ping}))
    n = r.metrics["idle_timeout_disconnects"]
    assert (n > 0) == cuts


def test_deterministic_per_replication():
    cfg = load_config("quickstart", ["clients.count=1000", "duration=70s"])
    a, b = simulate(cfg, 0), simulate(cfg, 0)
    c = simulate(cfg, 1)
    same = {k: v for k, v in a.metrics.items() if not (isinstance(v, float) and math.isnan(v))}
    assert same == {k: b.metrics[k] for k in same}
    assert a.timeseries.equals(b.timeseries)
    assert a.metrics["messages_published"] != c.metrics["messages_published"]


@pytest.mark.parametrize("kind", ["in_memory", "redis_streams", "kafka"])
def test_every_owed_delivery_is_delivered_lost_or_pending(kind):
    cfg = load_config(
        {
            "name": "accounting",
            "duration": "30s",
            "clients": {"count": 200, "connect_ramp": "3s", "publish_rate": "1/s", "rooms": {"count": 5}},
            "gateways": {"count": 4},
            "backplane": {"kind": kind},
            "faults": [{"kind": "gateway_crash", "at": "10s", "gateway": 1}],
        }
    )
    w = build_world(cfg)
    w.end = cfg.duration + 1  # the run ends when everything in flight has landed
    w.env.run(until=cfg.duration)
    w.traffic.rate = 0.0  # stop publishing, let everything in flight land
    w.env.run(until=cfg.duration + 1)
    m = w.rec.summary()
    assert m["replay_hits"] > 0
    unique = m["deliveries_delivered"] - m["messages_duplicated"]
    assert unique + m["messages_lost"] == m["deliveries_expected"]


def test_idle_connections_cost_no_events():
    """Keepalive and idle timers are computed, not scheduled: an idle hour costs only the sampler and
    the balancer's health-check rounds (one event per node and round, whatever the client count)."""

    def events(duration, clients=2000):
        cfg = tiny(
            clients__count=clients,
            duration=duration,
            interval=60,
            edge__idle_timeout=60,
            edge__nodes=2,
            edge__health_check={"interval": 5},
            gateways__keepalive={"ping_interval": 25},
        )
        w = build_world(cfg)
        w.env.run(until=cfg.duration)
        return next(w.env._eid)  # events scheduled so far (SimPy's event counter)

    short, long = events(120), events(3600)
    assert long - short <= (3600 - 120) / 60 + 2 * (3600 - 120) / 5 + 2
    assert events(3600, 20_000) - events(120, 20_000) == long - short


@pytest.mark.slow
def test_herd_at_100k_costs_two_events_per_client_action():
    """100,000 clients on 20 gateways, a crash and the herd: every client action costs at most two
    events (the attempt and its handshake completing), whatever the fleet size."""
    cfg = load_config(
        {
            "name": "herd-100k",
            "duration": "150s",
            "interval": "1s",
            "clients": {"count": 100_000, "connect_ramp": "60s", "rooms": {"count": 1000}},
            "edge": {"conntrack_max": None},
            "gateways": {"count": 20},
            "faults": [{"kind": "gateway_crash", "at": "90s", "gateway": 3}],
        }
    )
    r = simulate(cfg)
    m = r.metrics
    assert m["connections_peak"] == 100_000
    assert m["connections_end"] == 100_000
    assert 0 < m["herd_convergence_s"] < 30
    assert m["reconnect_attempts"] >= 100_000 / 20 * 0.8
    actions = r.info["connect_actions"]
    assert r.info["events"] <= 2 * actions + cfg.duration / cfg.interval + 1000
