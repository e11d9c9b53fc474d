"""A real slow reader: its kernel buffer fills, then its send queue; the overflow policy decides.

The gateway runs as its own process so its resident memory is its own. The slow reader is a raw
socket with a 4 KiB receive buffer that subscribes and never reads again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import numpy as np
import pytest
from live_helpers import raw_connect, raw_send_text, scrape_metrics, ws_uri
from websockets.asyncio.client import ClientConnection, connect

from reference_impl.system import protocol as p
from reference_impl.system.gateway_metrics import sample

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]
BODY = "x" * 8192  # 8 KiB frames: 2,000 of them (16 MiB) overflow the ~4 MiB of kernel buffers
N = 2000


def _metric(port: int, name: str) -> float:
    return sample(scrape_metrics(port), name)


async def _reader(ws: ClientConnection, latencies: list[float], offsets: list[int]) -> None:
    while len(offsets) < N:
        frame = json.loads(await ws.recv())
        if frame["op"] == "msg":
            latencies.append(time.time() - frame["ts"])
            offsets.append(frame["offset"])


async def _run(
    port: int, samples: list[tuple[float, float, float]]
) -> tuple[list[list[float]], list[list[int]]]:
    """3 healthy readers + 1 slow reader in one room; publish N frames; sample the gateway meanwhile."""
    slow = await asyncio.to_thread(raw_connect, port, "slow")
    raw_send_text(slow, p.encode(p.subscribe(["room"])))
    healthy = [await connect(ws_uri(port, f"h{i}"), proxy=None, max_size=None) for i in range(3)]
    publisher = await connect(ws_uri(port, "pub"), proxy=None)
    lat: list[list[float]] = [[] for _ in healthy]
    offs: list[list[int]] = [[] for _ in healthy]
    try:
        for ws in healthy:
            await ws.send(p.encode(p.subscribe(["room"])))
            assert json.loads(await ws.recv())["op"] == "subscribed"
        await asyncio.sleep(0.2)
        readers = [asyncio.create_task(_reader(ws, lat[i], offs[i])) for i, ws in enumerate(healthy)]
        for i in range(N):
            await publisher.send(p.encode(p.publish("room", f"m{i}", time.time(), BODY)))
            if i % 10 == 9:
                await asyncio.sleep(0.02)  # about 500 frames/s: the gateway keeps up, so latency is fan-out
            if i % 100 == 99:
                samples.append(
                    (
                        await asyncio.to_thread(_metric, port, "wssim_queued_messages"),
                        await asyncio.to_thread(_metric, port, "process_resident_memory_bytes"),
                        await asyncio.to_thread(_metric, port, "wssim_connections"),
                    )
                )
        try:
            await asyncio.wait_for(asyncio.gather(*readers), 20)
        except TimeoutError:
            raise AssertionError(f"healthy readers got {[len(o) for o in offs]} of {N}") from None
        return lat, offs
    finally:
        for ws in [*healthy, publisher]:
            await ws.close()
        slow.close()


def _start(gateway_process, *gw: str):  # type: ignore[no-untyped-def]
    """A gateway process with an in-memory backplane keeping no history: its RSS growth is its queues."""
    args = ["--backplane", "in_memory", "--replay-max-messages", "0"]
    for item in gw:
        args += ["--gw", item]
    return gateway_process(*args)


def test_disconnect_closes_the_slow_reader_and_spares_the_others(  # type: ignore[no-untyped-def]
    gateway_process,
) -> None:
    gp = _start(gateway_process, "queue_policy=disconnect", "queue_limit=100")
    rss0 = _metric(gp.port, "process_resident_memory_bytes")
    samples: list[tuple[float, float, float]] = []
    lat, offs = asyncio.run(_run(gp.port, samples))
    for got in offs:
        assert got == list(range(1, N + 1)), "every healthy reader gets every message, in order"
    # a gateway that waited on the slow reader would stall the room for the rest of the test
    p99 = float(np.percentile(np.concatenate(lat), 99))
    assert p99 < 1.0, f"healthy p99 latency {p99:.3f} s"
    deadline = time.monotonic() + 10
    while _metric(gp.port, "wssim_slow_consumer_disconnects_total") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _metric(gp.port, "wssim_slow_consumer_disconnects_total") == 1
    # the message that overflowed is not dropped: the reader resumes from its cursor (as simulated)
    assert _metric(gp.port, "wssim_messages_dropped_overflow_total") == 0
    assert _metric(gp.port, "wssim_send_queue_depth_max") <= 100
    assert max(s[0] for s in samples) <= 100
    # flat memory: far below what holding the slow reader's backlog (about 12 MiB) would take
    growth = max(s[1] for s in samples) - rss0
    assert growth < 0.25 * N * len(BODY), f"gateway grew {growth / 2**20:.1f} MiB"


def test_unbounded_queue_grows_without_limit(  # type: ignore[no-untyped-def]
    gateway_process,
) -> None:
    gp = _start(gateway_process, "queue_policy=unbounded")
    rss0 = _metric(gp.port, "process_resident_memory_bytes")
    samples: list[tuple[float, float, float]] = []
    asyncio.run(_run(gp.port, samples))
    queued = [s[0] for s in samples]
    assert queued[-1] > 1000, "beyond any configured limit"
    assert all(b >= a for a, b in itertools.pairwise(queued)), "never drains"
    assert queued[-1] > queued[len(queued) // 2] > 0, "still growing at the end"
    assert _metric(gp.port, "wssim_slow_consumer_disconnects_total") == 0
    # the backlog lives in the gateway's memory
    growth = samples[-1][1] - rss0
    assert growth > 0.5 * queued[-1] * len(BODY), f"gateway grew only {growth / 2**20:.1f} MiB"


@pytest.mark.parametrize(("send_buffer", "queued"), [(None, False), (8192, True)])
def test_a_bounded_kernel_buffer_lets_the_send_queue_see_a_slow_reader(gateway_process, send_buffer, queued):
    """The kernel autotunes a slow reader's send buffer to ~2.7 MiB on loopback, so 40 frames of 16 KiB
    never reach the send queue; with SO_SNDBUF at 8 KiB (``send_buffer``) the queue holds most of them."""
    gw = gateway_process(*(["--gw", f"send_buffer={send_buffer}"] if send_buffer else []))

    async def run() -> float:
        slow = await asyncio.to_thread(raw_connect, gw.port, "slow")
        raw_send_text(slow, p.encode(p.subscribe(["room"])))
        async with connect(ws_uri(gw.port, "pub"), proxy=None) as publisher:
            await asyncio.sleep(0.2)
            for i in range(40):
                await publisher.send(p.encode(p.publish("room", f"m{i}", time.time(), "x" * 16384)))
            await asyncio.sleep(1.5)  # the gateway samples its queues every second
            depth = _metric(gw.port, "wssim_queued_messages")
        slow.close()
        return depth

    depth = asyncio.run(run())
    assert (depth >= 30) if queued else (depth == 0), depth
