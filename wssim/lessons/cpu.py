"""Which limit binds first on one gateway: memory, file descriptors or CPU (notebook 01).

Memory and file descriptors depend on how many sockets are open; the CPU depends on what they do.
At steady state one connection in rooms of ``s`` members on average, each member publishing ``p``
messages per second, receives ``(s + 1)·p`` deliveries per second: clients pick their room at random
(as the simulator and the live harness draw them), so a member's room holds it and on average ``s``
of the others (a room of twice the average has twice the members *and* each of them receives twice
the messages: 10 % more frames than equal rooms of ten). That many frames to write (``cpu.frame`` +
``cpu.per_byte`` × bytes on the wire, + ``cpu.deflate_per_byte`` × bytes with compression), its share
of the backplane messages (one per publication per gateway, shared by the room's local members,
``s / gateways`` of them when members are spread evenly) and a ping per ``ping_interval``.
"""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wssim.analytic.cost import gateway_budget
from wssim.sim.cpu import wire_size


def cpu_per_connection(config: Any, per_minute: float, room_size: int) -> float:
    """CPU-seconds per second one connection costs its gateway at ``per_minute`` messages per member."""
    g = config.gateways
    cpu = g.cpu
    rate = per_minute / 60.0
    deflate = cpu.deflate_per_byte * config.clients.message_size if g.compression.enabled else 0.0
    write = cpu.frame + cpu.per_byte * wire_size(config) + deflate
    local = max(1.0, room_size / g.count)
    ping = g.keepalive.ping_interval
    reads = rate * room_size * cpu.backplane_message / local  # the room's publications, shared locally
    return rate * (room_size + 1) * write + reads + (cpu.ping / ping if ping else 0.0)


def ceilings(config: Any, per_minute: float, room_size: int) -> dict[str, float]:
    """Connections one gateway holds at ``costs.headroom`` under each limit: memory, fds, CPU."""
    g = config.gateways
    headroom = config.costs.headroom
    caps = dict(gateway_budget(config).ceilings(g.memory, g.base_memory, g.fd_limit, headroom))
    caps["cpu"] = g.cpu.cores * headroom / cpu_per_connection(config, per_minute, room_size)
    return caps


def with_compression(config: Any, enabled: bool) -> Any:
    """A copy of ``config`` with permessage-deflate on or off."""
    out = copy.deepcopy(config)
    out.gateways.compression.enabled = enabled
    return out


def by_rate(config: Any, rates: list[float], room_size: int) -> pd.DataFrame:
    """One row per (compression, messages per member per minute): each ceiling and the one that binds."""
    rows = []
    for compressed in (False, True):
        cfg = with_compression(config, compressed)
        for rate in rates:
            caps = ceilings(cfg, rate, room_size)
            binds = min(caps, key=caps.__getitem__)
            rows.append({"compression": compressed, "per_minute": rate, **caps, "binds": binds})
    return pd.DataFrame(rows)


def limits_figure(table: pd.DataFrame) -> go.Figure:
    """Connections per gateway under each ceiling against the message rate, with and without compression."""
    long = table.melt(
        id_vars=["compression", "per_minute"], value_vars=["memory", "fds", "cpu"], var_name="limit"
    )
    fig = px.line(
        long,
        x="per_minute",
        y="value",
        color="limit",
        facet_col="compression",
        log_x=True,
        log_y=True,
        markers=True,
        title="Connections one gateway holds, by the limit (the lowest line binds)",
        labels={"per_minute": "messages per member per minute", "value": "connections per gateway"},
    )
    return fig


def crossover(table: pd.DataFrame, compression: bool) -> float:
    """The lowest message rate at which the CPU binds (NaN if it never does in ``table``)."""
    rows = table[(table["compression"] == compression) & (table["binds"] == "cpu")]
    return float(rows["per_minute"].min()) if len(rows) else float("nan")


def findings(table: pd.DataFrame, room_size: int) -> str:
    """One sentence per compression setting: where the CPU takes over from memory or fds."""
    lines = []
    for compressed in (False, True):
        rate = crossover(table, compressed)
        label = "with compression" if compressed else "without compression"
        if rate != rate:  # NaN: never within the rates tried
            lines.append(f"- {label}: the CPU never binds at these rates (rooms of {room_size}).")
        else:
            row = table[(table["compression"] == compressed) & (table["per_minute"] == rate)].iloc[0]
            lines.append(
                f"- {label}: from {rate:g} messages per member per minute (rooms of {room_size}) the CPU "
                f"binds first, at {row['cpu']:,.0f} connections per gateway."
            )
    return "\n".join(lines)
