"""Simulator against the live reference implementation, on the same config.

The simulator runs ``replications`` times per sweep point; the live system runs once per point. A live
value *agrees* when it falls inside the simulator's 95% prediction interval for one new run,
``mean ± t(0.975, n-1) · std · sqrt(1 + 1/n)`` — the range a single further replication would land in
95% of the time if the two engines were the same system. With one simulator replication there is no
interval, and the relative difference is shown instead.

The simulator's defaults describe a production node; the live system runs in Python on a few shared
cores. A *calibration overlay* (``data/calibration/loopback.yaml``, written by
``benchmarks/calibrate_live.py``) maps dotted config paths to the values measured live; it is applied to
the simulator side only, so that the table compares like with like.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from wssim.sweep import KEY_COLUMNS, Results, confidence_interval, run

CALIBRATION = Path(__file__).resolve().parents[1] / "data" / "calibration" / "loopback.yaml"
PER_BACKPLANE = "per_backplane"

COLUMNS = [
    "point",
    "metric",
    "unit",
    "sim_n",
    "sim_mean",
    "sim_ci95_half_width",
    "sim_pi95_low",
    "sim_pi95_high",
    "live",
    "relative_difference",
    "agreement",
]


def calibration_overrides(path: str | Path | None, kind: str, keep: Iterable[str] = ()) -> list[str]:
    """The overlay at ``path`` as ``path=value`` overrides for a config whose backplane is ``kind``.

    Top-level entries apply to every config; those under ``per_backplane: {KIND: ...}`` only to that
    kind. Paths in ``keep`` (set explicitly by the user) are left out. ``None`` or ``"none"``: no overlay.
    """
    if path is None or str(path).lower() == "none":
        return []
    import yaml

    from wssim.errors import ConfigError

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"calibration overlay {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"calibration overlay {path}: expected a mapping of dotted paths to values")
    per_kind = data.pop(PER_BACKPLANE, None) or {}
    entries = {**data, **(per_kind.get(kind) or {})}
    kept = {k.split("=", 1)[0].strip() for k in keep}
    return [f"{k}={v}" for k, v in entries.items() if k not in kept]


def prediction_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The interval one more draw falls in with probability ``confidence`` (NaN for fewer than 2 values)."""
    values = values[~np.isnan(values)]
    n = len(values)
    if n < 2:
        return math.nan, math.nan
    mean, std = float(np.mean(values)), float(np.std(values, ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std * math.sqrt(1 + 1 / n)
    return mean - half, mean + half


def agreement(live: float, mean: float, low: float, high: float) -> str:
    """``agrees`` (inside the prediction interval), ``close`` (within 10%), ``differs``, or ``not live`` /
    ``not simulated`` when only one engine measures the metric."""
    if math.isnan(live) and math.isnan(mean):
        return "n/a"
    if math.isnan(live):
        return "not live"
    if math.isnan(mean):
        return "not simulated"
    if not math.isnan(low) and low - 1e-12 <= live <= high + 1e-12:
        return "agrees"
    if live == mean:
        return "agrees"
    rel = abs(live - mean) / max(abs(mean), abs(live), 1e-12)
    return "close" if rel <= 0.10 else "differs"


def compare(sim: Results, live: Results) -> pd.DataFrame:
    """One row per (point, metric) measured by either engine."""
    fixed = {*KEY_COLUMNS, *sim.params}
    metrics = [m for m in sim.metrics if m in live.summary.columns and m not in fixed]
    rows: list[list[Any]] = []
    from wssim.metrics import METRICS

    for point in sorted(sim.summary["point"].unique()):
        s = sim.summary[sim.summary["point"] == point]
        lv = live.summary[live.summary["point"] == point]
        for m in metrics:
            values = s[m].to_numpy(dtype=float)
            mean, _, half = confidence_interval(values)
            low, high = prediction_interval(values)
            live_v = float(lv[m].iloc[0]) if len(lv) else math.nan
            if (math.isnan(mean) and math.isnan(live_v)) or (mean == 0 and live_v == 0):
                continue
            rel = abs(live_v - mean) / max(abs(mean), 1e-12) if not math.isnan(live_v + mean) else math.nan
            unit = METRICS[m].unit if m in METRICS else ""
            rows.append(
                [int(point), m, unit, int(s[m].notna().sum()), mean, half, low, high, live_v, rel,
                 agreement(live_v, mean, low, high)]
            )  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def crosscheck(
    config: Any,
    replications: int | None = None,
    workers: int | None = None,
    overrides: list[str] | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    console: Any = None,
    sim_engine: Any = "sim",
    live_engine: Any = "live",
    calibration: list[str] | None = None,
) -> pd.DataFrame:
    """Run ``config`` on the simulator and live; return the comparison table (see :func:`compare`).

    ``calibration``: extra overrides for the simulator side only (see :func:`calibration_overrides`);
    they are listed in ``table.attrs["calibration"]``.
    """
    out_dir = Path(out) if out is not None else None
    sim = run(
        config,
        replications=replications,
        workers=workers,
        engine=sim_engine,
        out=out_dir / "sim" if out_dir else None,
        progress=progress,
        overrides=[*(calibration or []), *(overrides or [])] or None,
        console=console,
    )
    live = run(
        config,
        replications=1,
        executor="serial",
        engine=live_engine,
        out=out_dir / "live" if out_dir else None,
        progress=progress,
        overrides=overrides,
        console=console,
    )
    table = compare(sim, live)
    table.attrs["failures"] = {"sim": sim.failures, "live": live.failures}
    table.attrs["calibration"] = list(calibration or [])
    if out_dir is not None:
        table.to_csv(out_dir / "crosscheck.csv", index=False)
    return table
