"""Behaviour of the simulator's mechanisms on small deterministic configs (one replication each)."""

from __future__ import annotations

import math

import pytest

from wssim.config import load_config
from wssim.sim import simulate

BASE = {
    "name": "feature",
    "seed": 3,
    "duration": "40s",
    "clients": {
        "count": 20,
        "connect_ramp": "1s",
        "rooms": {"count": 1, "per_client": 1},
        "reconnect": {"strategy": "full_jitter", "base": "1s", "cap": "5s"},
    },
    "gateways": {"count": 1},
    "edge": {"idle_timeout": None},
    "backplane": {"kind": "in_memory"},
}


def run(*overrides: str, **extra):
    base = dict(BASE, **extra)
    return simulate(load_config(base, list(overrides))).metrics


SLOW = (
    "clients.slow_consumers.fraction=1",
    "clients.slow_consumers.drain_rate=1/s",
    "clients.publish_rate=1/s",
    "clients.message_size=10KiB",
    "gateways.memory=300MiB",
    "gateways.base_memory=256MiB",
    "alerts.send_queue_depth_p99=50",
)


def test_unbounded_queues_oom_after_the_alert():
    m = run(*SLOW, "gateways.send_queue.overflow=unbounded")
    assert m["gateway_oom_crashes"] >= 1
    assert m["alert_lead_time_s"] > 0
    assert m["send_queue_depth_max"] > 100


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest", "conflate", "credit"])
def test_bounded_queues_keep_memory_flat(policy):
    m = run(*SLOW, f"gateways.send_queue.overflow={policy}", "gateways.send_queue.limit=50")
    assert m["gateway_oom_crashes"] == 0
    assert m["send_queue_depth_max"] <= 50
    assert m["messages_dropped_overflow"] + m["messages_conflated"] > 0


def test_conflate_replaces_queued_state_of_the_same_key():
    m = run(*SLOW, "gateways.send_queue.overflow=conflate", "clients.conflate_keys=1")
    assert m["messages_conflated"] > 0
    assert m["messages_dropped_overflow"] == 0
    assert m["send_queue_depth_max"] == 1


def test_block_policy_holds_messages_back_without_losing_them():
    m = run(*SLOW, "gateways.send_queue.overflow=block", "gateways.send_queue.limit=10")
    assert m["send_queue_blocked"] > 0
    assert m["messages_lost"] == 0
    assert m["send_queue_depth_max"] <= 10


def test_disconnect_policy_closes_slow_consumers_who_resume():
    m = run(*SLOW, "gateways.send_queue.overflow=disconnect", "gateways.send_queue.limit=20")
    assert m["slow_consumer_disconnects"] > 0
    assert m["resume_attempts"] > 0
    assert m["gateway_oom_crashes"] == 0


def test_gap_notice_makes_clients_resync():
    on = run(*SLOW, "gateways.send_queue.limit=20", "gateways.send_queue.gap_notice=true")
    off = run(*SLOW, "gateways.send_queue.limit=20", "gateways.send_queue.gap_notice=false")
    assert on["resyncs"] > 0
    assert off["resyncs"] == 0
    assert on["messages_lost"] == on["messages_dropped_overflow"] > 0


OUTAGE = (
    "clients.publish_rate=1/s",
    "clients.count=10",
)


@pytest.mark.parametrize(
    ("kind", "loses"), [("redis_pubsub", True), ("nats", True), ("redis_streams", False)]
)
def test_subscription_outage_semantics(kind, loses):
    m = run(
        *OUTAGE,
        f"backplane.kind={kind}",
        faults=[{"kind": "subscription_outage", "at": "10s", "duration": "5s", "gateways": 1}],
    )
    if loses:
        assert m["messages_lost"] > 0
        assert m["resyncs"] > 0
    else:
        assert m["messages_lost"] == 0
        assert m["deliveries_delivered"] == pytest.approx(m["deliveries_expected"], rel=0.01)


def test_an_outage_open_at_the_end_counts_what_at_most_once_never_sends():
    """Members of a gateway still cut off when the run ends have a permanent gap: counted as lost."""
    faults = [{"kind": "subscription_outage", "at": "10s", "duration": "1h", "gateways": 1}]
    instant = ("backplane.latency.median=0s", "backplane.latency.p99=0s")
    m = run(*OUTAGE, *instant, "backplane.kind=redis_pubsub", faults=faults)
    assert m["messages_lost"] > 0
    assert m["messages_lost"] == m["deliveries_expected"] - m["deliveries_delivered"]


def test_backplane_outage_loses_history_unless_durable():
    faults = [
        {"kind": "backplane_outage", "at": "10s", "duration": "3s"},
        {"kind": "gateway_crash", "at": "20s", "gateway": 0},
    ]
    lost = run(*OUTAGE, "backplane.kind=redis_streams", "gateways.restart_delay=0.5s", faults=faults)
    kept = run(*OUTAGE, "backplane.kind=jetstream", "gateways.restart_delay=0.5s", faults=faults)
    assert lost["publishes_failed"] > 0
    assert kept["replay_misses"] == 0
    assert kept["replay_hits"] > 0


def test_half_open_sockets_are_reclaimed_by_keepalive():
    off = ("clients.offline.rate=1/min", "clients.offline.half_open_fraction=1", "clients.offline.mean=5s")
    pinged = run(*off, "gateways.keepalive.ping_interval=5s", "duration=120s")
    silent = run(*off, "gateways.keepalive.ping_interval=null", "duration=120s")
    assert pinged["half_open_disappearances"] > 0
    assert pinged["dead_peer_reclaims"] > 0
    assert pinged["half_open_leaked"] < pinged["half_open_disappearances"]
    assert silent.get("dead_peer_reclaims", 0) == 0
    assert silent["half_open_leaked"] == silent["half_open_disappearances"]


def test_half_open_sockets_hold_what_is_written_to_them_until_the_gateway_runs_out():
    """Deliveries to dead peers cost memory: without pings, clients vanishing without a FIN (offline
    episodes) keep receiving into their unbounded queues until the gateway runs out of memory."""
    traffic = (
        "clients.offline.rate=2/min",
        "clients.offline.mean=200s",
        "clients.publish_rate=2/s",
        "clients.message_size=50KiB",
        "gateways.memory=300MiB",
        "gateways.base_memory=256MiB",
        "gateways.keepalive.ping_interval=null",
        "gateways.send_queue.overflow=unbounded",
        "duration=120s",
    )
    dead = run(*traffic, "clients.offline.half_open_fraction=1")
    closed = run(*traffic, "clients.offline.half_open_fraction=0")
    assert dead["deliveries_to_dead_peers"] > 0
    assert dead["gateway_oom_crashes"] >= 1
    assert closed["gateway_oom_crashes"] == 0
    # A bounded queue that disconnects on overflow closes the dead peer instead.
    bounded = run(
        *traffic,
        "clients.offline.half_open_fraction=1",
        "gateways.send_queue.overflow=disconnect",
        "gateways.send_queue.limit=50",
    )
    assert bounded["gateway_oom_crashes"] == 0
    assert bounded["dead_peer_overflow_closes"] > 0


def test_graceful_drain_spreads_the_herd():
    common = (
        "clients.count=1000",
        "gateways.count=2",
        "clients.reconnect.strategy=none",
        "duration=90s",
        "gateways.drain_timeout=20s",
        "warmup=5s",
    )
    drain = run(*common, faults=[{"kind": "deploy", "at": "10s", "drain": True, "interval": "40s"}])
    kill = run(*common, faults=[{"kind": "deploy", "at": "10s", "drain": False, "interval": "40s"}])
    assert drain["drain_closes"] > 0
    assert kill["peak_handshake_rate"] > 5 * drain["peak_handshake_rate"]


def test_admission_control_answers_503_and_clients_get_in_later():
    m = run(
        "clients.count=200",
        "clients.connect_ramp=0s",
        "gateways.admission.handshake_rate=50/s",
        "gateways.admission.retry_after=1s",
    )
    assert m["admission_rejections"] > 0
    assert m["connections_end"] == 200


def test_l7_balancer_queues_tls_terminations():
    l4 = run("clients.count=100", "clients.connect_ramp=0s", "edge.layer=L4", "duration=5s")
    l7 = run(
        "clients.count=100",
        "clients.connect_ramp=0s",
        "edge.layer=L7",
        "edge.tls_handshake_cost=20ms",
        "duration=1s",
    )
    assert l4["connections_end"] == 100
    assert l7["l7_tls_terminations"] == 100
    assert l7["connections_end"] == 49  # 20 ms each: 1 s serves 50, the 50th finishes at exactly 1.0003 s


def test_kafka_latency_is_milliseconds():
    m = run("clients.publish_rate=1/s", "backplane.kind=kafka")
    assert 3e-3 < m["latency_p50_s"] < 20e-3
    assert m["latency_p99_s"] > m["latency_p50_s"]


def test_saturated_backplane_queues_deliveries():
    free = run("clients.publish_rate=2/s", "backplane.kind=nats", "gateways.count=4", "clients.count=40")
    tight = run(
        "clients.publish_rate=2/s",
        "backplane.kind=nats",
        "backplane.capacity=300/s",
        "gateways.count=4",
        "clients.count=40",
    )
    assert tight["latency_p50_s"] > 10 * free["latency_p50_s"]


def test_replay_window_misses_long_offline_periods():
    off = (
        "clients.publish_rate=1/s",
        "clients.offline.rate=2/min",
        "clients.offline.mean=20s",
        "duration=120s",
    )
    short = run(*off, "backplane.kind=redis_streams", "backplane.replay.max_age=2s")
    long = run(*off, "backplane.kind=redis_streams", "backplane.replay.max_age=10min")
    cold = run(*off, "backplane.kind=redis_streams", "clients.resume=false")
    assert short["replay_misses"] > 0 and short["messages_lost"] > 0
    assert long["replay_misses"] == 0 and long["messages_lost"] == 0
    assert cold["resume_attempts"] == 0 and cold["messages_lost"] > 0


def test_no_backplane_delivers_only_locally():
    m = run("clients.publish_rate=1/s", "gateways.count=4", "backplane.kind=none", "clients.count=40")
    assert m["messages_lost"] > 0
    assert m["deliveries_delivered"] < m["deliveries_expected"]
    assert not math.isnan(m["cost_per_month_usd"])


def test_direct_messages_are_targeted_by_the_registry():
    m = run(
        "clients.publish_rate=1/s",
        "clients.direct_fraction=1",
        "gateways.count=4",
        "backplane.topology=registry",
    )
    assert m["direct_messages"] == m["messages_published"] > 0
    assert m["backplane_deliveries_discarded"] == 0
    assert m["deliveries_delivered"] == m["deliveries_expected"]


def test_managed_service_limit():
    m = run("backplane.kind=managed", "backplane.managed.max_connections=15", "duration=5s")
    assert m["connections_peak"] == 15
    assert m["admission_rejections"] > 0


def test_draining_gateways_keep_serving_until_their_clients_leave():
    m = run(
        "clients.count=200",
        "gateways.count=2",
        "clients.publish_rate=1/s",
        "clients.rooms.count=4",
        "duration=75s",  # the last drain ends at 60 s: everyone is back well before the end
        faults=[{"kind": "deploy", "at": "10s", "drain": True, "interval": "20s"}],
    )
    assert m["drain_closes"] > 0
    assert m["messages_lost"] == 0
    assert m["deliveries_delivered"] == m["deliveries_expected"]


def test_clients_abandon_handshakes_queued_too_long():
    m = run(
        "clients.count=300",
        "clients.connect_ramp=0s",
        "gateways.handshake_cost=50ms",  # 300 × 50 ms = 15 s of queue: the tail times out
        "duration=30s",
    )
    assert m["connect_timeouts"] > 0
    assert m["reconnect_attempts"] >= m["connect_timeouts"]
