"""Chapter 15 · fan-out CPU: when a big room saturates a gateway.

A publication to a room costs each gateway one backplane read plus one frame write per local member.
In a big room that is thousands of writes per message: the gateway's CPU, not its memory or its
sockets, becomes the limit, and past it every frame waits in a backlog that only grows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wssim.lessons.charts import series_figure
from wssim.lessons.runs import configure, one_run, simulate

RATE = "clients.publish_rate"
ROOMS = "clients.rooms.count"
COSTS = [
    "gateway_cpu_utilisation_peak",
    "cpu_saturated_s",
    "gateway_cpu_backlog_s_max",
    "latency_p99_s",
    "gateway_memory_peak_bytes",
]


def fleet(clients: int, gateways: int, rooms: int, duration: str) -> Any:
    """The ``quickstart`` fleet, steady (no crash, nobody away, no slow reader), its clients in ``rooms``
    rooms (1: one room everybody is in)."""
    return configure(
        "quickstart",
        [
            f"clients.count={clients}",
            f"{ROOMS}={rooms}",
            f"gateways.count={gateways}",
            f"duration={duration}",
            "warmup=10s",
            "clients.offline.rate=0/s",
            "clients.slow_consumers.fraction=0",
        ],
        faults=[],
    )


def cpu_per_publication(cfg: Any) -> float:
    """CPU seconds one publication costs one gateway: a backplane read and a frame per local member."""
    cpu, c = cfg.gateways.cpu, cfg.clients
    members = c.count / c.rooms.count / cfg.gateways.count
    return cpu.backplane_message + members * (cpu.frame + c.message_size * cpu.per_byte)


def saturation_rate(cfg: Any) -> float:
    """Messages per client per second at which a gateway's CPU is busy all the time (utilisation 1):
    every publication reaches every gateway (rooms with members on each), so clients × rate × CPU per
    publication = cores."""
    return cfg.gateways.cpu.cores / (cfg.clients.count * cpu_per_publication(cfg))


def rates(
    cfg: Any, per_min: Sequence[float], progress: bool | Callable[[float], None] = False
) -> pd.DataFrame:
    """The fleet at each publish rate (messages per client per minute): CPU, backlog, latency."""
    res = simulate(cfg, 1, progress, sweep={RATE: [f"{r}/min" for r in per_min]})
    table = res.summary.set_index(RATE)[COSTS]
    table.index = pd.Index([round(r * 60, 6) for r in table.index], name="msgs per client per min")
    return table


def first_saturated(table: pd.DataFrame) -> float:
    """The lowest swept rate at which some gateway's CPU was busy for a whole interval."""
    hit = table[table["cpu_saturated_s"] > 0]
    return float(hit.index.min()) if len(hit) else float("nan")


def rates_figure(table: pd.DataFrame, cfg: Any) -> go.Figure:
    """Peak CPU utilisation and p99 latency against the publish rate, the closed-form knee dotted."""
    frame = table.reset_index()
    fig = px.line(
        frame,
        x="msgs per client per min",
        y=["gateway_cpu_utilisation_peak", "latency_p99_s"],
        markers=True,
        log_y=True,
        title="The busiest gateway's CPU and the p99 latency, one big room",
        labels={"value": "utilisation (fraction) / p99 latency (s)", "variable": ""},
    )
    fig.add_vline(x=saturation_rate(cfg) * 60, line_dash="dot")
    return fig


def room_sizes(cfg: Any, rooms: Sequence[int], per_min: float, progress: Any = False) -> pd.DataFrame:
    """The same messages per client split over ``rooms`` rooms: smaller rooms, fewer writes each."""
    res = simulate(configure(cfg, [f"{RATE}={per_min}/min"]), 1, progress, sweep={ROOMS: list(rooms)})
    table = res.summary.set_index(ROOMS)[COSTS]
    table.insert(0, "members per room", cfg.clients.count / table.index.to_numpy())
    return table


def findings(table: pd.DataFrame, sizes: pd.DataFrame, cfg: Any) -> str:
    """The closing sentences, computed from this run."""
    knee = saturation_rate(cfg) * 60
    big = sizes.iloc[0]
    small = sizes.iloc[-1]
    return "\n".join(
        [
            f"- One publication costs a gateway {cpu_per_publication(cfg) * 1e3:.2f} ms of CPU "
            f"({cfg.clients.count / cfg.gateways.count:,.0f} local members of the one room).",
            f"- Closed form: the CPU saturates at {knee:.2f} messages per client per minute; the first swept "
            f"rate where a gateway was busy for a whole interval: {first_saturated(table):g}/min.",
            f"- Past it the backlog only grows: p99 latency {table['latency_p99_s'].max():.1f} s at "
            f"{table.index.max():g}/min, against {table['latency_p99_s'].min() * 1e3:.0f} ms below the knee.",
            f"- The same traffic in rooms of {small['members per room']:,.0f}: peak CPU "
            f"{small['gateway_cpu_utilisation_peak']:.0%} against {big['gateway_cpu_utilisation_peak']:.0%} "
            "in one room.",
        ]
    )


def one_fleet(cfg: Any, per_min: float, rooms: int, cores: int, progress: Any = None) -> Any:
    """The interactive cell's simulation: one rate, one room count, one core count, one replication."""
    changes = [f"{RATE}={per_min}/min", f"{ROOMS}={rooms}", f"gateways.cpu.cores={cores}"]
    return one_run(cfg, changes, progress)


def fleet_figure(res: Any, per_min: float, rooms: int, cores: int) -> go.Figure:
    """The CPU backlog of the busiest gateway over time; the title says what it cost."""
    row = res.summary.iloc[0]
    title = (
        f"{per_min:g} msgs/client/min in {rooms} room(s), {cores} core(s): CPU peak "
        f"{row['gateway_cpu_utilisation_peak']:.0%}, p99 latency {row['latency_p99_s']:.2f} s"
    )
    return series_figure(res, "gateway_cpu_backlog_s", "CPU backlog, busiest gateway (s)", title)
