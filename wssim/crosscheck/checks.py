"""The verdict of each declared check: is the live value within the tolerance the scenario gives, and why.

================  ===================================================  ==================================
tolerance         passes when                                          simulated column shows
================  ===================================================  ==================================
``exact``         live = the simulated replication whose schedule      that replication's value
                  the live run played (a count the schedule fixes)
``interval``      live ∈ mean ± t(0.975, n−1)·s·√(1 + 1/n), the 95%    mean [low, high]
                  prediction interval for one more replication
``relative``      |live − played| ≤ within · |played|, against the     that replication's value [low,
                  replication whose schedule the live run played       high] of the tolerance
``rank``          the sweep points are in the same order by the        the simulated order
                  metric in both engines (every pair the simulator
                  orders strictly, live orders the same way)
================  ===================================================  ==================================

A value both engines leave undefined (NaN: no crash, so no convergence) passes ``exact``; undefined in
one engine only is a miss. Each row carries the scenario's reason for its tolerance.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from wssim.metrics import METRICS

CONFIDENCE = 0.95
PLAYED = 0  # the simulator replication whose schedule the live run plays


@dataclass
class Verdict:
    """One row of the crosscheck table."""

    point: int
    label: str  # the point's sweep values, or "" (all points, for rank)
    metric: str
    unit: str
    tolerance: str
    sim: float  # the value compared against: the mean, or the played replication's value
    sim_low: float
    sim_high: float
    sim_n: int
    live: float
    passed: bool
    reason: str
    sim_text: str = ""  # set for rank rows: the simulated order
    live_text: str = ""

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "MISS"


def prediction_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The interval one more draw falls in with probability ``confidence`` (NaN for fewer than 2 values)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n < 2:
        return math.nan, math.nan
    mean, std = float(np.mean(values)), float(np.std(values, ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std * math.sqrt(1 + 1 / n)
    return mean - half, mean + half


def _same(a: float, b: float) -> bool:
    return bool((math.isnan(a) and math.isnan(b)) or a == b)


def judge(tolerance: str, within: float | None, values: np.ndarray, played: float, live: float) -> tuple:
    """(compared value, low, high, passed) of one point-wise check on the simulated ``values``."""
    finite = values[~np.isnan(values)]
    mean = float(np.mean(finite)) if len(finite) else math.nan
    if tolerance == "exact":
        return played, played, played, _same(live, played)
    if tolerance == "interval":
        low, high = prediction_interval(values)
        if math.isnan(low):  # a single value (or none): only an equal live value agrees
            return mean, mean, mean, _same(live, mean)
        eps = 1e-9 * max(1.0, abs(mean))
        return mean, low, high, bool(low - eps <= live <= high + eps)
    if tolerance == "relative":
        assert within is not None
        low, high = sorted((played * (1 - within), played * (1 + within)))
        return played, low, high, bool(abs(live - played) <= within * abs(played) or _same(live, played))
    raise ValueError(f"not a point-wise tolerance: {tolerance}")


def tolerance_text(tolerance: str, within: float | None) -> str:
    return f"relative ±{within:.0%}" if tolerance == "relative" else tolerance


def order_text(labels: list[str], values: list[float]) -> str:
    """``a > b = c``: the points from the largest value down."""
    pairs = sorted(zip(values, labels, strict=True), key=lambda p: math.inf if math.isnan(p[0]) else -p[0])
    out = pairs[0][1] if pairs else ""
    for (v0, _), (v1, label) in itertools.pairwise(pairs):
        out += (" = " if v0 == v1 else " > ") + label
    return out


def same_order(sim: list[float], live: list[float]) -> bool:
    """Every pair of points the simulator orders strictly is ordered the same way live."""
    n = len(sim)
    for i in range(n):
        for j in range(n):
            if sim[i] > sim[j] and not live[i] > live[j]:
                return False
    return True


def selected(check: Any, sim: pd.DataFrame) -> list[int]:
    """The points a check applies to: those whose swept values match its ``where`` (all without one)."""
    points = sorted(int(p) for p in sim["point"].unique())
    where = getattr(check, "where", None) or {}
    for path, value in where.items():
        if path not in sim.columns:
            raise ValueError(f"`where` names {path}, which is not swept")
        points = [p for p in points if (sim.loc[sim["point"] == p, path] == value).all()]
    return points


def evaluate(
    checks: list[Any], sim: pd.DataFrame, live: pd.DataFrame, labels: dict[int, str]
) -> list[Verdict]:
    """Every declared check at every point it applies to (and once over the points for ``rank``).

    ``sim`` and ``live`` are summaries (one row per run, ``point``, ``replication`` and swept columns).
    """
    rows: list[Verdict] = []
    for check in checks:
        points = selected(check, sim)
        m, unit = check.metric, METRICS[check.metric].unit
        means, lives = [], []
        for p in points:
            s = sim[sim["point"] == p].sort_values("replication")
            values = s[m].to_numpy(dtype=float) if m in s else np.full(len(s), math.nan)
            played_rows = s[s["replication"] == PLAYED]
            played = float(played_rows[m].iloc[0]) if m in s and len(played_rows) else math.nan
            lv = live[live["point"] == p]
            live_v = float(lv[m].iloc[0]) if m in lv and len(lv) else math.nan
            means.append(float(np.nanmean(values)) if np.isfinite(values).any() else math.nan)
            lives.append(live_v)
            if check.tolerance == "rank":
                continue
            value, low, high, ok = judge(check.tolerance, check.within, values, played, live_v)
            n = int(np.isfinite(values).sum())
            text = tolerance_text(check.tolerance, check.within)
            rows.append(
                Verdict(int(p), labels.get(int(p), ""), m, unit, text, value, low, high, n, live_v, ok,
                        check.reason)
            )  # fmt: skip
        if check.tolerance == "rank":
            names = [labels.get(int(p), str(p)) for p in points]
            ok = same_order(means, lives) and not any(math.isnan(v) for v in lives)
            rows.append(
                Verdict(-1, "all points", m, unit, "rank", math.nan, math.nan, math.nan, len(points),
                        math.nan, ok, check.reason, order_text(names, means), order_text(names, lives))
            )  # fmt: skip
    return rows


def verdict_frame(rows: list[Verdict]) -> pd.DataFrame:
    """The verdicts as a table (one row each), with a ``verdict`` column."""
    frame = pd.DataFrame([asdict(r) for r in rows])
    if len(frame):
        frame["verdict"] = np.where(frame["passed"], "pass", "MISS")
    return frame
