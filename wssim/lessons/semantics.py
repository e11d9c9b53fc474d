"""Chapter 07 · delivery semantics: what a subscription outage costs on each backplane kind."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wssim.lessons.charts import panels, series_figure
from wssim.lessons.runs import configure, one_run, simulate
from wssim.units import human

KIND = "backplane.kind"
COLUMNS = [
    "messages_published",
    "deliveries_expected",
    "deliveries_delivered",
    "messages_lost",
    "messages_duplicated",
    "latency_p50_s",
    "latency_p99_s",
]


def fleet(
    clients: int,
    gateways: int,
    rooms: int,
    publish_rate: str,
    outage_at_s: float,
    outage_s: float,
    after_s: float,
) -> Any:
    """The ``semantics`` scenario: gateway 0 loses its subscription for ``outage_s`` at ``outage_at_s``."""
    outage = {
        "kind": "subscription_outage",
        "at": f"{outage_at_s}s",
        "duration": f"{outage_s}s",
        "gateways": 1,
    }
    return configure(
        "semantics",
        [
            f"clients.count={clients}",
            f"gateways.count={gateways}",
            f"clients.rooms.count={rooms}",
            f"clients.publish_rate={publish_rate}",
            f"duration={outage_at_s + outage_s + after_s}s",
        ],
        faults=[outage],
    )


def expected_lost(cfg: Any) -> float:
    """λ·D·m/G: deliveries an at-most-once backplane loses while one of G gateways is unsubscribed."""
    c = cfg.clients
    room_of_a_publish = 1 + (c.count - 1) / c.rooms.count  # members, counting the publisher
    return c.count * c.publish_rate * cfg.faults[0].duration * room_of_a_publish / cfg.gateways.count


def kinds(
    cfg: Any, names: Sequence[str], replications: int, progress: bool | Callable[[float], None] = False
) -> Any:
    """The outage on every backplane kind in ``names``."""
    return simulate(cfg, replications, progress, sweep={KIND: list(names)})


def outage_band(fig: go.Figure, cfg: Any) -> go.Figure:
    """Shade the outage on every panel of ``fig``."""
    outage = cfg.faults[0]
    fig.add_vrect(
        x0=outage.at, x1=outage.at + outage.duration, fillcolor="grey", opacity=0.2, row="all", col="all"
    )
    return fig


def deliveries_figure(res: Any, cfg: Any, names: Sequence[str]) -> go.Figure:
    """Deliveries to clients per second, one panel per backplane kind, the outage shaded."""
    title = "Deliveries to clients per second, one panel per backplane (replication 0)"
    return outage_band(panels(res.series("deliveries"), KIND, names, title, 150 * len(names)), cfg)


def table(res: Any, names: Sequence[str]) -> pd.DataFrame:
    """Published, owed, delivered, lost, duplicated and latency per kind (mean per run)."""
    out = res.summary.groupby(KIND)[COLUMNS].mean().reindex(list(names))
    out["lost_fraction"] = out["messages_lost"] / out["deliveries_expected"]
    return out


def lost_figure(by_kind: pd.DataFrame) -> go.Figure:
    """Share of owed deliveries never received, per kind."""
    fig = px.bar(
        by_kind.reset_index(),
        x=KIND,
        y="lost_fraction",
        title="Share of owed deliveries never received",
        hover_data=["messages_lost", "messages_duplicated", "latency_p99_s"],
    )
    fig.update_layout(yaxis_tickformat=".1%")
    return fig


def findings(by_kind: pd.DataFrame, cfg: Any) -> str:
    """The closing sentences: λ·D·m/G, then what each kind lost, duplicated and how late it delivered."""
    c, outage = cfg.clients, cfg.faults[0]
    lines = [
        f"- Closed form λ·D·m/G = {c.count * c.publish_rate:.0f}/s × {outage.duration:.0f} s × "
        f"{1 + (c.count - 1) / c.rooms.count:.1f} / {cfg.gateways.count} ≈ {expected_lost(cfg):,.0f} "
        "deliveries lost by an at-most-once backplane."
    ]
    for kind, row in by_kind.iterrows():
        lines.append(
            f"- {kind:>14}: lost {row['messages_lost']:>7,.0f} ({row['lost_fraction']:.1%} of what was "
            f"owed), duplicated {row['messages_duplicated']:>5,.0f}, "
            f"p99 latency {human(row['latency_p99_s'], 's')}"
        )
    return "\n".join(lines)


def one_kind(cfg: Any, kind: str, outage_s: int, progress: Any = None) -> Any:
    """The interactive cell's simulation: one kind, one outage length, one replication."""
    faults = [{**cfg.faults[0].model_dump(mode="json"), "duration": f"{outage_s}s"}]
    end = cfg.faults[0].at + outage_s + 15
    return one_run(cfg, [f"{KIND}={kind}", f"duration={end}s"], progress, faults=faults)


def kind_figure(res: Any, kind: str, outage_s: int) -> go.Figure:
    """Deliveries per second through the outage for one kind; the title says what it lost and how late."""
    row = res.summary.iloc[0]
    title = (
        f"{kind}, {outage_s} s outage: {row['messages_lost']:,.0f} lost (λ·D·m/G ≈ "
        f"{expected_lost(configure(res.config)):,.0f}), p99 latency {row['latency_p99_s']:.2f} s"
    )
    fig = series_figure(res, "deliveries", "deliveries/s", title)
    outage_band(fig, configure(res.config))
    return fig
