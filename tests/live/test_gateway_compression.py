"""permessage-deflate on the reference gateway (``gateways.compression.enabled``; off by default).

Two gateway processes on one Redis, their clients all offering permessage-deflate: the one with the
option compresses every frame it writes (RSV1 set, fewer bytes on the wire for text), the one without
writes none compressed, and with it each connection holds its compressor: more memory per connection.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from live_runs import need_server

from reference_impl.driver.calibrate import Bench, CalibrateOptions, GatewayUnderTest
from reference_impl.driver.cpu_costs import LARGE, broadcast, clients, memory_per_connection

pytestmark = pytest.mark.live
MEMBERS, MESSAGES = 10, 20


async def _observe(gw: GatewayUnderTest) -> dict[str, Any]:
    """Memory per idle connection (clients offering deflate), then a broadcast of text messages."""
    from reference_impl.system.backplanes import make_backplane

    bp = make_backplane(gw.kind, gw.url, namespace=gw.namespace)
    await bp.start()
    try:
        memory, _ = await memory_per_connection(gw, bp, deflate=True)
        members = await clients(gw, "room", MEMBERS, deflate=True)
        sent = await broadcast(gw, bp, "room", members, MESSAGES, LARGE, random.Random(7))
    finally:
        await bp.close()
    return {"memory": memory, **sent}


@pytest.mark.timeout(180)
def test_deflate_compresses_every_frame_and_costs_memory_per_connection(tmp_path: Path) -> None:
    need_server("redis_pubsub")
    bench = Bench(tmp_path, CalibrateOptions(kinds=["redis_pubsub"], out=tmp_path / "unused.yaml"))
    try:
        bench.start_servers()
        plain = bench.gateway("redis_pubsub", "ping_interval=none", balanced=False)
        # as a live run of a scenario with gateways.compression.enabled: true starts its gateways
        deflate = bench.gateway("redis_pubsub", "ping_interval=none", "gateways.compression.enabled=true",
                                balanced=False)  # fmt: skip
        off, on = asyncio.run(_observe(plain)), asyncio.run(_observe(deflate))
    finally:
        bench.stop()
    frames = MEMBERS * MESSAGES
    assert off["frames"] == on["frames"] == frames
    assert off["compressed"] == 0 and off["payload_bytes"] > LARGE  # the body and its JSON envelope
    assert on["compressed"] == frames
    # words from a small vocabulary compress well below 0.8 (deflate on English text: about 0.3-0.5)
    assert on["payload_bytes"] < 0.8 * off["payload_bytes"]
    # deflateInit zeroes the compressor's hash table: 2^(memLevel + 7) entries x 2 B = 8 KiB at
    # websockets' memLevel 5, resident for every connection; window and buffers come on top
    assert on["memory"] - off["memory"] > 8 * 1024, (on["memory"], off["memory"])
