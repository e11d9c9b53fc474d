"""A herd of joiners at once: 200 clients subscribe to the same 50 rooms (4 each) at the same moment.

Every client must get every ``subscribed`` reply within a few seconds, and a publish to each room must
then reach every member exactly once, in offset order, right after the head it was told.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from live_helpers import GatewayProcess, ws_uri
from websockets.asyncio.client import ClientConnection, connect

from reference_impl.system import protocol as p
from reference_impl.system.backplanes import KINDS

pytestmark = [pytest.mark.live, pytest.mark.timeout(40)]

CLIENTS, ROOMS, PER_CLIENT, PER_ROOM = 200, 50, 4, 3
CONNECT_S, SUBSCRIBE_S, DELIVER_S, QUIET_S = 10.0, 5.0, 5.0, 0.3


def _rooms(i: int) -> list[str]:
    """Four distinct rooms per client, spread so every room gets CLIENTS * PER_CLIENT / ROOMS members."""
    return [f"r{(i + k * 13) % ROOMS}" for k in range(PER_CLIENT)]


async def _subscribe_all(socks: list[ClientConnection]) -> list[dict[str, int]]:
    """Send every subscribe at once; each client's room -> announced head, or fail naming the stragglers."""
    heads: list[dict[str, int]] = [{} for _ in socks]

    async def one(i: int, ws: ClientConnection) -> None:
        await ws.send(p.encode(p.subscribe(_rooms(i))))
        while len(heads[i]) < PER_CLIENT:
            frame = json.loads(await ws.recv())
            assert frame["op"] != "error", f"client {i}: {frame}"
            if frame["op"] == "subscribed":
                heads[i][frame["room"]] = frame["offset"]

    tasks = [asyncio.create_task(one(i, ws)) for i, ws in enumerate(socks)]
    done, pending = await asyncio.wait(tasks, timeout=SUBSCRIBE_S)
    for task in pending:
        task.cancel()
    errors = [str(task.exception()) for task in done if task.exception() is not None]
    assert not errors, f"{len(errors)} clients got an error frame, e.g. {errors[0]}"
    missing = sum(PER_CLIENT - len(h) for h in heads)
    stalled = sum(len(h) < PER_CLIENT for h in heads)
    assert not pending, f"{stalled} clients still miss {missing} subscribed replies after {SUBSCRIBE_S} s"
    return heads


async def _collect(ws: ClientConnection, want: int) -> list[dict[str, Any]]:
    """``want`` msg frames, then nothing more for QUIET_S (a repeat would show up here)."""
    got: list[dict[str, Any]] = []
    while len(got) < want:
        frame = json.loads(await ws.recv())
        if frame["op"] == "msg":
            got.append(frame)
    with pytest.raises(TimeoutError):
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), QUIET_S))
            if frame["op"] == "msg":
                got.append(frame)
                break
    return got


async def _herd(port: int) -> tuple[list[dict[str, int]], list[list[dict[str, Any]]]]:
    socks = list(
        await asyncio.wait_for(
            asyncio.gather(*(connect(ws_uri(port, f"c{i}"), proxy=None) for i in range(CLIENTS))),
            CONNECT_S,
        )
    )
    try:
        heads = await _subscribe_all(socks)
        collectors = [asyncio.create_task(_collect(ws, PER_CLIENT * PER_ROOM)) for ws in socks]
        # one member per room publishes PER_ROOM messages, in order, through the gateway
        publisher = {room: i for i in reversed(range(CLIENTS)) for room in _rooms(i)}
        for n in range(PER_ROOM):
            for room, i in publisher.items():
                frame = {"op": "publish", "room": room, "id": f"{room}-{n}", "ts": 0.0, "body": str(n)}
                await socks[i].send(json.dumps(frame))
        done, pending = await asyncio.wait(collectors, timeout=DELIVER_S + QUIET_S + 1)
        for task in pending:
            task.cancel()
        short = sum(task not in done for task in collectors)
        assert not pending, f"{short} of {CLIENTS} clients did not get all {PER_CLIENT * PER_ROOM} messages"
        return heads, [task.result() for task in collectors]
    finally:
        await asyncio.gather(*(ws.close() for ws in socks), return_exceptions=True)


@pytest.mark.parametrize("kind", KINDS)
def test_a_herd_subscribing_to_shared_rooms_at_once_is_answered_and_served(
    kind: str,
    backplane_url: Callable[[str], str | None],
    namespace: str,
    gateway_process: Callable[..., GatewayProcess],
) -> None:
    url = backplane_url(kind)
    args = ["--backplane", kind, "--namespace", namespace, "--no-gc-tuning"]
    if url is not None:
        args += ["--nats-url" if kind in ("nats", "jetstream") else "--redis-url", url]
    gw = gateway_process(*args)
    heads, received = asyncio.run(_herd(gw.port))
    for i, (head, frames) in enumerate(zip(heads, received, strict=True)):
        assert sorted(head) == sorted(_rooms(i))
        for room in _rooms(i):
            mine = [(f["offset"], f["id"]) for f in frames if f["room"] == room]
            expected = [(head[room] + n + 1, f"{room}-{n}") for n in range(PER_ROOM)]
            assert mine == expected, f"client {i} room {room}: exactly once, in offset order after the head"
