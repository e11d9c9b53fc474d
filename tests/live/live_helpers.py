"""Helpers for live tests: tokens, in-process and child-process gateways, a raw WebSocket client."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from reference_impl.system.auth import ALL_ROOMS, mint_token
from reference_impl.system.settings import SECRET_ENV

SECRET = "live-test-secret-" + os.urandom(16).hex()  # fresh per test session, at least 32 bytes
REPO = Path(__file__).resolve().parents[2]


def raise_priority(pid: int, nice: int = -10) -> None:
    """Run ``pid`` ahead of everything else on the machine when allowed (root: CI, these machines).

    The latency a bystander sees should measure the gateway's own scheduling of its work, not other
    programs sharing the two cores; in production the attacker does not run on the gateway's cores."""
    with contextlib.suppress(PermissionError, ProcessLookupError):
        os.setpriority(os.PRIO_PROCESS, pid, nice)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token(
    sub: str = "tester", ttl: float = 300.0, secret: str = SECRET, rooms: Any = ALL_ROOMS, **claims: Any
) -> str:
    """A token signed with the test secret: every right on every room unless ``rooms`` says otherwise."""
    return mint_token(secret, sub, ttl, rooms=rooms, **claims)


def ops_token() -> str:
    """A token for /metrics and the balancer's admin API."""
    return token("ops", rooms=None, scope="metrics admin")


def ws_uri(port: int, sub: str = "tester", **claims: Any) -> str:
    return f"ws://127.0.0.1:{port}/ws?token={token(sub, **claims)}"


@contextlib.asynccontextmanager
async def running_gateway(backplane: Any, **settings: Any) -> AsyncIterator[Any]:
    """An in-process gateway on a free loopback port (in the running event loop)."""
    from reference_impl.system.gateway import Gateway, GatewaySettings

    gateway = Gateway(GatewaySettings(**{"secret": SECRET, **settings}), backplane)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


class GatewayProcess:
    """``python -m reference_impl.system.gateway`` in a child process."""

    def __init__(self, args: list[str]) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "reference_impl.system.gateway", "--port", str(self.port), *args]
        env = dict(os.environ, **{SECRET_ENV: SECRET})
        self.proc = subprocess.Popen(
            argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if "listening" not in line:
            rest = self.proc.stdout.read().decode() if self.proc.poll() is not None else ""
            raise RuntimeError(f"gateway did not start: {line}{rest}")

    def terminate(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)


def scrape_metrics(port: int) -> str:
    """The text of ``GET /metrics`` (with a metrics token)."""
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {ops_token()}"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=5) as r:
        return r.read().decode()


MIN_WINDOW = 1.0  # seconds of bystander traffic after the baseline, however short the probe


class Bystander:
    """``tests/live/bystander.py`` in its own process: a well-behaved client of the gateway on ``port``
    that must be served while a test abuses the gateway (``with Bystander(port) as b: ...``).

    Entering waits ``baseline`` seconds: latencies before that are the baseline, after it the abuse;
    :meth:`assert_unharmed` checks that nothing was lost and the p99 grew by at most a bound.
    """

    def __init__(self, port: int, rate: float = 100.0, baseline: float = 1.0) -> None:
        self.port, self.rate, self.baseline = port, rate, baseline
        self.start = 0.0
        self.result: dict[str, Any] = {}

    def __enter__(self) -> Bystander:
        argv = [sys.executable, str(Path(__file__).with_name("bystander.py")), str(self.port), str(self.rate)]
        env = dict(os.environ, **{SECRET_ENV: SECRET})
        self.proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        raise_priority(self.proc.pid)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"bystander did not start: {line}")
        time.sleep(self.baseline)
        self.start = time.time()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        time.sleep(max(0.0, self.start + MIN_WINDOW - time.time()))  # enough samples for a p99
        try:
            self.proc.stdin.write(b"stop\n")
            self.proc.stdin.flush()
            self.result = json.loads(self.proc.stdout.readline() or b"{}")
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)

    def p99(self, after: float = 0.0, before: float = float("inf")) -> float:
        lat = [(r, lat) for r, lat in zip(self.result["received_at"], self.result["latencies"], strict=True)]
        window = [lat for r, lat in lat if after <= r < before]
        return float(np.percentile(window, 99)) if window else float("nan")

    def assert_unharmed(self, added_p99: float) -> None:
        """Every message arrived in order, none refused; the p99 during the abuse (after the first
        baseline) is at most the p99 before it plus ``added_p99`` seconds."""
        r = self.result
        assert r["received"] == r["sent"] > 0 and r["in_order"], (
            f"bystander lost messages: {r['sent']=} {r['received']=}"
        )
        assert not r["errors"], r["errors"][:3]
        base, during = self.p99(before=self.start), self.p99(after=self.start)
        assert during <= base + added_p99, (
            f"bystander p99 {during * 1e3:.1f} ms, {base * 1e3:.1f} ms before the abuse"
        )


# ---- a raw client that can stop reading (a real slow reader) or never answer pings ----
def raw_connect(port: int, sub: str = "raw", rcvbuf: int | None = 4096) -> socket.socket:
    """A WebSocket upgrade done by hand; the socket is then left to the test (read it or not)."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws?token={token(sub)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("closed during handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head.decode(errors="replace"))
    return sock


def raw_send_text(sock: socket.socket, text: str) -> None:
    """Send one masked text frame (client to server)."""
    data = text.encode()
    mask = os.urandom(4)
    n = len(data)
    if n < 126:
        header = bytes([0x81, 0x80 | n])
    elif n < 65536:
        header = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
    sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
