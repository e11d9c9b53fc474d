"""Simulator against the live reference implementation, on the same config and the same events.

:func:`crosscheck` runs a scenario's sweep on the simulator (``replications`` runs per point) and once
per point live. Replication 0 of the simulator writes the schedule it drew (:mod:`wssim.schedule`) and
the live run plays it, so both engines face the same arrivals, rooms, offline episodes, slow consumers,
publishes and faults. The scenario's ``crosscheck.checks`` declare what is compared and how close it
must be, each with its reason (:mod:`wssim.crosscheck.checks`); a miss fails ``wssim crosscheck``.
A calibration overlay measured on this machine (:mod:`wssim.crosscheck.calibration`) sets the
simulator's costs to this machine's; it is applied to the simulator side only.

Besides the checks, :func:`compare` lists every metric both engines measure with an informational
label: ``agrees`` (inside the simulator's 95% prediction interval for one more run), ``close`` (within
10%), ``differs``, ``not live`` / ``not simulated``.

The five built-in crosscheck scenarios (:data:`SUITE`, ``wssim/scenarios/crosscheck/``) are small
enough for CI: a herd, backpressure, replay, fan-out and delivery semantics.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from wssim.crosscheck.calibration import (
    CALIBRATION,
    Calibration,
    calibration_overrides,
    check_machine,
    default_calibration,
    this_machine,
)
from wssim.crosscheck.checks import evaluate, prediction_interval, verdict_frame
from wssim.errors import ConfigError
from wssim.sweep import KEY_COLUMNS, Results, confidence_interval, run

SUITE_DIR = Path(__file__).resolve().parents[1] / "scenarios" / "crosscheck"
SUITE = ("herd", "backpressure", "replay", "fanout", "semantics")

__all__ = [
    "CALIBRATION",
    "SUITE",
    "Calibration",
    "CrosscheckResult",
    "agreement",
    "calibration_overrides",
    "check_machine",
    "compare",
    "crosscheck",
    "default_calibration",
    "prediction_interval",
    "suite_path",
    "this_machine",
]

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


def suite_path(name: str) -> Path:
    """The YAML of a built-in crosscheck scenario (``herd`` -> ``wssim/scenarios/crosscheck/herd.yaml``)."""
    return SUITE_DIR / f"{name}.yaml"


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
    """One row per (point, metric) measured by either engine (informational: nothing is judged)."""
    from wssim.metrics import METRICS

    fixed = {*KEY_COLUMNS, *sim.params}
    metrics = [m for m in sim.metrics if m in live.summary.columns and m not in fixed]
    rows: list[list[Any]] = []
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


# ------------------------------------------------------------------------------------------ engines
def point_key(config: Any, paths: tuple[str, ...]) -> str:
    """A file-name key of a sweep point: a digest of its values at the swept ``paths``."""
    from wssim.config.paths import split_path

    values = []
    for path in paths:
        node = config.model_dump(mode="json")
        for part in split_path(path):
            node = node[part]
        values.append(node)
    return "p" + hashlib.sha1(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class Engine:
    """One side of the crosscheck as a sweep engine (picklable, so pool workers can run it).

    ``sim``: the simulator with the calibration applied for each run's backplane kind; replication 0
    writes its schedule to ``schedules/<point key>-r000.npz``. ``live``: the live harness, playing
    that schedule. Any other ``engine`` (a callable) is called as it is, calibrated on the sim side.
    """

    side: str  # "sim" | "live"
    engine: Any = None  # None: the real engine of this side
    calibration: Calibration | None = None
    keep: tuple[str, ...] = ()  # paths the user set explicitly: the calibration leaves them alone
    schedules: str | None = None
    paths: tuple[str, ...] = ()

    def schedule_path(self, config: Any) -> Path | None:
        if self.schedules is None:
            return None
        return Path(self.schedules) / f"{point_key(config, self.paths)}-r000.npz"

    def __call__(self, config: Any, replication: int = 0, progress: Any = None) -> Any:
        if self.side == "sim" and self.calibration is not None:
            from wssim.config import load_config

            overrides = self.calibration.overrides(config.backplane.kind, self.keep, config.live.send_buffer)
            config = load_config(config.model_dump(mode="json"), overrides) if overrides else config
        if self.engine is not None:
            return self.engine(config, replication, progress)
        path = self.schedule_path(config)
        if self.side == "sim":
            from wssim.sim import simulate

            return simulate(config, replication, progress, schedule_to=path if replication == 0 else None)
        from reference_impl.driver.harness import run_live

        return run_live(config, replication, progress, schedule=path)


# ---------------------------------------------------------------------------------------- the check
@dataclass
class CrosscheckResult:
    """Both engines' results, the informational comparison and the verdict of every declared check."""

    sim: Results
    live: Results
    table: pd.DataFrame  # compare(): every metric both engines measure
    verdicts: pd.DataFrame  # one row per declared check (and point)
    labels: dict[int, str]  # point -> its sweep values
    calibration: list[str] = field(default_factory=list)
    out: Path | None = None

    @property
    def failures(self) -> dict[str, list[dict[str, Any]]]:
        return {"sim": self.sim.failures, "live": self.live.failures}

    @property
    def misses(self) -> int:
        return int((~self.verdicts["passed"].astype(bool)).sum()) if len(self.verdicts) else 0

    @property
    def passed(self) -> bool:
        """Every declared check passed and every run finished."""
        return self.misses == 0 and not any(self.failures.values())


def _labels(sim: Results) -> dict[int, str]:
    """Each point's swept values (``none``, ``full_jitter``), or "" without a sweep."""
    from wssim.report import point_values

    points = sorted(int(p) for p in sim.summary["point"].unique())
    return {p: (point_values(sim, p) if sim.params else "") for p in points}


def check_declarations(cfg: Any) -> None:
    """:class:`ConfigError` for a check that cannot be judged: a rank without a sweep, a ``where`` that
    names a path the sweep does not vary."""
    from wssim.sweep.tasks import plan, sweep_params

    swept = sweep_params(plan(cfg, 1))
    for i, check in enumerate(cfg.crosscheck.checks):
        if check.tolerance == "rank" and not swept:
            raise ConfigError(
                f"{cfg.name}: `crosscheck.checks.{i}` ranks sweep points by {check.metric}, but the config "
                "has no `sweep`: add one (e.g. `sweep: {clients.reconnect.strategy: [none, full_jitter]}`) "
                "or use another tolerance"
            )
        unknown = sorted(set(check.where or {}) - set(swept))
        if unknown:
            raise ConfigError(
                f"{cfg.name}: `crosscheck.checks.{i}.where` names {', '.join(unknown)}, which the sweep does "
                f"not vary (swept: {', '.join(swept) or 'nothing'}): name swept paths, or drop `where`"
            )


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
    calibration: Calibration | list[str] | None = None,
) -> CrosscheckResult:
    """Run ``config`` on the simulator and live, judge its declared checks; see the module docstring.

    ``calibration`` (a :class:`Calibration`, or ``path=value`` overrides for every backplane kind) is
    applied to the simulator side only, over ``overrides``, except at paths ``overrides`` sets. With
    the real engines and ``crosscheck.schedule`` on, the live run plays the simulator's schedule
    (written to ``out/schedules``, or a temporary folder).
    """
    from wssim.config import load_config
    from wssim.sweep.tasks import plan, sweep_params

    source = config.model_dump(mode="json") if hasattr(config, "model_dump") else config
    cfg = load_config(source, overrides or None)
    check_declarations(cfg)
    calib = Calibration.of(calibration) if isinstance(calibration, list) else calibration
    keep = tuple(overrides or ())
    out_dir = Path(out) if out is not None else None
    real = sim_engine == "sim" and live_engine == "live"
    with tempfile.TemporaryDirectory(prefix="wssim-schedules-") as tmp:
        folder = None
        if real and cfg.crosscheck.schedule:
            folder = out_dir / "schedules" if out_dir else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
        paths = tuple(sweep_params(plan(cfg, 1)))
        engines = [
            Engine(side, None if e == side else e, calib, keep, str(folder) if folder else None, paths)
            for side, e in (("sim", sim_engine), ("live", live_engine))
        ]
        sim = run(cfg, replications=replications, workers=workers, engine=engines[0],
                  out=out_dir / "sim" if out_dir else None, progress=progress, console=console)  # fmt: skip
        live = run(cfg, replications=1, executor="serial", engine=engines[1],
                   out=out_dir / "live" if out_dir else None, progress=progress, console=console)  # fmt: skip
    labels = _labels(sim)
    verdicts = verdict_frame(evaluate(cfg.crosscheck.checks, sim.summary, live.summary, labels))
    applied = calib.overrides(cfg.backplane.kind, keep, cfg.live.send_buffer) if calib else []
    result = CrosscheckResult(sim, live, compare(sim, live), verdicts, labels, applied, out_dir)
    if out_dir is not None:
        from wssim.crosscheck.page import write_page

        result.table.to_csv(out_dir / "comparison.csv", index=False)
        verdicts.to_csv(out_dir / "crosscheck.csv", index=False)
        write_page(result, out_dir / "crosscheck.html")
    return result
