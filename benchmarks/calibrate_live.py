"""Calibrate the simulator to the live reference implementation on this machine.

For each backplane kind, one gateway process (``python -m reference_impl.system.gateway``) on a free loopback
port, using the Redis / NATS servers given by ``--redis-url`` / ``--nats-url``:

- handshake service time: a herd of ``--handshakes`` connections opened at once through an L4
  balancer (``reference_impl.system.balancer``), as a live herd arrives; the service time is the span
  of the gateway's accept times (its event log) divided by the handshakes after the first: what the
  simulator's accept queue serves each one in. On a few shared cores the load generator, the balancer
  and the gateway share the CPU, so this, not the gateway's CPU alone, bounds a herd. The wall time per
  handshake at concurrency 1 and the gateway's CPU per handshake (utime + stime from /proc) are
  reported alongside;
- memory: the gateway's RSS before any client (base), then with ``--connections`` idle subscribed
  connections: (RSS after − base) / N is the user-space bytes per connection (kernel socket memory is
  not in RSS, and loopback has no TLS);
- latency: ``--subscribers`` clients in one room; ``--rate`` messages/s published straight to the
  backplane (``reference_impl.system.backplanes``), as the live publishers do; latency = receipt − the
  publish timestamp, p50 and p99.

Writes a wssim config overlay (dotted path -> value) to ``data/calibration/loopback.yaml``; the
latency figures go under ``per_backplane:`` (applied when the config's ``backplane.kind`` matches),
and ``machine:`` says which machine it describes (``wssim crosscheck`` refuses it on another one).

    python benchmarks/calibrate_live.py [--kinds redis_pubsub redis_streams nats jetstream] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SECRET = secrets.token_urlsafe(32)  # fresh per run: reaches the gateway through its environment
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


class Gateway:
    """One gateway child process on a free port, logging its connection events, behind a balancer."""

    def __init__(self, kind: str, redis_url: str, nats_url: str, config: Path, send_buffer: int) -> None:
        self.port = free_port()
        self.events = config.parent / f".calibrate-events-{self.port}.bin"
        argv = [sys.executable, "-m", "reference_impl.system.gateway", "--port", str(self.port)]
        argv += ["--config", str(config), "--gw", f"event_log={self.events}"]  # as the harness starts it
        argv += ["--backplane", kind, "--redis-url", redis_url, "--nats-url", nats_url]
        self.kind, self.url = kind, nats_url if kind in ("nats", "jetstream") else redis_url
        self.namespace = "cal" + uuid.uuid4().hex[:8]
        argv += ["--namespace", self.namespace, "--gw", f"send_buffer={send_buffer}"]
        env = dict(os.environ, WSSIM_TOKEN_SECRET=SECRET)
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if "listening" not in line:
            raise RuntimeError(f"gateway did not start: {line}")
        self.lb_port = free_port()
        argv = [
            sys.executable,
            "-m",
            "reference_impl.system.balancer",
            "--listen",
            f"127.0.0.1:{self.lb_port}",
        ]
        argv += ["--upstream", f"g0=127.0.0.1:{self.port}"]
        argv += ["--socket-buffer", str(send_buffer)]  # as live.send_buffer makes the harness start them
        self.balancer = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        deadline = time.monotonic() + 20
        while not _listening(self.lb_port):
            if self.balancer.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the balancer did not start")
            time.sleep(0.05)

    def uri(self, sub: str, balanced: bool = False) -> str:
        from reference_impl.system.auth import mint_token

        port = self.lb_port if balanced else self.port
        return f"ws://127.0.0.1:{port}/ws?key={sub}&token={mint_token(SECRET, sub, 600.0)}"

    def accept_times(self) -> list[float]:
        from reference_impl.system.event_log import ACCEPT, read_events

        return sorted(t for t, kind in read_events(self.events) if kind == ACCEPT)

    def stop(self) -> None:
        for proc in (self.balancer, self.proc):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.events.unlink(missing_ok=True)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def _connect(gw: Gateway, sub: str, balanced: bool = False) -> Any:
    from websockets.asyncio.client import connect

    return await connect(gw.uri(sub, balanced), compression=None, open_timeout=30, max_queue=None, proxy=None)


async def herd_service_time(gw: Gateway, n: int) -> float:
    """A herd of ``n`` connections opened at once through the balancer: the span of the gateway's
    accept times over the ``n - 1`` handshakes after the first."""
    before = len(gw.accept_times())
    socks = await asyncio.gather(*(_connect(gw, f"herd{i}", balanced=True) for i in range(n)))
    accepts = gw.accept_times()[before:]
    for ws in socks:
        await ws.close()
    return (accepts[-1] - accepts[0]) / (len(accepts) - 1)


async def path_buffer(gw: Gateway, size: int) -> int:
    """Bytes a reader that stopped reading holds between the gateway's send queue and its application:
    connected through the balancer as the load generator's slow consumers are (a 4 KiB receive buffer,
    a few frames queued in the client library), messages of ``size`` bytes published one at a time
    until the gateway's queue holds one; the messages before it were on the path."""
    from websockets.asyncio.client import connect

    from reference_impl.driver.harness import http_get
    from reference_impl.driver.loadgen import SLOW_MAX_QUEUE, SLOW_RCVBUF
    from reference_impl.system.auth import mint_token
    from reference_impl.system.backplanes import make_backplane
    from reference_impl.system.gateway_metrics import sample

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", gw.lb_port))
    ws = await connect(gw.uri("path", balanced=True), sock=sock, max_queue=SLOW_MAX_QUEUE, compression=None,
                       max_size=None, proxy=None)  # fmt: skip
    await _subscribe(ws, "path")
    bp = make_backplane(gw.kind, gw.url, namespace=gw.namespace)
    await bp.start()
    body = "x" * (size - 120)
    token = mint_token(SECRET, "calibrate", 600.0, rooms=None, scope="metrics")
    try:
        for n in range(1, 10_000):
            await bp.publish("path", json.dumps({"id": f"p{n}", "ts": time.time(), "body": body}))
            await asyncio.sleep(0.05)
            metrics = await asyncio.to_thread(http_get, f"http://127.0.0.1:{gw.port}/metrics", 5.0, token)
            if metrics and sample(metrics, "wssim_queued_messages") > 0:
                return (n - 1) * size
        raise RuntimeError("the gateway never queued a message for a reader that stopped reading")
    finally:
        await ws.close()
        await bp.close()


async def _subscribe(ws: Any, room: str) -> None:
    await ws.send(json.dumps({"op": "subscribe", "rooms": [room]}))
    while json.loads(await ws.recv())["op"] != "subscribed":
        pass


async def measure(gw: Gateway, args: argparse.Namespace) -> dict[str, float]:
    pid = gw.proc.pid
    await asyncio.sleep(0.5)
    base = rss(pid)
    # handshakes: a herd through the balancer, then one at a time
    herd = statistics.median([await herd_service_time(gw, args.handshakes) for _ in range(args.herds)])
    path = await path_buffer(gw, args.message_size)
    socks: list[Any] = []
    cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
    for i in range(args.handshakes):
        socks.append(await _connect(gw, f"h{i}"))
    wall = (time.perf_counter() - wall0) / args.handshakes
    handshake_cpu = (cpu_seconds(pid) - cpu0) / args.handshakes
    # idle subscribed connections
    for i in range(len(socks), args.connections):
        socks.append(await _connect(gw, f"c{i}"))
    for i, ws in enumerate(socks):  # one at a time (concurrent first joins of a room can stall)
        await asyncio.wait_for(_subscribe(ws, f"idle{i % 50}"), 10)
    await asyncio.sleep(1.0)
    per_conn = (rss(pid) - base) / len(socks)
    for ws in socks:
        await ws.close()
    # latency: publish straight to the backplane, receive on the subscribers
    from reference_impl.system.backplanes import make_backplane

    subs = [await _connect(gw, f"s{i}") for i in range(args.subscribers)]
    for ws in subs:
        await asyncio.wait_for(_subscribe(ws, "lat"), 10)
    bp = make_backplane(gw.kind, gw.url, namespace=gw.namespace)
    await bp.start()
    samples: list[float] = []

    async def reader(ws: Any) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("op") == "msg":
                samples.append(time.time() - frame["ts"])

    tasks = [asyncio.create_task(reader(ws)) for ws in subs]
    n = int(args.rate * args.seconds)
    t0 = time.perf_counter()
    for i in range(n):
        await bp.publish("lat", json.dumps({"id": f"m{i}", "ts": time.time(), "body": "x" * 80}))
        await asyncio.sleep(max(0.0, t0 + (i + 1) / args.rate - time.perf_counter()))
    await asyncio.sleep(1.0)
    for t in tasks:
        t.cancel()
    for ws in subs:
        await ws.close()
    await bp.close()
    samples.sort()
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "handshake_herd_s": herd,
        "path_buffer_bytes": path,
        "handshake_cpu_s": handshake_cpu,
        "handshake_wall_s": wall,
        "base_rss": base,
        "per_connection_bytes": per_conn,
        "latency_p50_s": q[49],
        "latency_p99_s": q[98],
        "latency_samples": len(samples),
    }


def fmt_bytes(n: float) -> str:
    return f"{n / 1024:.0f} KiB"


def fmt_duration(seconds: float) -> str:
    return f"{seconds * 1e6:.0f}us" if seconds < 1e-3 else f"{seconds * 1e3:.2f}ms"


def overlay(results: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    """The YAML text of the overlay, with a header saying how it was measured."""
    import redis
    import websockets

    from wssim.crosscheck.calibration import this_machine

    kinds = list(results)
    med = lambda key: statistics.median(r[key] for r in results.values())  # noqa: E731
    try:
        redis_v = redis.Redis.from_url(args.redis_url).info("server")["redis_version"]
    except Exception:
        redis_v = "?"
    nats_v = subprocess.run(["nats-server", "--version"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# wssim calibration overlay: the live reference implementation on this machine.",
        f"# Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by benchmarks/calibrate_live.py on "
        f"{os.cpu_count()} vCPU (shared), {platform.system()} {platform.release()},",
        f"# Python {platform.python_version()}, websockets {websockets.__version__}, Redis {redis_v}, "
        f"{nats_v or 'nats-server ?'}.",
        f"# One gateway process per backplane kind ({', '.join(kinds)}); handshake_cost: the median of "
        f"{args.herds} herds of {args.handshakes}",
        "# connections opened at once through a balancer (span of the gateway's accept times / handshakes",
        f"# after the first; at concurrency 1 a handshake takes {fmt_duration(med('handshake_wall_s'))} "
        f"of wall time, {fmt_duration(med('handshake_cpu_s'))} of the gateway's CPU),",
        f"# {args.connections} idle subscribed connections (RSS delta / N), {args.subscribers} subscribers "
        f"x {args.rate:g} msg/s for "
        f"{args.seconds:g} s (publish -> client).",
        "# Kernel socket buffers are not in RSS and loopback has no TLS: per_connection.kernel and .tls",
        "# are 0 so that the simulated memory is the RSS the live run reports.",
        "# Applied to the simulator side of `wssim crosscheck` (see docs/howto/live-runs.md).",
        "machine:",
        *(f"  {k}: {json.dumps(v)}" for k, v in this_machine().items()),
        f"measured: {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
        f"gateways.handshake_cost: {fmt_duration(med('handshake_herd_s'))}",
        f"gateways.base_memory: {med('base_rss') / 2**20:.0f}MiB",
        f"gateways.per_connection.app: {round(med('per_connection_bytes'))}B",
        "gateways.per_connection.kernel: 0B",
        "gateways.per_connection.tls: 0B",
        f"# The path to a reader that stopped reading held {fmt_bytes(med('path_buffer_bytes'))} with socket "
        f"buffers of {args.send_buffer} B",
        f"# ({args.message_size} B messages through the balancer).",
        "per_send_buffer:",
        f"  {args.send_buffer}:",
        f"    gateways.send_queue.path_buffer: {round(med('path_buffer_bytes'))}B",
        "per_backplane:",
    ]
    for kind, r in results.items():
        lines += [
            f"  {kind}:",
            f"    backplane.latency.median: {fmt_duration(r['latency_p50_s'])}",
            f"    backplane.latency.p99: {fmt_duration(r['latency_p99_s'])}",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="+", default=["redis_pubsub", "redis_streams", "nats", "jetstream"])
    ap.add_argument(
        "--redis-url", default=os.environ.get("WSSIM_REDIS_URL"), help="default: a private server"
    )
    ap.add_argument("--nats-url", default=os.environ.get("WSSIM_NATS_URL"), help="default: a private server")
    ap.add_argument("--handshakes", type=int, default=200, help="connections per herd, and at concurrency 1")
    ap.add_argument("--herds", type=int, default=3, help="herds per gateway (the median is kept)")
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--subscribers", type=int, default=100)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--send-buffer", type=int, default=8192, help="live.send_buffer the path is measured at")
    ap.add_argument("--message-size", type=int, default=16384, help="bytes per message, for the path")
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "calibration" / "loopback.yaml")
    args = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wssim-calibrate-") as tmp, contextlib.ExitStack() as servers:
        if args.redis_url is None:
            args.redis_url = servers.enter_context(private_server("redis", Path(tmp)))
        if args.nats_url is None:
            args.nats_url = servers.enter_context(private_server("nats", Path(tmp)))
        config = Path(tmp) / "calibrate.yaml"
        config.write_text("name: calibrate\n")  # every default: no admission limit, default keepalive
        for kind in args.kinds:
            gw = Gateway(kind, args.redis_url, args.nats_url, config, args.send_buffer)
            try:
                results[kind] = asyncio.run(measure(gw, args))
            finally:
                gw.stop()
            print(kind, json.dumps({k: round(v, 6) for k, v in results[kind].items()}), flush=True)
        text = overlay(results, args)
    args.out.write_text(text)
    print(f"wrote {args.out}")


@contextlib.contextmanager
def private_server(kind: str, workdir: Path) -> Iterator[str]:
    """A private redis-server (no persistence) or nats-server -js on a free loopback port: its URL."""
    port = free_port()
    if kind == "redis":
        argv = [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        url = f"redis://127.0.0.1:{port}/0"
    else:
        argv = ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(workdir / "js")]
        url = f"nats://127.0.0.1:{port}"
    proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


if __name__ == "__main__":
    main()
