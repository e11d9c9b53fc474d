"""Monthly cost of the fleet a run needed.

Gateways are sized by the binding resource: connections (the per-connection budget against node memory
and the fd limit, after ``costs.headroom``), the memory the run actually used (queued bytes
included) and the CPU it used (the busiest gateway's peak utilisation). A self-run backplane has a
flat monthly price. The ``managed`` kind replaces gateways and backplane with per-connection-minute
and per-message pricing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from wssim.policies import ConnectionBudget

MINUTES_PER_MONTH = 30 * 24 * 60.0
SECONDS_PER_MONTH = MINUTES_PER_MONTH * 60.0
SELF_HOSTED_FREE = ("none", "in_memory")  # no separate backplane to pay for


def _num(peaks: Mapping[str, float], key: str, default: float = 0.0) -> float:
    """``peaks[key]`` as a float; missing or NaN (nothing recorded) counts as ``default``."""
    value = peaks.get(key)
    if value is None:
        return default
    value = float(value)
    return value if math.isfinite(value) else default


def gateway_budget(config: Any) -> ConnectionBudget:
    """What one connection holds on a gateway: its TLS state only where TLS terminates there (L4 edge),
    its compressor state when permessage-deflate is on."""
    pc = config.gateways.per_connection
    tls = 0 if config.edge.layer == "L7" else pc.tls
    comp = config.gateways.compression
    app = pc.app + (comp.memory if comp.enabled else 0)
    return ConnectionBudget(pc.kernel, tls, app, pc.fds)


def node_capacity(config: Any) -> int:
    """Connections one gateway may hold at ``costs.headroom`` of its memory and fd ceilings."""
    g = config.gateways
    return gateway_budget(config).node_capacity(g.memory, g.base_memory, g.fd_limit, config.costs.headroom)


def gateways_needed(config: Any, peaks: Mapping[str, float]) -> int:
    """Gateways needed for the run's peaks (at least one when anyone connected).

    ``peaks["connections_peak"]`` (fleet-wide) is divided by :func:`node_capacity`.
    ``peaks["gateway_memory_peak_bytes"]`` (the busiest gateway, queues included), if present, is
    multiplied by ``gateways.count`` and divided by the usable memory of a node
    (``(memory − base_memory) × headroom`` after taking out the base memory of each node).
    ``peaks["gateway_cpu_utilisation_peak"]`` (the busiest gateway's busiest interval), if present,
    times ``gateways.count`` is the CPU the fleet needed, in gateways, to be run at ``headroom``
    (a lower bound when the run saturated: the work offered was more).
    """
    g = config.gateways
    connections = _num(peaks, "connections_peak")
    if connections <= 0:
        return 0
    capacity = node_capacity(config)
    n = math.ceil(connections / capacity) if capacity > 0 else math.inf
    memory_peak = _num(peaks, "gateway_memory_peak_bytes")
    if memory_peak > 0:
        used = (memory_peak - g.base_memory) * g.count
        usable = (g.memory - g.base_memory) * config.costs.headroom
        n = max(n, math.ceil(used / usable) if usable > 0 else math.inf)
    cpu_peak = _num(peaks, "gateway_cpu_utilisation_peak")
    if cpu_peak > 0:
        n = max(n, math.ceil(cpu_peak * g.count / config.costs.headroom - 1e-9))
    if n == math.inf:
        raise ValueError("a gateway cannot hold a single connection with this budget")
    return max(1, int(n))


def managed_cost(config: Any, peaks: Mapping[str, float]) -> float:
    """USD/month of a managed WebSocket service.

    Connection-minutes: ``peaks["connections_mean"]`` (else ``connections_peak``) held all month.
    Messages: every publish and every delivery is billed (``messages_published`` +
    ``deliveries_delivered`` over ``peaks["duration"]``, default ``config.duration``), scaled to a month.
    """
    m = config.backplane.managed
    held = _num(peaks, "connections_mean", _num(peaks, "connections_peak"))
    cost = held * MINUTES_PER_MONTH * m.price_per_connection_minute
    duration = _num(peaks, "duration", config.duration)
    if duration > 0:
        messages = _num(peaks, "messages_published") + _num(peaks, "deliveries_delivered")
        cost += messages / duration * SECONDS_PER_MONTH / 1e6 * m.price_per_million_messages
    return cost


def monthly_cost(config: Any, peaks: Mapping[str, float]) -> float:
    """USD per month of the fleet that serves the run's ``peaks`` (a dict of metric values).

    Self-run: ``gateways_needed × costs.gateway_per_month`` plus ``costs.backplane_per_month`` unless the
    backplane is ``none`` or ``in_memory``. ``managed``: :func:`managed_cost`.
    """
    if config.backplane.kind == "managed":
        return managed_cost(config, peaks)
    cost = gateways_needed(config, peaks) * config.costs.gateway_per_month
    if config.backplane.kind not in SELF_HOSTED_FREE:
        cost += config.costs.backplane_per_month
    return float(cost)
