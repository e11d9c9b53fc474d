"""Statistics over replications: Student-t confidence intervals and paired differences vs point 0."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from wssim.metrics import METRICS
from wssim.sweep.tasks import KEY_COLUMNS

CONFIDENCE = 0.95


def column_stats(matrix: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, ...]:
    """Per column (NaNs ignored): n, mean, standard deviation and Student-t CI half-width."""
    matrix = np.asarray(matrix, dtype=float).reshape(len(matrix), -1)
    ok = ~np.isnan(matrix)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, matrix, 0.0).sum(axis=0) / n
        dev = np.where(ok, matrix - mean, 0.0)
        std = np.where(n >= 2, np.sqrt((dev**2).sum(axis=0) / np.maximum(n - 1, 1)), np.nan)
        t = stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1))
        half = np.where(n >= 2, t * std / np.sqrt(np.maximum(n, 1)), np.nan)
    return n, mean, std, half


def confidence_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Mean, standard deviation and Student-t half-width of the CI; NaN where undefined (n < 2)."""
    _, mean, std, half = column_stats(np.asarray(values, dtype=float).reshape(-1, 1), confidence)
    return float(mean[0]), float(std[0]), float(half[0])


def aggregate(
    summary: pd.DataFrame,
    params: Sequence[str] = (),
    metrics: Sequence[str] | None = None,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Per point and metric: n, mean, std, Student-t CI and the paired difference against point 0.

    The paired difference pairs replication r of a point with replication r of point 0 (same seed,
    common random numbers) and gives the mean difference with its own CI.
    """
    pct = round(confidence * 100)
    cols = [
        "point",
        *params,
        "metric",
        "unit",
        "n",
        "mean",
        "std",
        f"ci{pct}_low",
        f"ci{pct}_high",
        f"ci{pct}_half_width",
        "diff_vs_point0",
        f"diff_ci{pct}_low",
        f"diff_ci{pct}_high",
    ]
    if summary.empty:
        return pd.DataFrame(columns=cols)
    fixed = {*KEY_COLUMNS, *params}
    if metrics is None:
        metrics = [c for c in summary.columns if c not in fixed]
    metrics = [m for m in metrics if m in summary.columns and pd.api.types.is_numeric_dtype(summary[m])]
    points = sorted(int(p) for p in summary["point"].unique())
    base_point = points[0]
    base = summary[summary["point"] == base_point].set_index("replication")
    units = [METRICS[m].unit if m in METRICS else "" for m in metrics]
    rows: list[list[Any]] = []
    for point in points:
        sub = summary[summary["point"] == point]
        pvals = [sub[p].iloc[0] if p in sub.columns else None for p in params]
        subi = sub.set_index("replication")
        common = subi.index.intersection(base.index)
        n, mean, std, half = column_stats(sub[metrics].to_numpy(dtype=float), confidence)
        diffs = subi.loc[common, metrics].to_numpy(dtype=float) - base.loc[common, metrics].to_numpy(
            dtype=float
        )
        _, dmean, _, dhalf = column_stats(diffs, confidence)
        for j, m in enumerate(metrics):
            rows.append(
                [point, *pvals, m, units[j], int(n[j]), mean[j], std[j], mean[j] - half[j], mean[j] + half[j],
                 half[j], dmean[j], dmean[j] - dhalf[j], dmean[j] + dhalf[j]]
            )  # fmt: skip
    frame = pd.DataFrame(rows, columns=cols)
    return frame
