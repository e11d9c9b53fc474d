"""Sweeps: every sweep point × every replication, on an executor, gathered into :class:`Results`.

Runs are keyed by (point, replication) and always sorted by that key, never by completion order, so the
files are byte-identical whatever the executor or the worker count. Replication ``r`` of every point uses
the same seed: the points share common random numbers (:mod:`wssim.randomness` spawns the streams from
(seed, replication, stream, entity)), so :func:`aggregate` also reports paired differences against
point 0, which are much tighter than the difference of two independent means.

Steady-state figures (quantiles such as ``latency_p99_s`` and ``send_queue_depth_p99``, and
``peak_handshake_rate``) ignore samples before ``config.warmup``: the recorder drops them (warm-up
deletion), while counters and the time series keep the whole run.

Files written to ``out`` (see :mod:`wssim.report` for ``report.html``):

- ``summary.csv`` — one row per run: point, replication, seed, sweep values, every metric;
- ``aggregate.csv`` — per point and metric: n, mean, std, 95% Student-t CI, paired difference vs point 0;
- ``timeseries.parquet`` — tidy: run, point, replication, time, series, label, value;
- ``markers.json`` — fault markers per run; ``manifest.json`` — points, parameters, failures, run info;
- ``config.resolved.yaml`` — the config as run (reloadable with ``wssim run``).

While runs finish they are appended to ``partial/`` so a Ctrl-C keeps them; ``resume`` skips them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import shutil
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, wait
from dataclasses import dataclass, field
from datetime import datetime
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from wssim.executors import ExecutorHandle, make_executor, progress_channel
from wssim.metrics import METRICS, RunResult

ENGINES = ("sim", "live")
KEY_COLUMNS = ("point", "replication", "seed")
TS_COLUMNS = ("run", "point", "replication", "time", "series", "label", "value")
CONFIDENCE = 0.95
PARTIAL = "partial"
STARTED = -1.0  # progress message: the run has started in a pool worker
WORKER_DIED = (
    "its worker process died while it ran (killed, out of memory, or a crash in native code); "
    "another run in flight at the same time is marked too; --resume runs them again"
)


class SweepError(Exception):
    """A sweep cannot start or continue (a bad resume directory, an unknown engine); ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class RunSpec:
    """One run: a sweep point's config and a replication number."""

    point: int
    replication: int
    params: dict[str, Any]
    seed: int
    config: Any

    @property
    def key(self) -> tuple[int, int]:
        return (self.point, self.replication)

    @property
    def run_id(self) -> str:
        return run_id(self.point, self.replication)


def run_id(point: int, replication: int) -> str:
    """The id of a run in file names, the time series and the markers: ``p003-r001``."""
    return f"p{point:03d}-r{replication:03d}"


def plan(config: Any, replications: int | None = None) -> list[RunSpec]:
    """Every (point, replication) of a config, ordered by key."""
    from wssim.config import expand_sweep

    reps = replications or config.replications
    points = expand_sweep(config)
    return [
        RunSpec(p.index, r, dict(p.params), int(p.config.seed), p.config) for p in points for r in range(reps)
    ]


def sweep_params(specs: Sequence[RunSpec]) -> list[str]:
    """The swept dotted paths, in sweep order (as :func:`wssim.config.expand_sweep` gives them)."""
    names: dict[str, None] = {}
    for spec in specs:
        names.update(dict.fromkeys(spec.params))
    return [p for p in names if p not in KEY_COLUMNS]


# -------------------------------------------------------------------------------------------- engines


def resolve_engine(engine: str | Callable[..., RunResult]) -> Callable[..., RunResult]:
    """The engine function: ``sim``, ``live``, ``module:function``, or a callable as it is.

    An engine is called as ``engine(config, replication, progress) -> RunResult``.
    """
    if callable(engine):
        return engine
    if engine == "sim":
        from wssim.sim import simulate

        return simulate
    if engine == "live":
        from reference_impl.harness import run_live

        return run_live
    if isinstance(engine, str) and ":" in engine:
        module, _, name = engine.partition(":")
        try:
            return getattr(import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise SweepError(f"engine `{engine}` cannot be imported: {exc}") from exc
    raise SweepError(f"unknown engine `{engine}`; use one of {', '.join(ENGINES)} or `module:function`")


@dataclass
class RunOutcome:
    """What came back from a worker for one run: a result, or an error."""

    point: int
    replication: int
    metrics: dict[str, float] | None = None
    timeseries: pd.DataFrame | None = None
    markers: list[tuple[float, str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.point, self.replication)

    @property
    def ok(self) -> bool:
        return self.error is None


class _Reporter:
    """Passes a run's progress (fraction of simulated time) on, at most ~4 times a second: to the parent
    through the progress channel (pool workers), or to a function (serial runs)."""

    def __init__(self, sink: Any, rid: str) -> None:
        self.sink, self.rid, self.last = sink, rid, 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last >= 0.25 or fraction >= 1.0:
            self.last = now
            with contextlib.suppress(Exception):
                if callable(self.sink):
                    self.sink(self.rid, float(fraction))
                else:
                    self.sink.put((self.rid, float(fraction)))


def execute_run(
    engine: str | Callable[..., RunResult],
    config: Any,
    point: int,
    replication: int,
    progress: Callable[[float], None] | None = None,
) -> RunOutcome:
    """Run one (point, replication) in this process; never raises for an engine failure."""
    rid = run_id(point, replication)
    if progress is None and (channel := progress_channel()) is not None:
        with contextlib.suppress(Exception):
            channel.put((rid, STARTED))  # lets the parent tell who was running if this process dies
        progress = _Reporter(channel, rid)
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        result = resolve_engine(engine)(config, replication, progress)
    except Exception as exc:
        return RunOutcome(
            point, replication, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()
        )
    info = dict(result.info)
    info.setdefault("wall_s", time.perf_counter() - start)
    info.setdefault("cpu_s", time.process_time() - cpu_start)
    ts = result.timeseries
    if ts is None:
        ts = pd.DataFrame(columns=["time", "series", "label", "value"])
    metrics = {str(k): float(v) for k, v in result.metrics.items()}
    markers = [(float(t), str(label)) for t, label in result.markers]
    return RunOutcome(point, replication, metrics, ts, markers, info)


# ------------------------------------------------------------------------------------- stable output


def format_value(value: Any) -> str:
    """A cell of summary.csv / aggregate.csv: the same text for the same value, on every machine."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if v.is_integer() and abs(v) < 1e16:
            return str(int(v))
        return repr(v)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def metric_columns(names: Iterable[str]) -> list[str]:
    """Metric names in a stable order: :data:`METRICS` order, then the others alphabetically."""
    names = set(names)
    return [m for m in METRICS if m in names] + sorted(names - set(METRICS))


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Write a CSV of already-formatted cells (``\\n`` line ends), atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)


def read_summary(text: str) -> pd.DataFrame:
    """summary.csv text as a DataFrame (``nan`` cells as NaN; strings like ``none`` stay strings)."""
    if not text.strip():
        return pd.DataFrame(columns=list(KEY_COLUMNS))
    return pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=["nan", ""])


# ------------------------------------------------------------------------------------- the run store


@dataclass
class StoredRun:
    """A finished run held by the store: formatted summary cells, time series, markers, info."""

    point: int
    replication: int
    cells: dict[str, str]
    timeseries: pd.DataFrame | None
    markers: list[tuple[float, str]]
    info: dict[str, Any]


class RunStore:
    """Finished runs, and (when ``out`` is set) their files: partial as they finish, final when done."""

    def __init__(self, out: Path | None, params: list[str]) -> None:
        self.out = out
        self.params = params
        self.runs: dict[tuple[int, int], StoredRun] = {}
        self.failures: dict[tuple[int, int], dict[str, Any]] = {}

    # -- adding ---------------------------------------------------------------------------------
    def cells_for(self, spec: RunSpec, metrics: dict[str, float]) -> dict[str, str]:
        cells = {"point": str(spec.point), "replication": str(spec.replication), "seed": str(spec.seed)}
        for p in self.params:
            cells[p] = format_value(spec.params.get(p))
        for name, value in metrics.items():
            if name not in cells:
                cells[name] = format_value(value)
        return cells

    def add(self, spec: RunSpec, outcome: RunOutcome) -> None:
        """Keep a finished run and append it to the partial files."""
        if not outcome.ok:
            self.failures[spec.key] = {
                "point": spec.point,
                "replication": spec.replication,
                "params": {p: spec.params.get(p) for p in self.params},
                "error": outcome.error,
                "traceback": outcome.traceback,
            }
            return
        self.failures.pop(spec.key, None)
        assert outcome.metrics is not None
        run = StoredRun(
            spec.point,
            spec.replication,
            self.cells_for(spec, outcome.metrics),
            outcome.timeseries,
            list(outcome.markers),
            dict(outcome.info),
        )
        self.runs[spec.key] = run
        if self.out is not None:
            self._append_partial(run)

    def _append_partial(self, run: StoredRun) -> None:
        part = self.out / PARTIAL
        part.mkdir(parents=True, exist_ok=True)
        rid = run_id(run.point, run.replication)
        if run.timeseries is not None and len(run.timeseries):
            run.timeseries.reset_index(drop=True).to_parquet(part / f"{rid}.parquet", index=False)
        line = {
            "point": run.point,
            "replication": run.replication,
            "cells": run.cells,
            "markers": run.markers,
            "info": _jsonable(run.info),
        }
        with open(part / "summary.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, sort_keys=True) + "\n")
            fh.flush()

    # -- loading (resume, report) ----------------------------------------------------------------
    def load(self, directory: Path) -> None:
        """Read the runs saved in ``directory``: final files first, then any partial rows."""
        summary = directory / "summary.csv"
        ts_all: dict[str, pd.DataFrame] = {}
        tsfile = directory / "timeseries.parquet"
        if tsfile.exists():
            frame = pd.read_parquet(tsfile)
            ts_all = {
                str(k): g.drop(columns=["run", "point", "replication"]) for k, g in frame.groupby("run")
            }
        markers = _read_json(directory / "markers.json", {})
        manifest = _read_json(directory / "manifest.json", {})
        infos = manifest.get("runs", {})
        if summary.exists():
            with open(summary, encoding="utf-8", newline="") as fh:
                for cells in csv.DictReader(fh):
                    p, r = int(cells["point"]), int(cells["replication"])
                    rid = run_id(p, r)
                    marks = [(float(t), str(lab)) for t, lab in markers.get(rid, [])]
                    self.runs[(p, r)] = StoredRun(
                        p, r, dict(cells), ts_all.get(rid), marks, infos.get(rid, {})
                    )
        for f in manifest.get("failures", []):
            self.failures[(int(f["point"]), int(f["replication"]))] = f
        part = directory / PARTIAL
        lines = part / "summary.jsonl"
        if lines.exists():
            for raw in lines.read_text(encoding="utf-8").splitlines():
                try:
                    line = json.loads(raw)
                except json.JSONDecodeError:  # a line cut short by a hard kill
                    continue
                p, r = int(line["point"]), int(line["replication"])
                tsfile = part / f"{run_id(p, r)}.parquet"
                ts = pd.read_parquet(tsfile) if tsfile.exists() else None
                marks = [(float(t), str(lab)) for t, lab in line.get("markers", [])]
                self.runs[(p, r)] = StoredRun(p, r, line["cells"], ts, marks, line.get("info", {}))
                self.failures.pop((p, r), None)

    # -- reading ----------------------------------------------------------------------------------
    def header(self) -> list[str]:
        names: set[str] = set()
        for run in self.runs.values():
            names.update(run.cells)
        fixed = [*KEY_COLUMNS, *self.params]
        return fixed + metric_columns(names - set(fixed))

    def summary_text(self) -> tuple[list[str], list[list[str]]]:
        header = self.header()
        rows = [[self.runs[k].cells.get(c, "") for c in header] for k in sorted(self.runs)]
        return header, rows

    def summary(self) -> pd.DataFrame:
        header, rows = self.summary_text()
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([header, *rows])
        return read_summary(buf.getvalue())

    def timeseries(self) -> pd.DataFrame:
        frames = []
        for key in sorted(self.runs):
            run = self.runs[key]
            if run.timeseries is None or not len(run.timeseries):
                continue
            ts = run.timeseries[["time", "series", "label", "value"]].copy()
            ts.insert(0, "replication", run.replication)
            ts.insert(0, "point", run.point)
            ts.insert(0, "run", run_id(run.point, run.replication))
            frames.append(ts)
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _TS_DTYPES.items()})
        frame = pd.concat(frames, ignore_index=True)
        return frame.astype(_TS_DTYPES)

    def markers(self) -> dict[str, list[tuple[float, str]]]:
        return {run_id(*k): [tuple(m) for m in self.runs[k].markers] for k in sorted(self.runs)}

    # -- final files --------------------------------------------------------------------------------
    def write(self, config_dump: dict[str, Any], manifest: dict[str, Any]) -> None:
        """Write the sorted final files, then drop the partial folder."""
        assert self.out is not None
        out = self.out
        header, rows = self.summary_text()
        write_csv(out / "summary.csv", header, rows)
        agg = aggregate(self.summary(), self.params)
        write_csv(
            out / "aggregate.csv",
            list(agg.columns),
            [[format_value(v) for v in row] for row in agg.itertuples(False)],
        )
        ts = self.timeseries()
        ts.to_parquet(out / "timeseries.parquet.tmp", index=False)
        (out / "timeseries.parquet.tmp").replace(out / "timeseries.parquet")
        _write_json(out / "markers.json", {k: [list(m) for m in v] for k, v in self.markers().items()})
        manifest = dict(manifest)
        manifest["failures"] = [self.failures[k] for k in sorted(self.failures)]
        manifest["runs"] = {run_id(*k): _jsonable(self.runs[k].info) for k in sorted(self.runs)}
        _write_json(out / "manifest.json", manifest)
        text = yaml.safe_dump(config_dump, sort_keys=False, allow_unicode=True)
        (out / "config.resolved.yaml").write_text(text, encoding="utf-8")
        shutil.rmtree(out / PARTIAL, ignore_errors=True)


_TS_DTYPES = {
    "run": "object",
    "point": "int64",
    "replication": "int64",
    "time": "float64",
    "series": "object",
    "label": "object",
    "value": "float64",
}


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return default


# ------------------------------------------------------------------------------------------ statistics


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


# ---------------------------------------------------------------------------------------------- results


class Results:
    """The outcome of a sweep: ``.summary`` (one row per run), ``.timeseries``, ``.aggregate()``, plots."""

    def __init__(
        self,
        summary: pd.DataFrame,
        timeseries: pd.DataFrame,
        markers: dict[str, list[tuple[float, str]]],
        params: list[str],
        config: dict[str, Any],
        failures: list[dict[str, Any]] | None = None,
        out: Path | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.summary = summary
        self.timeseries = timeseries
        self.markers = markers
        self.params = params
        self.config = config
        self.failures = failures or []
        self.out = out
        self.info = info or {}

    def __repr__(self) -> str:
        n_points = self.summary["point"].nunique() if len(self.summary) else 0
        return (
            f"<Results {self.config.get('name', '')!r}: {len(self.summary)} runs, {n_points} points, "
            f"params={self.params}, failures={len(self.failures)}, out={self.out}>"
        )

    @property
    def metrics(self) -> list[str]:
        """The metric columns of :attr:`summary`."""
        fixed = {*KEY_COLUMNS, *self.params}
        return [c for c in self.summary.columns if c not in fixed]

    def points(self) -> pd.DataFrame:
        """One row per sweep point: its index and parameter values."""
        cols = ["point", *self.params]
        return self.summary[cols].drop_duplicates("point").sort_values("point").reset_index(drop=True)

    def aggregate(self, metrics: Sequence[str] | None = None, confidence: float = CONFIDENCE) -> pd.DataFrame:
        """Mean, std, Student-t CI and n of each metric at each point (see :func:`aggregate`)."""
        return aggregate(self.summary, self.params, metrics, confidence)

    def plot(self, metric: str, x: str | None = None, color: str | None = None) -> Any:
        """A plotly figure of ``metric`` (mean and 95% CI) against sweep parameter ``x``."""
        from wssim.report import metric_figure

        return metric_figure(self, metric, x=x, color=color)

    def plot_timeseries(self, series: str, runs: Sequence[str] | None = None) -> Any:
        """A plotly figure of one time series (e.g. ``connections``) for the given runs (default: all)."""
        from wssim.report import timeseries_figure

        return timeseries_figure(self, series, runs=runs)

    def report(self, path: str | Path | None = None) -> Path:
        """Write the self-contained HTML report (default: ``out/report.html``)."""
        from wssim.report import write_report

        if path is None:
            if self.out is None:
                raise ValueError("these results have no output folder: give a path")
            path = self.out / "report.html"
        return write_report(self, Path(path))

    @classmethod
    def load(cls, directory: str | Path) -> Results:
        """Read the results saved by a run in ``directory`` (including partial rows of an interrupted one)."""
        directory = Path(directory)
        if not (directory / "summary.csv").exists() and not (directory / PARTIAL / "summary.jsonl").exists():
            raise SweepError(f"{directory} holds no results (no summary.csv)")
        manifest = _read_json(directory / "manifest.json", {})
        params = list(manifest.get("params", []))
        store = RunStore(None, params)
        store.load(directory)
        config = {}
        cfg_file = directory / "config.resolved.yaml"
        if cfg_file.exists():
            config = yaml.safe_load(cfg_file.read_text(encoding="utf-8")) or {}
        return cls(
            store.summary(),
            store.timeseries(),
            store.markers(),
            params,
            config,
            [store.failures[k] for k in sorted(store.failures)],
            directory,
            {k: v for k, v in manifest.items() if k not in ("runs", "failures")},
        )


# ------------------------------------------------------------------------------------------- progress


class _Progress:
    """Run progress on the terminal (rich): runs done with an ETA, plus simulated time of running ones."""

    def __init__(self, enabled: bool, total: int, title: str, console: Any = None) -> None:
        self.enabled = enabled and total > 0
        self.tasks: dict[str, Any] = {}
        self.finished: set[str] = set()
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self.total, self.done = total, 0
        self.main = self.progress.add_task(title, total=total, count=f"0/{total} runs")
        self.progress.start()

    def run_progress(self, rid: str, fraction: float) -> None:
        if not self.enabled:
            return
        if rid not in self.tasks:
            if fraction >= 1.0 or rid in self.finished:
                return
            point, rep = rid[1:].split("-r")
            label = f"  point {int(point)}, replication {int(rep)}: simulated time"
            self.tasks[rid] = self.progress.add_task(label, total=1.0, count="")
        self.progress.update(self.tasks[rid], completed=min(fraction, 1.0))

    def run_done(self, rid: str) -> None:
        if not self.enabled:
            return
        self.finished.add(rid)
        task = self.tasks.pop(rid, None)
        if task is not None:
            self.progress.remove_task(task)
        self.done += 1
        self.progress.update(self.main, advance=1, count=f"{self.done}/{self.total} runs")

    def stop(self) -> None:
        if self.enabled:
            for task in self.tasks.values():
                self.progress.remove_task(task)
            self.tasks.clear()
            self.progress.stop()


# -------------------------------------------------------------------------------------------------- run


def default_out(name: str, root: str | Path = "runs") -> Path:
    """A fresh output folder: ``runs/NAME-YYYYmmdd-HHMMSS``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


def _as_config(config: Any, overrides: list[str] | None, replications: int | None) -> Any:
    from wssim.config import Config, load_config

    if isinstance(config, Config):
        cfg = config if not overrides else load_config(config.model_dump(mode="json"), overrides)
    else:
        cfg = load_config(config, overrides)
    if replications is not None and replications != cfg.replications:
        if replications < 1:
            raise SweepError("replications must be at least 1")
        cfg = load_config({**cfg.model_dump(mode="json"), "replications": replications})
    return cfg


def _earlier_replications(directory: Path) -> int:
    """The replications recorded in an earlier run's folder (0 if unknown)."""
    try:
        old = yaml.safe_load((directory / "config.resolved.yaml").read_text(encoding="utf-8")) or {}
        return int(old.get("replications", 0))
    except (OSError, yaml.YAMLError, TypeError, ValueError):
        return 0


def _check_resume(directory: Path, config_dump: dict[str, Any]) -> None:
    cfg_file = directory / "config.resolved.yaml"
    if not directory.is_dir():
        raise SweepError(f"cannot resume: {directory} is not a folder")
    if not cfg_file.exists():
        if (directory / PARTIAL).exists():
            return
        raise SweepError(
            f"cannot resume: {directory} has no config.resolved.yaml, so it is not a wssim run folder"
        )
    old = yaml.safe_load(cfg_file.read_text(encoding="utf-8")) or {}
    a = {k: v for k, v in old.items() if k != "replications"}
    b = {k: v for k, v in _jsonable(config_dump).items() if k != "replications"}
    if a != b:
        changed = sorted(_diff_paths(a, b))
        shown = ", ".join(f"`{p}`" for p in changed[:6]) + (" …" if len(changed) > 6 else "")
        raise SweepError(
            f"cannot resume {directory}: it was run with a different config ({shown} differ). "
            "Resume with the "
            f"same config and --set values (only --replications may change), or start a new --out folder."
        )


def _diff_paths(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff_paths(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "(root)"]


def run(
    config: Any,
    replications: int | None = None,
    workers: int | None = None,
    executor: str = "local",
    engine: str | Callable[..., RunResult] = "sim",
    out: str | Path | None = None,
    progress: bool = True,
    *,
    scheduler: str | None = None,
    resume: str | Path | None = None,
    overrides: list[str] | None = None,
    report: bool = True,
    console: Any = None,
) -> Results:
    """Run every sweep point × replication of ``config`` and gather the results.

    ``config`` is a :class:`~wssim.config.Config`, a YAML path, a built-in scenario name or a dict.
    ``executor`` is ``local`` (process pool of ``workers``, default one per core), ``dask`` (``scheduler``
    address, or a private local cluster) or ``serial``. ``engine`` is ``sim``, ``live``, ``module:function``
    or a callable ``(config, replication, progress) -> RunResult``. With ``out`` (or ``resume``, a folder of
    an earlier run whose finished runs are skipped) the files are written there. Failed runs are listed in
    ``Results.failures`` (and a warning) without stopping the others. Ctrl-C keeps finished runs.
    """
    if resume is not None:
        earlier = _earlier_replications(Path(resume))
        if replications is None and earlier:
            replications = max(earlier, _as_config(config, overrides, None).replications)
        elif replications is not None and earlier > replications:
            raise SweepError(
                f"cannot resume {resume} with {replications} replication(s): it already has {earlier}; "
                "--replications can only grow on resume"
            )
    cfg = _as_config(config, overrides, replications)
    specs = plan(cfg)
    params = sweep_params(specs)
    config_dump = cfg.model_dump(mode="json")
    if engine == "live" and executor == "local":
        executor = "serial"  # a live run owns the machine's sockets and cores
    if isinstance(engine, str) and engine not in ENGINES:
        resolve_engine(engine)  # fail early on an unknown or unimportable engine

    out_dir: Path | None = None
    if resume is not None:
        out_dir = Path(resume)
        _check_resume(out_dir, config_dump)
    elif out is not None:
        out_dir = Path(out)
        if out_dir.exists() and any(out_dir.iterdir()):
            raise SweepError(f"{out_dir} exists and is not empty: choose a new --out folder, or --resume it")
    store = RunStore(out_dir, params)
    if resume is not None:
        store.load(out_dir)
        wanted = {s.key for s in specs}
        store.runs = {k: v for k, v in store.runs.items() if k in wanted}
        store.failures = {}
    todo = [s for s in specs if s.key not in store.runs]
    # Replication-major: an interrupted sweep keeps whole replications across all points.
    todo.sort(key=lambda s: (s.replication, s.point))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.resolved.yaml").write_text(
            yaml.safe_dump(config_dump, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )

    manifest = {
        "name": cfg.name,
        "params": params,
        "engine": engine if isinstance(engine, str) else getattr(engine, "__name__", "custom"),
        "replications": cfg.replications,
        "points": [
            {"point": s.point, "params": _jsonable(s.params), "seed": s.seed}
            for s in specs
            if s.replication == 0
        ],
        "confidence": CONFIDENCE,
    }
    if out_dir is not None:  # early, so that even a killed run's folder says what its columns are
        runs_info = {run_id(*k): _jsonable(r.info) for k, r in sorted(store.runs.items())}
        _write_json(out_dir / "manifest.json", {**manifest, "runs": runs_info, "failures": []})
    started = time.perf_counter()
    interrupted = False
    handle: ExecutorHandle | None = None
    bar: _Progress | None = None
    try:
        if todo:
            handle = make_executor(executor, workers=workers, scheduler=scheduler)
            manifest["executor"] = handle.description
            label = f"{cfg.name}: {len(todo)} run{'s' * (len(todo) != 1)}"
            bar = _Progress(progress, len(todo), label, console)
            _execute(handle, engine, todo, store, bar)
    except KeyboardInterrupt:
        interrupted = True
        if handle is not None:
            handle.abort()
            handle = None
        raise
    finally:
        if bar is not None:
            bar.stop()
        if handle is not None:
            handle.close()
        manifest["wall_s"] = round(time.perf_counter() - started, 3)
        manifest["interrupted"] = interrupted
        if out_dir is not None and (store.runs or store.failures):
            store.write(config_dump, manifest)
            if report and store.runs:
                with contextlib.suppress(Exception) if interrupted else contextlib.nullcontext():
                    Results.load(out_dir).report()
    results = Results(
        store.summary(),
        store.timeseries(),
        store.markers(),
        params,
        config_dump,
        [store.failures[k] for k in sorted(store.failures)],
        out_dir,
        dict(manifest),
    )
    if results.failures:
        warnings.warn(
            f"{len(results.failures)} run(s) failed: "
            + "; ".join(
                f"{run_id(f['point'], f['replication'])} {f['params']}: {f['error']}"
                for f in results.failures[:3]
            ),
            RuntimeWarning,
            stacklevel=2,
        )
    return results


def _execute(
    handle: ExecutorHandle,
    engine: str | Callable[..., RunResult],
    todo: list[RunSpec],
    store: RunStore,
    bar: _Progress,
) -> None:
    """Submit every run, keep each as it finishes, show progress.

    If a pool worker dies (the pool breaks), the runs that had started and not finished are recorded as
    failed, the pool is restarted and the runs that had not started are submitted again.
    """
    if handle.kind == "serial":  # one at a time in this process: progress goes straight to the bar
        for spec in todo:
            rid = spec.run_id
            outcome = execute_run(
                engine, spec.config, spec.point, spec.replication, _Reporter(bar.run_progress, rid)
            )
            store.add(spec, outcome)
            bar.run_done(rid)
        return
    remaining = list(todo)
    while remaining:
        started: set[str] = set()
        broken = _submit_and_gather(handle, engine, remaining, store, bar, started)
        if not broken:
            return
        _drain(handle, bar, started)
        suspects = [s for s in broken if s.run_id in started] or broken
        for spec in suspects:
            store.add(spec, RunOutcome(spec.point, spec.replication, error=f"WorkerDied: {WORKER_DIED}"))
            bar.run_done(spec.run_id)
        remaining = [s for s in broken if s not in suspects]
        if remaining:
            handle.restart()


def _submit_and_gather(
    handle: ExecutorHandle,
    engine: str | Callable[..., RunResult],
    specs: list[RunSpec],
    store: RunStore,
    bar: _Progress,
    started: set[str],
) -> list[RunSpec]:
    """Run ``specs`` on the executor; return the ones lost to a broken pool (empty if none)."""
    by_future: dict[Future, RunSpec] = {}
    for spec in specs:
        fut = handle.executor.submit(execute_run, engine, spec.config, spec.point, spec.replication)
        by_future[fut] = spec
    pending = set(by_future)
    broken: list[RunSpec] = []
    while pending:
        done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        _drain(handle, bar, started)
        for fut in sorted(done, key=lambda f: by_future[f].key):
            spec = by_future[fut]
            try:
                outcome = fut.result()
            except BrokenExecutor:
                broken.append(spec)
                continue
            except Exception as exc:
                outcome = RunOutcome(spec.point, spec.replication, error=f"{type(exc).__name__}: {exc}")
            store.add(spec, outcome)
            bar.run_done(spec.run_id)
    return sorted(broken, key=lambda s: (s.replication, s.point))


def _drain(handle: ExecutorHandle, bar: _Progress, started: set[str]) -> None:
    """Read the pool workers' progress messages: show the latest per run, note the runs started."""
    if handle.progress is None:
        return
    latest: dict[str, float] = {}
    for rid, fraction in handle.progress.drain():
        if fraction == STARTED:
            started.add(rid)
        else:
            latest[rid] = fraction
    for rid, fraction in latest.items():
        bar.run_progress(rid, fraction)


__all__ = ["ENGINES", "Results", "RunSpec", "SweepError", "aggregate", "confidence_interval", "plan", "run"]
