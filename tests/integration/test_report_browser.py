"""report.html in real headless Chromium, driven over the DevTools protocol.

Checks that the report opens offline with no console errors or exceptions, that every chart div was
rendered by plotly with data points, and writes a full-page screenshot (kept beside the report, and in
``WSSIM_SCREENSHOT_DIR`` when set). Skips when Chromium is missing, except in CI (env ``CI``) where a
missing browser is a failure.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from devtools import DevTools, launch, page_problems, page_target, require_chromium
from test_sweep_engine import standin

import wssim

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHECK_JS = """
(() => {
  const divs = Array.from(document.querySelectorAll('.plotly-graph-div'));
  return JSON.stringify({
    plotly: typeof window.Plotly,
    charts: divs.map(d => ({
      id: d.id,
      traces: (d.data || []).length,
      points: (d.calcdata || []).reduce((n, cd) => n + cd.filter(p => Number.isFinite(p.y)).length, 0),
      rendered: d.querySelectorAll('.main-svg').length > 0 && d.getBoundingClientRect().width > 100,
      overflow: d.getBoundingClientRect().width > d.parentElement.getBoundingClientRect().width + 2,
    })),
    height: document.documentElement.scrollHeight,
    external: Array.from(document.querySelectorAll('script[src], link[href]')).map(e => e.src || e.href),
  });
})()
"""


async def inspect_page(url: str, port: int, shot: Path) -> tuple[dict, list[dict]]:
    import websockets

    async with websockets.connect(page_target(port), max_size=2**28, proxy=None) as ws:
        dt = DevTools(ws)
        await dt.call("Runtime.enable")
        await dt.call("Log.enable")
        await dt.call("Page.enable")
        await dt.call("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = await dt.call("Runtime.evaluate", expression="document.readyState", returnByValue=True)
            if state["result"].get("value") == "complete":
                break
            await dt.pump(0.2)
        await dt.pump(1.5)  # let plotly finish drawing and resizing
        res = await dt.call("Runtime.evaluate", expression=CHECK_JS, returnByValue=True)
        check = json.loads(res["result"]["value"])
        height = min(int(check["height"]), 16000)
        await dt.call(
            "Emulation.setDeviceMetricsOverride", width=1400, height=height, deviceScaleFactor=1, mobile=False
        )
        await dt.pump(1.0)
        png = await dt.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        shot.write_bytes(base64.b64decode(png["data"]))
        return check, page_problems(dt.events)


def open_in_chromium(report: Path, shot: Path) -> tuple[dict, list[dict]]:
    browser = require_chromium("the report test")
    with launch(browser) as port:
        return asyncio.run(inspect_page(report.resolve().as_uri(), port, shot))


def keep_screenshot(shot: Path) -> None:
    target = os.environ.get("WSSIM_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)


def test_report_renders_in_chromium_without_errors(tmp_path):
    """The real simulator's herd sweep (six strategies × 2 replications, a small fleet)."""
    cfg = wssim.load_config("herd", ["clients.count=800", "replications=2"])
    res = wssim.run(cfg, workers=2, out=tmp_path / "run", progress=False)
    assert res.failures == []
    report = tmp_path / "run" / "report.html"
    html = report.read_text(encoding="utf-8")
    assert html.count("Plotly.newPlot") >= 2
    assert "<script src=" not in html and "<link " not in html  # plotly.js is inline: works offline
    assert html.count("Plotly.newPlot") == html.count('class="plotly-graph-div"')
    shot = tmp_path / "run" / "report.png"
    check, problems = open_in_chromium(report, shot)
    keep_screenshot(shot)
    assert problems == []
    assert check["plotly"] == "object"
    assert check["external"] == []
    charts = check["charts"]
    n_metric_charts = len(res.params) * len(__import__("wssim.report").report.varying_metrics(res))
    assert len(charts) >= n_metric_charts + 1
    for chart in charts:
        assert chart["traces"] > 0 and chart["points"] > 0, chart
        assert chart["rendered"], chart
        assert not chart["overflow"], chart
    assert shot.stat().st_size > 20_000


def test_single_point_report_and_rebuild_render(tmp_path):
    cfg = {"name": "one-point", "duration": 30, "replications": 2, "clients": {"count": 50}}
    wssim.run(cfg, engine=standin, executor="serial", out=tmp_path / "run", progress=False)
    report = tmp_path / "run" / "report.html"
    report.unlink()
    from wssim.report import rebuild

    assert rebuild(tmp_path / "run") == report
    shot = tmp_path / "run" / "one-point.png"
    check, problems = open_in_chromium(report, shot)
    keep_screenshot(shot)
    assert problems == []
    assert check["charts"] and all(c["points"] > 0 and c["rendered"] for c in check["charts"])


def test_long_series_are_downsampled_for_display_with_peaks_kept(tmp_path):
    """Two minutes sampled every 20 ms (6,000 samples a line): each line drawn has at most MAX_POINTS
    points, its highest one is the full-resolution peak, and the page renders without errors."""
    from wssim.report import MAX_POINTS, combined_series

    cfg = wssim.load_config("quickstart", ["clients.count=400", "interval=20ms"])
    res = wssim.run(cfg, executor="serial", out=tmp_path / "run", progress=False)
    assert res.failures == []
    full = combined_series(res, "handshakes")
    assert len(full) >= 3 * MAX_POINTS
    shot = tmp_path / "run" / "long.png"
    check, problems = open_in_chromium(tmp_path / "run" / "report.html", shot)
    keep_screenshot(shot)
    assert problems == []
    charts = [c for c in check["charts"] if c["id"].startswith("t-")]
    assert charts
    for chart in charts:
        assert chart["rendered"] and 0 < chart["points"] <= MAX_POINTS * chart["traces"], chart
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert f"{MAX_POINTS:,} samples" in html
    from wssim.report import timeseries_spec

    drawn = timeseries_spec(res, "handshakes")["data"][0]["y"]
    assert len(drawn) <= MAX_POINTS and max(drawn) == full["value"].max()
