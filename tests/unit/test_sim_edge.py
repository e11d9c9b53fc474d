"""The edge: health checks take time, and every table and TLS server has the scope of its node."""

from __future__ import annotations

import pytest

from wssim.config import load_config
from wssim.sim import simulate
from wssim.sim.gateway import UP
from wssim.sim.simulate import build_world

BASE = {
    "name": "edge",
    "seed": 5,
    "duration": "40s",
    "clients": {
        "count": 200,
        "connect_ramp": "2s",
        "rooms": {"count": 1, "per_client": 1},
        "reconnect": {"strategy": "full_jitter", "base": "200ms", "cap": "5s"},
    },
    "gateways": {"count": 4, "restart_delay": "10s"},
    "edge": {"idle_timeout": None, "health_check": {"interval": "1s", "fall": 3, "rise": 2}},
    "backplane": {"kind": "in_memory"},
    "faults": [{"kind": "gateway_crash", "at": "10s", "gateway": 0}],
}


def run(*overrides: str) -> dict[str, float]:
    return simulate(load_config(BASE, list(overrides))).metrics


def test_a_crashed_gateway_stays_in_the_pool_until_fall_probes_failed() -> None:
    """Detection takes between (fall − 1) and fall intervals; meanwhile the balancer keeps sending the
    crashed gateway's clients back to it, they are refused and back off further: the herd grows."""
    m = run()
    assert 2.0 <= m["health_check_detection_s"] <= 3.0
    assert m["connects_to_dead_gateway"] > 0
    instant = run("edge.health_check=null")
    assert instant["connects_to_dead_gateway"] == 0
    assert m["reconnect_attempts"] > instant["reconnect_attempts"]
    assert m["herd_convergence_s"] > m["health_check_detection_s"]


def test_a_restarted_gateway_rejoins_after_rise_answered_probes() -> None:
    m = run()
    assert 1.0 <= m["health_check_rejoin_s"] <= 2.0
    assert m["health_check_readds"] == 1
    w = build_world(load_config(BASE))
    w.env.run(until=20.5)  # restarted at 20 s, not yet probed twice
    assert w.gateways[0].state == UP and 0 not in w.edge.pool()
    w.env.run(until=22.5)
    assert 0 in w.edge.pool()


def test_a_passive_check_reroutes_the_first_refused_connection() -> None:
    m = run("edge.health_check.passive=true", "edge.nodes=2")
    assert m["connects_to_dead_gateway"] == 0
    assert m["passive_health_removals"] == 2  # once per balancer node
    assert m["health_check_detection_s"] < 1.0


def test_a_gateway_whose_accept_queue_outruns_the_probe_timeout_fails_its_checks() -> None:
    """Probes queue behind handshakes: an overloaded gateway looks dead and is taken out of the pool."""
    m = run(
        "gateways.count=1",
        "faults=[]",
        "clients.count=3000",
        "clients.connect_ramp=0s",
        "gateways.handshake_cost=2ms",  # 6 s of handshakes queued at once
        "edge.health_check.timeout=500ms",
    )
    assert m["health_check_removals"] >= 1
    assert m["connections_peak"] == 3000  # it comes back once the queue has drained


def test_a_draining_gateway_answers_503_until_the_checks_notice() -> None:
    faults = "faults=[{kind: deploy, at: 10s, drain: true, interval: 5s}]"
    m = run(faults, "gateways.drain_timeout=2s")
    assert m["admission_rejections"] > 0  # reconnects the balancer still sent to a draining gateway
    assert run(faults, "gateways.drain_timeout=2s", "edge.health_check=null")["admission_rejections"] == 0


SCOPE = (
    "faults=[]",
    "clients.connect_ramp=1s",
    "clients.reconnect.max_attempts=1",
    "edge.conntrack_max=null",
    "edge.health_check=null",
)


@pytest.mark.parametrize("gateways", [2, 8])
def test_conntrack_is_one_table_per_gateway_host(gateways: int) -> None:
    m = run(*SCOPE, "clients.count=4000", f"gateways.count={gateways}", "gateways.conntrack_max=100")
    assert m["connections_peak"] == 100 * gateways
    assert m["conntrack_drops"] > 0


@pytest.mark.parametrize("nodes", [1, 3])
def test_conntrack_is_one_table_per_balancer_node(nodes: int) -> None:
    m = run(*SCOPE, "clients.count=1000", f"edge.nodes={nodes}", "edge.conntrack_max=100")
    assert m["connections_peak"] == 100 * nodes


@pytest.mark.parametrize("nodes", [1, 4])
def test_each_l7_node_terminates_tls_on_its_own_cpu(nodes: int) -> None:
    """400 TLS handshakes of 10 ms at once: one node needs 4 s, four nodes 1 s."""
    l7 = ("edge.layer=L7", "edge.tls_handshake_cost=10ms", f"edge.nodes={nodes}", "gateways.handshake_cost=0")
    cfg = load_config(BASE, [*SCOPE, "clients.count=400", "clients.connect_ramp=0s", *l7])
    w = build_world(cfg)
    w.env.run(until=1.001)
    assert w.clients.connected == pytest.approx(400 / 4 * nodes, abs=1)


def test_tls_memory_is_held_where_tls_terminates() -> None:
    kib = 1024
    l4 = run(*SCOPE, "gateways.count=1", "clients.count=100")
    l7 = run(*SCOPE, "gateways.count=1", "clients.count=100", "edge.layer=L7", "edge.nodes=2")
    assert l4["gateway_memory_peak_bytes"] - l7["gateway_memory_peak_bytes"] == 100 * 20 * kib
    assert l4["edge_memory_peak_bytes"] == 0
    assert l7["edge_memory_peak_bytes"] == 50 * (20 + 2 * 8) * kib  # TLS + both sockets, per node


def test_the_live_balancer_gets_the_same_health_check_numbers() -> None:
    """The live harness passes ``edge.health_check`` to the live balancer, durations in wall seconds."""
    from reference_impl.driver.harness import balancer_options

    opts = balancer_options(load_config(BASE, ["live.time_scale=2", "edge.health_check.timeout=300ms"]))

    def value(flag: str) -> str:
        return opts[opts.index(flag) + 1]

    assert (value("--check-interval"), value("--check-timeout")) == ("2.0", "0.6")
    assert (value("--fall"), value("--rise"), opts[-1]) == ("3", "2", "--no-passive")
    assert value("--ring-salt") == ""
    salted = balancer_options(load_config(BASE, ["edge.ring_placement=per_replication"]), replication=3)
    assert salted[salted.index("--ring-salt") + 1] == "r3/"


def test_moved_fraction_is_observed_where_the_clients_really_land() -> None:
    """After a crash and restart, the crashed gateway's clients stay where they reconnected; a scale-out
    at 25 s, then every client drops for a second at 26 s and comes back through the balancer. The
    moved share is what the returning clients did: exactly the share whose new ring pick differs from
    where they really were (comparing the old balancer with the new one would count only the new
    gateway's share of the ring)."""
    from wssim.policies import HashRing
    from wssim.sim.clients import CONNECTED

    faults = [
        {"kind": "gateway_crash", "at": "5s", "gateway": 0},
        {"kind": "add_gateways", "at": "25s", "count": 1},
        {"kind": "half_open", "at": "26s", "fraction": 1.0, "duration": "1s"},
    ]
    cfg = load_config(BASE, ["clients.count=2000", "edge.health_check=null", "gateways.restart_delay=2s"])
    cfg = cfg.model_copy(update={"faults": load_config({"faults": faults}).faults})
    w = build_world(cfg)
    w.env.run(until=24.9)
    on = {c: w.clients.gw[c] for c in range(2000) if w.clients.state[c] == CONNECTED}
    before = HashRing([f"g{g}" for g in range(4)], 160)
    after = HashRing([f"g{g}" for g in range(5)], 160)
    really = sum(after.pick(f"c{c}") != f"g{g}" for c, g in on.items())
    by_balancers = sum(after.pick(f"c{c}") != before.pick(f"c{c}") for c in on) / len(on)
    w.env.run(until=cfg.duration)
    w.observer.finish()
    m = w.rec.summary()
    assert m["pool_change_reconnects"] == len(on)  # every client connected at 25 s came back
    assert m["connections_moved_fraction"] == really / len(on)
    assert m["connections_moved_fraction"] > by_balancers + 0.1
