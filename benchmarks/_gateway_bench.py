"""What the gateway-vs-bare-``websockets`` benchmarks share: server processes, tokens, reps, results."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# one fresh secret per benchmark run, inherited by every process it starts (never on a command line)
SECRET = os.environ.setdefault("WSSIM_TOKEN_SECRET", secrets.token_urlsafe(32))
KINDS = ("bare", "gateway")

Runs = dict[str, list[dict[str, float]]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on {port} did not start")


def token(subject: str, **claims: Any) -> str:
    """A gateway token for ``subject`` (every room), signed with the benchmark secret."""
    sys.path.insert(0, str(ROOT))
    from reference_impl.system.auth import mint_token

    return mint_token(SECRET, subject, 3600, **claims)


def scrape(port: int) -> str:
    """The gateway's /metrics page (a token with the metrics scope)."""
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics",
        headers={"Authorization": "Bearer " + token("bench", scope="metrics")},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return r.read().decode()


async def serve_bare(handler: Callable[[Any], Awaitable[None]], port: int) -> None:
    """Serve ``handler`` with plain ``websockets`` (no compression, the gateway's gc tuning) forever."""
    import gc

    from websockets.asyncio.server import serve

    async with serve(handler, "127.0.0.1", port, compression=None):
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        await asyncio.Event().wait()


@contextlib.contextmanager
def server(kind: str, script: str, *settings: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A running server process and its port: ``script serve-bare PORT``, or the reference gateway
    (in-memory backplane, ``--gw`` ``settings``); terminated on exit."""
    port = free_port()
    if kind == "bare":
        argv = [sys.executable, script, "serve-bare", str(port)]
    else:
        argv = [sys.executable, "-m", "reference_impl.system.gateway", "--port", str(port), "--backplane"]
        argv += ["in_memory"]
        for setting in settings:
            argv += ["--gw", setting]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(30)


def compare(reps: int, measure: Callable[[str], dict[str, float]], line: Callable[[dict], str]) -> Runs:
    """``reps`` alternating runs of each kind; ``line`` describes one run on stdout."""
    runs: Runs = {kind: [] for kind in KINDS}
    for rep in range(reps):
        for kind in KINDS:
            r = measure(kind)
            runs[kind].append(r)
            print(f"rep {rep} {kind:8s} {line(r)}", flush=True)
    return runs


def medians(runs: Runs, key: str) -> tuple[float, float]:
    """The median ``key`` of the bare runs and of the gateway runs."""
    bare, gateway = (statistics.median(r[key] for r in runs[kind]) for kind in KINDS)
    return bare, gateway


def write_results(name: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / name
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
