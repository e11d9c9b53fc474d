"""Run the ``transports`` scenario: the analytic transport cost model, reported like a simulation.

The transport choice is a steady-state cost question, so :func:`simulate_transport` evaluates
:mod:`wssim.analytic.transports` for ``config.transport`` instead of simulating sockets, and fills the same
metric names a simulation run fills. It draws no random numbers: every replication gives the same
result. :func:`transport_metrics` gives the ``transport_*`` figures alone, for any transport kind, so
a simulated WebSocket run can report them too and compare like with like.

To be comparable with the simulator, whose latency is measured from the publish until the message is
written to the client's socket and whose ``cost_per_month_usd`` counts servers (:mod:`wssim.analytic.cost`),
the latencies here leave out the network's one-way delay and the monthly cost counts server nodes plus
the backplane; egress is reported on its own (``transport_egress_usd_per_month``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from wssim.analytic.cost import SELF_HOSTED_FREE
from wssim.analytic.transports import (
    TransportCost,
    egress_per_user_month,
    from_config,
    node_share,
    transport_cost,
    usd_per_user_month,
)
from wssim.metrics import Recorder, RunResult


def _cost(config: Any) -> tuple[TransportCost, Any]:
    req, overheads, prices = from_config(config)
    kind = config.transport.kind
    poll = config.transport.poll_interval if kind == "poll" else None
    return transport_cost(kind, req, overheads, poll_interval=poll), (req, overheads, prices)


def transport_metrics(config: Any) -> dict[str, float]:
    """Fleet-wide ``transport_*`` figures of ``config.transport`` for ``clients.count`` users.

    Requests, full TLS handshakes, bytes up and down per second; egress USD per month; and
    ``transport_usd_per_million_users`` — server share plus egress of one user, times a million, the
    figure to compare transports at scale.
    """
    cost, (_, _, prices) = _cost(config)
    users = float(config.clients.count)
    return {
        "transport_requests_per_s": users * cost.requests_per_s,
        "transport_handshakes_per_s": users * cost.handshakes_per_s,
        "transport_bytes_up_per_s": users * cost.bytes_up_per_s,
        "transport_bytes_down_per_s": users * cost.bytes_down_per_s,
        "transport_egress_usd_per_month": users * egress_per_user_month(cost, prices),
        "transport_usd_per_million_users": 1e6 * usd_per_user_month(cost, prices),
    }


def server_delay(cost: TransportCost, rtt: float, q: float) -> float:
    """Quantile ``q`` of the delay from a publish until the update is on its way to the client.

    WebSocket and SSE write at once (0). A long-poll update that lands while the client is
    re-requesting waits for the new request (up to one RTT). A poll update waits for the next poll:
    uniform over the period.
    """
    if cost.kind == "poll" and cost.poll_interval is not None:
        return q * cost.poll_interval
    if cost.kind == "long_poll":
        gap = min(1.0, cost.requests_per_s * rtt)  # chance an update waits for the next request
        return rtt * (1 - (1 - q) / gap) if gap > 1 - q else 0.0
    return 0.0


def simulate_transport(
    config: Any, replication: int = 0, progress: Callable[[float], None] | None = None
) -> RunResult:
    """Per-user transport cost × ``clients.count``, as a :class:`~wssim.metrics.RunResult`.

    Sets ``connections_peak``, ``gateway_memory_peak_bytes`` (base + an even share of the held
    connections), ``latency_p50_s``/``latency_p99_s`` (:func:`server_delay`), ``messages_published``,
    ``deliveries_expected``/``deliveries_delivered`` (expected counts), ``cost_per_month_usd`` (server
    nodes by their binding resource, plus the backplane) and :func:`transport_metrics`.
    ``replication`` is accepted for the engine contract and ignored.
    """
    started = time.perf_counter()
    cost, (req, overheads, prices) = _cost(config)
    users = config.clients.count
    duration = config.duration

    rec = Recorder(interval=config.interval, warmup=config.warmup)
    connections = users * cost.open_connections
    per_gateway_memory = (
        config.gateways.base_memory + users * cost.server_memory_bytes / config.gateways.count
    )
    nodes = math.ceil(users * node_share(cost, prices) - 1e-9) if users else 0
    monthly = nodes * prices.node_per_month
    if config.backplane.kind not in SELF_HOSTED_FREE:
        monthly += config.costs.backplane_per_month
    deliveries = users * req.update_rate * duration
    rec.set("connections_peak", connections)
    rec.set("gateway_memory_peak_bytes", per_gateway_memory)
    rec.set("messages_published", config.clients.publish_rate * users * duration)
    rec.set("deliveries_expected", deliveries)
    rec.set("deliveries_delivered", deliveries)
    rec.set("latency_p50_s", server_delay(cost, overheads.rtt, 0.50))
    rec.set("latency_p99_s", server_delay(cost, overheads.rtt, 0.99))
    rec.set("cost_per_month_usd", monthly)
    for name, value in transport_metrics(config).items():
        rec.set(name, value)
    for t in (0.0, max(0.0, duration - config.interval)):
        rec.gauge("connections", t, connections)
        rec.gauge("memory_bytes", t, per_gateway_memory)
    if progress is not None:
        progress(1.0)
    return rec.result(
        engine="sim",
        model="transport",
        transport=cost.kind,
        gateways_needed=nodes,
        wall_s=time.perf_counter() - started,
        replication=replication,
    )
