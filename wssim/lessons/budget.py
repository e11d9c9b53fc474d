"""Chapter 01 · the connection budget: bytes per connection → nodes, RAM, cost; where the hard limits bite."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wssim.lessons.runs import configure, simulate
from wssim.policies import ConnectionBudget

KiB, GiB = 1024, 1024**3
MIX = {"kernel": 0.25, "tls": 0.625, "app": 0.125}  # the default 8 + 20 + 4 KiB, as shares of 32 KiB


@dataclass(frozen=True)
class Node:
    """A gateway node: RAM, what the OS and process use, the share planned for, its limits, its price."""

    memory_gib: float
    base_gib: float
    headroom: float
    fd_limit: int
    conntrack_max: int | None
    usd_per_month: float


def plan(users: int, kernel_kib: float, tls_kib: float, app_kib: float, node: Node) -> dict[str, Any]:
    """Fleet size for ``users`` concurrent sockets with the given per-connection footprint."""
    budget = ConnectionBudget(kernel=int(kernel_kib * KiB), tls=int(tls_kib * KiB), app=int(app_kib * KiB))
    ceiling = budget.ceilings(
        int(node.memory_gib * GiB), int(node.base_gib * GiB), node.fd_limit, headroom=node.headroom
    )
    limits = {"memory (with headroom)": ceiling["memory"], "file descriptors (with headroom)": ceiling["fds"]}
    if node.conntrack_max is not None:
        limits["conntrack"] = node.conntrack_max
    per_node = min(limits.values())
    nodes = math.ceil(users / per_node)
    return {
        "bytes_per_connection": budget.bytes,
        "limits": limits,
        "binding": min(limits, key=limits.get),
        "connections_per_node": per_node,
        "nodes": nodes,
        "connection_ram_gib": users * budget.bytes / GiB,
        "cost_per_month_usd": nodes * node.usd_per_month,
    }


def table(p: dict[str, Any]) -> pd.DataFrame:
    """A plan as a two-column table."""
    rows = {k: v for k, v in p.items() if k != "limits"}
    rows.update({f"capacity by {k}": v for k, v in p["limits"].items()})
    return pd.Series(rows, dtype=object).to_frame("value")


def ceilings_figure(p: dict[str, Any], node: Node) -> go.Figure:
    """The ceilings of one node, side by side."""
    frame = pd.DataFrame({"limit": list(p["limits"]), "connections": list(p["limits"].values())})
    fig = px.bar(
        frame,
        x="limit",
        y="connections",
        color="limit",
        title=f"One {node.memory_gib:g} GiB node: which ceiling binds first?",
        text_auto=".3s",
    )
    fig.update_layout(showlegend=False, yaxis_title="connections per node")
    return fig


def footprint_figure(users: int, node: Node, your_kib: float) -> go.Figure:
    """Nodes needed against the footprint (10–64 KiB, the default mix scaled) for a few node sizes."""
    rows = []
    for node_gib in (16, 32, 64, 128):
        sized = Node(
            node_gib, node.base_gib, node.headroom, node.fd_limit, node.conntrack_max, node.usd_per_month
        )
        for kib in range(8, 66, 2):
            p = plan(users, *(kib * share for share in MIX.values()), sized)
            rows.append({"KiB per connection": kib, "node RAM": f"{node_gib} GiB", **p})
    fig = px.line(
        pd.DataFrame(rows).drop(columns="limits"),
        x="KiB per connection",
        y="nodes",
        color="node RAM",
        line_shape="hv",
        title=f"Gateway nodes for {users:,} concurrent connections",
        hover_data=["connections_per_node", "cost_per_month_usd"],
    )
    fig.add_vline(x=your_kib, line_dash="dot", annotation_text="your footprint")
    return fig


def limits_fleet(
    gateways: int,
    fd_limit: int,
    conntrack_max: int,
    clients: list[int],
    duration: str,
    replications: int,
    progress: bool | Callable[[float], None] = False,
) -> pd.DataFrame:
    """Two tiny fleets swept across their limit: one short of fds, one behind a small conntrack table.

    One row per (fleet, clients): mean connections held, EMFILE rejections, SYN drops, peak memory.
    """
    base = configure("budget", [f"gateways.count={gateways}", f"duration={duration}"])
    sweep = {
        "clients.count": list(clients),
        "zip": {"gateways.fd_limit": [fd_limit, 1_000_000], "edge.conntrack_max": [None, conntrack_max]},
    }
    runs = simulate(base, replications, progress, sweep=sweep).summary
    runs["fleet"] = ["fd-limited" if pd.isna(c) else "conntrack-limited" for c in runs["edge.conntrack_max"]]
    cols = ["connections_peak", "emfile_rejections", "conntrack_drops", "gateway_memory_peak_bytes"]
    return runs.groupby(["fleet", "clients.count"])[cols].mean()


def limits_figure(by_clients: pd.DataFrame, gateways: int, fd_limit: int, conntrack_max: int) -> go.Figure:
    """Connections held, EMFILE rejections and SYN drops against clients, one panel per fleet."""
    shown = by_clients[["connections_peak", "emfile_rejections", "conntrack_drops"]].reset_index()
    shown = shown.melt(id_vars=["fleet", "clients.count"], var_name="what", value_name="count")
    fig = px.line(
        shown,
        x="clients.count",
        y="count",
        color="what",
        facet_col="fleet",
        category_orders={"fleet": ["fd-limited", "conntrack-limited"]},
        markers=True,
        title="Crossing the limits in the simulated fleet",
        labels={"clients.count": "clients trying to connect"},
    )
    fig.add_vline(x=gateways * fd_limit, line_dash="dot", annotation_text="gateways × fd_limit", col=1)
    fig.add_vline(x=conntrack_max, line_dash="dot", annotation_text="conntrack_max", col=2)
    return fig


def first_failure(by_clients: pd.DataFrame, fleet: str, metric: str) -> float:
    """The smallest client count at which ``metric`` is non-zero in ``fleet`` (NaN if never)."""
    rows = by_clients.loc[fleet]
    return float(rows.index[rows[metric] > 0].min())


def findings(p: dict[str, Any], node: Node, users: int, by_clients: pd.DataFrame, fd_ceiling: int) -> str:
    """The closing sentences: RAM, nodes and cost, and where each simulated fleet started failing."""
    fd_fleet, ct_fleet = by_clients.loc["fd-limited"], by_clients.loc["conntrack-limited"]
    mem = by_clients["gateway_memory_peak_bytes"].max()
    return "\n".join(
        [
            f"- One connection costs {p['bytes_per_connection'] / KiB:.0f} KiB, so {users:,} sockets need "
            f"{p['connection_ram_gib']:,.0f} GiB of RAM before a single message is buffered.",
            f"- A {node.memory_gib:g} GiB node holds {p['connections_per_node']:,} connections (binding "
            f"limit: {p['binding']}); the fleet needs {p['nodes']} nodes, about "
            f"${p['cost_per_month_usd']:,.0f}/month.",
            f"- fd-limited fleet: the ceiling is {fd_ceiling:,} sockets; EMFILE rejections first appear at "
            f"{first_failure(by_clients, 'fd-limited', 'emfile_rejections'):,.0f} clients and it never "
            f"holds more than {fd_fleet['connections_peak'].max():,.0f}.",
            f"- conntrack-limited fleet: SYN drops first appear at "
            f"{first_failure(by_clients, 'conntrack-limited', 'conntrack_drops'):,.0f} clients and it never "
            f"holds more than {ct_fleet['connections_peak'].max():,.0f} — nothing is logged on the gateways, "
            "the clients just time out.",
            f"- Largest gateway memory in these runs: {mem / 2**20:,.0f} MiB, all of it presence "
            "(no traffic).",
        ]
    )


def one_fleet(
    clients: int, fd_limit: int, conntrack_max: int, gateways: int, duration: str, progress: Any = None
) -> Any:
    """The interactive cell's simulation: one fleet with both limits, one replication."""
    cfg = configure(
        "budget",
        [
            f"clients.count={clients}",
            f"gateways.fd_limit={fd_limit}",
            f"edge.conntrack_max={conntrack_max}",
            f"gateways.count={gateways}",
            f"duration={duration}",
        ],
        sweep=None,
    )
    return simulate(cfg, progress=progress or False)


def fleet_figure(res: Any, clients: int, fd_limit: int, conntrack_max: int) -> go.Figure:
    """Connections held over time, with both ceilings; the title counts what was refused."""
    held = res.series("connections")
    gateways = res.config["gateways"]["count"]
    row = res.summary.iloc[0]
    fig = px.line(
        held, x="time", y="value", labels={"value": "connections held", "time": "simulated time (s)"}
    )
    fig.add_hline(y=gateways * fd_limit, line_dash="dot", annotation_text="gateways × fd_limit")
    fig.add_hline(y=conntrack_max, line_dash="dash", annotation_text="conntrack_max")
    fig.update_layout(
        title=f"{clients:,} clients: {row['emfile_rejections']:,.0f} EMFILE rejections, "
        f"{row['conntrack_drops']:,.0f} SYNs dropped",
        yaxis_range=[0, 1.1 * max(clients, gateways * fd_limit, conntrack_max)],
    )
    return fig
