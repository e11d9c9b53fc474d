"""Resume against durable backplanes: exactly the missed messages, or resync (window, limit, epoch)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from live_helpers import running_gateway, token, ws_uri
from websockets.asyncio.client import ClientConnection, connect

from reference_impl.system import protocol as p
from reference_impl.system.backplanes import Backplane, make_backplane

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]
DURABLE = ("redis_streams", "jetstream")


async def _frames(ws: ClientConnection, until: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        out.append(frame)
        if until(frame):
            return out


async def _publish(bp: Backplane, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        await bp.publish("room", json.dumps({"id": f"m{i}", "ts": 0.0, "body": str(i)}))


async def _scenario(kind: str, url: str | None, ns: str, missed: int, window: int, **gw: Any) -> Any:
    """Receive 5 live messages, go away, `missed` are published, come back with the cursor."""
    bp = make_backplane(kind, url, namespace=ns, max_messages=window)
    publisher = make_backplane(kind, url, namespace=ns, max_messages=window)
    await publisher.start()
    try:
        async with running_gateway(bp, **gw) as gw_:
            async with connect(ws_uri(gw_.port), proxy=None) as ws:
                await ws.send(p.encode(p.subscribe(["room"])))
                sub = (await _frames(ws, lambda f: f["op"] == "subscribed"))[-1]
                await _publish(publisher, 5)
                live = await _frames(ws, lambda f: f["op"] == "msg" and f["offset"] == 5)
            assert [f["offset"] for f in live] == [1, 2, 3, 4, 5]
            cursor = (live[-1]["epoch"], live[-1]["offset"])
            assert sub["offset"] == 0
            await _publish(publisher, missed, start=5)
            async with connect(ws_uri(gw_.port), proxy=None) as ws:
                await ws.send(p.encode(p.subscribe(["room"], resume={"room": cursor})))
                answer = await _frames(ws, lambda f: f["op"] in ("resumed", "resync"))
                await _publish(publisher, 2, start=5 + missed)
                after = await _frames(ws, lambda f: f["op"] == "msg" and f["offset"] == 7 + missed)
            return answer, after, gw_.metrics
    finally:
        await publisher.close()


@pytest.mark.parametrize("kind", DURABLE)
def test_resume_replays_exactly_the_missed_messages(
    kind: str, backplane_url: Callable[[str], str | None], namespace: str
) -> None:
    answer, after, m = asyncio.run(_scenario(kind, backplane_url(kind), namespace, missed=8, window=100))
    replayed = [f for f in answer if f["op"] == "msg"]
    assert [f["offset"] for f in replayed] == list(range(6, 14))
    assert [f["body"] for f in replayed] == [str(i) for i in range(5, 13)]
    assert answer[-1] == p.resumed("room", 8)
    assert [f["offset"] for f in after if f["op"] == "msg"] == [14, 15], "live continues, no duplicate"
    got = [m.value(n) for n in ("resume_attempts", "replay_hits", "replay_misses", "messages_replayed")]
    assert got == [1, 1, 0, 8]


@pytest.mark.parametrize("kind", DURABLE)
def test_resume_out_of_the_window_answers_resync(
    kind: str, backplane_url: Callable[[str], str | None], namespace: str
) -> None:
    answer, after, m = asyncio.run(_scenario(kind, backplane_url(kind), namespace, missed=30, window=10))
    assert [f["op"] for f in answer] == ["subscribed", "resync"], "all or nothing: no partial replay"
    assert answer[-1]["snapshot"] == "/snapshot/room"
    assert [f["offset"] for f in after if f["op"] == "msg"] == [36, 37]
    assert [m.value(n) for n in ("replay_misses", "resyncs", "replay_hits")] == [1, 1, 0]


@pytest.mark.parametrize("kind", DURABLE)
def test_resume_over_max_per_resume_answers_resync(
    kind: str, backplane_url: Callable[[str], str | None], namespace: str
) -> None:
    url = backplane_url(kind)
    answer, _, m = asyncio.run(_scenario(kind, url, namespace, missed=8, window=100, max_per_resume=5))
    assert [f["op"] for f in answer] == ["subscribed", "resync"]
    assert m.value("replay_misses") == 1


@pytest.mark.parametrize("kind", DURABLE)
def test_resume_from_another_epoch_answers_resync(
    kind: str, backplane_url: Callable[[str], str | None], namespace: str
) -> None:
    async def run() -> list[dict[str, Any]]:
        bp = make_backplane(kind, backplane_url(kind), namespace=namespace)
        async with running_gateway(bp) as gw:
            epoch, _ = await bp.publish("room", '{"id":"a","ts":0,"body":""}')
            async with connect(ws_uri(gw.port), proxy=None) as ws:
                await ws.send(p.encode(p.subscribe(["room"], resume={"room": ("not-" + epoch, 1)})))
                return await _frames(ws, lambda f: f["op"] in ("resumed", "resync"))

    answer = asyncio.run(run())
    assert [f["op"] for f in answer] == ["subscribed", "resync"]


def test_an_at_most_once_backplane_answers_resync(
    backplane_url: Callable[[str], str | None], namespace: str
) -> None:
    answer, after, _ = asyncio.run(
        _scenario("redis_pubsub", backplane_url("redis_pubsub"), namespace, missed=3, window=100)
    )
    assert [f["op"] for f in answer] == ["subscribed", "resync"]
    assert [f["offset"] for f in after if f["op"] == "msg"] == [9, 10]


@pytest.mark.parametrize("kind", DURABLE)
def test_snapshot_endpoint_serves_the_latest_state(
    kind: str, backplane_url: Callable[[str], str | None], namespace: str
) -> None:
    import urllib.request

    async def run() -> dict[str, Any]:
        bp = make_backplane(kind, backplane_url(kind), namespace=namespace)
        async with running_gateway(bp) as gw:
            await _publish(bp, 3)
            url = f"http://127.0.0.1:{gw.port}/snapshot/room"
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token()}"})
            raw = await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=5).read())
            return json.loads(raw)

    snap = asyncio.run(run())
    assert snap["offset"] == 3 and snap["state"]["body"] == "2" and snap["epoch"]


@pytest.mark.parametrize("kind", ("in_memory", "redis_pubsub", *DURABLE))
def test_joining_a_busy_room_starts_right_after_the_announced_head(
    kind: str, backplane_url: Callable[[str], str | None], namespace: str
) -> None:
    async def run() -> tuple[dict[str, Any], list[int]]:
        bp = make_backplane(kind, backplane_url(kind), namespace=namespace)
        async with running_gateway(bp) as gw:
            publisher = (
                bp if kind == "in_memory" else make_backplane(kind, backplane_url(kind), namespace=namespace)
            )
            if publisher is not bp:
                await publisher.start()
            stop = asyncio.Event()

            async def pump() -> None:
                i = 0
                while not stop.is_set():
                    await publisher.publish("room", json.dumps({"id": str(i), "ts": 0.0, "body": ""}))
                    i += 1
                    await asyncio.sleep(0.001)

            task = asyncio.create_task(pump())
            try:
                await asyncio.sleep(0.2)
                async with connect(ws_uri(gw.port), proxy=None) as ws:
                    await ws.send(p.encode(p.subscribe(["room"])))
                    sub = (await _frames(ws, lambda f: f["op"] == "subscribed"))[-1]
                    frames = await _frames(
                        ws, lambda f: f["op"] == "msg" and f["offset"] >= sub["offset"] + 30
                    )
            finally:
                stop.set()
                await task
                if publisher is not bp:
                    await publisher.close()
            return sub, [f["offset"] for f in frames]

    sub, offsets = asyncio.run(run())
    assert sub["offset"] > 0, "the room was busy before the join"
    assert offsets == list(range(sub["offset"] + 1, sub["offset"] + 31)), "no skip, no repeat, in order"
