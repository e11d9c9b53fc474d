"""Chapter 00 · a tour: the fleet, one run, reading what it reports, replications and their intervals."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from wssim.lessons.runs import chat_fleet, configure, simulate
from wssim.metrics import METRICS
from wssim.sweep import confidence_interval
from wssim.units import human

STRATEGY = "clients.reconnect.strategy"


def fleet(clients: int, gateways: int, crash_at: str, duration: str) -> Any:
    """The ``quickstart`` fleet resized: chat clients in rooms of ten, gateway 0 crashing at ``crash_at``."""
    return chat_fleet(
        clients,
        [
            f"gateways.count={gateways}",
            f"duration={duration}",
            "warmup=10s",
            "clients.offline.rate=0/s",  # nobody away by choice: "whole again" after the crash is defined
        ],
        faults=[{"kind": "gateway_crash", "at": crash_at, "gateway": 0}],
    )


def components(cfg: Any) -> pd.DataFrame:
    """The fleet, one row per component: what the config sets it to."""
    c, e, g, b = cfg.clients, cfg.edge, cfg.gateways, cfg.backplane
    per_conn = g.per_connection.kernel + g.per_connection.tls + g.per_connection.app
    ping = human(g.keepalive.ping_interval, "s") if g.keepalive.ping_interval else "never"
    rows = [
        (
            "clients",
            f"{c.count:,} in {c.rooms.count:,} rooms, {human(c.publish_rate * 60)} messages/min each, "
            f"{c.slow_consumers.fraction:.0%} slow; they reconnect with {c.reconnect.strategy} backoff",
        ),
        ("edge", f"{e.layer} balancer, {e.balancer}, idle timeout {human(e.idle_timeout, 's')}"),
        (
            "gateways",
            f"{g.count} × {human(g.memory, 'bytes')}, {human(per_conn, 'bytes')} per connection, "
            f"send queue of {g.send_queue.limit} ({g.send_queue.overflow}), pings every {ping}",
        ),
        ("backplane", f"{b.kind}, {b.topology}, replay window {b.replay.max_messages} messages"),
        ("faults", "; ".join(f"{f.kind} at {human(f.at, 's')}" for f in cfg.faults) or "none"),
    ]
    return pd.DataFrame(rows, columns=["component", "as configured"]).set_index("component")


def readout(res: Any) -> tuple[pd.DataFrame, list[str]]:
    """The metrics of one run that moved (value, unit, meaning), and the names of those that stayed 0."""
    row = res.summary.iloc[0]
    moved, zero = [], []
    for name, metric in METRICS.items():
        value = row.get(name, math.nan)
        if pd.isna(value):
            continue
        if value == 0:
            zero.append(name)
        else:
            moved.append((name, human(value, metric.unit), metric.unit, metric.meaning))
    table = pd.DataFrame(moved, columns=["metric", "value", "unit", "meaning"]).set_index("metric")
    return table, zero


def orphans(res: Any, gateway: str = "0") -> float:
    """Connections the crashed gateway held just before the crash (replication 0)."""
    crash_at = res.config["faults"][0]["at"]
    ts = res.timeseries
    held = ts[(ts["series"] == "connections") & (ts["label"] == gateway) & (ts["time"] < crash_at)]
    return float(held.sort_values("time")["value"].iloc[-1])


def replicate(
    cfg: Any, replications: int, progress: bool | Callable[[float], None] = False, sweep: Any = None
) -> Any:
    """``replications`` independent runs of ``cfg`` (each with its own random streams)."""
    return simulate(cfg, replications, progress, sweep=sweep)


def interval(values: Sequence[float]) -> tuple[float, float]:
    """Mean and 95% confidence half-width (Student t) of ``values``."""
    mean, _, half = confidence_interval(np.asarray(values, dtype=float))
    return mean, half


def shrinking(values: Sequence[float], ns: Sequence[int]) -> pd.DataFrame:
    """The mean and 95% CI half-width over the first n replications, for each n in ``ns``."""
    rows = [(n, *interval(values[:n])) for n in ns if 2 <= n <= len(values)]
    out = pd.DataFrame(rows, columns=["replications", "mean", "ci95_half_width"])
    first = out.iloc[0]
    out["1/√n from the first"] = first["ci95_half_width"] * np.sqrt(
        first["replications"] / out["replications"]
    )
    return out


def intervals_figure(values: Sequence[float], ns: Sequence[int], metric: str) -> go.Figure:
    """Every replication's value, and the mean ± 95% CI over the first n of them, for each n."""
    table = shrinking(values, ns)
    fig = go.Figure()
    fig.add_scatter(
        x=[f"n = {n}" for n in table["replications"]],
        y=table["mean"],
        error_y={"type": "data", "array": table["ci95_half_width"]},
        mode="markers",
        marker={"size": 12},
        name="mean ± 95% CI over the first n",
    )
    fig.add_scatter(
        x=[f"n = {max(ns)}"] * len(values),
        y=values,
        mode="markers",
        marker={"opacity": 0.4},
        name="one replication each",
    )
    unit = METRICS[metric].unit if metric in METRICS else ""
    fig.update_layout(
        title=f"{metric}: more replications, a narrower interval", yaxis_title=f"{metric} ({unit})"
    )
    return fig


def paired(res: Any, metric: str) -> pd.DataFrame:
    """Two points compared: each point's mean ± CI, and the paired difference against point 0 with its CI."""
    cols = [*res.params, "mean", "ci95_half_width", "diff_vs_point0", "diff_ci95_low", "diff_ci95_high"]
    return res.aggregate([metric])[cols].set_index(res.params)


def findings(res: Any, values: Sequence[float], ns: Sequence[int], metric: str, pairs: pd.DataFrame) -> str:
    """The closing sentences: the crash in numbers, the interval shrinking, the paired comparison."""
    row = res.summary.iloc[0]
    table = shrinking(values, ns)
    first, last = table.iloc[0], table.iloc[-1]
    diff = pairs.iloc[1]
    return "\n".join(
        [
            f"- The fleet held {row['connections_peak']:,.0f} connections at its peak; gateway 0 held "
            f"{orphans(res):,.0f} of them when it crashed, and the fleet was whole again after "
            f"{row['herd_convergence_s']:.1f} s (peak {row['peak_handshake_rate']:,.0f} handshakes/s).",
            f"- {metric}: {first['mean']:.2f} ± {first['ci95_half_width']:.2f} over "
            f"{first['replications']:.0f} replications, {last['mean']:.2f} ± {last['ci95_half_width']:.2f} "
            f"over {last['replications']:.0f} (1/√n predicted ± {last['1/√n from the first']:.2f}).",
            f"- {pairs.index[1]} minus {pairs.index[0]}, paired replication by replication: "
            f"{diff['diff_vs_point0']:.2f} "
            f"(95% CI {diff['diff_ci95_low']:.2f} to {diff['diff_ci95_high']:.2f}): an interval that "
            "excludes 0 is a difference the replications support.",
        ]
    )


def spread(cfg: Any, replications: int, strategy: str, progress: Any = None) -> Any:
    """The interactive cell's simulation: ``replications`` runs of the crash with one backoff strategy."""
    return simulate(configure(cfg, [f"{STRATEGY}={strategy}"], sweep=None), replications, progress or False)


def spread_figure(
    res: Any, replications: int, strategy: str, metric: str = "herd_convergence_s"
) -> go.Figure:
    """Each replication's value and the mean ± 95% CI."""
    values = res.summary[metric].dropna().to_list()
    mean, half = interval(values)
    fig = go.Figure(go.Scatter(x=list(range(len(values))), y=values, mode="markers", name="replications"))
    fig.add_hline(y=mean, annotation_text="mean")
    if not math.isnan(half):
        fig.add_hrect(y0=mean - half, y1=mean + half, opacity=0.2, fillcolor="royalblue", line_width=0)
    fig.update_layout(
        title=f"{strategy}, {replications} replications: {metric} = {mean:.2f} ± {half:.2f} (95% CI)",
        xaxis_title="replication",
        yaxis_title=metric,
    )
    return fig
