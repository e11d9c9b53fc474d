"""Chapter 08 · when not to use WebSockets: a user's price on each transport, and the four-part test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wssim.analytic.transports import (
    TRANSPORTS,
    Overheads,
    Prices,
    Requirement,
    recommend,
    transport_cost,
    usd_per_user_month,
)
from wssim.lessons.runs import configure, simulate

PRICE = "USD/month per {users:,} users"
PRODUCTS = {
    "dashboard tile (1 update/min, push)": Requirement(1 / 60, 0.0, 5.0, 300),
    "notifications (1 per 10 min, push)": Requirement(1 / 600, 0.0, 10.0, 400),
    "live scores (1 update/5 s, push)": Requirement(0.2, 0.0, 1.0, 150),
    "chat (5 msgs/user/min, both ways)": Requirement(5 / 60 * 20, 5 / 60, 0.5, 200),
    "multiplayer game (20/s, both ways)": Requirement(20.0, 20.0, 0.1, 64),
    "order lookup (request/response)": Requirement(0.01, 0.01, 1.0, 500, server_initiated=False),
}


@dataclass(frozen=True)
class Pricing:
    """What a held connection costs, what a node costs, how big a message is, and for how many users."""

    per_connection_kib: float
    node_per_month: float
    message_size: int
    users: int

    @property
    def column(self) -> str:
        """The price column's name."""
        return PRICE.format(users=self.users)

    def overheads(self) -> Overheads:
        return replace(Overheads(), per_connection_bytes=self.per_connection_kib * 1024)

    def prices(self) -> Prices:
        return replace(Prices(), node_per_month=self.node_per_month)


def price_all(
    pricing: Pricing, updates_per_min: float, max_latency: float, upstream_per_min: float
) -> list[dict]:
    """Monthly price for ``pricing.users`` users and the resource figures of every transport."""
    req = Requirement(updates_per_min / 60, upstream_per_min / 60, max_latency, pricing.message_size)
    rows = []
    for kind in TRANSPORTS:
        cost = transport_cost(kind, req, pricing.overheads())
        rows.append(
            {
                "updates/min": updates_per_min,
                "max latency (s)": max_latency,
                "transport": kind,
                pricing.column: usd_per_user_month(cost, pricing.prices()) * pricing.users,
                "requests/s": cost.requests_per_s,
                "handshakes/s": cost.handshakes_per_s,
                "bytes down/s": cost.bytes_down_per_s,
                "memory (KiB)": cost.server_memory_bytes / 1024,
            }
        )
    return rows


def by_latency(
    pricing: Pricing, updates_per_min: float, latencies: Sequence[float], upstream: float
) -> pd.DataFrame:
    """Prices as the freshness bound relaxes, at a fixed update rate."""
    return pd.DataFrame([r for lat in latencies for r in price_all(pricing, updates_per_min, lat, upstream)])


def by_rate(pricing: Pricing, rates: Sequence[float], max_latency: float, upstream: float) -> pd.DataFrame:
    """Prices as the update rate rises, at a fixed freshness bound."""
    return pd.DataFrame([r for u in rates for r in price_all(pricing, u, max_latency, upstream)])


def price_figure(frame: pd.DataFrame, pricing: Pricing, x: str, title: str) -> go.Figure:
    """One log-log price curve per transport."""
    return px.line(
        frame,
        x=x,
        y=pricing.column,
        color="transport",
        markers=True,
        log_x=True,
        log_y=True,
        category_orders={"transport": list(TRANSPORTS)},
        hover_data=["requests/s", "handshakes/s", "bytes down/s", "memory (KiB)"],
        title=title,
    )


def poll_wins_from(frame: pd.DataFrame, pricing: Pricing) -> float:
    """The smallest staleness bound (s) at which polling costs less than any held connection (NaN if none)."""
    wide = frame.pivot(index="max latency (s)", columns="transport", values=pricing.column)
    held = wide[["websocket", "sse"]].min(axis=1)
    wins = wide.index[wide["poll"] < held]
    return float(wins.min()) if len(wins) else float("nan")


def picks(pricing: Pricing) -> pd.DataFrame:
    """The four-part test and the cheapest fitting transport for a few familiar products."""
    rows = []
    for name, req in PRODUCTS.items():
        rec = recommend(req, pricing.overheads(), pricing.prices())
        rows.append(
            {
                "product": name,
                "pick": rec.kind,
                "missing for a WebSocket": ", ".join(rec.test.missing()) or "—",
                **{f"{k} $/user/mo": v for k, v in rec.usd_per_user_month.items()},
            }
        )
    return pd.DataFrame(rows).set_index("product")


def findings(
    latency_frame: pd.DataFrame, rate_frame: pd.DataFrame, chosen: pd.DataFrame, pricing: Pricing
) -> str:
    """The closing sentences: where polling wins, SSE vs WebSocket, long-poll's penalty, the picks."""
    updates = latency_frame["updates/min"].iloc[0]
    wins = poll_wins_from(latency_frame, pricing)
    wide = latency_frame.pivot(index="max latency (s)", columns="transport", values=pricing.column)
    if wins == wins:
        held = wide.loc[wins, ["websocket", "sse"]].min()
        lines = [
            f"- At {updates:g} update/min, polling is cheaper than any held connection once {wins:g} s of "
            f"staleness is acceptable (${wide.loc[wins, 'poll']:,.0f} vs ${held:,.0f} per month)."
        ]
    else:
        lines = [f"- At {updates:g} update/min polling never beats a held connection on this grid."]
    rates = rate_frame.pivot(index="updates/min", columns="transport", values=pricing.column)
    ratio = (rates["sse"] / rates["websocket"]).agg(["min", "max"])
    lp = rates["long_poll"] / rates["websocket"]
    lines += [
        f"- SSE and WebSocket cost within {ratio['min']:.2f}–{ratio['max']:.2f}x of each other at every "
        "rate: both are held sockets. SSE wins on operations (plain HTTP through proxies, CDNs and "
        "balancers).",
        f"- Long-poll costs {lp.iloc[0]:.1f}x a WebSocket at {rates.index[0]:g} updates/min "
        f"and {lp.iloc[-1]:.1f}x at {rates.index[-1]:g}/min.",
    ]
    lines += [f"- {name}: {row['pick']}" for name, row in chosen.iterrows()]
    return "\n".join(lines)


def dashboard(users: int) -> Any:
    """The ``transports`` scenario (a push-only dashboard) with ``users`` clients in rooms of ten."""
    return configure("transports", [f"clients.count={users}", f"clients.rooms.count={max(1, users // 10)}"])


def one_feed(cfg: Any, updates_per_min: float, poll_interval_s: int, progress: Any = None) -> Any:
    """The interactive cell's simulation: the four transports at one update rate and one poll interval."""
    members = cfg.clients.count / cfg.clients.rooms.count
    changes = [
        f"clients.publish_rate={updates_per_min / members}/min",
        f"transport.poll_interval={poll_interval_s}s",
    ]
    return simulate(configure(cfg, changes), progress=progress or False)


def feed_figure(res: Any, updates_per_min: float, poll_interval_s: int) -> go.Figure:
    """Price per million users of each transport, with requests/s and median latency on hover."""
    rows = res.summary
    fig = px.bar(
        rows,
        x="transport.kind",
        y="transport_usd_per_million_users",
        hover_data=["transport_requests_per_s", "latency_p50_s", "connections_peak"],
        labels={
            "transport_usd_per_million_users": "USD/month per million users",
            "transport.kind": "transport",
        },
    )
    fig.update_layout(title=f"{updates_per_min:g} updates/min per user, polls every {poll_interval_s} s")
    return fig
