"""Headless Chromium driven over the DevTools protocol (a websocket per page), for the browser tests.

:func:`chromium` finds the browser; :func:`launch` starts it on a private profile with a DevTools
endpoint on a loopback port, yields that port, and stops the browser and every process it started on
the way out, whatever happened. :class:`DevTools` sends commands to one page and keeps the events it
sees; :func:`page_problems` picks the exceptions and console errors out of them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

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
START_TIMEOUT_S = 30


def chromium() -> str | None:
    """The Chromium (or Chrome) executable, or None."""
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium(what: str) -> str:
    """The browser; missing, the test fails in CI (env ``CI``) and is skipped elsewhere."""
    browser = chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail(f"chromium is required in CI for {what} (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return browser


def stop_tree(proc: subprocess.Popen, grace_s: float = 10.0) -> list[int]:
    """Stop ``proc`` and every process it started (children in other sessions too, such as kernels):
    SIGTERM, then SIGKILL after ``grace_s``. Returns the pids still alive afterwards (none, normally)."""
    import psutil

    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    for p in family:
        with suppress(psutil.NoSuchProcess):
            p.terminate()
    _, alive = psutil.wait_procs(family, timeout=grace_s)
    for p in alive:
        with suppress(psutil.NoSuchProcess):
            p.kill()
    _, alive = psutil.wait_procs(alive, timeout=grace_s)
    if proc.poll() is None:
        proc.wait(timeout=grace_s)
    return [p.pid for p in alive]


@contextmanager
def launch(browser: str, size: tuple[int, int] = (1400, 1000)) -> Iterator[int]:
    """Start headless ``browser`` on a throw-away profile; yields its DevTools port, stops it on exit."""
    with tempfile.TemporaryDirectory() as profile:
        flags = [f for f in CHROMIUM_FLAGS if not f.startswith("--window-size")]
        proc = subprocess.Popen(
            [
                browser,
                *flags,
                f"--window-size={size[0]},{size[1]}",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + START_TIMEOUT_S
            while not (port_file.exists() and port_file.read_text().strip()):
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("chromium did not start its DevTools endpoint")
                time.sleep(0.1)
            yield int(port_file.read_text().split()[0])
        finally:
            stop_tree(proc)


def page_target(port: int) -> str:
    """The DevTools websocket URL of the browser's first page."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
        targets = json.loads(resp.read())
    return next(t for t in targets if t.get("type") == "page")["webSocketDebuggerUrl"]


class DevTools:
    """A minimal Chrome DevTools protocol client over one page target."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.next_id, self.events = ws, 0, []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
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

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if it is a promise)."""
        res = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression[:80]}: {json.dumps(res['exceptionDetails'])[:500]}")
        return res["result"].get("value")

    async def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                self.events.append(json.loads(await asyncio.wait_for(self.ws.recv(), timeout=left)))
            except TimeoutError:
                return


def page_problems(events: list[dict[str, Any]], levels: tuple[str, ...] = ("error", "assert", "warning")):
    """Exceptions thrown in the page, console calls of ``levels`` and error log entries among ``events``."""
    problems = []
    for ev in events:
        method, params = ev.get("method"), ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            problems.append({"kind": "exception", "text": json.dumps(params.get("exceptionDetails"))[:500]})
        elif method == "Runtime.consoleAPICalled" and params.get("type") in levels:
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            problems.append({"kind": f"console.{params['type']}", "text": args[:500]})
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            problems.append({"kind": "log", "text": params["entry"].get("text", "")[:500]})
    return problems
