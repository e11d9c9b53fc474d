"""The outcome of a sweep, in memory or read back from its folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from wssim.notes import Note
from wssim.sweep.statistics import CONFIDENCE, aggregate
from wssim.sweep.store import PARTIAL, RunStore, read_json
from wssim.sweep.tasks import KEY_COLUMNS, SweepError


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

    @property
    def notes(self) -> list[Note]:
        """Notes and warnings about the run (:mod:`wssim.notes`), as kept in ``manifest.json``."""
        return [Note.from_json(n) for n in self.info.get("notes", [])]

    def points(self) -> pd.DataFrame:
        """One row per sweep point: its index and parameter values."""
        cols = ["point", *self.params]
        return self.summary[cols].drop_duplicates("point").sort_values("point").reset_index(drop=True)

    def series(self, name: str) -> pd.DataFrame:
        """One time series (e.g. ``handshakes``) per run, with each run's sweep values as columns.

        Gateway labels are summed (max for memory); a rate series' empty bins are 0.
        """
        from wssim.report import combined_series

        return combined_series(self, name).merge(self.points(), on="point")

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
        manifest = read_json(directory / "manifest.json", {})
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
