"""Fixtures for live tests: real Redis / NATS servers, gateways on free loopback ports, raw clients.

Servers: ``WSSIM_REDIS_URL`` / ``WSSIM_NATS_URL`` when set; otherwise a private ``redis-server`` /
``nats-server -js`` on a free loopback port in a temporary directory (stopped after the session);
otherwise the test is skipped with how to install the server — unless ``CI`` is set, where a missing
server fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from live_helpers import GatewayProcess, free_port, raise_priority, running_gateway


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def _missing(binary: str, how: str) -> None:
    var = "WSSIM_REDIS_URL" if binary.startswith("redis") else "WSSIM_NATS_URL"
    reason = f"{binary} not found on PATH and {var} is not set; install it ({how}) or set {var}"
    if os.environ.get("CI"):
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def _private_server(argv: list[str], port: int) -> Iterator[None]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    raise_priority(proc.pid)
    try:
        _wait_port(port, proc)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# Every namespace of this session starts with it: on a shared server (URL given), what the
# session created is deleted at its end, and concurrent sessions never touch each other's data.
SESSION_PREFIX = "wt" + uuid.uuid4().hex[:6]


async def _clean_redis(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=SESSION_PREFIX + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def _clean_jetstream(url: str) -> None:
    import nats

    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name.startswith(SESSION_PREFIX):
                await js.delete_stream(info.config.name)
    finally:
        await nc.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server's URL."""
    if os.environ.get("WSSIM_REDIS_URL"):
        yield os.environ["WSSIM_REDIS_URL"]
        with contextlib.suppress(Exception):
            asyncio.run(_clean_redis(os.environ["WSSIM_REDIS_URL"]))
        return
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server", "apt-get install redis-server, or brew install redis")
    port = free_port()
    tmp = tmp_path_factory.mktemp("redis")
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with _private_server([*argv, "--dir", str(tmp)], port):
        yield f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A NATS server's URL, with JetStream enabled."""
    if os.environ.get("WSSIM_NATS_URL"):
        yield os.environ["WSSIM_NATS_URL"]
        with contextlib.suppress(Exception):
            asyncio.run(_clean_jetstream(os.environ["WSSIM_NATS_URL"]))
        return
    binary = shutil.which("nats-server")
    if binary is None:
        _missing("nats-server", "apt-get install nats-server, or see https://docs.nats.io")
    port = free_port()
    tmp = tmp_path_factory.mktemp("nats")
    with _private_server([binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp)], port):
        yield f"nats://127.0.0.1:{port}"


@pytest.fixture
def namespace() -> str:
    """A fresh key/subject/stream prefix, so tests never see each other's data."""
    return SESSION_PREFIX + uuid.uuid4().hex[:8]


@pytest.fixture
def backplane_url(request: pytest.FixtureRequest) -> Callable[[str], str | None]:
    """URL of the server a backplane kind needs (starts / skips lazily)."""

    def url(kind: str) -> str | None:
        if kind in ("redis_pubsub", "redis_streams"):
            return request.getfixturevalue("redis_url")
        if kind in ("nats", "jetstream"):
            return request.getfixturevalue("nats_url")
        return None

    return url


@pytest.fixture
def gateway_process() -> Iterator[Callable[..., GatewayProcess]]:
    """Factory: start gateway processes with CLI args; all are stopped after the test."""
    started: list[GatewayProcess] = []

    def start(*args: str) -> GatewayProcess:
        gp = GatewayProcess(list(args))
        started.append(gp)
        return gp

    yield start
    for gp in started:
        gp.terminate()


class PrivateServer:
    """A redis-server or nats-server -js of our own on a free port, which a test may restart."""

    def __init__(self, kind: str, workdir: str) -> None:
        self.kind, self.workdir, self.port = kind, workdir, free_port()
        os.makedirs(workdir, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        redis = kind.startswith("redis")
        binary = shutil.which("redis-server" if redis else "nats-server")
        if binary is None:
            _missing("redis-server" if redis else "nats-server", "apt-get install redis-server nats-server")
        assert binary is not None
        if redis:
            self.argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            self.argv += ["--appendonly", "no", "--dir", workdir]
            self.url = f"redis://127.0.0.1:{self.port}/0"
        else:
            self.argv = [binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", workdir]
            self.url = f"nats://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[Callable[[str], PrivateServer]]:
    """Factory: a restartable private server for a backplane kind (Redis without persistence,
    NATS with JetStream storage in a temporary directory)."""
    servers: list[PrivateServer] = []

    def start(kind: str) -> PrivateServer:
        server = PrivateServer(kind, str(tmp_path / f"{kind}-{len(servers)}"))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def in_process_gateway() -> Callable[..., object]:
    """``async with in_process_gateway(backplane, **settings) as gw`` inside the test's event loop:
    a gateway on a free loopback port (``gw.port``), stopped on exit."""
    return running_gateway
