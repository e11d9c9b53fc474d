"""The crosscheck page: the verdict table and, per sweep point, each chosen time series of both engines.

The simulator's replications are drawn as a band (lowest to highest value of each bin) around their
mean, the live run as one line on top (up to the end of the simulated run: its settle period is left
out); dashed verticals mark the faults of the live run. One self-contained HTML file (plotly.js
inline), written beside the crosscheck's CSV.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from wssim.metrics import display_scale
from wssim.report import (
    CSS,
    PALETTE,
    SERIES,
    _add_markers,
    _badge,
    _figure_html,
    _floats,
    _layout,
    combined_series,
)
from wssim.units import number, range_decimals, with_range

if TYPE_CHECKING:  # pragma: no cover
    from wssim.crosscheck import CrosscheckResult
    from wssim.sweep import Results

SIM, LIVE = PALETTE[0], PALETTE[1]


def overlay_spec(sim: Results, live: Results, series: str, point: int, title: str) -> dict[str, Any]:
    """One series at one point: the simulator's band and mean, the live line, fault markers."""
    name, unit, _ = SERIES.get(series, (series, "", "sum"))
    s = combined_series(sim, series)
    s = s[s["point"] == point]
    lv = combined_series(live, series)
    lv = lv[(lv["point"] == point) & (lv["time"] <= float(sim.config.get("duration", math.inf)))]
    traces: list[dict[str, Any]] = []
    if len(s):
        by_time = s.groupby("time")["value"]
        band = pd.DataFrame({"low": by_time.min(), "high": by_time.max(), "mean": by_time.mean()})
        x = _floats(band.index)
        n = s["replication"].nunique()
        traces += [
            {"type": "scatter", "x": x, "y": _floats(band["high"]), "mode": "lines", "line": {"width": 0},
             "hoverinfo": "skip", "showlegend": False, "legendgroup": "sim"},
            {"type": "scatter", "x": x, "y": _floats(band["low"]), "mode": "lines", "line": {"width": 0},
             "fill": "tonexty", "fillcolor": "rgba(37,99,235,0.18)", "name": f"simulator, range of {n} runs",
             "legendgroup": "sim", "hoverinfo": "skip"},
            {"type": "scatter", "x": x, "y": _floats(band["mean"]), "mode": "lines",
             "line": {"color": SIM, "width": 1.6}, "name": "simulator, mean", "legendgroup": "sim",
             "hovertemplate": f"t=%{{x:.3g}} s<br>%{{y:.4g}} {unit}<extra>simulator</extra>"},
        ]  # fmt: skip
    if len(lv):
        traces.append(
            {"type": "scatter", "x": _floats(lv["time"]), "y": _floats(lv["value"]), "mode": "lines",
             "line": {"color": LIVE, "width": 1.8}, "name": "live",
             "hovertemplate": f"t=%{{x:.3g}} s<br>%{{y:.4g}} {unit}<extra>live</extra>"}
        )  # fmt: skip
    layout = _layout(f"{name} · {title}", "scenario time (s)", unit or series, unit, height=380)
    layout["legend"]["y"] = -0.24
    _add_markers(layout, live, {r for r in live.markers if r.startswith(f"p{point:03d}-")})
    return {"data": traces, "layout": layout}


def sim_live_text(row: Any) -> tuple[str, str]:
    """A verdict row's simulated value with its interval and its live value, in one unit chosen for
    the metric, both to the interval's precision: ``0.27 [0.20, 0.35] s`` and ``0.14 s``."""
    if row.tolerance == "rank":
        return str(row.sim_text), str(row.live_text)
    scale = display_scale(row.metric, [row.sim, row.live])
    decimals = range_decimals(row.sim_low, row.sim_high, scale)
    return with_range(row.sim, row.sim_low, row.sim_high, scale), number(row.live, scale, decimals)


def verdict_table(verdicts: pd.DataFrame) -> str:
    """The verdict rows as an HTML table: metric, simulated (interval), live, tolerance, verdict, reason."""
    if verdicts.empty:
        return "<p class='muted'>This scenario declares no checks.</p>"
    names = ("point", "metric", "simulated (interval)", "live", "tolerance", "verdict", "why")
    head = "".join(f"<th>{h}</th>" for h in names)
    body = []
    for r in verdicts.itertuples(index=False):
        sim, live = (html.escape(text) for text in sim_live_text(r))
        body.append(
            f"<tr><td>{html.escape(r.label)}</td><td><code>{r.metric}</code></td><td>{sim}</td>"
            f"<td>{live}</td><td>{html.escape(r.tolerance)}</td>"
            f"<td>{_badge(bool(r.passed), r.verdict)}</td>"
            f"<td class='muted'>{html.escape(r.reason)}</td></tr>"
        )
    return f"<table class='data'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def build_page(result: CrosscheckResult) -> str:
    """The whole page as one HTML string."""
    from plotly.offline import get_plotlyjs

    sim, live = result.sim, result.live
    name = html.escape(str(sim.config.get("name", "crosscheck")))
    series = list(sim.config.get("crosscheck", {}).get("series") or ["handshakes"])
    charts = []
    for point, label in result.labels.items():
        for s in series:
            spec = overlay_spec(sim, live, s, point, label or "the run")
            if spec["data"]:
                charts.append(f"<div class='chart'>{_figure_html(spec, f'o-{len(charts)}')}</div>")
    calibration = "".join(f"<li><code>{html.escape(c)}</code></li>" for c in result.calibration)
    calibration = f"<ul>{calibration}</ul>" if calibration else "<p class='muted'>none</p>"
    verdict = "every check passes" if result.passed else f"{result.misses} check(s) missed"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wssim crosscheck: {name}</title><style>{CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head><body>
<header><div class="wrap"><h1>wssim crosscheck <span>{name}</span></h1>
<p class="desc">The simulator against the live reference implementation: {html.escape(verdict)}.</p>
</div></header><main class="wrap">
<section><h2>Checks</h2><p class="muted">Each check's tolerance and its reason are declared in the
scenario. Simulated: the mean over replications with its interval, or (exact) the replication whose
schedule the live run played.</p>{verdict_table(result.verdicts)}</section>
<section><h2>Time series</h2><p class="muted">Blue: the simulator (band: lowest to highest of its
replications; line: their mean). Red: the live run. Scenario seconds.</p>
<div class="grid">{"".join(charts) or "<p class='muted'>No time series.</p>"}</div></section>
<section><h2>Calibration (simulator side)</h2>{calibration}</section>
</main></body></html>
"""


def write_page(result: CrosscheckResult, path: str | Path) -> Path:
    """Write the page to ``path`` and return it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(build_page(result), encoding="utf-8")
    tmp.replace(path)
    return path
