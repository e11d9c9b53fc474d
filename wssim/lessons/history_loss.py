"""Chapter 13 · history loss: a backplane outage that loses the replay window, epochs, the mass resync.

A non-durable history (Redis Streams: the streams live in the Redis that restarted) comes back empty
after an outage: every room starts a new epoch, and a client resuming from a cursor of the old epoch
cannot be replayed — it fetches a snapshot. A durable one (JetStream) kept its streams: the same
cursors are served. When a gateway crashes soon after, its whole herd resyncs at once and queues for
the snapshot service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from wssim.lessons.charts import panels, series_figure
from wssim.lessons.runs import chat_fleet, configure, one_run, simulate
from wssim.units import parse_duration

KIND = "backplane.kind"
KINDS = ["redis_streams", "jetstream"]  # history lost on restart, history kept
COSTS = [
    "resume_attempts",
    "replay_hits",
    "replay_misses",
    "resyncs",
    "snapshot_bytes",
    "snapshot_wait_max_s",
    "snapshot_seconds",
    "messages_lost",
    "publishes_failed",
]


def fleet(
    clients: int,
    outage_at: str,
    outage: str,
    crash_after: str,
    snapshot_rate: str,
    offline_rate: str,
    duration: str,
) -> Any:
    """The ``quickstart`` fleet (4 gateways, 64 KiB snapshots) with a backplane outage of ``outage`` at
    ``outage_at``, then gateway 0 crashing ``crash_after`` the backplane's return; a snapshot service
    of ``snapshot_rate``; clients leave now and then (``offline_rate``, 20 s away on average)."""
    cfg = chat_fleet(
        clients,
        [
            f"duration={duration}",
            "warmup=10s",
            f"clients.offline.rate={offline_rate}",
            "clients.offline.mean=20s",
            f"clients.snapshot.rate={snapshot_rate}",
            "clients.publish_rate=6/min",
        ],
    )
    return with_faults(cfg, outage_at, outage, crash_after)


def with_faults(cfg: Any, outage_at: str | float, outage: str | float, crash_after: str | float) -> Any:
    """``cfg`` with the outage and the crash that follows it (durations as strings or seconds)."""
    at, length, after = (parse_duration(x) for x in (outage_at, outage, crash_after))
    faults = [
        {"kind": "backplane_outage", "at": at, "duration": length},
        {"kind": "gateway_crash", "at": at + length + after, "gateway": 0},
    ]
    return configure(cfg, faults=faults)


def kinds(cfg: Any, progress: bool | Callable[[float], None] = False) -> Any:
    """The same outage and crash on a backplane whose history is lost and on one whose history is kept."""
    return simulate(cfg, 1, progress, sweep={KIND: KINDS})


def costs(res: Any) -> pd.DataFrame:
    """What each backplane paid, one column per kind."""
    table = res.summary.set_index(KIND)[COSTS].reindex(KINDS)
    table["served_fraction"] = table["replay_hits"] / table["resume_attempts"]
    return table


def marks(fig: go.Figure, cfg: Any) -> go.Figure:
    """Shade the outage and mark the crash on every panel."""
    outage, crash = cfg.faults[0], cfg.faults[1]
    fig.add_vrect(
        x0=outage.at, x1=outage.at + outage.duration, fillcolor="grey", opacity=0.2, row="all", col="all"
    )
    fig.add_vline(x=crash.at, line_dash="dash", row="all", col="all")
    return fig


def snapshots_figure(res: Any, cfg: Any) -> go.Figure:
    """Snapshots served per second, one panel per kind, the service's rate dotted."""
    title = "Snapshots/s: the outage (grey), the crash (dashed), the service's rate (dotted)"
    fig = marks(panels(res.series("snapshots"), KIND, KINDS, title, 420), cfg)
    if cfg.clients.snapshot.rate:
        fig.add_hline(y=cfg.clients.snapshot.rate, line_dash="dot", row="all", col="all")
        fig.update_yaxes(range=[0, 1.3 * cfg.clients.snapshot.rate])
    return fig


def herd_size(cfg: Any) -> float:
    """Clients on the crashed gateway: about 1/N of the fleet."""
    return cfg.clients.count / cfg.gateways.count


def queue_closed_form(cfg: Any) -> float:
    """The longest wait if the whole herd asked for its snapshot at the same instant: herd / rate."""
    rate = cfg.clients.snapshot.rate
    return herd_size(cfg) / rate if rate else 0.0


def findings(table: pd.DataFrame, cfg: Any) -> str:
    """The closing sentences, computed from this run."""
    lost, kept = table.loc["redis_streams"], table.loc["jetstream"]
    size = cfg.clients.snapshot.size
    return "\n".join(
        [
            f"- History lost (redis_streams): {lost['served_fraction']:.0%} of "
            f"{lost['resume_attempts']:,.0f} resumes replayed, {lost['resyncs']:,.0f} resyncs, "
            f"{lost['messages_lost']:,.0f} deliveries "
            "lost in the gaps.",
            f"- History kept (jetstream): {kept['served_fraction']:.0%} replayed, "
            f"{kept['resyncs']:,.0f} resyncs.",
            f"- The resyncs fetched {lost['snapshot_bytes'] / 2**20:,.0f} MiB of snapshots "
            f"({lost['resyncs']:,.0f} × {size / 1024:,.0f} KiB); the longest wait for the snapshot service "
            f"was {lost['snapshot_wait_max_s']:.2f} s (the whole herd of {herd_size(cfg):,.0f} at once would "
            f"wait {queue_closed_form(cfg):.1f} s).",
            f"- Publications refused during the outage: {lost['publishes_failed']:,.0f} on either kind "
            "(the producers held and re-sent them).",
        ]
    )


def one_outage(
    cfg: Any, kind: str, outage_s: int, crash_after_s: int, snapshot_rate: int, progress: Any = None
) -> Any:
    """The interactive cell's simulation: one kind, one outage, one replication."""
    changed = configure(cfg, [f"{KIND}={kind}", f"clients.snapshot.rate={snapshot_rate}/s"], sweep=None)
    changed = with_faults(changed, cfg.faults[0].at, outage_s, crash_after_s)
    end = changed.faults[1].at + 30
    return one_run(changed, [f"duration={max(end, cfg.duration)}s"], progress)


def outage_figure(res: Any, kind: str, outage_s: int, crash_after_s: int, snapshot_rate: int) -> go.Figure:
    """Snapshots per second through the outage and the crash; the title says what the resync cost."""
    cfg = configure(res.config)
    row = res.summary.iloc[0]
    title = (
        f"{kind}, {outage_s} s outage, crash {crash_after_s} s later: {row['resyncs']:,.0f} resyncs, "
        f"longest wait {row['snapshot_wait_max_s']:.2f} s"
    )
    fig = series_figure(res, "snapshots", "snapshots/s", title)
    fig.add_hline(y=snapshot_rate, line_dash="dot")
    return marks(fig, cfg)
