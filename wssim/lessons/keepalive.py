"""Chapter 14 · dead peers and keepalive: half-open sockets, pong timeouts and the memory they hold.

A client that vanishes without a FIN (a lid closed, a network handoff) leaves a half-open socket: the
gateway keeps it, its descriptor and its memory, and keeps writing into it. Only the keepalive notices
— at the last answered ping plus the pong timeout — or an idle timer on the path; with neither, the
socket stays until the gateway restarts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wssim.lessons.runs import chat_fleet, configure, simulate

PING = "gateways.keepalive.ping_interval"
COSTS = [
    "half_open_disappearances",
    "dead_peer_reclaims",
    "half_open_leaked",
    "deliveries_to_dead_peers",
    "gateway_memory_peak_bytes",
]


def fleet(clients: int, offline_rate: str, offline_mean: str, half_open: float, duration: str) -> Any:
    """The ``quickstart`` fleet without its crash or the balancer's idle timeout (so only the keepalive
    can notice a dead peer); clients leave now and then, a share ``half_open`` of them without a FIN."""
    return chat_fleet(
        clients,
        [
            f"duration={duration}",
            "warmup=10s",
            f"clients.offline.rate={offline_rate}",
            f"clients.offline.mean={offline_mean}",
            f"clients.offline.half_open_fraction={half_open}",
            "clients.publish_rate=6/min",
            "edge.idle_timeout=null",
        ],
        faults=[],
    )


def blackout(clients: int, fraction: float, at: str, message_size: str, memory: str, duration: str) -> Any:
    """A share ``fraction`` of the connected clients vanish at once at ``at`` (a carrier NAT losing
    them; the ``half_open`` fault) on gateways of ``memory`` with unbounded send queues, rooms of ten
    publishing ``message_size`` messages: nothing but the keepalive bounds what their sockets hold."""
    return chat_fleet(
        clients,
        [
            f"duration={duration}",
            "warmup=10s",
            "clients.offline.rate=0/s",
            "clients.slow_consumers.fraction=0",
            "clients.publish_rate=6/min",
            f"clients.message_size={message_size}",
            f"gateways.memory={memory}",
            "gateways.send_queue.overflow=unbounded",
            "edge.idle_timeout=null",
        ],
        faults=[{"kind": "half_open", "at": at, "fraction": fraction, "duration": duration}],
    )


def name(ping_s: float | None) -> str:
    """How a ping interval is named in tables and charts."""
    return "no pings" if ping_s is None or pd.isna(ping_s) else f"pings every {ping_s:g} s"


def settings(cfg: Any, pings: Sequence[str | None], progress: bool | Callable[[float], None] = False) -> Any:
    """The same departures under each ping interval in ``pings`` (None: no keepalive); the pong
    timeout is the default, twice the interval."""
    res = simulate(cfg, 1, progress, sweep={PING: list(pings)})
    res.summary["keepalive"] = [name(p) for p in res.summary[PING]]
    return res


def per_socket(cfg: Any) -> int:
    """Bytes one socket holds on its gateway: kernel buffers, TLS state and the application's state."""
    per = cfg.gateways.per_connection
    return int(per.kernel + per.tls + per.app)


def costs(res: Any, cfg: Any) -> pd.DataFrame:
    """What each keepalive setting left behind, one row per setting, in run order."""
    table = res.summary.set_index("keepalive")[COSTS]
    table["leaked_bytes"] = table["half_open_leaked"] * per_socket(cfg)
    table["reclaimed_fraction"] = table["dead_peer_reclaims"] / table["half_open_disappearances"]
    return table


def oom_table(res: Any) -> pd.DataFrame:
    """Per keepalive setting: the dead peers, what was written into them, the memory, the OOM crashes."""
    cols = ["half_open_disappearances", "dead_peer_reclaims", "deliveries_to_dead_peers"]
    cols += ["gateway_memory_peak_bytes", "gateway_oom_crashes", "first_oom_at_s"]
    return res.summary.set_index("keepalive")[cols]


def held_closed_form(ping_s: float, timeout_s: float | None = None) -> float:
    """Mean time a dead socket is held: from the vanishing to the last answered ping plus the pong
    timeout, ``timeout − U·interval`` with U uniform: ``timeout − interval/2`` (timeout 2 × interval
    by default)."""
    timeout = 2 * ping_s if timeout_s is None else timeout_s
    return timeout - ping_s / 2


def memory_figure(res: Any, cfg: Any, title: str) -> go.Figure:
    """Socket memory of the largest gateway (memory above its empty baseline) over time, per setting."""
    mem = res.series("memory_bytes").merge(res.summary[["point", "keepalive"]], on="point")
    mem["MiB"] = (mem["value"] - cfg.gateways.base_memory) / 2**20
    fig = px.line(
        mem,
        x="time",
        y="MiB",
        color="keepalive",
        title=title,
        labels={"MiB": "socket memory, largest gateway (MiB)", "time": "simulated time (s)"},
    )
    fig.update_yaxes(rangemode="tozero")
    return fig


def findings(table: pd.DataFrame, cfg: Any) -> str:
    """The closing sentences, computed from this run."""
    lines = [
        f"- {table['half_open_disappearances'].iloc[0]:,.0f} clients vanished without a FIN, "
        f"{per_socket(cfg) / 1024:,.0f} KiB held per socket."
    ]
    for setting, row in table.iterrows():
        lines.append(
            f"- {setting:>18}: {row['reclaimed_fraction']:.0%} reclaimed, "
            f"{row['half_open_leaked']:,.0f} still held at the end ({row['leaked_bytes'] / 2**20:,.1f} MiB), "
            f"{row['deliveries_to_dead_peers']:,.0f} messages written into dead sockets."
        )
    return "\n".join(lines)


def one_setting(cfg: Any, ping_s: int, timeout_factor: float, half_open: float, progress: Any = None) -> Any:
    """The interactive cell's simulation: one keepalive setting (0 = no pings), one replication."""
    ping = "null" if ping_s == 0 else f"{ping_s}s"
    timeout = "null" if ping_s == 0 else f"{ping_s * timeout_factor}s"
    changes = [f"{PING}={ping}", f"gateways.keepalive.timeout={timeout}"]
    changes.append(f"clients.offline.half_open_fraction={half_open}")
    res = simulate(configure(cfg, changes, sweep=None), progress=progress or False)
    res.summary["keepalive"] = name(None if ping_s == 0 else ping_s)
    return res


def setting_figure(res: Any, ping_s: int, timeout_factor: float, half_open: float) -> go.Figure:
    """Socket memory over time for one setting; the title says what the dead peers cost."""
    cfg = configure(res.config)
    row = res.summary.iloc[0]
    pong = f", pong timeout {ping_s * timeout_factor:g} s" if ping_s else ""
    return memory_figure(
        res,
        cfg,
        f"{name(None if ping_s == 0 else ping_s)}{pong}, {half_open:.0%} vanish without FIN: "
        f"{row['half_open_leaked']:,.0f} dead sockets held at the end, "
        f"{row['deliveries_to_dead_peers']:,.0f} messages written into them",
    )
