"""Chapter 03 · backpressure: slow consumers, unbounded send queues and what each overflow policy pays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wssim.lessons.runs import configure, simulate
from wssim.metrics import METRICS

POLICY = "gateways.send_queue.overflow"
COSTS = [
    "gateway_oom_crashes",
    "messages_dropped_overflow",
    "messages_conflated",
    "slow_consumer_disconnects",
    "send_queue_depth_p99",
    "gateway_memory_peak_bytes",
]


def fleet(**params: Any) -> Any:
    """The ``backpressure`` scenario with ``params`` (keys of ``paths`` below) set."""
    paths = {
        "clients": "clients.count",
        "gateways": "gateways.count",
        "rooms": "clients.rooms.count",
        "publish_rate": "clients.publish_rate",
        "message_size": "clients.message_size",
        "slow_fraction": "clients.slow_consumers.fraction",
        "slow_drain": "clients.slow_consumers.drain_rate",
        "gateway_memory": "gateways.memory",
        "base_memory": "gateways.base_memory",
        "queue_limit": "gateways.send_queue.limit",
        "duration": "duration",
    }
    return configure("backpressure", [f"{paths[k]}={v}" for k, v in params.items()])


def time_to_oom(cfg: Any) -> dict[str, float]:
    """The closed form for an average gateway: queue growth (bytes/s), free memory and t_OOM (s)."""
    c, g = cfg.clients, cfg.gateways
    pc = g.per_connection
    conns_per_gw = c.count / g.count
    free = g.memory - g.base_memory - conns_per_gw * (pc.kernel + pc.tls + pc.app)
    arrival = c.count * c.publish_rate * c.rooms.per_client / c.rooms.count  # msgs/s into one member
    slow_per_gw = c.count * c.slow_consumers.fraction / g.count
    growth = slow_per_gw * max(arrival - c.slow_consumers.drain_rate, 0.0) * c.message_size
    t_oom = c.connect_ramp + free / growth if growth > 0 else float("inf")
    bounded = slow_per_gw * (g.send_queue.limit or 0) * c.message_size  # every slow queue full
    return {
        "arrival_per_member": arrival,
        "slow_per_gateway": slow_per_gw,
        "growth_bytes_per_s": growth,
        "free_bytes": free,
        "t_oom_s": t_oom,
        "bounded_worst_bytes": bounded,
    }


def policies(
    cfg: Any, names: Sequence[str], replications: int, progress: bool | Callable[[float], None] = False
) -> Any:
    """The fleet under every overflow policy in ``names``."""
    return simulate(cfg, replications, progress, sweep={POLICY: list(names)})


def memory_figure(res: Any, cfg: Any, names: Sequence[str], t_oom: float) -> go.Figure:
    """Largest gateway memory over time per policy (replication 0), the ceiling and the closed-form t_OOM."""
    mem = res.series("memory_bytes")
    mem = mem[mem["replication"] == 0]
    fig = px.line(
        mem,
        x="time",
        y="value",
        color=POLICY,
        category_orders={POLICY: list(names)},
        title="Largest gateway memory (replication 0)",
        labels={"value": "bytes", "time": "simulated time (s)"},
    )
    fig.add_hline(
        y=cfg.gateways.memory,
        line_dash="dot",
        annotation_text="gateway memory",
        annotation_position="bottom left",
    )
    if np.isfinite(t_oom):
        fig.add_vline(x=t_oom, line_dash="dash", annotation_text="closed-form t_OOM")
    return fig


def paid(res: Any, names: Sequence[str]) -> pd.DataFrame:
    """What each policy paid: crashes, drops, conflations, disconnects, queue depth, memory (mean per run)."""
    return res.summary.groupby(POLICY)[COSTS].mean().reindex(list(names))


def meanings() -> str:
    """What each cost column means, from the metric definitions both engines share."""
    return "\n".join(f"{name:<27} [{METRICS[name].unit}] {METRICS[name].meaning}" for name in COSTS)


def price_figure(table: pd.DataFrame) -> go.Figure:
    """Drops, conflations and disconnects per policy, on a log scale."""
    cols = ["messages_dropped_overflow", "messages_conflated", "slow_consumer_disconnects"]
    long = table[cols].reset_index().melt(id_vars=POLICY, var_name="price", value_name="count")
    return px.bar(
        long, x=POLICY, y="count", color="price", barmode="group", log_y=True,
        title="The price of staying up (mean per run, log scale)",
    )  # fmt: skip


def first_ooms(res: Any) -> list[float]:
    """When the first gateway ran out of memory, in every unbounded run that had one (s)."""
    runs = res.summary[res.summary[POLICY] == "unbounded"]
    return [float(t) for t in runs["first_oom_at_s"].dropna()]


def growth_per_gateway(res: Any, start: float, end: float) -> float:
    """Mean slope of each unbounded run's per-gateway memory between ``start`` and ``end`` (bytes/s)."""
    ts = res.timeseries.merge(res.points(), on="point")
    window = ts[
        (ts["series"] == "memory_bytes") & (ts[POLICY] == "unbounded") & ts["time"].between(start, end)
    ]
    slopes = [
        np.polyfit(g["time"], g["value"], 1)[0]
        for _, g in window.groupby(["replication", "label"])
        if len(g) > 2
    ]
    return float(np.mean(slopes)) if slopes else float("nan")


def findings(res: Any, table: pd.DataFrame, closed: dict[str, float], cfg: Any) -> str:
    """The closing sentences: the unbounded queues against the closed form, and what bounding paid."""
    firsts = first_ooms(res)
    t_first = float(np.mean(firsts)) if firsts else float("nan")
    slope = growth_per_gateway(res, cfg.clients.connect_ramp + 1, t_first - 2)
    bounded = table.drop(index="unbounded", errors="ignore")
    lines = [
        f"- Unbounded: {table.loc['unbounded', 'gateway_oom_crashes']:.1f} OOM crashes per run.",
        f"  Queues grew {slope / 1024:,.0f} KiB/s per gateway before the first crash "
        f"(closed form: {closed['growth_bytes_per_s'] / 1024:,.0f} KiB/s for an average gateway).",
        f"  The first gateway died at {t_first:.0f} s on average; "
        f"the closed form says ≈ {closed['t_oom_s']:.0f} s.",
        "  The first to die holds more than its share of slow clients; they reconnect to the survivors, "
        "which then fill faster — a cascade.",
        f"- Bounded policies: {bounded['gateway_oom_crashes'].sum():.0f} OOM crashes in total, peak memory "
        f"≤ {bounded['gateway_memory_peak_bytes'].max() / 2**20:.1f} MiB "
        f"(ceiling {cfg.gateways.memory / 2**20:.0f} MiB).",
    ]
    prices = {"drop_oldest": "messages_dropped_overflow", "conflate": "messages_conflated"}
    prices["disconnect"] = "slow_consumer_disconnects"
    shown = [
        f"{p} {table.loc[p, col]:,.0f} {col.split('_')[1]}" for p, col in prices.items() if p in table.index
    ]
    lines.append(f"- Prices: {', '.join(shown)}.")
    lines.append(f"- p99 send-queue depth by policy: {table['send_queue_depth_p99'].round(1).to_dict()}")
    return "\n".join(lines)


def one_policy(cfg: Any, policy: str, slow_fraction: float, queue_limit: int, progress: Any = None) -> Any:
    """The interactive cell's simulation: one policy, one replication."""
    changes = [
        f"{POLICY}={policy}",
        f"clients.slow_consumers.fraction={slow_fraction}",
        f"gateways.send_queue.limit={queue_limit}",
    ]
    return simulate(configure(cfg, changes, sweep=None), progress=progress or False)


def policy_figure(res: Any, policy: str, slow_fraction: float, queue_limit: int) -> go.Figure:
    """Memory of every gateway over time for one policy, with the ceiling; the title says what it paid."""
    mem = res.timeseries[res.timeseries["series"] == "memory_bytes"]
    row = res.summary.iloc[0]
    fig = px.line(mem, x="time", y="value", color="label", labels={"value": "bytes", "label": "gateway"})
    fig.add_hline(y=res.config["gateways"]["memory"], line_dash="dot", annotation_text="gateway memory")
    fig.update_layout(
        title=f"{policy}, {slow_fraction:.0%} slow, bound {queue_limit}: "
        f"{row['gateway_oom_crashes']:.0f} OOM crashes, {row['messages_dropped_overflow']:,.0f} dropped, "
        f"{row['slow_consumer_disconnects']:.0f} disconnected"
    )
    return fig
