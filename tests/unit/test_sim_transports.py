"""The analytic transport cost model and the four-part test."""

from __future__ import annotations

import math

import pytest

from wssim.analytic.transport_run import simulate_transport
from wssim.analytic.transports import (
    Overheads,
    Requirement,
    four_part_test,
    long_poll_rate,
    recommend,
    transport_cost,
    usd_per_user_month,
    ws_header,
)
from wssim.config import load_config


def test_websocket_frame_headers() -> None:
    """RFC 6455: 2/4/10 header bytes by payload length; client frames add a 4-byte mask."""
    assert [ws_header(n, False) for n in (0, 125, 126, 65535, 65536)] == [2, 2, 4, 4, 10]
    assert ws_header(125, True) == 6


def test_long_poll_rate_limits() -> None:
    """Idle: one request per hold time; busy: one request per update."""
    assert long_poll_rate(0.0, 30.0) == pytest.approx(1 / 30)
    assert long_poll_rate(1e-9, 30.0) == pytest.approx(1 / 30, rel=1e-6)
    assert long_poll_rate(50.0, 30.0) == pytest.approx(50.0)


def test_websocket_bytes_are_frames_pings_and_amortised_upgrade() -> None:
    """Down bytes/s = u·(size + 2 + TLS record) + pings + upgrade response and handshake per session."""
    o = Overheads()
    c = transport_cost("websocket", Requirement(update_rate=2.0, message_size=100), o)
    expected = (
        2.0 * (100 + 2 + o.tls_record)
        + (2 + o.tls_record) / o.ping_interval
        + (o.upgrade_response + o.tls_record + o.tls_handshake_down) / o.session
    )
    assert c.bytes_down_per_s == pytest.approx(expected)
    assert c.open_connections == 1.0 and c.server_memory_bytes == o.per_connection_bytes


def test_poll_staleness_and_held_connection() -> None:
    """Poll every P: mean staleness P/2 + RTT/2; the connection is held keepalive_idle/P of the time."""
    o = Overheads()
    c = transport_cost("poll", Requirement(update_rate=0.01, max_latency=60.1), o)
    assert c.poll_interval == pytest.approx(60.0)
    assert c.latency_s == pytest.approx(30.0 + o.rtt / 2)
    assert c.open_connections == pytest.approx(o.keepalive_idle / 60.0)
    assert c.resumptions_per_s == pytest.approx(1 / 60)


def test_sse_upstream_goes_as_posts() -> None:
    """SSE with client messages: every message is a POST with full headers."""
    req = Requirement(update_rate=1.0, upstream_rate=0.5, message_size=200)
    assert transport_cost("sse", req).requests_per_s == pytest.approx(0.5 + 1 / Overheads().session)


def test_four_part_test() -> None:
    """All four parts hold only for bidirectional, low-latency, frequent, pushed traffic."""
    assert four_part_test(Requirement(1.0, 0.1, 0.3)).needs_websocket
    t = four_part_test(Requirement(1 / 300, 0.0, 60.0))
    assert not t.needs_websocket and t.missing() == ["bidirectional", "low_latency", "high_frequency"]


@pytest.mark.parametrize(
    ("req", "kind"),
    [
        (Requirement(1.0, 0.1, 0.3, 200), "websocket"),  # chat
        (Requirement(20.0, 20.0, 0.1, 100), "websocket"),  # game
        (Requirement(2.0, 0.0, 0.5, 200), "sse"),  # live ticker: one-way push
        (Requirement(1 / 3600, 0.0, 600.0, 300), "poll"),  # hourly, ten minutes of staleness is fine
        (Requirement(0.0, 0.05, 1.0, 300, server_initiated=False), "poll"),  # request/response: HTTP
    ],
)
def test_recommendation(req: Requirement, kind: str) -> None:
    """The cheapest transport that meets the requirement."""
    rec = recommend(req)
    assert rec.kind == kind, rec.reason
    assert rec.usd_per_user_month[kind] == min(rec.usd_per_user_month.values())


def test_recommendation_respects_latency() -> None:
    """A 100 ms requirement rules out polling and long-polling (worst case RTT + re-request)."""
    rec = recommend(Requirement(20.0, 20.0, 0.1, 100))
    assert set(rec.rejected) == {"long_poll", "poll"}


def test_cost_grows_with_update_rate() -> None:
    """More updates never cost less."""
    costs = [usd_per_user_month(transport_cost("sse", Requirement(u, 0.0, 1.0))) for u in (0.1, 1.0, 10.0)]
    assert costs == sorted(costs)


def test_simulate_transport_poll_metrics() -> None:
    """The transports scenario at poll: fewer held connections, staleness P/2, all metrics finite."""
    config = load_config("transports", ["transport.kind=poll"])
    m = simulate_transport(config).metrics
    assert m["connections_peak"] == pytest.approx(config.clients.count * 5.0 / 30.0)
    assert m["latency_p50_s"] == pytest.approx(15.0)  # half the period, network delay left out
    assert m["latency_p99_s"] == pytest.approx(0.99 * 30.0)
    for name in (
        "cost_per_month_usd",
        "transport_requests_per_s",
        "transport_bytes_down_per_s",
        "transport_egress_usd_per_month",
        "transport_usd_per_million_users",
    ):
        assert math.isfinite(m[name]) and m[name] > 0
    ws = simulate_transport(load_config("transports", ["transport.kind=websocket"])).metrics
    assert ws["connections_peak"] == config.clients.count
    assert ws["latency_p50_s"] == 0.0
