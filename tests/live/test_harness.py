"""The live harness: the metric contract, the fault timeline, and that everything it starts it stops."""

from __future__ import annotations

import psutil
import pytest
from live_runs import need_server

from reference_impl.driver.harness import LiveRunError, gateway_count, live_backplane, run_live
from wssim.config import load_config
from wssim.metrics import METRICS

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]


def children() -> list[psutil.Process]:
    """Live descendants of this test process (zombies excluded)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def small(kind: str = "none", **over) -> dict:
    cfg = {
        "name": "small",
        "seed": 5,
        "duration": "4s",
        "interval": "500ms",
        "clients": {
            "count": 60,
            "connect_ramp": "1s",
            "publish_rate": "1/s",
            "reconnect": {"strategy": "full_jitter", "base": "300ms", "cap": "1s"},
            "rooms": {"count": 4, "per_client": 1},
        },
        "gateways": {"count": 2, "keepalive": {"ping_interval": "2s"}, "restart_delay": "1s"},
        "backplane": {"kind": kind},
    }
    cfg.update(over)
    return cfg


def test_a_run_reports_every_metric_and_leaves_no_process_behind() -> None:
    before = {p.pid for p in children()}
    progress: list[float] = []
    result = run_live(small("in_memory", gateways={"count": 1}), progress=progress.append, settle=1.0)
    assert set(METRICS) <= set(result.metrics)
    assert result.info["engine"] == "live" and result.info["wall_s"] > 4
    assert not result.info["errors"]
    m = result.metrics
    assert m["connections_peak"] == 60
    assert m["messages_published"] > 100 and m["messages_lost"] == 0
    assert m["deliveries_delivered"] == m["deliveries_expected"] > 0
    assert 0 < m["latency_p50_s"] <= m["latency_p99_s"] < 1.0
    series = set(result.timeseries["series"])
    assert {"handshakes", "deliveries", "connections", "memory_bytes"} <= series
    assert progress[-1] == 1.0 and progress == sorted(progress)
    assert {p.pid for p in children()} - before == set()


def test_a_rolling_deploy_drains_with_close_1001_and_every_client_comes_back() -> None:
    faults = [{"kind": "deploy", "at": "1.5s", "interval": "1s", "drain": True}]
    result, ledger = run_live(small("none", faults=faults), settle=1.5, return_ledger=True)
    assert not result.info["errors"], result.info["errors"]
    labels = [label for _, label in result.info["faults"]]
    assert labels == ["deploy g0", "deploy g1"]
    closes = ledger.events[ledger.events["kind"] == "close"]
    assert len(closes) >= 30 and set(closes["detail"]) == {1001}  # drained, not cut
    # each drained client reconnected, and the fleet ended whole
    opens = ledger.events[ledger.events["kind"] == "open"].groupby("cid").size()
    assert (opens.loc[closes["cid"].unique()] >= 2).all()
    ev = ledger.events[ledger.events["kind"].isin(["open", "close"])]
    assert (ev["kind"] == "open").sum() - (ev["kind"] == "close").sum() == 60


@pytest.mark.parametrize("kind", ["redis_pubsub", "redis_streams"])
def test_a_subscription_outage_loses_only_the_cut_gateways_messages(kind: str) -> None:
    """SIGUSR1 makes gateway g0 drop its backplane connection for 1.5 s; SIGUSR2 restores it.

    On an at-most-once backplane its clients see an offset gap and resume from their last contiguous
    offset, which is answered with a resync (the messages are lost). A durable backplane lets the
    gateway continue from where it was cut, as the simulator does: its clients see no gap at all.
    """
    need_server(kind)
    faults = [{"kind": "subscription_outage", "at": "1.5s", "duration": "1.5s", "gateways": 1}]
    result, ledger = run_live(small(kind, faults=faults, duration="5s"), settle=1.0, return_ledger=True)
    assert not result.info["errors"], result.info["errors"]
    assert [label for _, label in result.info["faults"]] == ["subscription outage", "subscription restored"]
    assert (ledger.events["kind"] == "close").sum() == 0  # nobody was disconnected
    # routing keys c<ID> (snapshot fetches are keyed by their address)
    on_g0 = {int(k[1:]) for k, g in ledger.assignments.items() if g == "g0" and k[1:].isdigit()}
    lost = ledger.lost_by_client
    assert result.metrics["messages_lost"] == lost.sum()
    assert lost.drop(list(on_g0)).sum() == 0  # clients of the other gateway lost nothing
    if kind == "redis_pubsub":
        assert ledger.counters["client_gaps"] >= 0.5 * len(on_g0)  # they noticed the gap
        assert lost.loc[list(on_g0)].gt(0).mean() > 0.5  # most of g0's clients missed something
        assert result.metrics["resyncs"] >= 0.5 * len(on_g0)
    else:  # the gateway caught up from its cursor, in order
        assert ledger.counters.get("client_gaps", 0) == 0 and ledger.order_violations == 0
        assert lost.sum() == 0 and result.metrics["resyncs"] == 0


def test_a_gateway_that_cannot_start_fails_the_run_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("WSSIM_REDIS_URL", f"redis://127.0.0.1:{dead}/0")  # nothing listens there
    before = {p.pid for p in children()}
    with pytest.raises(LiveRunError, match="exited"):
        run_live(small("redis_pubsub"))
    assert {p.pid for p in children()} - before == set()


def test_what_cannot_run_live_is_refused_with_the_reason() -> None:
    with pytest.raises(LiveRunError, match="simulated only"):
        run_live(small("kafka"))
    with pytest.raises(LiveRunError, match="descriptor"):
        run_live(small("none", clients={"count": 50_000}, gateways={"count": 2}))
    with pytest.raises(LiveRunError, match="simulated only"):
        run_live(small("none", transport={"kind": "sse"}))


def test_config_to_process_mapping() -> None:
    assert gateway_count(load_config(small(gateways={"count": 4}))) == 4
    big = load_config(small(gateways={"count": 40}, live={"gateway_processes": 3}))
    assert gateway_count(big) == 3
    assert live_backplane(load_config(small("in_memory", gateways={"count": 1}))) == "in_memory"
    assert live_backplane(load_config(small("in_memory", gateways={"count": 3}))) == "redis_streams"
    assert live_backplane(load_config(small("none"))) == "in_memory"
    assert live_backplane(load_config(small("jetstream"))) == "jetstream"


@pytest.mark.parametrize(
    ("policy", "churn"), [("consistent_hash", True), ("modulo", True), ("modulo", False)]
)
def test_adding_a_gateway_moves_the_clients_that_come_back(policy: str, churn: bool) -> None:
    """Observed from the clients: of those connected when the fourth gateway joins that connect again,
    the share the gateway accepting them (its X-Gateway header) says moved. Consistent hashing: the
    share of the 200 keys on the new gateway's arcs; modulo: 3/4. Without churn nobody connects again:
    nothing moved, the fraction is not measured (where the balancer alone would report 3/4)."""
    from wssim.policies import make_balancer

    add = [{"kind": "add_gateways", "at": "2s"}]
    cfg = small("none", duration="6s", edge={"balancer": policy}, faults=add)
    offline = {"rate": "1/s", "mean": "200ms", "distribution": "fixed"} if churn else {"rate": "0/s"}
    cfg["clients"] = dict(cfg["clients"], count=200, publish_rate="0/s", offline=offline)
    cfg["gateways"] = dict(cfg["gateways"], count=3)
    result = run_live(cfg, settle=1.0)
    assert not result.info["errors"], result.info["errors"]
    moved, back = (result.metrics[k] for k in ("connections_moved_fraction", "pool_change_reconnects"))
    if not churn:
        assert back == 0 and moved != moved
        return
    ring = make_balancer(policy, [f"g{i}" for i in range(4)])
    expected = (
        sum(ring.pick(f"c{c}") == "g3" for c in range(200)) / 200 if policy == "consistent_hash" else 0.75
    )
    # the returning clients are a random sample of the 200 keys: binomial, 4 standard deviations
    assert back > 100
    assert abs(moved - expected) < 4 * (expected * (1 - expected) / back) ** 0.5, (moved, expected, back)
