"""Helpers for live tests: tokens, in-process and child-process gateways, a raw WebSocket client."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from reference_impl.system.auth import issue_token

SECRET = "live-test-secret"
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token(sub: str = "tester", ttl: float = 300.0, secret: str = SECRET) -> str:
    return issue_token(secret, sub, ttl)


def ws_uri(port: int, sub: str = "tester") -> str:
    return f"ws://127.0.0.1:{port}/ws?token={token(sub)}"


@contextlib.asynccontextmanager
async def running_gateway(backplane: Any, **settings: Any) -> AsyncIterator[Any]:
    """An in-process gateway on a free loopback port (in the running event loop)."""
    from reference_impl.system.gateway import Gateway, GatewaySettings

    gateway = Gateway(GatewaySettings(secret=SECRET, **settings), backplane)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


class GatewayProcess:
    """``python -m reference_impl.system.gateway`` in a child process."""

    def __init__(self, args: list[str]) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "reference_impl.system.gateway", "--port", str(self.port), "--gw"]
        argv += [f"secret={SECRET}", *args]
        self.proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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
