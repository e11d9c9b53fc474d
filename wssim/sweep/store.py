"""A sweep's files: runs appended to ``partial/`` as they finish, the sorted final files, and reading both.

Cells are formatted by :func:`format_value`, so the files are byte-identical on every machine.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from wssim.metrics import METRICS
from wssim.notes import Note, across_runs
from wssim.sweep.statistics import aggregate
from wssim.sweep.tasks import KEY_COLUMNS, RunOutcome, RunSpec, run_id

TS_COLUMNS = ("run", "point", "replication", "time", "series", "label", "value")
PARTIAL = "partial"


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
            "info": jsonable(run.info),
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
        markers = read_json(directory / "markers.json", {})
        manifest = read_json(directory / "manifest.json", {})
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

    def run_notes(self) -> list[Note]:
        """The notes the finished runs raised (:func:`wssim.notes.across_runs`)."""
        return across_runs(
            [[Note.from_json(n) for n in self.runs[k].info.get("notes", [])] for k in sorted(self.runs)]
        )

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
        write_json(out / "markers.json", {k: [list(m) for m in v] for k, v in self.markers().items()})
        manifest = dict(manifest)
        manifest["failures"] = [self.failures[k] for k in sorted(self.failures)]
        manifest["runs"] = {run_id(*k): jsonable(self.runs[k].info) for k in sorted(self.runs)}
        write_json(out / "manifest.json", manifest)
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


def jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return default
