"""One notebook, opened by ``wssim lab``'s JupyterLab in real headless Chromium, runs end to end.

JupyterLab is started as ``wssim lab`` starts it (:func:`wssim.lessons.lab.lab_command`: the ``.py``
file opens as a notebook through jupytext) on a free loopback port with a random token, on a private
copy of one notebook, its configuration, runtime, workspace and user settings in the test's temp dir.
Chromium opens the notebook, *Run All Cells* is executed, and the test waits until every code cell has
run. It then asserts that no cell produced an error, that a plotly chart was drawn in the page (an SVG
with data) and that the page threw nothing, and keeps a screenshot (path printed; also copied to
``WSSIM_SCREENSHOT_DIR`` when set). JupyterLab, its kernel and Chromium are stopped on the way out,
pass or fail, and the test checks that none of them is left.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from devtools import DevTools, launch, page_problems, page_target, require_chromium, stop_tree

from wssim.lessons.lab import NOTEBOOK_DIR, lab_command

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "05_resume_and_replay.py"  # a few seconds of simulation, plotly charts and a slider cell
START_TIMEOUT_S = 90  # JupyterLab's first start builds nothing, but imports a lot on 2 loaded cores
RUN_TIMEOUT_S = 240  # the notebook executes in ~20 s headless (test_notebooks); the browser adds latency
TEST_TIMEOUT_S = START_TIMEOUT_S + RUN_TIMEOUT_S + 120
# Notebooks attach every cell (no windowing), so each output is in the DOM whether scrolled to or not.
USER_SETTINGS = {"@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"}}
IGNORED_CONSOLE = ("favicon", "Failed to load resource", "lab/api/settings", "jupyter news")

STATE_JS = (
    """
((PATH) => {
  const app = window.jupyterapp;
  const w = app && Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === PATH);
  if (!w || !w.content || !w.content.model || !w.sessionContext) return JSON.stringify({ready: false});
  const model = w.content.model, cells = [];
  for (let i = 0; i < model.cells.length; i++) {
    const c = model.cells.get(i);
    if (c.type !== 'code') continue;
    const outputs = c.outputs.toJSON();
    cells.push({
      count: c.executionCount,
      errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
      plotly: outputs.filter(o => o.data && o.data['application/vnd.plotly.v1+json']).length,
    });
  }
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  const charts = Array.from(w.node.querySelectorAll('.js-plotly-plot'));
  return JSON.stringify({
    ready: true,
    path: w.context.path,
    kernel: kernel ? kernel.status : null,
    cells: cells,
    charts: charts.length,
    drawn: charts.filter(d => d.querySelector('.main-svg') && (d.data || []).length > 0
                              && d.getBoundingClientRect().width > 100).length,
  });
})"""
    + f"({json.dumps(NOTEBOOK)})"
)

RUN_ALL_JS = (
    """
(async (PATH) => {
  const app = window.jupyterapp;
  const w = Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === PATH);
  app.shell.activateById(w.id);
  await app.commands.execute('notebook:run-all-cells');
  return true;
})"""
    + f"({json.dumps(NOTEBOOK)})"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root: Path, token: str, port: int) -> subprocess.Popen:
    """JupyterLab on ``root/notebooks`` as ``wssim lab --no-browser`` starts it, everything private."""
    for rel, settings in USER_SETTINGS.items():
        path = root / "user-settings" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    extra = [
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--LabApp.user_settings_dir={root / 'user-settings'}",
        f"--LabApp.workspaces_dir={root / 'workspaces'}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    cmd = lab_command(port=port, browser=False, extra=extra, folder=root / "notebooks")
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(NOTEBOOK_DIR.parent), os.environ.get("PYTHONPATH")])),
    }
    log = (root / "jupyterlab.log").open("wb")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def wait_for_lab(proc: subprocess.Popen, port: int, token: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            url = f"http://127.0.0.1:{port}/api/status?token={token}"
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


async def run_all(url: str, port: int, shot: Path) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Open ``url``, run every cell, return the notebook's final state and the page's problems."""
    import websockets

    async with websockets.connect(page_target(port), max_size=2**28, proxy=None) as ws:
        dt = DevTools(ws)
        for domain in ("Runtime", "Log", "Page"):
            await dt.call(f"{domain}.enable")
        await dt.call("Emulation.setFocusEmulationEnabled", enabled=True)  # headless: the page has focus
        await dt.call("Page.navigate", url=url)
        state = await poll(dt, START_TIMEOUT_S, lambda s: s["ready"] and s["kernel"] == "idle")
        assert state["path"] == NOTEBOOK, state
        await dt.evaluate(RUN_ALL_JS)
        done = await poll(dt, RUN_TIMEOUT_S, finished)
        await dt.pump(2.0)  # plotly's last resize
        done = json.loads(await dt.evaluate(STATE_JS))
        await dt.evaluate(
            "(() => { const c = document.querySelector('.jp-Notebook .js-plotly-plot');"
            " if (c) c.scrollIntoView({block: 'center'}); return true; })()"
        )
        await dt.pump(1.0)
        png = await dt.call("Page.captureScreenshot", format="png")
        shot.write_bytes(base64.b64decode(png["data"]))
        return done, page_problems(dt.events, levels=("error", "assert"))


def finished(state: dict[str, Any]) -> bool:
    """Every code cell has run (or one failed, which stops *Run All*) and the kernel is idle again."""
    cells = state.get("cells") or []
    failed = any(c["errors"] for c in cells)
    return state.get("kernel") == "idle" and (failed or all(c["count"] for c in cells))


async def poll(dt: DevTools, timeout_s: float, until: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            state = json.loads(await dt.evaluate(STATE_JS))
        except RuntimeError:  # the page is still loading
            state = {"ready": False}
        if state.get("ready") and until(state):
            return state
        await dt.pump(1.0)
    pytest.fail(f"the notebook did not get there within {timeout_s} s; last state: {state}")


def keep_screenshot(shot: Path) -> None:
    print(f"JupyterLab screenshot: {shot}")
    target = os.environ.get("WSSIM_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)


@pytest.mark.timeout(TEST_TIMEOUT_S)
def test_a_notebook_runs_all_cells_in_jupyterlab(tmp_path: Path) -> None:
    browser = require_chromium("the JupyterLab test")
    (tmp_path / "notebooks").mkdir()
    shutil.copy(NOTEBOOK_DIR / NOTEBOOK, tmp_path / "notebooks" / NOTEBOOK)
    token, port = secrets.token_hex(16), free_port()
    lab = start_lab(tmp_path, token, port)
    shot = tmp_path / "jupyterlab.png"
    try:
        wait_for_lab(lab, port, token, tmp_path / "jupyterlab.log")
        with launch(browser, size=(1400, 1800)) as devtools_port:
            url = f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?token={token}&reset"
            state, problems = asyncio.run(run_all(url, devtools_port, shot))
    finally:
        import psutil

        family = [lab.pid] + [p.pid for p in psutil.Process(lab.pid).children(recursive=True)]
        left = stop_tree(lab)
        if shot.exists():
            keep_screenshot(shot)
    assert len(family) >= 2, f"no kernel was started: {family}"  # JupyterLab and at least the kernel
    assert left == [], f"still running after the test: {left}"
    errors = [e for c in state["cells"] for e in c["errors"]]
    assert errors == [], errors
    assert all(c["count"] for c in state["cells"]), state["cells"]
    assert sum(c["plotly"] for c in state["cells"]) >= 1, "no cell output a plotly chart"
    assert state["drawn"] >= 1, state
    problems = [p for p in problems if not any(s in p["text"] for s in IGNORED_CONSOLE)]
    assert problems == [], problems
    assert shot.stat().st_size > 20_000
