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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from test_sweep_engine import standin

import wssim

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-debugging-address=127.0.0.1",
    "--window-size=1400,1000",
]

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


def chromium() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class DevTools:
    """A minimal Chrome DevTools protocol client over one page target."""

    def __init__(self, ws) -> None:
        self.ws, self.next_id, self.events = ws, 0, []

    async def call(self, method: str, **params):
        self.next_id += 1
        mid = self.next_id
        await self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=30))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    async def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                self.events.append(json.loads(await asyncio.wait_for(self.ws.recv(), timeout=left)))
            except TimeoutError:
                return


async def inspect_page(url: str, port: int, shot: Path) -> tuple[dict, list[dict]]:
    import urllib.request

    import websockets

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
        targets = json.loads(resp.read())
    page = next(t for t in targets if t.get("type") == "page")
    async with websockets.connect(page["webSocketDebuggerUrl"], max_size=2**28, proxy=None) as ws:
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
        problems = []
        for ev in dt.events:
            method, params = ev.get("method"), ev.get("params", {})
            if method == "Runtime.exceptionThrown":
                problems.append(
                    {"kind": "exception", "text": json.dumps(params.get("exceptionDetails"))[:500]}
                )
            elif method == "Runtime.consoleAPICalled" and params.get("type") in (
                "error",
                "assert",
                "warning",
            ):
                args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                problems.append({"kind": f"console.{params['type']}", "text": args[:500]})
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                problems.append({"kind": "log", "text": params["entry"].get("text", "")[:500]})
        return check, problems


def open_in_chromium(report: Path, shot: Path) -> tuple[dict, list[dict]]:
    browser = chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI for the report test (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.Popen(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not (port_file.exists() and port_file.read_text().strip()):
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("chromium did not start its DevTools endpoint")
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            return asyncio.run(inspect_page(report.resolve().as_uri(), port, shot))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


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
