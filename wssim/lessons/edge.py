"""Chapter 12 · the edge during a crash: health checks, L4 against L7, sticky sessions.

One gateway crashes and restarts; what the balancer in front of the fleet does meanwhile decides how
many connections it sends to the dead gateway, where the TLS state of every connection lives, and
whether the restarted gateway ever gets its share back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wssim.lessons.charts import panels
from wssim.lessons.runs import chat_fleet, configure, simulate

INTERVAL = "edge.health_check.interval"
PASSIVE = "edge.health_check.passive"
LAYER = "edge.layer"
BALANCER = "edge.balancer"
HEALTH = [
    "health_check_detection_s",
    "connects_to_dead_gateway",
    "reconnect_attempts",
    "peak_handshake_rate",
    "herd_convergence_s",
]
LAYERS = ["l7_tls_terminations", "edge_memory_peak_bytes", "gateway_memory_peak_bytes", "herd_convergence_s"]


def fleet(
    clients: int, gateways: int, crash_at: str, duration: str, offline_rate: str, offline_mean: str
) -> Any:
    """The ``quickstart`` fleet behind one balancer node with the default health check (every 1 s, out
    after 2 failures, back after 2 answers); gateway 0 crashes at ``crash_at`` and restarts 10 s later.
    Clients go offline now and then (``offline_rate``, ``offline_mean``) and come back through the
    balancer."""
    return chat_fleet(
        clients,
        [
            f"gateways.count={gateways}",
            f"duration={duration}",
            "warmup=10s",
            f"clients.offline.rate={offline_rate}",
            f"clients.offline.mean={offline_mean}",
            "edge.health_check.interval=1s",
        ],
        faults=[{"kind": "gateway_crash", "at": crash_at, "gateway": 0}],
    )


def label(interval: float, passive: bool) -> str:
    """How a health-check setting is named in the tables and charts."""
    return f"every {interval:g} s" + (" + passive" if passive else "")


def health_checks(
    cfg: Any, intervals: list[str], replications: int, progress: bool | Callable[[float], None] = False
) -> Any:
    """The crash under every probe ``interval``, with and without the passive check."""
    res = simulate(cfg, replications, progress, sweep={INTERVAL: list(intervals), PASSIVE: [False, True]})
    res.summary["check"] = [
        label(i, p) for i, p in zip(res.summary[INTERVAL], res.summary[PASSIVE], strict=True)
    ]
    return res


def health_table(res: Any) -> pd.DataFrame:
    """What each health-check setting cost during the crash, mean per run."""
    order = list(dict.fromkeys(res.summary.sort_values([PASSIVE, INTERVAL])["check"]))
    return res.summary.groupby("check")[[INTERVAL, PASSIVE, *HEALTH]].mean().reindex(order)


def detection_closed_form(cfg: Any, interval_s: float) -> float:
    """Mean time until a crashed gateway leaves a node's pool: ``(fall − 1 + U)·interval``, U uniform
    (the node's phase); a crashed gateway refuses its probe at once."""
    return (cfg.edge.health_check.fall - 0.5) * interval_s


def attempts_figure(res: Any) -> go.Figure:
    """Connection attempts per second around the crash, one panel per health-check setting."""
    series = res.series("connect_attempts").merge(
        res.summary[["point", "check"]].drop_duplicates(), on="point", how="left"
    )
    order = list(health_table(res).index)
    fig = panels(
        series, "check", order, "Connection attempts/s around the crash (replication 0)", 150 * len(order)
    )
    crash = res.config["faults"][0]["at"]
    fig.add_vline(x=crash, line_dash="dash", row="all", col="all")
    fig.update_xaxes(range=[crash - 5, crash + 40])
    return fig


def layers(cfg: Any, progress: bool | Callable[[float], None] = False) -> pd.DataFrame:
    """The same crash behind an L4 balancer (TCP passes through) and an L7 one (it terminates TLS)."""
    res = simulate(cfg, 1, progress, sweep={LAYER: ["L4", "L7"]})
    return res.summary.set_index(LAYER)[LAYERS]


def edge_memory_closed_form(cfg: Any) -> float:
    """Bytes one L7 node holds with every client connected through it: ``tls + 2 × kernel`` each."""
    per = cfg.gateways.per_connection
    return cfg.clients.count / cfg.edge.nodes * (per.tls + 2 * per.kernel)


def stickiness(cfg: Any, progress: bool | Callable[[float], None] = False) -> Any:
    """The crash with a consistent-hash balancer and with sticky sessions (one replication each)."""
    return simulate(cfg, 1, progress, sweep={BALANCER: ["consistent_hash", "sticky"]})


def per_gateway(res: Any) -> pd.DataFrame:
    """Connections held by each gateway over time (replication 0), with the balancer of the run."""
    ts = res.timeseries[(res.timeseries["series"] == "connections") & (res.timeseries["replication"] == 0)]
    ts = ts.merge(res.points(), on="point").rename(columns={"label": "gateway"})
    ts["gateway"] = "g" + ts["gateway"].astype(str)
    return ts


def restarted_share(res: Any, balancer: str) -> float:
    """Connections on the restarted gateway 0 at the end, as a share of a fair 1/N."""
    ts = per_gateway(res)
    ts = ts[ts[BALANCER] == balancer] if BALANCER in ts else ts
    last = ts[ts["time"] == ts["time"].max()].set_index("gateway")["value"]
    return float(last.get("g0", 0.0) / last.mean()) if last.mean() else 0.0


def gateways_figure(res: Any, title: str) -> go.Figure:
    """Connections per gateway over time, one panel per balancer if the run swept it."""
    ts = per_gateway(res)
    facet = {"facet_row": BALANCER} if BALANCER in ts and ts[BALANCER].nunique() > 1 else {}
    fig = px.line(
        ts,
        x="time",
        y="value",
        color="gateway",
        title=title,
        labels={"value": "connections", "time": "simulated time (s)"},
        height=250 + 200 * (ts[BALANCER].nunique() if facet else 1),
        **facet,
    )
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    crash = res.config["faults"][0]["at"]
    fig.add_vline(x=crash, line_dash="dash", row="all", col="all")
    fig.add_vline(x=crash + res.config["gateways"]["restart_delay"], line_dash="dot", row="all", col="all")
    return fig


def findings(health: pd.DataFrame, cfg: Any, edge: pd.DataFrame, sticky: Any) -> str:
    """The closing sentences, computed from this run."""
    active = health[health[PASSIVE] == 0]
    fast, slow = active.iloc[0], active.iloc[-1]
    passive = health[health[PASSIVE] == 1]
    lines = [
        f"- Health checks {fast.name}: the crash noticed after {fast['health_check_detection_s']:.1f} s, "
        f"{fast['connects_to_dead_gateway']:,.0f} attempts sent to the dead gateway; {slow.name}: "
        f"{slow['health_check_detection_s']:.1f} s and {slow['connects_to_dead_gateway']:,.0f} "
        f"(closed form (fall − ½)·interval: {detection_closed_form(cfg, fast[INTERVAL]):.1f} s and "
        f"{detection_closed_form(cfg, slow[INTERVAL]):.1f} s).",
        f"- The passive check sends {passive['connects_to_dead_gateway'].max():,.0f} attempts to the dead "
        f"gateway and converges in {passive['herd_convergence_s'].max():.1f} s, whatever the interval.",
        f"- L7: the balancer terminated {edge.loc['L7', 'l7_tls_terminations']:,.0f} TLS handshakes and held "
        f"{edge.loc['L7', 'edge_memory_peak_bytes'] / 2**20:,.1f} MiB (closed form "
        f"{edge_memory_closed_form(cfg) / 2**20:,.1f} MiB); the largest gateway held "
        f"{edge.loc['L4', 'gateway_memory_peak_bytes'] / 2**20:,.0f} MiB behind L4, "
        f"{edge.loc['L7', 'gateway_memory_peak_bytes'] / 2**20:,.0f} MiB behind L7.",
        f"- After the restart the gateway holds {restarted_share(sticky, 'consistent_hash'):.0%} of its fair "
        f"share with consistent hashing, {restarted_share(sticky, 'sticky'):.0%} with sticky sessions.",
    ]
    return "\n".join(lines)


def one_crash(
    cfg: Any, interval_s: float, fall: int, passive: str, balancer: str, progress: Any = None
) -> Any:
    """The interactive cell's simulation: the crash with one edge setting, one replication."""
    changes = [
        f"{INTERVAL}={interval_s}s",
        f"edge.health_check.fall={fall}",
        f"{PASSIVE}={passive == 'passive on'}",
        f"{BALANCER}={balancer}",
    ]
    return simulate(configure(cfg, changes, sweep=None), progress=progress or False)


def crash_figure(res: Any, interval_s: float, fall: int, passive: str, balancer: str) -> go.Figure:
    """Connections per gateway through the crash; the title says what the edge cost."""
    row = res.summary.iloc[0]
    return gateways_figure(
        res,
        f"{balancer}, probes every {interval_s:g} s, out after {fall}, {passive}: noticed after "
        f"{row['health_check_detection_s']:.1f} s, {row['connects_to_dead_gateway']:,.0f} attempts to the "
        f"dead gateway, g0 back to {restarted_share(res, balancer):.0%} of its share",
    )
