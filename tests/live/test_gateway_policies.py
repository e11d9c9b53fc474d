"""Overflow policies on real sockets: drop_oldest keeps the newest and announces the gap; credit paces."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterable
from typing import Any

import pytest
from live_helpers import raw_connect, raw_send_text, running_gateway, ws_uri
from websockets.asyncio.client import connect

from reference_impl.system import protocol as p
from reference_impl.system.backplanes import make_backplane

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]


def read_frames(sock: socket.socket, quiet: float = 1.0) -> list[dict[str, Any]]:
    """Every text frame the server sent, until the socket is quiet for ``quiet`` seconds."""
    sock.settimeout(quiet)
    buf = bytearray()
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            break
        if not chunk:
            break
        buf += chunk
    frames, i = [], 0
    while i + 2 <= len(buf):
        opcode, n = buf[i] & 0x0F, buf[i + 1] & 0x7F
        j = i + 2
        if n == 126:
            n, j = int.from_bytes(buf[j : j + 2], "big"), j + 2
        elif n == 127:
            n, j = int.from_bytes(buf[j : j + 8], "big"), j + 8
        if j + n > len(buf):
            break
        if opcode == 1:
            frames.append(json.loads(buf[j : j + n]))
        i = j + n
    return frames


async def flood_slow_consumer(
    settings: dict[str, Any], payloads: Iterable[dict[str, Any]]
) -> tuple[list[dict[str, Any]], Any, int]:
    """Publish ``payloads`` to a room whose one member does not read, then read its socket.

    Returns the frames that reached it, the gateway's metrics, and how many messages were held beside
    its full queue when the publishing ended (the ``block`` policy's backlog).
    """
    bp = make_backplane("in_memory", max_messages=0)
    async with running_gateway(bp, **settings) as gw:
        sock = await asyncio.to_thread(raw_connect, gw.port, "slow")
        raw_send_text(sock, p.encode(p.subscribe(["room"])))
        while not gw.rooms.get("room"):
            await asyncio.sleep(0.01)
        for i, payload in enumerate(payloads):
            await bp.publish("room", json.dumps(payload))
            if i % 10 == 9:
                await asyncio.sleep(0)
        held = sum(len(client.stalled or ()) for client in gw.clients)
        frames = await asyncio.to_thread(read_frames, sock)
        sock.close()
        return frames, gw.metrics, held


def test_drop_oldest_keeps_the_newest_and_sends_a_gap_notice() -> None:
    n, limit = 1000, 20
    settings = {"queue_policy": "drop_oldest", "queue_limit": limit, "ping_interval": None}
    payloads = [{"id": "x", "ts": 0.0, "body": "y" * 8192}] * n
    frames, m, _ = asyncio.run(flood_slow_consumer(settings, payloads))
    assert frames[0]["op"] == "subscribed"
    ops = [f["op"] for f in frames[1:]]
    assert ops.count("gap") == 1, ops
    cut = ops.index("gap") + 1
    gap = frames[cut]
    before = [f["offset"] for f in frames[1:cut]]
    after = [f["offset"] for f in frames[cut + 1 :]]
    assert before == list(range(1, len(before) + 1)), "what reached the socket before the drops is intact"
    assert after == list(range(n - limit + 1, n + 1)), "the queue kept the newest `limit` messages"
    assert gap == p.gap("room", n - limit - len(before))
    assert m.value("messages_dropped_overflow") == gap["dropped"] and m.send_queue_depth_max == limit
    assert m.value("gap_notices") == 1 and m.value("slow_consumer_disconnects") == 0


def test_credit_sends_at_most_the_window_until_acked() -> None:
    async def run() -> list[int]:
        bp = make_backplane("in_memory")
        settings = {"queue_policy": "credit", "credit": 5, "queue_limit": 100}
        async with running_gateway(bp, **settings) as gw, connect(ws_uri(gw.port), proxy=None) as ws:
            await ws.send(p.encode(p.subscribe(["room"])))
            assert json.loads(await ws.recv())["op"] == "subscribed"
            for i in range(12):
                await bp.publish("room", json.dumps({"id": str(i), "ts": time.time(), "body": ""}))
            seen: list[int] = []
            for _ in range(3):
                while True:
                    try:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                    except TimeoutError:
                        break
                    seen.append(frame["offset"])
                seen.append(-1)  # window closed: nothing more until we ack
                await ws.send(p.encode(p.ack(5)))
            return seen

    seen = asyncio.run(run())
    assert seen == [1, 2, 3, 4, 5, -1, 6, 7, 8, 9, 10, -1, 11, 12, -1]


def test_conflate_keeps_the_latest_state_per_key_without_drops() -> None:
    n, keys = 1000, 5
    settings = {"queue_policy": "conflate", "queue_limit": 50, "ping_interval": None}
    payloads = ({"id": str(i), "ts": 0.0, "body": "y" * 8192, "key": f"k{i % keys}"} for i in range(n))
    frames, m, _ = asyncio.run(flood_slow_consumer(settings, payloads))
    msgs = [f for f in frames if f["op"] == "msg"]
    assert m.value("messages_conflated") > 0 and m.value("messages_dropped_overflow") == 0
    assert len(msgs) + m.value("messages_conflated") == n, "every publication delivered or superseded"
    latest = {f["key"]: int(f["id"]) for f in msgs}
    assert latest == {f"k{k}": n - keys + k for k in range(keys)}, "each key ends at its newest state"


def test_block_loses_nothing_and_holds_the_backlog_beside_the_queue() -> None:
    n, limit = 1000, 20
    settings = {"queue_policy": "block", "queue_limit": limit, "ping_interval": None}
    settings |= {"block_limit": None, "queue_limit_bytes": None}  # the unbounded form, switched on by hand
    payloads = ({"id": str(i), "ts": 0.0, "body": "y" * 8192} for i in range(n))
    frames, m, held = asyncio.run(flood_slow_consumer(settings, payloads))
    assert held > 0, "the producer was blocked: messages waited beside the full queue"
    assert [f["offset"] for f in frames if f["op"] == "msg"] == list(range(1, n + 1))
    assert m.value("messages_dropped_overflow") == 0 and m.send_queue_depth_max == limit


def test_block_is_bounded_then_disconnects() -> None:
    n, limit, block_limit = 1000, 20, 50
    settings = {
        "queue_policy": "block",
        "queue_limit": limit,
        "block_limit": block_limit,
        "ping_interval": None,
    }
    payloads = ({"id": str(i), "ts": 0.0, "body": "y" * 8192} for i in range(n))
    frames, m, held = asyncio.run(flood_slow_consumer(settings, payloads))
    assert held == 0, "the backlog was freed when the client was cut"
    assert m.value("slow_consumer_disconnects") == 1 and m.value("messages_dropped_overflow") == 0
    offsets = [f["offset"] for f in frames if f["op"] == "msg"]
    assert offsets == list(range(1, len(offsets) + 1)), "what it got, it got in order, without a hole"
    assert m.queued_messages == 0 and m.buffered_bytes == 0
