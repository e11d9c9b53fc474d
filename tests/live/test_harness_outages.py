"""A backplane outage, live: the private server is killed and restarted (Redis without persistence)."""

from __future__ import annotations

import os

import pytest
from live_runs import need_server
from test_harness import small

from reference_impl.driver.harness import run_live

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]

OUTAGE = [{"kind": "backplane_outage", "at": "1.5s", "duration": "1.5s"}]


@pytest.mark.parametrize("kind", ["redis_streams", "redis_pubsub"])
def test_a_backplane_restart_costs_the_at_most_once_kind_only(kind: str) -> None:
    need_server(kind)
    if "WSSIM_REDIS_URL" in os.environ:
        pytest.skip("an external Redis cannot be restarted by the harness")
    result, ledger = run_live(small(kind, faults=OUTAGE, duration="6s"), settle=1.5, return_ledger=True)
    assert not result.info["errors"], result.info["errors"]
    assert [label for _, label in result.info["faults"]] == ["backplane down", "backplane restarted"]
    assert ledger.counters.get("publish_errors", 0) > 0  # the server really was gone
    assert (ledger.events["kind"] == "close").sum() == 0  # clients never noticed at the socket level
    lost = result.metrics["messages_lost"]
    if kind == "redis_streams":
        assert lost == 0  # the gateways read on from their stream cursors once Redis is back
    else:
        assert lost > 0  # published before the gateways re-subscribed: gone


@pytest.mark.parametrize(("ping", "cut"), [("400ms", False), (None, True)])
def test_the_balancer_idle_timeout_cuts_silent_sockets_unless_the_gateway_pings(ping, cut: bool) -> None:
    """No traffic at all: a 1 s idle timeout on the path; pings every 0.4 s keep every socket open."""
    cfg = small("none", duration="4s", edge={"idle_timeout": "1s"})
    cfg["clients"] = dict(cfg["clients"], publish_rate="0/s")
    cfg["gateways"] = dict(cfg["gateways"], keepalive={"ping_interval": ping})
    result, ledger = run_live(cfg, settle=0.5, return_ledger=True)
    cuts = result.metrics["idle_timeout_disconnects"]
    closes = ledger.events[ledger.events["kind"] == "close"]
    if cut:
        assert cuts >= 60 and len(closes) >= 60  # every client was cut at least once, and noticed
        assert result.metrics["reconnect_attempts"] >= 60
    else:
        assert cuts == 0 and closes.empty
