"""Chapter 11 · the gateway tier: why sockets live in their own tier, deploys with and without draining,
and what the tier is sized by."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wssim.lessons.charts import panels, series_figure
from wssim.lessons.runs import chat_fleet, configure, one_run, simulate

DRAIN = "faults.0.drain"
MODES = {True: "drain", False: "kill"}
COSTS = [
    "drain_closes",
    "reconnect_attempts",
    "peak_handshake_rate",
    "admission_rejections",
    "resume_attempts",
    "replay_misses",
    "messages_lost",
    "latency_p99_s",
]


def fleet(
    clients: int, gateways: int, deploy_at: str, interval: str, drain_timeout: str, duration: str
) -> Any:
    """The ``quickstart`` fleet (no crash, nobody away by choice) with a rolling deploy of every gateway."""
    return chat_fleet(
        clients,
        [
            f"gateways.count={gateways}",
            f"gateways.drain_timeout={drain_timeout}",
            f"duration={duration}",
            "clients.offline.rate=0/s",
        ],
        faults=[{"kind": "deploy", "at": deploy_at, "interval": interval, "drain": True}],
    )


def deploys(cfg: Any, replications: int, progress: bool | Callable[[float], None] = False) -> Any:
    """The same rolling deploy, draining each gateway (close 1001, spread out) and killing it."""
    res = simulate(cfg, replications, progress, sweep={DRAIN: [True, False]})
    res.summary["deploy"] = res.summary[DRAIN].map(MODES)
    return res


def handshakes_figure(res: Any) -> go.Figure:
    """Handshakes/s through the deploy, one panel per mode (replication 0), with each restart marked."""
    series = res.series("handshakes").assign(deploy=lambda f: f[DRAIN].map(MODES))
    title = "Handshakes/s through a rolling deploy (replication 0)"
    fig = panels(series, "deploy", list(MODES.values()), title, 500)
    deploy = res.config["faults"][0]
    for i in range(res.config["gateways"]["count"]):
        fig.add_vline(x=deploy["at"] + i * deploy["interval"], line_dash="dot", row="all", col="all")
    return fig


def costs(res: Any) -> pd.DataFrame:
    """What each mode cost, mean per run."""
    return res.summary.groupby("deploy")[COSTS].mean().reindex(list(MODES.values()))


def disconnects_per_user(table: pd.DataFrame, clients: int) -> float:
    """How many times a draining rolling deploy disconnects the average user (drain closes / clients)."""
    return float(table.loc["drain", "drain_closes"] / clients)


def coupling(per_deploy: float, app_deploys_per_day: float, gateway_deploys_per_week: float) -> pd.DataFrame:
    """Disconnects per user per month when sockets end in the app servers (every app deploy moves them)
    against a separate gateway tier that deploys on its own cadence."""
    per_month = {
        "sockets in the app servers": app_deploys_per_day * 30,
        "a separate gateway tier": gateway_deploys_per_week * 30 / 7,
    }
    return pd.DataFrame(
        {
            "deploys per month": per_month,
            "disconnects per user per month": {k: v * per_deploy for k, v in per_month.items()},
        }
    )


def coupling_figure(table: pd.DataFrame) -> go.Figure:
    """Disconnects per user per month, coupled against split."""
    col = "disconnects per user per month"
    fig = px.bar(table.reset_index(names="where sockets end"), x="where sockets end", y=col, text_auto=".0f")
    fig.update_layout(title="Every deploy of the tier that holds the sockets disconnects its users")
    return fig


def sizing_runs(
    base: Any,
    clients: Sequence[int],
    publish_rates: Sequence[str],
    progress: bool | Callable[[float], None] = False,
) -> pd.DataFrame:
    """The largest gateway's memory above its base as connections grow at a fixed message rate per
    client, and as the message rate grows at fixed connections (no deploy: steady state)."""
    steady = configure(base, faults=[])
    grown = {
        "connections": ("clients.count", list(clients), 1.0),
        "messages per client": ("clients.publish_rate", list(publish_rates), 60.0),  # per minute
    }
    rows = []
    for name, (path, values, unit) in grown.items():
        for _, r in simulate(steady, 1, progress, sweep={path: values}).summary.iterrows():
            held = r["gateway_memory_peak_bytes"] - steady.gateways.base_memory  # what the load costs
            rows.append({"grown": name, "x": r[path] * unit, "memory": held / 2**20})
    frame = pd.DataFrame(rows)
    first = frame.groupby("grown")[["x", "memory"]].transform("first")
    return frame.assign(**{"load ×": frame["x"] / first["x"], "memory ×": frame["memory"] / first["memory"]})


def growth(frame: pd.DataFrame, grown: str) -> float:
    """How much the largest gateway's memory grew (×) over the steps of ``grown``."""
    return float(frame.loc[frame["grown"] == grown, "memory ×"].iloc[-1])


def sizing_figure(frame: pd.DataFrame) -> go.Figure:
    """Gateway memory against each load, both relative to their first step."""
    fig = px.line(frame, x="load ×", y="memory ×", color="grown", markers=True, hover_data=["x", "memory"])
    fig.update_layout(title="What sizes the gateway tier: one load grown at a time (memory above base, MiB)")
    return fig


def findings(table: pd.DataFrame, clients: int, coupled: pd.DataFrame, frame: pd.DataFrame) -> str:
    """The closing sentences: what a deploy costs each way, coupling, and what sizes the tier."""
    drain, kill = table.loc["drain"], table.loc["kill"]
    per = coupled["disconnects per user per month"]
    lines = [
        f"- A draining rolling deploy closed {drain['drain_closes']:,.0f} sockets for {clients:,} "
        f"clients ({disconnects_per_user(table, clients):.2f} per user: a client drained onto a gateway "
        "that is deployed later moves again).",
        f"- Killing instead of draining: peak {kill['peak_handshake_rate']:,.0f} handshakes/s against "
        f"{drain['peak_handshake_rate']:,.0f}, {kill['reconnect_attempts']:,.0f} reconnect attempts "
        f"against {drain['reconnect_attempts']:,.0f}.",
        f"- Sockets in the app servers: {per.iloc[0]:,.0f} disconnects per user per month; a separate "
        f"gateway tier: {per.iloc[1]:,.1f}.",
        f"- Memory above the base grew {growth(frame, 'connections'):.2f}× with the connections and "
        f"{growth(frame, 'messages per client'):.2f}× with the messages per client.",
    ]
    return "\n".join(lines)


def one_deploy(cfg: Any, drain: str, drain_timeout_s: int, interval_s: int, progress: Any = None) -> Any:
    """The interactive cell's simulation: one rolling deploy, one replication."""
    fault = {**cfg.faults[0].model_dump(mode="json"), "drain": drain == "drain", "interval": f"{interval_s}s"}
    end = cfg.faults[0].at + interval_s * cfg.gateways.count + drain_timeout_s + 20
    changes = [f"gateways.drain_timeout={drain_timeout_s}s", f"duration={end}s"]
    return one_run(cfg, changes, progress, faults=[fault])


def deploy_figure(res: Any, drain: str, drain_timeout_s: int, interval_s: int) -> go.Figure:
    """Handshakes/s through the deploy; the title says what it cost."""
    row = res.summary.iloc[0]
    title = (
        f"{drain}, a gateway every {interval_s} s, drain over {drain_timeout_s} s: peak "
        f"{row['peak_handshake_rate']:,.0f}/s, {row['reconnect_attempts']:,.0f} reconnect attempts"
    )
    return series_figure(res, "handshakes", "handshakes/s", title)
