"""Chapter 03 · backpressure: a gateway whose CPU falls behind makes every member a slow reader.

One gateway, one room of ``members`` clients that all read fast; each publication costs the gateway
``members × frame`` CPU-seconds. Offered more than its cores serve (load ``ρ > 1``), the publications
waiting for the CPU grow by ``g = (λ·m·c − cores) / (m·c)`` per second, and every member's backlog is
that queue: once it passes the send-queue bound ``L`` the overflow policy acts on the fast members as
on a slow reader. With ``disconnect``, the first comes at ``(L + ½) / g`` (Wald's identity: the queue
rises one publication at a time, the one in service half done; ``tests/validation/test_cpu.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from wssim.lessons.runs import configure, simulate

FRAME = 100e-6  # CPU-seconds per member of one publication: a room of 100 is 10 ms a publication


def room(members: int, load: float, queue_limit: int, duration: str = "20s") -> Any:
    """One gateway of one core, one room of fast ``members`` publishing at ``load`` times what the
    core serves, send queues bounded at ``queue_limit`` messages with ``disconnect``."""
    per_client = load / (members * FRAME) / members
    return configure({
        "name": "cpu-starved-room", "seed": 3, "duration": duration, "warmup": "0s", "interval": "1s",
        "clients": {"count": members, "connect_ramp": "1ms", "rooms": {"count": 1},
                    "message_size": "200B", "publish_rate": per_client},
        "gateways": {"count": 1, "handshake_cost": "0s", "keepalive": {"ping_interval": None},
                     "cpu": {"cores": 1, "frame": FRAME, "per_byte": 0, "backplane_message": 0, "ping": 0},
                     "send_queue": {"limit": queue_limit, "overflow": "disconnect"}},
        "edge": {"idle_timeout": None}, "backplane": {"kind": "in_memory"},
    })  # fmt: skip


def first_disconnect(load: float, members: int, queue_limit: int) -> float:
    """Seconds from the first publication until a member is closed: ``(L + ½) / g`` (∞ at ρ ≤ 1)."""
    service = members * FRAME
    growth = (load - 1.0) / service  # (λ·m·c − cores) / (m·c) with λ·m·c = load, one core
    return (queue_limit + 0.5) / growth if growth > 0 else math.inf


def starvation(members: int, loads: Sequence[float], queue_limit: int, replications: int) -> pd.DataFrame:
    """One row per offered load: utilisation, disconnects and the first one, simulated (mean over
    ``replications``) and predicted."""
    rows = []
    for load in loads:
        runs = simulate(room(members, load, queue_limit), replications).summary
        rows.append({
            "offered_load": load,
            "utilisation": runs["gateway_cpu_utilisation_peak"].mean(),
            "disconnects": runs["slow_consumer_disconnects"].mean(),
            "first_disconnect_s": runs["first_slow_consumer_disconnect_s"].mean(),
            "predicted_s": first_disconnect(load, members, queue_limit),
        })  # fmt: skip
    return pd.DataFrame(rows)


def starvation_figure(table: pd.DataFrame) -> go.Figure:
    """The first disconnect of a fast member against the offered load: simulated and predicted."""
    fig = go.Figure()
    for col, name in (("first_disconnect_s", "simulated"), ("predicted_s", "(L + ½) / g")):
        fig.add_scatter(x=table["offered_load"], y=table[col], mode="lines+markers", name=name)
    fig.update_layout(
        title="A CPU that falls behind disconnects readers that keep up",
        xaxis_title="offered load (publications' CPU / cores)",
        yaxis_title="first disconnect (s)",
    )
    return fig


def starvation_findings(table: pd.DataFrame, queue_limit: int) -> str:
    """One sentence per offered load."""
    lines = []
    for row in table.itertuples():
        if math.isinf(row.predicted_s):
            lines.append(f"- load {row.offered_load:g}: the core keeps up ({row.disconnects:.0f} closed).")
        else:
            lines.append(
                f"- load {row.offered_load:g}: the backlog passes {queue_limit} publications after "
                f"{row.first_disconnect_s:.1f} s (predicted {row.predicted_s:.1f} s); {row.disconnects:.0f} "
                "fast members closed."
            )
    return "\n".join(lines)
