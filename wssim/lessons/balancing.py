"""Chapter 06 · balancing long-lived sockets: how many move when the pool changes; who cuts quiet ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wssim.lessons.runs import configure, simulate
from wssim.policies import HashRing, Keepalive, make_balancer, tightest

PING = "gateways.keepalive.ping_interval"


def moved_fraction(kind: str, n: int, keys: int) -> float:
    """Share of ``keys`` routed to a different node after growing from ``n`` to ``n + 1`` nodes."""
    before = make_balancer(kind, [f"gw{i}" for i in range(n)])
    after = make_balancer(kind, [f"gw{i}" for i in range(n + 1)])
    return float(np.mean([before.pick(f"client-{k}") != after.pick(f"client-{k}") for k in range(keys)]))


def closed_form(kind: str, n: int) -> float:
    """The expected moved share when gateway n+1 joins n: 1/(n+1) for hashing rings, n/(n+1) for modulo."""
    return n / (n + 1) if kind == "modulo" else 1 / (n + 1)


def moved_figure(balancers: Sequence[str], keys: int, ns: Sequence[int] = range(2, 11)) -> go.Figure:
    """Moved share straight from the balancer objects, against both closed forms."""
    direct = pd.DataFrame(
        [{"N": n, "balancer": k, "moved": moved_fraction(k, n, keys)} for k in balancers for n in ns]
    )
    fig = px.scatter(
        direct, x="N", y="moved", color="balancer", title="Keys that move when gateway N+1 joins"
    )
    n = np.array(list(ns))
    fig.add_scatter(x=n, y=1 / (n + 1), mode="lines", name="1/(N+1)", line={"dash": "dot"})
    fig.add_scatter(x=n, y=n / (n + 1), mode="lines", name="N/(N+1)", line={"dash": "dot"})
    fig.update_layout(yaxis_title="fraction of connections moved", yaxis_tickformat=".0%")
    return fig


def moved_in_fleet(
    gateways: int,
    clients: int,
    balancers: Sequence[str],
    replications: int,
    progress: bool | Callable[[float], None] = False,
) -> pd.DataFrame:
    """The ``balancing`` scenario (a gateway joins mid-run, clients drop off and come back): the share
    of returning clients that landed on another gateway, per balancer, mean and SEM."""
    cfg = configure("balancing", [f"gateways.count={gateways}", f"clients.count={clients}"])
    res = simulate(cfg, replications, progress, sweep={"edge.balancer": list(balancers)})
    moved = res.summary.groupby("edge.balancer")["connections_moved_fraction"].agg(["mean", "sem"])
    return moved.reindex(list(balancers))


def idle_fleet(clients: int, idle_timeout: str, path_idle_timeout: str, duration: str) -> Any:
    """The ``idle_timeout`` scenario: quiet clients behind a balancer and a proxy with idle timeouts."""
    return configure(
        "idle_timeout",
        [
            f"clients.count={clients}",
            f"edge.idle_timeout={idle_timeout}",
            f"edge.path_idle_timeout={path_idle_timeout}",
            f"duration={duration}",
        ],
    )


def ping_label(seconds: float | None) -> str:
    """``25s``, or ``none`` for no pings."""
    return "none" if seconds is None or pd.isna(seconds) else f"{seconds:.0f}s"


def idle_cuts(
    cfg: Any,
    pings: Sequence[float | None],
    replications: int,
    progress: bool | Callable[[float], None] = False,
) -> pd.Series:
    """Idle-timeout disconnects per run, by ping interval (``15s`` … ``none``)."""
    res = simulate(cfg, replications, progress, sweep={PING: list(pings)})
    runs = res.summary
    runs["ping"] = runs[PING].map(ping_label)
    return runs.groupby("ping", sort=False)["idle_timeout_disconnects"].mean()


def path_timeout(cfg: Any) -> float:
    """The tightest idle timeout on the path (balancer or proxy)."""
    return tightest(cfg.edge.idle_timeout, cfg.edge.path_idle_timeout)


def cut_expected(cfg: Any, pings: Sequence[float | None]) -> list[bool]:
    """For each ping interval, whether the keepalive policy says the tightest timeout will fire."""
    return [not Keepalive(p).keeps_alive(path_timeout(cfg)) for p in pings]


def cuts_figure(cuts: pd.Series, expected_cut: Sequence[bool], timeout: float) -> go.Figure:
    """Cuts per ping interval, red where the policy expects cuts and green where it does not."""
    fig = go.Figure(
        go.Bar(
            x=cuts.index, y=cuts.values, marker_color=["crimson" if e else "seagreen" for e in expected_cut]
        )
    )
    fig.update_layout(
        title=f"Idle-timeout disconnects by ping interval (tightest timeout on the path: {timeout:.0f} s)",
        xaxis_title="ping interval",
        yaxis_title="connections cut per run",
    )
    return fig


def findings(
    moved: pd.DataFrame, gateways: int, keys: int, cuts: pd.Series, pings: Sequence[float | None], cfg: Any
) -> str:
    """The closing sentences: moved shares against the closed forms, pings against the tightest timeout."""
    lines = [
        f"- {kind}: simulated {moved.loc[kind, 'mean']:.1%} moved "
        f"(direct {moved_fraction(kind, gateways, keys):.1%}, closed form {closed_form(kind, gateways):.1%})."
        for kind in moved.index
    ]
    vnodes = cfg.edge.virtual_nodes
    share = HashRing(range(gateways + 1), vnodes=vnodes).shares()[gateways]
    lines.append(
        f"- The joining gateway owns {share:.1%} of this ring ({vnodes} virtual nodes per gateway): "
        "that is what consistent hashing moves here; 1/(N+1) is the average over ring layouts."
    )
    timeout = path_timeout(cfg)
    expected = cut_expected(cfg, pings)
    safe = [ping_label(p) for p, e in zip(pings, expected, strict=True) if not e]
    late = [ping_label(p) for p, e in zip(pings, expected, strict=True) if e and p is not None]
    if safe:
        lines.append(
            f"- Pings every {', '.join(safe)} keep the {timeout:.0f} s timeout from firing: "
            f"{cuts[safe].sum():.0f} idle cuts in total."
        )
    if late:
        lines.append(
            f"- Pings every {', '.join(late)} come too late: {cuts[late].mean():,.0f} cuts per run "
            "on average."
        )
    if "none" in cuts.index:
        lines.append(
            f"- Without pings: {cuts['none']:,.0f} cuts per run, each after {timeout:.0f} s of silence."
        )
    return "\n".join(lines)


def one_path(cfg: Any, ping_s: int, path_timeout_s: int, progress: Any = None) -> Any:
    """The interactive cell's simulation: one ping interval behind one proxy timeout, one replication."""
    changes = [f"{PING}={ping_s}s" if ping_s else f"{PING}=null", f"edge.path_idle_timeout={path_timeout_s}s"]
    return simulate(configure(cfg, changes, sweep=None), progress=progress or False)


def path_figure(res: Any, ping_s: int, path_timeout_s: int) -> go.Figure:
    """Connections held over time: flat when pings win, a sawtooth when the proxy cuts."""
    held = res.series("connections")
    cuts = res.summary["idle_timeout_disconnects"].iloc[0]
    fig = px.line(
        held, x="time", y="value", labels={"value": "connections held", "time": "simulated time (s)"}
    )
    ping = f"pings every {ping_s} s" if ping_s else "no pings"
    fig.update_layout(
        title=f"{ping}, proxy cuts after {path_timeout_s} s of silence: {cuts:,.0f} idle cuts",
        yaxis_range=[0, 1.1 * max(held["value"].max(), 1)],
    )
    return fig
