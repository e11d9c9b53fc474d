"""A minute of abuse at once: the gateway's resident memory stays under its budget all along.

One gateway process under the ``block`` policy with a memory budget; for ``SOAK_S`` seconds:

* a reader that stops reading, then joins a busy room, again and again (each time the keepalive or
  the send-queue bound closes it, it comes back);
* a ``block`` reader: it reads in bursts and pauses, so the gateway holds messages beside its queue;
* a room churner: joins fresh rooms, publishes into them and leaves (room state must be freed);
* a publisher: 8 KiB messages into the busy rooms;
* the bystander of the security suite, which must lose nothing.

RSS is sampled from ``process_resident_memory_bytes`` every half second and must stay under the
budget; the gateway's own accounting (``wssim_buffered_bytes``) stays under its per-client bounds
times the abusive clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from live_helpers import Bystander, raise_priority, raw_connect, raw_send_text, scrape_metrics, ws_uri
from websockets.asyncio.client import connect

from reference_impl.system import protocol as p
from reference_impl.system.gateway_metrics import sample

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.timeout(180)]
SOAK_S = 60.0
BUDGET_HEADROOM = 160 * (1 << 20)  # bytes above the idle gateway's RSS
ADDED_P99 = 0.05  # as in test_security.py: bounded work per event-loop turn


def _metric(port: int, name: str, **labels: str) -> float:
    return sample(scrape_metrics(port), name, **labels)


async def _publisher(port: int, stop: asyncio.Event) -> None:
    async with connect(ws_uri(port, "publisher"), proxy=None) as ws:
        body, i = "x" * 8192, 0
        while not stop.is_set():
            await ws.send(p.encode(p.publish("hot" if i % 2 else "hot2", str(i), time.time(), body)))
            i += 1
            await asyncio.sleep(1 / 200)


async def _slow_then_subscribing(port: int, stop: asyncio.Event) -> int:
    """Stops reading, then joins the other busy room; reconnects each time it is closed."""
    rounds = 0
    while not stop.is_set():
        sock = await asyncio.to_thread(raw_connect, port, f"stalled{rounds}", 4096)
        raw_send_text(sock, p.encode(p.subscribe(["hot"])))
        await asyncio.sleep(1.0)
        with contextlib.suppress(OSError):
            raw_send_text(sock, p.encode(p.subscribe(["hot2"])))
        await asyncio.sleep(4.0)
        sock.close()
        rounds += 1
    return rounds


async def _block_reader(port: int, stop: asyncio.Event) -> None:
    """Reads in bursts with pauses: the gateway holds what it cannot send beside its queue."""
    while not stop.is_set():
        try:
            async with connect(ws_uri(port, "blocky"), proxy=None, max_size=None) as ws:
                await ws.send(p.encode(p.subscribe(["hot"])))
                while not stop.is_set():
                    ws.transport.pause_reading()
                    await asyncio.sleep(0.8)
                    ws.transport.resume_reading()
                    await asyncio.sleep(0.2)
        except Exception:  # cut by the block bound or the keepalive: come back, as a client would
            await asyncio.sleep(0.5)


async def _churner(port: int, stop: asyncio.Event) -> int:
    """Joins 50 fresh rooms, publishes into 10, leaves them all; reads what it is sent."""
    n = 0
    async with connect(ws_uri(port, "churner"), proxy=None) as ws:
        reader = asyncio.create_task(_read_all(ws))
        while not stop.is_set():
            rooms = [f"churn-{n}-{k}" for k in range(50)]
            await ws.send(p.encode(p.subscribe(rooms)))
            for room in rooms[:10]:
                await ws.send(p.encode(p.publish(room, "c", time.time(), "b" * 512)))
            await ws.send(p.encode(p.unsubscribe(rooms)))
            n += 1
            await asyncio.sleep(0.1)
        reader.cancel()
    return n


async def _read_all(ws: Any) -> None:
    async for _ in ws:
        pass


def test_a_minute_of_abuse_stays_under_the_memory_budget(gateway_process: Any) -> None:
    probe = gateway_process("--backplane", "in_memory")
    budget = int(_metric(probe.port, "process_resident_memory_bytes")) + BUDGET_HEADROOM
    probe.terminate()
    args = ["--backplane", "in_memory", "--replay-max-messages", "100", "--room-retention", "5"]
    for setting in ("queue_policy=block", "ping_interval=2", f"memory_budget={budget}"):
        args += ["--gw", setting]
    gp = gateway_process(*args)
    raise_priority(gp.proc.pid)
    rss: list[float] = []
    buffered: list[float] = []

    async def soak() -> tuple[int, int]:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(_publisher(gp.port, stop)),
            asyncio.create_task(_slow_then_subscribing(gp.port, stop)),
            asyncio.create_task(_block_reader(gp.port, stop)),
            asyncio.create_task(_churner(gp.port, stop)),
        ]
        end = time.monotonic() + SOAK_S
        while time.monotonic() < end:
            page = await asyncio.to_thread(scrape_metrics, gp.port)
            rss.append(sample(page, "process_resident_memory_bytes"))
            buffered.append(sample(page, "wssim_buffered_bytes"))
            await asyncio.sleep(0.5)
        stop.set()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [d for d in done if isinstance(d, BaseException)]
        assert not errors, errors
        return done[1], done[3]  # type: ignore[return-value]

    with Bystander(gp.port) as b:
        rounds, churned = asyncio.run(soak())
    b.assert_unharmed(ADDED_P99)
    assert rounds >= SOAK_S / 6 and churned > 100, "every abuser kept at it"
    assert max(rss) <= budget, f"RSS peaked {(max(rss) - budget) / 2**20:.1f} MiB over the budget"
    # three abusive clients, each bounded by 1 MiB queued, 1 MiB held joining, 1 MiB blocked, a frame
    assert max(buffered) <= 3 * (3 * (1 << 20) + 8192 + 200)
    closed = sum(
        _metric(gp.port, "wssim_connections_closed_total", reason=r) for r in ("keepalive", "held_overflow")
    )
    assert closed + _metric(gp.port, "wssim_slow_consumer_disconnects_total") >= rounds - 1, (
        "the gateway cut them"
    )
    assert _metric(gp.port, "wssim_rooms") <= 5, "the churned rooms were left"
