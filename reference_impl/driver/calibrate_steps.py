"""The per-backplane measurements of ``wssim calibrate``: handshakes, memory, the slow reader's path,
latency (see :mod:`reference_impl.driver.calibrate`)."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
from typing import TYPE_CHECKING, Any

from reference_impl.driver.calibrate import cpu_seconds, rss

if TYPE_CHECKING:
    from reference_impl.driver.calibrate import CalibrateOptions, GatewayUnderTest


async def connect(
    gw: GatewayUnderTest, sub: str, balanced: bool = False, compression: str | None = None
) -> Any:
    """A client connection to ``gw`` (directly, or through its balancer)."""
    from websockets.asyncio.client import connect as ws_connect

    return await ws_connect(
        gw.uri(sub, balanced), compression=compression, open_timeout=30, max_queue=None, proxy=None
    )


async def subscribe(ws: Any, room: str) -> None:
    """Join ``room`` and wait for the gateway's acknowledgement."""
    await ws.send(json.dumps({"op": "subscribe", "rooms": [room]}))
    while json.loads(await ws.recv())["op"] != "subscribed":
        pass


async def herd_service_time(gw: GatewayUnderTest, n: int) -> float:
    """A herd of ``n`` connections opened at once through the balancer: the span of the gateway's
    accept times over the ``n - 1`` handshakes after the first."""
    before = len(gw.accept_times())
    socks = await asyncio.gather(*(connect(gw, f"herd{i}", balanced=True) for i in range(n)))
    accepts = gw.accept_times()[before:]
    for ws in socks:
        await ws.close()
    return (accepts[-1] - accepts[0]) / (len(accepts) - 1)


async def path_buffer(gw: GatewayUnderTest, size: int) -> int:
    """Bytes a reader that stopped reading holds between the gateway's send queue and its application:
    connected through the balancer as the load generator's slow consumers are (a small receive buffer,
    a few frames queued in the client library), messages of ``size`` bytes published one at a time
    until the gateway's queue holds one; the messages before it were on the path."""
    from websockets.asyncio.client import connect as ws_connect

    from reference_impl.driver.loadgen import SLOW_MAX_QUEUE, SLOW_RCVBUF
    from reference_impl.system.backplanes import make_backplane
    from reference_impl.system.gateway_metrics import sample

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", gw.lb_port))
    ws = await ws_connect(gw.uri("path", balanced=True), sock=sock, max_queue=SLOW_MAX_QUEUE,
                          compression=None, max_size=None, proxy=None)  # fmt: skip
    await subscribe(ws, "path")
    bp = make_backplane(gw.kind, gw.url, namespace=gw.namespace)
    await bp.start()
    body = "x" * (size - 120)
    try:
        for n in range(1, 10_000):
            await bp.publish("path", json.dumps({"id": f"p{n}", "ts": time.time(), "body": body}))
            await asyncio.sleep(0.05)
            metrics = await asyncio.to_thread(gw.metrics)
            if metrics and sample(metrics, "wssim_queued_messages") > 0:
                return (n - 1) * size
        raise RuntimeError("the gateway never queued a message for a reader that stopped reading")
    finally:
        await ws.close()
        await bp.close()


async def idle_memory(
    gw: GatewayUnderTest, socks: list[Any], n: int, compression: str | None = None
) -> float:
    """Bytes of RSS per idle subscribed connection: ``socks`` topped up to ``n`` connections, each in
    one of 50 rooms, against the RSS before any of them (measured by the caller as ``gw.base``)."""
    for i in range(len(socks), n):
        socks.append(await connect(gw, f"c{i}", compression=compression))
    for i, ws in enumerate(socks):  # one at a time (concurrent first joins of a room can stall)
        await asyncio.wait_for(subscribe(ws, f"idle{i % 50}"), 10)
    await asyncio.sleep(1.0)
    return (rss(gw.pid) - gw.base) / len(socks)


async def latency(gw: GatewayUnderTest, opts: CalibrateOptions) -> list[float]:
    """Publish -> receipt delays (s) of ``opts.rate`` msg/s for ``opts.seconds`` published straight to
    the backplane, to ``opts.subscribers`` clients in one room."""
    from reference_impl.system.backplanes import make_backplane

    subs = [await connect(gw, f"s{i}") for i in range(opts.subscribers)]
    for ws in subs:
        await asyncio.wait_for(subscribe(ws, "lat"), 10)
    bp = make_backplane(gw.kind, gw.url, namespace=gw.namespace)
    await bp.start()
    samples: list[float] = []

    async def reader(ws: Any) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("op") == "msg":
                samples.append(time.time() - frame["ts"])

    tasks = [asyncio.create_task(reader(ws)) for ws in subs]
    try:
        t0 = time.perf_counter()
        for i in range(int(opts.rate * opts.seconds)):
            await bp.publish("lat", json.dumps({"id": f"m{i}", "ts": time.time(), "body": "x" * 80}))
            await asyncio.sleep(max(0.0, t0 + (i + 1) / opts.rate - time.perf_counter()))
        await asyncio.sleep(1.0)
    finally:
        for t in tasks:
            t.cancel()
        for ws in subs:
            await ws.close()
        await bp.close()
    return sorted(samples)


async def measure_kind(gw: GatewayUnderTest, opts: CalibrateOptions) -> dict[str, float]:
    """Every per-backplane figure of one gateway on ``gw.kind``."""
    await asyncio.sleep(0.5)
    gw.base = rss(gw.pid)
    herds = [await herd_service_time(gw, opts.handshakes) for _ in range(opts.herds)]
    path = await path_buffer(gw, opts.message_size)
    socks: list[Any] = []
    cpu0, wall0 = cpu_seconds(gw.pid), time.perf_counter()
    for i in range(opts.handshakes):  # one at a time
        socks.append(await connect(gw, f"h{i}"))
    wall = (time.perf_counter() - wall0) / opts.handshakes
    handshake_cpu = (cpu_seconds(gw.pid) - cpu0) / opts.handshakes
    per_conn = await idle_memory(gw, socks, opts.connections)
    for ws in socks:
        await ws.close()
    samples = await latency(gw, opts)
    if len(samples) < 2:
        raise RuntimeError(
            f"{gw.kind}: {len(samples)} latency samples arrived; the backplane did not deliver"
        )
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "handshake_herd_s": statistics.median(herds),
        "path_buffer_bytes": path,
        "handshake_cpu_s": handshake_cpu,
        "handshake_wall_s": wall,
        "base_rss": gw.base,
        "per_connection_bytes": per_conn,
        "latency_p50_s": q[49],
        "latency_p99_s": q[98],
        "latency_samples": len(samples),
    }
