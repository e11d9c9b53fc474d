"""Chapter 05 · resume and replay: the miss fraction e^(−W/m) against the window's memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from wssim.lessons.runs import configure, simulate

WINDOW = "backplane.replay.max_age"


def fleet(
    clients: int, rooms: int, offline_mean: str, offline_rate: str, publish_rate: str, duration: str
) -> Any:
    """The ``replay`` scenario with an age-only window and exponential absences (the closed form's case)."""
    return configure(
        "replay",
        [
            f"clients.count={clients}",
            f"clients.rooms.count={rooms}",
            f"clients.offline.mean={offline_mean}",
            f"clients.offline.rate={offline_rate}",
            "clients.offline.distribution=exponential",
            f"clients.publish_rate={publish_rate}",
            f"duration={duration}",
            "backplane.replay.max_messages=null",
            "backplane.replay.max_per_resume=null",
        ],
    )


def misses(
    cfg: Any, windows_s: Sequence[float], replications: int, progress: bool | Callable[[float], None] = False
) -> pd.DataFrame:
    """Simulated miss fraction (replay misses / resumes) per window W: mean, 95% CI, resumes seen."""
    res = simulate(cfg, replications, progress, sweep={WINDOW: [f"{w}s" for w in windows_s]})
    res.summary["miss_fraction"] = res.summary["replay_misses"] / res.summary["resume_attempts"]
    agg = res.aggregate(["miss_fraction"])  # a derived column aggregates like any metric
    resumes = res.summary.groupby(WINDOW)["resume_attempts"].sum()
    return pd.DataFrame(
        {
            "W": agg[WINDOW].astype(float),
            "mean": agg["mean"],
            "ci95": agg["ci95_half_width"].fillna(0),
            "n": agg["n"],
            "resumes": resumes.reindex(agg[WINDOW]).to_numpy(),
            "closed_form": np.exp(-agg[WINDOW].astype(float) / cfg.clients.offline.mean),
            "finite_run": [miss_finite_run(cfg, w) for w in agg[WINDOW].astype(float)],
        }
    )


def miss_finite_run(cfg: Any, w: float) -> float:
    """P(resume misses) for Exp(m) offline periods seen in a finite run, when the first missed message
    arrives Exp(λ) after the drop (λ: messages into the client's room while it is away)."""
    c = cfg.clients
    m = c.offline.mean
    members = c.count * c.rooms.per_client / c.rooms.count
    online = 1 / (1 + c.offline.rate * m)  # share of time a client is connected
    lam = (members - 1) * c.publish_rate * online
    horizon = cfg.duration - cfg.warmup
    d = np.linspace(0, horizon, 20_001)
    seen = np.exp(-d / m) * (horizon - d)  # density of the periods that end inside the run
    missed = np.where(d > w, 1 - np.exp(-lam * np.clip(d - w, 0, None)), 0.0)
    return float((seen * missed).sum() / seen.sum())


def window_for(hit_target: float, offline_mean: float) -> float:
    """The window that serves ``hit_target`` of resumes: W = −m·ln(1 − target)."""
    return -offline_mean * np.log(1 - hit_target)


def buffer_messages(cfg: Any, window_s: float) -> float:
    """Messages the replay buffers of all rooms hold for a window of ``window_s``."""
    return cfg.clients.count * cfg.clients.publish_rate * window_s


def miss_figure(cfg: Any, table: pd.DataFrame, max_w: float) -> go.Figure:
    """e^(−W/m), its finite-run form and the simulated points; the buffer's size on the right axis."""
    m = cfg.clients.offline.mean
    w = np.linspace(0, max_w, 200)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(x=w, y=np.exp(-w / m), name="e^(−W/m)", mode="lines")
    fig.add_scatter(
        x=w,
        y=[miss_finite_run(cfg, x) for x in w],
        name="same, for this finite run",
        mode="lines",
        line={"dash": "dash"},
    )
    fig.add_scatter(
        x=table["W"],
        y=table["mean"],
        error_y={"type": "data", "array": table["ci95"]},
        mode="markers",
        name="simulated misses / resumes (±95% CI)",
    )
    mib = buffer_messages(cfg, w) * cfg.clients.message_size / 2**20
    fig.add_scatter(x=w, y=mib, name="replay buffer, all rooms (MiB)", line={"dash": "dot"}, secondary_y=True)
    fig.update_layout(title=f"Replay window vs offline time (mean m = {m:.0f} s)", xaxis_title="window W (s)")
    fig.update_yaxes(title_text="fraction of resumes that must re-sync", secondary_y=False)
    fig.update_yaxes(title_text="MiB", secondary_y=True)
    return fig


def findings(cfg: Any, table: pd.DataFrame) -> str:
    """The closing sentences: model vs both closed forms per window, and the window for 99%."""
    lines = [
        f"- W = {r.W:>5.0f} s: model {r.mean:.3f} ± {r.ci95:.3f} ({r.resumes:,.0f} resumes); "
        f"e^(−W/m) {r.closed_form:.3f}; finite-run form {r.finite_run:.3f}"
        for r in table.itertuples()
    ]
    m = cfg.clients.offline.mean
    w99 = window_for(0.99, m)
    lines.append(
        f"- To serve 99% of resumes from the window you need W ≈ {w99:.0f} s ({w99 / m:.1f} × m); "
        f"with these rooms that buffer holds ≈ {buffer_messages(cfg, w99):,.0f} messages."
    )
    return "\n".join(lines)


def one_window(cfg: Any, window_s: int, offline_mean_s: int, progress: Any = None) -> Any:
    """The interactive cell's simulation: one window, one offline mean, one replication."""
    changes = [f"{WINDOW}={window_s}s", f"clients.offline.mean={offline_mean_s}s"]
    return simulate(configure(cfg, changes, sweep=None), progress=progress or False)


def window_figure(res: Any, window_s: int, offline_mean_s: int) -> go.Figure:
    """The simulated miss fraction as one point on e^(−W/m) and the finite-run curve."""
    cfg = configure(res.config)
    row = res.summary.iloc[0]
    point = pd.DataFrame(
        {
            "W": [float(window_s)],
            "mean": [row["replay_misses"] / max(row["resume_attempts"], 1)],
            "ci95": [0.0],
        }
    )
    fig = miss_figure(cfg, point, max(4.0 * offline_mean_s, 1.5 * window_s))
    fig.update_layout(
        title=f"W = {window_s} s, m = {offline_mean_s} s: {row['replay_misses']:,.0f} of "
        f"{row['resume_attempts']:,.0f} resumes missed (e^(−W/m) = {np.exp(-window_s / offline_mean_s):.3f})"
    )
    return fig
