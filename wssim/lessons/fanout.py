"""Chapter 02 · fan-out: backplane deliveries per publish by topology, against the closed form."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wssim.lessons.runs import configure, simulate

TOPOLOGIES = ["broadcast", "channel_per_room", "sharded", "registry"]
TOPOLOGY = "backplane.topology"


def gateways_reached(m: Any, g: int) -> np.ndarray:
    """Expected gateways holding at least one of ``m`` members placed uniformly over ``g`` gateways."""
    return g * (1 - (1 - 1 / g) ** np.asarray(m, dtype=float))


def reached_by_a_publish(rooms: Any, n: int, g: int) -> np.ndarray:
    """The same for the model's rooms: every client joins a uniformly random room, and a publish comes
    from a random client, so its room holds the publisher plus Binomial(n-1, 1/rooms) others."""
    p = 1 / np.asarray(rooms, dtype=float)
    return 1 + (g - 1) * (1 - (1 - p / g) ** (n - 1))


def fleet(gateways: int, clients: int, publish_rate: str, duration: str) -> Any:
    """The ``fanout`` scenario resized."""
    return configure(
        "fanout",
        [
            f"gateways.count={gateways}",
            f"clients.count={clients}",
            f"clients.publish_rate={publish_rate}",
            f"duration={duration}",
        ],
    )


def shapes(clients: int) -> dict[str, tuple[int, float]]:
    """Three traffic shapes: (rooms, share of direct 1:1 messages)."""
    return {
        "few huge rooms": (8, 0.0),
        "many tiny rooms": (clients // 3, 0.0),
        "direct 1:1": (clients // 3, 1.0),
    }


def shapes_grid(
    base: Any, replications: int, progress: bool | Callable[[float], None] = False
) -> pd.DataFrame:
    """Every topology × every traffic shape: mean deliveries per publish and waste fraction."""
    shape_of = {v: k for k, v in shapes(base.clients.count).items()}
    sweep = {
        TOPOLOGY: TOPOLOGIES,
        "zip": {
            "clients.rooms.count": [v[0] for v in shape_of],
            "clients.direct_fraction": [v[1] for v in shape_of],
        },
    }
    grid = simulate(base, replications, progress, sweep=sweep).summary
    keys = zip(grid["clients.rooms.count"], grid["clients.direct_fraction"], strict=True)
    grid["shape"] = [shape_of[(int(r), float(d))] for r, d in keys]
    grid["deliveries_per_publish"] = grid["backplane_deliveries"] / grid["messages_published"]
    return grid.groupby(["shape", TOPOLOGY])[["deliveries_per_publish", "fanout_waste_fraction"]].mean()


def shapes_figure(table: pd.DataFrame, gateways: int) -> go.Figure:
    """Deliveries per publish, grouped by traffic shape."""
    fig = px.bar(
        table.reset_index(),
        x="shape",
        y="deliveries_per_publish",
        color=TOPOLOGY,
        barmode="group",
        category_orders={TOPOLOGY: TOPOLOGIES},
        title=f"Backplane deliveries per publish, {gateways} gateways",
        hover_data=["fanout_waste_fraction"],
    )
    fig.add_hline(y=gateways, line_dash="dot", annotation_text="G (every gateway)")
    return fig


def room_curve(
    base: Any, room_sizes: Sequence[int], replications: int, progress: bool | Callable[[float], None] = False
) -> pd.DataFrame:
    """Channel-per-room, sweeping the mean room size m: gateways reached per publish (mean, 95% CI)."""
    clients, g = base.clients.count, base.gateways.count
    sweep = {"clients.rooms.count": [max(1, clients // m) for m in room_sizes]}
    curve = simulate(configure(base, [f"{TOPOLOGY}=channel_per_room"]), replications, progress, sweep=sweep)
    runs = curve.summary
    runs["m"] = clients / runs["clients.rooms.count"]
    runs["reached"] = runs["backplane_deliveries"] / runs["messages_published"]
    points = runs.groupby("m")["reached"].agg(["mean", "std", "count"]).reset_index()
    points["ci95"] = 1.96 * points["std"].fillna(0) / np.sqrt(points["count"])
    points["rooms_of_m"] = gateways_reached(points["m"], g)
    points["random_rooms"] = reached_by_a_publish(clients / points["m"], clients, g)
    return points


def curve_figure(points: pd.DataFrame, clients: int, gateways: int) -> go.Figure:
    """The two closed forms and the simulated points, against the room size."""
    ms = np.linspace(1, points["m"].max() * 1.1, 200)
    fig = go.Figure()
    fig.add_scatter(x=ms, y=gateways_reached(ms, gateways), name="G·(1−(1−1/G)^m): rooms of exactly m")
    fig.add_scatter(
        x=ms,
        y=reached_by_a_publish(clients / ms, clients, gateways),
        name="random room sizes, seen by a publisher",
        line={"dash": "dot"},
    )
    fig.add_scatter(
        x=points["m"],
        y=points["mean"],
        error_y={"type": "data", "array": points["ci95"]},
        mode="markers",
        name="simulated (mean ± 95% CI)",
    )
    fig.add_hline(y=gateways, line_dash="dot", annotation_text="broadcast = G")
    fig.update_layout(
        title="Gateways reached per publish vs room size",
        xaxis_title="members per room m",
        yaxis_title="backplane deliveries per publish",
    )
    return fig


def findings(table: pd.DataFrame, points: pd.DataFrame, clients: int, gateways: int) -> str:
    """The closing sentences: broadcast's cost, the cheapest topology per shape, model vs closed forms."""
    dpp = table["deliveries_per_publish"].unstack(TOPOLOGY)
    waste = table["fanout_waste_fraction"].unstack(TOPOLOGY)
    lines = [
        f"- Broadcast: {dpp['broadcast'].mean():.1f} deliveries per publish on {gateways} gateways, "
        "whatever the shape."
    ]
    for shape in shapes(clients):
        row = dpp.loc[shape]
        best = [t for t in TOPOLOGIES if row[t] <= row.min() * 1.02]
        lines.append(
            f"- {shape}: cheapest {' = '.join(best)} ({row.min():.2f}/publish); "
            f"broadcast wastes {waste.loc[shape, 'broadcast']:.0%} of its deliveries."
        )
    gap = (points["mean"] - points["random_rooms"]).abs().max()
    big = points[points["m"] >= 8]
    lines += [
        f"- Model vs the closed form for its random room sizes: largest gap {gap:.2f} gateways per publish.",
        f"- For rooms of 8+ members the textbook G·(1−(1−1/G)^m) is within "
        f"{(big['mean'] - big['rooms_of_m']).abs().max():.2f}; for tiny rooms it undershoots, because the "
        "room of a publish always holds the publisher and random room sizes favour bigger rooms.",
    ]
    return "\n".join(lines)


def one_topology(base: Any, topology: str, gateways: int, room_size: int, progress: Any = None) -> Any:
    """The interactive cell's simulation: one topology, one room size, one replication."""
    rooms = max(1, base.clients.count // room_size)
    changes = [f"{TOPOLOGY}={topology}", f"gateways.count={gateways}", f"clients.rooms.count={rooms}"]
    return simulate(configure(base, changes, sweep=None), progress=progress or False)


def topology_figure(res: Any, topology: str, gateways: int, room_size: int) -> go.Figure:
    """Simulated deliveries per publish next to the closed form and broadcast's G."""
    row = res.summary.iloc[0]
    clients = res.config["clients"]["count"]
    rooms = res.config["clients"]["rooms"]["count"]
    bars = {
        f"simulated ({topology})": row["backplane_deliveries"] / row["messages_published"],
        "closed form, random rooms": float(reached_by_a_publish(rooms, clients, gateways)),
        "broadcast (G)": gateways,
    }
    fig = go.Figure(go.Bar(x=list(bars), y=list(bars.values()), text=[f"{v:.2f}" for v in bars.values()]))
    fig.update_layout(
        title=f"{gateways} gateways, rooms of about {room_size}: waste {row['fanout_waste_fraction']:.0%}",
        yaxis_title="backplane deliveries per publish",
    )
    return fig


def big_room(
    members: int, loads: Sequence[float], duration: str, progress: bool | Callable[[float], None] = False
) -> pd.DataFrame:
    """One room of ``members`` on one gateway, publishing (Poisson) at each offered CPU load ρ: the
    publications per second times the CPU one costs (``backplane_message`` + members × a frame), over
    the cores. Per ρ: the publish rate, the CPU's peak utilisation, its longest backlog, p99 latency."""
    base = configure(
        {
            "name": "big-room",
            "duration": duration,
            "warmup": "5s",
            "clients": {
                "count": members,
                "connect_ramp": "1s",
                "rooms": {"count": 1},
                "message_size": "100B",
            },
            "gateways": {"count": 1, "keepalive": {"ping_interval": None}},
            "edge": {"idle_timeout": None},
            "backplane": {"kind": "in_memory"},
        }
    )
    cost = publication_cpu(base, members)
    rates = [rho * base.gateways.cpu.cores / cost / members for rho in loads]
    res = simulate(base, 1, progress, sweep={"clients.publish_rate": rates})
    cols = ["gateway_cpu_utilisation_peak", "gateway_cpu_backlog_s_max", "latency_p99_s"]
    table = res.summary.sort_values("clients.publish_rate")[["clients.publish_rate", *cols]].copy()
    table["load"] = table["clients.publish_rate"] * members * cost / base.gateways.cpu.cores
    table["publications_per_s"] = table["clients.publish_rate"] * members
    return table.reset_index(drop=True)


def publication_cpu(cfg: Any, members: int) -> float:
    """CPU-seconds one publication costs a gateway holding ``members`` of its room."""
    cpu = cfg.gateways.cpu
    return cpu.backplane_message + members * (cpu.frame + cpu.per_byte * cfg.clients.message_size)


def big_room_figure(table: pd.DataFrame) -> go.Figure:
    """p99 latency against the offered CPU load, log scale: flat below 1, growing without bound above."""
    fig = px.line(
        table,
        x="load",
        y="latency_p99_s",
        log_y=True,
        markers=True,
        title="One big room on one gateway: latency against the CPU load it offers",
        labels={
            "load": "offered CPU load ρ (publications/s × CPU per publication / cores)",
            "latency_p99_s": "p99 latency (s)",
        },
    )
    fig.add_vline(x=1.0, line_dash="dot", annotation_text="the cores are full")
    return fig


def big_room_findings(table: pd.DataFrame, members: int) -> str:
    """The closing lines: where the big room saturates and what its latency did either side."""
    low, high = table.iloc[0], table.iloc[-1]
    saturates = low["publications_per_s"] / low["load"]
    return "\n".join(
        [
            f"- One room of {members:,} on one gateway saturates its CPU at {saturates:.1f} publications/s "
            f"({members * saturates:,.0f} deliveries/s).",
            f"- p99 latency {low['latency_p99_s'] * 1e3:.1f} ms at ρ = {low['load']:.2f}, "
            f"{high['latency_p99_s']:.2f} s at ρ = {high['load']:.2f} (CPU peak "
            f"{high['gateway_cpu_utilisation_peak']:.0%}, "
            f"backlog {high['gateway_cpu_backlog_s_max']:.1f} s).",
        ]
    )
