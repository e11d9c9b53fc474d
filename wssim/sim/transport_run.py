"""Run the ``transports`` scenario: the analytic transport cost model, reported like a simulation.

The transport choice is a steady-state cost question, so :func:`simulate_transport` evaluates
:mod:`wssim.sim.transports` for ``config.transport`` instead of simulating sockets, and fills the same
metric names a simulation run fills. It draws no random numbers: every replication gives the same
result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from wssim.metrics import Recorder, RunResult
from wssim.sim.cost import SELF_HOSTED_FREE
from wssim.sim.transports import (
    TransportCost,
    egress_per_user_month,
    from_config,
    node_share,
    transport_cost,
)


def latency_p99(cost: TransportCost, rtt: float) -> float:
    """99th percentile of the delivery delay (poll: staleness uniform over the period)."""
    half_rtt = rtt / 2
    if cost.kind == "poll" and cost.poll_interval is not None:
        return 0.99 * cost.poll_interval + half_rtt
    if cost.kind == "long_poll":
        gap = min(1.0, cost.requests_per_s * rtt)  # chance an update waits for the next request
        return half_rtt + rtt * (1 - 0.01 / gap) if gap > 0.01 else half_rtt
    return half_rtt


def simulate_transport(
    config: Any, replication: int = 0, progress: Callable[[float], None] | None = None
) -> RunResult:
    """Per-user transport cost × ``clients.count``, as a :class:`~wssim.metrics.RunResult`.

    Besides the usual names (``connections_peak``, ``gateway_memory_peak_bytes``, ``latency_p50_s``,
    ``latency_p99_s``, ``deliveries_*``, ``cost_per_month_usd``) it sets the fleet-wide
    ``transport_requests_per_s``, ``transport_handshakes_per_s``, ``transport_bytes_up_per_s`` and
    ``transport_bytes_down_per_s``. ``replication`` is accepted for the engine contract and ignored.
    """
    started = time.perf_counter()
    kind = config.transport.kind
    req, overheads, prices = from_config(config)
    poll = config.transport.poll_interval if kind == "poll" else None
    cost = transport_cost(kind, req, overheads, poll_interval=poll)
    users = config.clients.count
    duration = config.duration

    rec = Recorder(interval=config.interval, warmup=config.warmup)
    connections = users * cost.open_connections
    per_gateway_memory = (
        config.gateways.base_memory + users * cost.server_memory_bytes / config.gateways.count
    )
    nodes = math.ceil(users * node_share(cost, prices) - 1e-9) if users else 0
    monthly = nodes * prices.node_per_month + users * egress_per_user_month(cost, prices)
    if config.backplane.kind not in SELF_HOSTED_FREE:
        monthly += config.costs.backplane_per_month
    deliveries = users * req.update_rate * duration
    rec.set("connections_peak", connections)
    rec.set("gateway_memory_peak_bytes", per_gateway_memory)
    rec.set("messages_published", config.clients.publish_rate * users * duration)
    rec.set("deliveries_expected", deliveries)
    rec.set("deliveries_delivered", deliveries)
    rec.set("latency_p50_s", cost.latency_s)
    rec.set("latency_p99_s", latency_p99(cost, overheads.rtt))
    rec.set("cost_per_month_usd", monthly)
    rec.set("transport_requests_per_s", users * cost.requests_per_s)
    rec.set("transport_handshakes_per_s", users * cost.handshakes_per_s)
    rec.set("transport_bytes_up_per_s", users * cost.bytes_up_per_s)
    rec.set("transport_bytes_down_per_s", users * cost.bytes_down_per_s)
    for t in (0.0, max(0.0, duration - config.interval)):
        rec.gauge("connections", t, connections)
        rec.gauge("memory_bytes", t, per_gateway_memory)
    if progress is not None:
        progress(1.0)
    return rec.result(
        engine="sim",
        model="transport",
        transport=kind,
        gateways_needed=nodes,
        wall_s=time.perf_counter() - started,
        replication=replication,
    )
