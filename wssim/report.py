"""The self-contained HTML report of a run (plotly.js embedded once, inline: it opens offline).

Sections: a verdict per sweep point (OOM, lost messages, no convergence, failed runs); each metric that
varies against each swept parameter, mean with 95% CI error bars; time series per run with fault markers;
a summary table (mean ± CI half-width); the config as run. :func:`write_report` builds it from
:class:`wssim.sweep.Results`, so ``wssim report DIR`` rebuilds it from the saved files.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import yaml

from wssim.metrics import AFTER_WARMUP, METRICS, display_scale
from wssim.units import WIDE_NOTE, human, too_wide, with_interval, with_range

if TYPE_CHECKING:  # pragma: no cover
    from wssim.sweep import Results

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563"]
FONT = "Inter, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
MAX_METRIC_CHARTS = 16
MAX_TRACES = 24
MAX_POINTS = 2_000  # points per line drawn; timeseries.parquet keeps every sample (see downsample)

# Time series: title, unit, how gateway labels combine into one line per run. Rate series (events
# per second, "sum" of labels) have no row for an interval without events: it is drawn as zero.
RATE_SERIES = {"handshakes", "connect_attempts", "reconnects", "deliveries", "drops", "backplane_deliveries"}
SERIES: dict[str, tuple[str, str, str]] = {
    "connections": ("Connections held by the fleet", "connections", "sum"),
    "clients_connected": ("Clients connected", "clients", "sum"),
    "handshakes": ("Handshake rate", "handshakes/s", "sum"),
    "connect_attempts": ("Connection attempts", "attempts/s", "sum"),
    "reconnects": ("Reconnect rate", "reconnects/s", "sum"),
    "memory_bytes": ("Memory of the fullest gateway", "bytes", "max"),
    "send_queue_depth_p99": ("Send-queue depth, p99", "messages", "max"),
    "queued_messages": ("Messages waiting in send queues", "messages", "sum"),
    "deliveries": ("Deliveries to clients", "messages/s", "sum"),
    "drops": ("Messages dropped by send queues", "messages/s", "sum"),
    "backplane_deliveries": ("Backplane deliveries to gateways", "messages/s", "sum"),
}
KEY_METRICS = (
    "connections_peak",
    "peak_handshake_rate",
    "herd_convergence_s",
    "messages_lost",
    "messages_dropped_overflow",
    "gateway_memory_peak_bytes",
    "gateway_oom_crashes",
    "send_queue_depth_p99",
    "latency_p99_s",
    "replay_misses",
    "fanout_waste_fraction",
    "cost_per_month_usd",
)
CONVERGING_FAULTS = {"gateway_crash", "deploy", "remove_gateways"}
NOT_MEASURED = "not measured (see warning)"


def unmeasured(results: Results) -> set[str]:
    """Metrics a warning of the run says were not measured (its topic names them)."""
    return {n.topic for n in results.notes if n.level == "warning" and n.topic in METRICS}


def _notes_html(results: Results) -> str:
    """The run's notes and warnings, one line each, above the results."""
    notes = results.notes
    if not notes:
        return ""
    items = "".join(f"<li class='{n.level}'><b>{n.level}:</b> {html.escape(n.text)}</li>" for n in notes)
    return f"<div class='card warn'><ul class='notes'>{items}</ul></div>"


# ------------------------------------------------------------------------------------------ formatting


def unit_of(metric: str) -> str:
    """The unit of a metric ("" if unknown)."""
    return METRICS[metric].unit if metric in METRICS else ""


def axis_title(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit and unit != name else name


def point_label(results: Results, point: int, short: bool = False) -> str:
    """``point 2: strategy=none, gateways.count=4`` (or just the values when ``short``)."""
    if not results.params:
        return "no sweep" if short else "the run"
    row = results.points().set_index("point").loc[point]
    parts = [f"{short_name(p, results.params)}={_val(row[p])}" for p in results.params]
    return ", ".join(parts) if short else f"point {point}: " + ", ".join(parts)


def short_name(path: str, params: Sequence[str]) -> str:
    """The last two parts of a dotted path (``reconnect.strategy``), more if ambiguous among ``params``."""
    parts = path.split(".")
    for k in range(min(2, len(parts)), len(parts) + 1):
        tail = ".".join(parts[-k:])
        if sum(1 for p in params if p == tail or p.endswith("." + tail)) <= 1:
            return tail
    return path


def param_unit(path: str) -> str:
    """The SI unit of a config path (``s``, ``bytes``, ``per s``), or "" (unitless or unknown)."""
    try:
        from wssim.config import Config
        from wssim.docgen import UNIT_SI, field_facts

        model: Any = Config
        facts: dict[str, Any] = {}
        for part in path.split("."):
            facts = field_facts(model.model_fields[part])
            model = facts["model"]
        return UNIT_SI.get(facts.get("unit") or "", "")
    except Exception:  # a path the schema does not know (or a list index): no unit shown
        return ""


def point_values(results: Results, point: int) -> str:
    """Just the swept values of a point (``none``, ``100, 4``): table headers name the parameters."""
    if not results.params:
        return "value"
    row = results.points().set_index("point").loc[point]
    return ", ".join(_val(row[p]) for p in results.params)


def _corner(results: Results) -> str:
    names = ", ".join(short_name(p, results.params) for p in results.params)
    return f"metric \\ {html.escape(names)}" if names else "metric"


def _val(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, float) and math.isnan(v):
        return "none"
    return str(v)


def _layout(title: str, xtitle: str, ytitle: str, unit: str = "", height: int = 360) -> dict[str, Any]:
    """A plain layout dict (no template lookups: building many figures stays fast)."""
    axis = {"showline": True, "linecolor": "#d1d5db", "gridcolor": "#eef2f7", "zeroline": False,
            "ticks": "outside", "tickcolor": "#d1d5db", "automargin": True}  # fmt: skip
    yaxis: dict[str, Any] = {**axis, "title": {"text": ytitle}, "rangemode": "tozero"}
    if unit == "bytes":
        yaxis.update(tickformat="~s", ticksuffix="B")
    elif unit == "fraction":
        yaxis.update(tickformat=".0%")
    return {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        "font": {"family": FONT, "size": 12, "color": "#1f2937"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "colorway": PALETTE,
        "margin": {"l": 64, "r": 20, "t": 48, "b": 52},
        "height": height,
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0, "font": {"size": 11}},
        "hovermode": "closest",
        "modebar": {"orientation": "v", "bgcolor": "rgba(255,255,255,0.6)"},
        "hoverlabel": {"font": {"family": FONT}},
        "xaxis": {**axis, "title": {"text": xtitle}},
        "yaxis": yaxis,
    }


def _floats(values: Any) -> list[float | None]:
    """JSON-ready numbers (NaN -> None, which plotly draws as a gap)."""
    return [None if v is None or not math.isfinite(float(v)) else float(v) for v in values]


# --------------------------------------------------------------------------------------------- figures


def metric_spec(
    results: Results,
    metric: str,
    x: str | None = None,
    color: str | None = None,
    agg: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The figure (as a plotly dict) of ``metric``'s mean and 95% CI against sweep parameter ``x``."""
    if metric not in results.summary.columns:
        raise KeyError(f"unknown metric {metric!r}; choose one of {', '.join(results.metrics)}")
    x = x or (results.params[0] if results.params else None)
    if x is not None and x not in results.params:
        raise KeyError(f"{x!r} is not a swept parameter; choose one of {', '.join(results.params)}")
    agg = results.aggregate([metric]) if agg is None else agg[agg["metric"] == metric]
    ci_low = next(c for c in agg.columns if c.startswith("ci") and c.endswith("_low"))
    ci_high = next(c for c in agg.columns if c.startswith("ci") and c.endswith("_high"))
    unit = unit_of(metric)
    if x is None:
        agg = agg.assign(_x="all runs")
        x_col, others = "_x", []
    else:
        x_col = x
        others = [color] if color else [p for p in results.params if p != x]
    groups = agg.groupby(others, sort=False, dropna=False) if others else [((), agg)]
    traces = []
    for i, (key, sub) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        name = ", ".join(
            f"{short_name(o, results.params)}={_val(k)}" for o, k in zip(others, key, strict=False)
        )
        name = name or metric
        mean = sub["mean"].to_numpy(dtype=float)
        hi = np.nan_to_num(sub[ci_high].to_numpy(dtype=float) - mean, nan=0.0)
        lo = np.nan_to_num(mean - sub[ci_low].to_numpy(dtype=float), nan=0.0)
        colour = PALETTE[i % len(PALETTE)]
        custom = [
            [int(n), lo_, hi_]
            for n, lo_, hi_ in zip(sub["n"], _floats(sub[ci_low]), _floats(sub[ci_high]), strict=True)
        ]
        traces.append(
            {
                "type": "scatter",
                "x": [_val(v) for v in sub[x_col]],
                "y": _floats(mean),
                "mode": "lines+markers",
                "name": name,
                "line": {"color": colour, "width": 2},
                "marker": {"size": 8, "color": colour},
                "error_y": {"type": "data", "symmetric": False, "array": _floats(hi),
                            "arrayminus": _floats(lo), "thickness": 1.5, "width": 6, "color": colour},
                "customdata": custom,
                "hovertemplate": f"%{{x}}<br>mean %{{y:.4g}} {unit}<br>95% CI [%{{customdata[1]:.4g}}, "
                "%{customdata[2]:.4g}]<br>n = %{customdata[0]}<extra>" + html.escape(name) + "</extra>",
            }
        )  # fmt: skip
    title = f"{metric} vs {short_name(x, results.params)}" if x else metric
    layout = _layout(title, axis_title(x, param_unit(x)) if x else "", axis_title(metric, unit), unit)
    layout["xaxis"]["type"] = "category"
    layout["showlegend"] = bool(others)
    return {"data": traces, "layout": layout}


def metric_figure(results: Results, metric: str, x: str | None = None, color: str | None = None) -> go.Figure:
    """Mean and 95% CI of ``metric`` against sweep parameter ``x``, one line per value of the others."""
    return go.Figure(metric_spec(results, metric, x=x, color=color))


def _combine(ts: pd.DataFrame, how: str, grid: np.ndarray | None = None) -> pd.DataFrame:
    """One value per run and time: labels summed (or max); with ``grid``, missing bins are zero."""
    grouped = ts.groupby(["run", "point", "replication", "time"], sort=True)["value"]
    data = (grouped.max() if how == "max" else grouped.sum()).reset_index()
    if grid is None or data.empty:
        return data
    filled = []
    for (rid, point, rep), sub in data.groupby(["run", "point", "replication"], sort=True):
        values = sub.set_index("time")["value"]
        times = np.union1d(grid, values.index.to_numpy(dtype=float))
        frame = pd.DataFrame({"time": times, "value": values.reindex(times, fill_value=0.0).to_numpy()})
        filled.append(frame.assign(run=rid, point=point, replication=rep))
    return pd.concat(filled, ignore_index=True)


def _time_grid(results: Results) -> np.ndarray | None:
    try:
        duration, interval = float(results.config["duration"]), float(results.config["interval"])
    except (KeyError, TypeError, ValueError):
        return None
    if interval <= 0 or duration / interval > 100_000:
        return None
    return np.arange(0.0, duration, interval)


def combined_series(results: Results, series: str, runs: Sequence[str] | None = None) -> pd.DataFrame:
    """One value per run and time (run, point, replication, time, value): labels summed, or max for
    memory; a rate series' empty bins are 0."""
    how = SERIES.get(series, (series, "", "sum"))[2]
    ts = results.timeseries[results.timeseries["series"] == series]
    if runs is not None:
        ts = ts[ts["run"].isin(list(runs))]
    return _combine(ts, how, _time_grid(results) if series in RATE_SERIES else None)


def downsample(t: np.ndarray, v: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` samples of the line (``t``, ``v``) for display, peaks kept.

    A line of ``max_points`` samples or fewer is drawn as it is. A longer one is cut into
    ``max_points // 2`` slices of consecutive samples (equal counts, to one), and each slice is drawn
    by its lowest and its highest sample, in time order: every slice's extremes survive, so do the
    line's maximum and minimum, and a spike one sample wide is still drawn at its height and time.
    """
    n = len(v)
    if n <= max_points:
        return t, v
    edges = np.linspace(0, n, max_points // 2 + 1).astype(np.int64)
    keep = np.empty(2 * (len(edges) - 1), dtype=np.int64)
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        part = v[a:b]
        if np.isnan(part).all():  # a gap: drawn as one
            keep[2 * i] = keep[2 * i + 1] = a
            continue
        lo, hi = a + int(np.nanargmin(part)), a + int(np.nanargmax(part))
        keep[2 * i], keep[2 * i + 1] = min(lo, hi), max(lo, hi)
    keep = np.unique(keep)
    return t[keep], v[keep]


def timeseries_spec(results: Results, series: str, runs: Sequence[str] | None = None) -> dict[str, Any]:
    """The figure (as a plotly dict) of one time series for each run, with fault markers; a line of
    more than :data:`MAX_POINTS` samples is drawn from :func:`downsample`."""
    title, unit, _ = SERIES.get(series, (series, "", "sum"))
    data = combined_series(results, series, runs)
    point_count = data["point"].nunique() if len(data) else 0
    min_rep = data.groupby("point")["replication"].min().to_dict() if len(data) else {}
    traces = []
    for rid, sub in data.groupby("run", sort=True):
        point, rep = int(sub["point"].iloc[0]), int(sub["replication"].iloc[0])
        colour = PALETTE[point % len(PALETTE)]
        label = point_label(results, point, short=True)
        name = label if point_count > 1 else f"replication {rep}"
        first = rep == min_rep[point]
        x, y = downsample(sub["time"].to_numpy(dtype=float), sub["value"].to_numpy(dtype=float))
        traces.append(
            {
                "type": "scatter",
                "x": _floats(x),
                "y": _floats(y),
                "mode": "lines",
                "name": name,
                "legendgroup": f"p{point}" if point_count > 1 else str(rid),
                "showlegend": point_count == 1 or first,
                "line": {
                    "color": colour,
                    "width": 1.8 if first else 1.0,
                    "dash": "solid" if first else "dot",
                },
                "opacity": 1.0 if first else 0.55,
                "hovertemplate": f"t=%{{x:.0f}} s<br>%{{y:.4g}} {unit}<extra>"
                + html.escape(f"{label} · rep {rep}")
                + "</extra>",
            }
        )
    layout = _layout(title, "simulated time (s)", unit or series, unit, height=400)
    layout["legend"]["y"] = -0.24
    shown = set(data["run"].unique()) if len(data) else set()
    _add_markers(layout, results, shown)
    return {"data": traces, "layout": layout}


def timeseries_figure(results: Results, series: str, runs: Sequence[str] | None = None) -> go.Figure:
    """One time series for each run (gateway labels summed, or max for memory), with fault markers."""
    return go.Figure(timeseries_spec(results, series, runs=runs))


def _add_markers(layout: dict[str, Any], results: Results, runs: set[str]) -> None:
    marks = sorted(
        {(float(t), str(label)) for rid, ms in results.markers.items() if rid in runs for t, label in ms}
    )
    shapes, notes = [], []
    for i, (t, label) in enumerate(marks[:20]):
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": t, "x1": t, "y0": 0, "y1": 1,
                       "line": {"color": "#64748b", "width": 1, "dash": "dash"}})  # fmt: skip
        notes.append(
            {
                "x": t,
                "y": 1.0,
                "xref": "x",
                "yref": "paper",
                "text": html.escape(label),
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "top",
                "yshift": -12 * (i % 3),
                "font": {"size": 10, "color": "#475569"},
                "bgcolor": "rgba(255,255,255,0.8)",
            }
        )
    layout["shapes"], layout["annotations"] = shapes, notes


# ------------------------------------------------------------------------------------------- sections


def varying_metrics(results: Results, limit: int = MAX_METRIC_CHARTS) -> list[str]:
    """Metrics whose mean differs between points (METRICS order), at most ``limit``."""
    summary = results.summary
    if summary.empty or summary["point"].nunique() < 2:
        return []
    means = summary.groupby("point")[
        [m for m in results.metrics if pd.api.types.is_numeric_dtype(summary[m])]
    ].mean()
    varying = [m for m in means.columns if means[m].notna().any() and means[m].nunique(dropna=False) > 1]
    key = [m for m in KEY_METRICS if m in varying]
    return (key + [m for m in varying if m not in key])[:limit]


def verdicts(results: Results) -> list[dict[str, Any]]:
    """Per point: runs, OOM, lost messages, convergence, failures (each a short text and an ok flag)."""
    summary = results.summary
    faults = {f.get("kind") for f in (results.config.get("faults") or []) if isinstance(f, dict)}
    expect_convergence = bool(faults & CONVERGING_FAULTS)
    failed: dict[int, int] = {}
    failed_params: dict[int, dict[str, Any]] = {}
    for f in results.failures:
        failed[int(f["point"])] = failed.get(int(f["point"]), 0) + 1
        failed_params[int(f["point"])] = dict(f.get("params") or {})
    points = sorted(set(summary["point"].astype(int)) | set(failed)) if len(summary) else sorted(failed)
    rows = []
    for point in points:
        sub = summary[summary["point"] == point] if len(summary) else summary
        n = len(sub)

        def count(col: str, cond: Any, sub: pd.DataFrame = sub) -> int | None:
            if col not in sub.columns or sub.empty:
                return None
            return int(cond(sub[col].astype(float)).sum())

        oom = count("gateway_oom_crashes", lambda s: s > 0)
        lost = count("messages_lost", lambda s: s > 0)
        lost_mean = float(sub["messages_lost"].mean()) if "messages_lost" in sub.columns and n else math.nan
        noconv = count("herd_convergence_s", lambda s: ~np.isfinite(s)) if expect_convergence else None
        rows.append(
            {
                "point": point,
                "label": point_label(results, point, short=True)
                if n
                else ", ".join(
                    f"{short_name(k, results.params)}={_val(v)}" for k, v in failed_params[point].items()
                ),
                "runs": n,
                "failed": failed.get(point, 0),
                "oom": oom,
                "lost": lost,
                "lost_mean": lost_mean,
                "noconv": noconv,
            }
        )
    return rows


def _badge(ok: bool | None, text: str) -> str:
    cls = "na" if ok is None else ("ok" if ok else "bad")
    return f'<span class="badge {cls}">{html.escape(text)}</span>'


def _verdict_table(results: Results) -> str:
    rows = []
    for v in verdicts(results):
        n = v["runs"]
        oom = (
            _badge(None, "n/a")
            if v["oom"] is None
            else _badge(v["oom"] == 0, f"OOM in {v['oom']}/{n}" if v["oom"] else "no OOM")
        )
        if v["lost"] is None:
            lost = _badge(None, "n/a")
        elif v["lost"]:
            lost = _badge(False, f"lost in {v['lost']}/{n} (mean {human(v['lost_mean'])})")
        else:
            lost = _badge(True, "none lost")
        if v["noconv"] is None:
            conv = _badge(None, "no crash" if n else "n/a")
        else:
            conv = _badge(
                v["noconv"] == 0, f"no convergence in {v['noconv']}/{n}" if v["noconv"] else "converged"
            )
        fail = _badge(v["failed"] == 0, f"{v['failed']} failed" if v["failed"] else "all ran")
        rows.append(
            f"<tr><td class='num'>{v['point']}</td><td>{html.escape(v['label'])}</td><td class='num'>{n}</td>"
            f"<td>{oom}</td><td>{lost}</td><td>{conv}</td><td>{fail}</td></tr>"
        )
    return (
        "<table class='data'><thead><tr><th>point</th><th>parameters</th><th>runs</th><th>gateway OOM</th>"
        "<th>messages lost</th><th>herd convergence</th><th>errors</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def empty_metrics(results: Results, agg: pd.DataFrame, metrics: Sequence[str]) -> tuple[list[str], list[str]]:
    """Of ``metrics`` (each once, in order): those zero at every point, and the steady-state ones
    (:data:`wssim.metrics.AFTER_WARMUP`) left zero or empty at every point by a warm-up."""
    warmup = float(results.config.get("warmup") or 0)
    zero: list[str] = []
    warm: list[str] = []
    for m in dict.fromkeys(metrics):
        if m not in results.metrics:
            continue
        means = agg.loc[agg["metric"] == m, "mean"]
        if warmup > 0 and m in AFTER_WARMUP and (means.fillna(0) == 0).all():
            warm.append(m)
        elif means.notna().any() and (means.fillna(0) == 0).all():
            zero.append(m)
    return zero, warm


def _summary_table(results: Results) -> str:
    agg = results.aggregate()
    if agg.empty:
        return "<p class='muted'>No finished runs.</p>"
    half = next(c for c in agg.columns if c.endswith("_half_width") and c.startswith("ci"))
    present = agg.groupby("metric")["mean"].apply(lambda s: s.notna().any())
    flagged = unmeasured(results)
    metrics = [m for m in results.metrics if present.get(m, False) or m in flagged]
    points = sorted(agg["point"].unique())
    head = "".join(
        f"<th class='num' title='{html.escape(point_label(results, p))}'>"
        f"{html.escape(point_values(results, p))}</th>"
        for p in points
    )
    body = []
    idx = agg.set_index(["metric", "point"])
    zero, warm = empty_metrics(results, agg, list(results.metrics))
    metrics = [m for m in metrics if m not in zero and m not in warm]
    wide = False
    for m in metrics:
        scale = display_scale(m, agg.loc[agg["metric"] == m, "mean"])
        cells = []
        for p in points:
            r = idx.loc[(m, p)]
            if m in flagged and math.isnan(float(r["mean"])):
                cells.append(f"<td class='num'>{NOT_MEASURED}</td>")
                continue
            marked = too_wide(r["n"], r["mean"], r[half])
            wide = wide or marked
            text = html.escape(with_interval(r["mean"], r[half], scale, marked))
            text = text.replace(" ± ", " <span class='ci'>± ", 1) + "</span>" if " ± " in text else text
            cells.append(f"<td class='num'>{text}</td>")
        meaning = METRICS[m].meaning if m in METRICS else ""
        body.append(f"<tr><th class='metric' title='{html.escape(meaning)}'>{m}</th>{''.join(cells)}</tr>")
    notes = [WIDE_NOTE] * wide + _empty_notes(results, zero, warm)
    return (
        f"<div class='scroll'><table class='data'><thead><tr><th>{_corner(results)}</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
        + "".join(f"<p class='muted'>{html.escape(n)}</p>" for n in notes)
    )


def _empty_notes(results: Results, zero: list[str], warm: list[str]) -> list[str]:
    notes = [f"Zero at every point: {', '.join(zero)}."] if zero else []
    if warm:
        warmup = human(results.config.get("warmup", 0), "s")
        notes.append(
            f"Empty after the {warmup} warm-up (steady-state figures count only what happens after it; "
            f"warmup: 0 counts the start too): {', '.join(warm)}."
        )
    return notes


def _paired_table(results: Results) -> str:
    """Paired differences against point 0 (same replication, same seed) of the metrics that vary."""
    summary = results.summary
    if summary.empty or summary["point"].nunique() < 2 or summary["replication"].nunique() < 2:
        return ""
    metrics = varying_metrics(results)
    if not metrics:
        return ""
    agg = results.aggregate(metrics).set_index(["metric", "point"])
    low = next(c for c in agg.columns if c.startswith("diff_ci") and c.endswith("_low"))
    high = next(c for c in agg.columns if c.startswith("diff_ci") and c.endswith("_high"))
    points = sorted(summary["point"].unique())[1:]
    head = "".join(f"<th class='num'>{html.escape(point_values(results, p))}</th>" for p in points)
    body = []
    for m in metrics:
        scale = display_scale(m, agg.loc[m, "diff_vs_point0"].abs())
        cells = []
        for p in points:
            r = agg.loc[(m, p)]
            d, lo, hi = float(r["diff_vs_point0"]), float(r[low]), float(r[high])
            text = ("+" if d > 0 else "") + html.escape(with_range(d, lo, hi, scale))
            text = text.replace(" [", " <span class='ci'>[", 1) + "</span>" if " [" in text else text
            cls = " sig" if not math.isnan(lo) and (lo > 0 or hi < 0) else ""
            cells.append(f"<td class='num{cls}'>{text}</td>")
        body.append(f"<tr><th class='metric'>{m}</th>{''.join(cells)}</tr>")
    base = html.escape(point_label(results, sorted(summary["point"].unique())[0], True))
    return (
        f"<h3>Paired differences against {base}</h3>"
        "<p class='muted'>Replication r of each point minus replication r of the first point (the same "
        "random streams), mean and 95% CI. Bold: the interval excludes zero.</p>"
        f"<div class='scroll'><table class='data'><thead><tr><th>{_corner(results)}</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _figure_html(fig: dict[str, Any], div_id: str) -> str:
    import plotly.io as pio

    return pio.to_html(
        fig,
        validate=False,
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={
            "displaylogo": False,
            "responsive": True,
            "displayModeBar": "hover",
            "modeBarButtonsToRemove": ["lasso2d", "select2d"],
        },
    )


def _failures_html(results: Results) -> str:
    if not results.failures:
        return ""
    items = "".join(
        f"<li><b>point {f['point']}, replication {f['replication']}</b> "
        f"<code>{html.escape(str(f.get('params', {})))}</code>: {html.escape(str(f.get('error', '')))}</li>"
        for f in results.failures
    )
    return f"<div class='card warn'><h3>Failed runs</h3><ul>{items}</ul></div>"


def _sweep_block(results: Results) -> tuple[str, int]:
    """The charts of each varying metric against each swept parameter, and how many there are."""
    sweep_html = []
    metrics = varying_metrics(results)
    agg = results.aggregate(metrics) if metrics else None
    for x in results.params:
        for m in metrics:
            div = f"m-{len(sweep_html)}"
            spec = metric_spec(results, m, x=x, agg=agg)
            sweep_html.append(f"<div class='chart'>{_figure_html(spec, div)}</div>")
    if not results.params:
        return "", len(sweep_html)
    params = ", ".join(f"<code>{html.escape(p)}</code>" for p in results.params)
    sweep_section = (
        f"<div class='grid'>{''.join(sweep_html)}</div>"
        if sweep_html
        else "<p class='muted'>No metric differs between the sweep points.</p>"
    )
    block = f"""<section><h2>Metrics against swept parameters</h2>
<p class="muted">Swept: {params}. Points: mean over replications; bars: 95% confidence interval (Student t).
Replication r of every point shares its random streams (common random numbers), so differences between
points are sharper than the bars suggest: see the paired differences below.</p>
{sweep_section}</section>"""
    return block, len(sweep_html)


def _timeseries_block(results: Results, first: int) -> tuple[str, str]:
    """The time-series charts (div ids from ``first`` on) and a note when only some runs are drawn."""
    ts_html = []
    present = list(dict.fromkeys(results.timeseries["series"])) if len(results.timeseries) else []
    ordered = [s for s in SERIES if s in present] + sorted(s for s in present if s not in SERIES)
    runs = sorted(results.timeseries["run"].unique()) if len(results.timeseries) else []
    note = ""
    if len(runs) > MAX_TRACES:
        runs = [r for r in runs if r.endswith("-r000")][:MAX_TRACES]
        note = f"<p class='muted'>{len(results.summary)} runs: showing replication 0 of each point.</p>"
    for s in ordered:
        div = f"t-{first + len(ts_html)}"
        ts_html.append(
            f"<div class='chart'>{_figure_html(timeseries_spec(results, s, runs=runs), div)}</div>"
        )
    return "".join(ts_html), note


def _meta_html(results: Results) -> str:
    """The header's facts: engine, executor, points, replications, runs, seed, times."""
    cfg = results.config or {}
    n_runs = len(results.summary)
    n_points = len(results.info.get("points") or []) or (results.summary["point"].nunique() if n_runs else 0)
    reps = int(results.summary.groupby("point")["replication"].nunique().max()) if n_runs else 0
    meta = [
        ("engine", results.info.get("engine", "")),
        ("executor", results.info.get("executor", "")),
        ("sweep points", n_points),
        ("replications", reps),
        ("runs", n_runs),
        ("seed", cfg.get("seed", "")),
        ("simulated time", human(cfg.get("duration", math.nan), "s")),
        ("warm-up", human(cfg.get("warmup", 0), "s")),
    ]
    return "".join(
        f"<div><span>{html.escape(k)}</span><b>{html.escape(str(v))}</b></div>" for k, v in meta if v != ""
    )


def build_html(results: Results) -> str:
    """The whole report as one HTML string."""
    from plotly.offline import get_plotlyjs

    cfg = results.config or {}
    name = str(cfg.get("name", "run"))
    sweep_block, n_sweep = _sweep_block(results)
    ts_html, note = _timeseries_block(results, n_sweep)
    description = html.escape(str(cfg.get("description", "") or ""))
    interrupted = (
        "<div class='card warn'>This run was interrupted: the report shows the runs that finished.</div>"
        if results.info.get("interrupted")
        else ""
    )
    config_yaml = html.escape(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wssim report: {html.escape(name)}</title>
<style>{CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head><body>
<header><div class="wrap"><h1>wssim report <span>{html.escape(name)}</span></h1>
<p class="desc">{description}</p><div class="meta">{_meta_html(results)}</div></div></header>
<main class="wrap">
{interrupted}{_failures_html(results)}{_notes_html(results)}
<section><h2>Verdict</h2><p class="muted">Per sweep point, over its replications.</p>
{_verdict_table(results)}</section>
{sweep_block}
<section><h2>Time series</h2>
<p class="muted">One line per run; dashed verticals mark injected faults. A line of more than
{MAX_POINTS:,} samples is drawn from the lowest and highest sample of each of {MAX_POINTS // 2:,} equal
slices (peaks kept); <code>timeseries.parquet</code> holds every sample.</p>{note}
<div class="grid">{ts_html or "<p class='muted'>No time series recorded.</p>"}</div></section>
<section><h2>Summary</h2>
<p class="muted">Mean ± 95% CI half-width over replications; hover a metric for its meaning.</p>
{_summary_table(results)}{_paired_table(results)}</section>
<section><h2>Configuration</h2><p class="muted">As run (<code>config.resolved.yaml</code>; durations in
seconds, sizes in bytes, rates per second).</p><pre class="config">{config_yaml}</pre></section>
</main>
<footer class="wrap">Generated by wssim. Files beside this report: summary.csv, aggregate.csv,
timeseries.parquet, markers.json, config.resolved.yaml.</footer>
<script>window.addEventListener("load", () => document.querySelectorAll(".plotly-graph-div")
  .forEach((d) => window.Plotly && Plotly.Plots.resize(d)));</script>
</body></html>
"""


def write_report(results: Results, path: str | Path) -> Path:
    """Write the report to ``path`` and return it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(build_html(results), encoding="utf-8")
    tmp.replace(path)
    return path


def rebuild(directory: str | Path) -> Path:
    """``wssim report DIR``: rebuild ``DIR/report.html`` from the saved outputs."""
    from wssim.sweep import Results

    return Results.load(directory).report()


CSS = (
    """
:root { --fg:#111827; --muted:#6b7280; --line:#e5e7eb; --bg:#f8fafc; --card:#ffffff; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; font-family:"""
    + FONT
    + """; color:var(--fg); background:var(--bg); font-size:14px; }
.wrap { max-width: 1280px; margin: 0 auto; padding: 0 24px; }
header { background: linear-gradient(120deg,#0f172a,#1e3a8a); color:#fff; padding: 28px 0 22px; }
header h1 { margin:0; font-size: 26px; font-weight: 650; letter-spacing: -0.01em; }
header h1 span { font-weight: 400; opacity: .85; margin-left: 8px; }
header .desc { margin: 8px 0 16px; opacity: .85; max-width: 900px; line-height: 1.45; }
.meta { display:flex; flex-wrap:wrap; gap: 10px; }
.meta div { background: rgba(255,255,255,.1); border-radius: 8px; padding: 6px 12px; }
.meta span { display:block; font-size: 11px; text-transform: uppercase; letter-spacing: .05em; opacity:.7; }
.meta b { font-weight: 600; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 12px; margin: 22px 0;
  padding: 18px 22px; box-shadow: 0 1px 2px rgba(15,23,42,.04); }
h2 { margin: 0 0 4px; font-size: 18px; }
.muted { color: var(--muted); margin: 4px 0 14px; line-height: 1.45; }
.grid { display:grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 14px; }
.chart { border: 1px solid var(--line); border-radius: 10px; padding: 6px; background:#fff; min-width:0; }
table.data { border-collapse: collapse; width: 100%; font-size: 13px; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 7px 10px; text-align: left;
  vertical-align: top; }
table.data thead th { background: #f1f5f9; font-weight: 600; position: sticky; top: 0; }
table.data th.num { text-align: right; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.data th.metric { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-weight: 500;
  font-size: 12px; cursor: help; }
.ci { color: var(--muted); font-size: 12px; }
td.sig { font-weight: 650; }
h3 { font-size: 15px; margin: 22px 0 4px; }
.scroll { overflow-x: auto; }
.badge { display:inline-block; border-radius: 999px; padding: 2px 10px; font-size: 12px; font-weight: 600; }
.badge.ok { background:#dcfce7; color:#166534; } .badge.bad { background:#fee2e2; color:#991b1b; }
.badge.na { background:#f1f5f9; color:#64748b; }
.card.warn { background:#fff7ed; border:1px solid #fed7aa; border-radius: 12px; padding: 12px 18px;
  margin: 18px 0; }
pre.config { background:#0f172a; color:#e2e8f0; border-radius: 10px; padding: 16px; overflow:auto;
  max-height: 480px; font-size: 12px; line-height: 1.45; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; background:#f1f5f9;
  padding: 1px 5px; border-radius: 4px; }
footer { color: var(--muted); font-size: 12px; padding: 8px 24px 40px; }
"""
)
