"""Frame size limit (1009), graceful drain (1001, also on SIGTERM), dead-peer reclaim by ping timeout."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import pytest
from live_helpers import raw_connect, running_gateway, ws_uri
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from reference_impl.system import protocol
from reference_impl.system.backplanes import make_backplane

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]


def test_a_frame_over_the_limit_closes_with_1009() -> None:
    async def run() -> None:
        async with running_gateway(make_backplane("in_memory"), max_message_size=1024) as gw:
            async with connect(ws_uri(gw.port), proxy=None, max_size=None) as ws:
                await ws.send(protocol.encode(protocol.publish("r", "ok", 0.0, "x" * 500)))
                await ws.send("x" * 2048)
                with pytest.raises(ConnectionClosed) as info:
                    await asyncio.wait_for(ws.recv(), 5)
                assert info.value.rcvd is not None and info.value.rcvd.code == protocol.CLOSE_TOO_BIG
            assert gw.metrics.value("messages_published") == 1

    asyncio.run(run())


def test_drain_closes_every_connection_with_1001_and_refuses_new_ones() -> None:
    async def run() -> None:
        async with running_gateway(make_backplane("in_memory")) as gw:
            clients = [await connect(ws_uri(gw.port), proxy=None) for _ in range(5)]
            await gw.drain(timeout=5)
            for ws in clients:
                await asyncio.wait_for(ws.wait_closed(), 5)
                assert ws.close_code == protocol.CLOSE_GOING_AWAY
            assert gw.metrics.connections == 0

    asyncio.run(run())


def test_sigterm_drains_a_gateway_process(gateway_process) -> None:  # type: ignore[no-untyped-def]
    gp = gateway_process("--backplane", "in_memory")

    async def run() -> None:
        clients = [await connect(ws_uri(gp.port), proxy=None) for _ in range(3)]
        t0 = time.monotonic()
        gp.proc.send_signal(15)
        for ws in clients:
            await asyncio.wait_for(ws.wait_closed(), 10)
            assert ws.close_code == protocol.CLOSE_GOING_AWAY
        assert time.monotonic() - t0 < 10

    asyncio.run(run())
    assert gp.proc.wait(10) == 0


def test_a_peer_that_never_answers_pings_is_reclaimed() -> None:
    async def run() -> None:
        # Keepalive(0.2) -> dead 0.4 s after the last pong; websockets pings every 0.2 s
        async with running_gateway(make_backplane("in_memory"), ping_interval=0.2) as gw:
            silent = await asyncio.to_thread(raw_connect, gw.port)  # completes the upgrade, then is mute
            async with connect(ws_uri(gw.port), proxy=None) as healthy:  # answers pings by itself
                for _ in range(50):
                    await asyncio.sleep(0.1)
                    if gw.metrics.connections == 1:
                        break
                assert gw.metrics.connections == 1, "the mute peer was not reclaimed"
                await asyncio.sleep(0.6)
                assert gw.metrics.connections == 1 and healthy.close_code is None
            silent.close()

    asyncio.run(run())


def test_sigusr1_cuts_the_backplane_and_sigusr2_restores_it(  # type: ignore[no-untyped-def]
    gateway_process, redis_url: str, namespace: str
) -> None:
    gp = gateway_process("--backplane", "redis_pubsub", "--redis-url", redis_url, "--namespace", namespace)

    async def run() -> list[int]:
        pub = make_backplane("redis_pubsub", redis_url, namespace=namespace)
        await pub.start()
        offsets: list[int] = []

        async def publish_until_seen(deadline: float) -> bool:
            seen = len(offsets)
            while time.monotonic() < deadline:
                await pub.publish("r", '{"id":"x","ts":0,"body":""}')
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 0.3))
                    offsets.append(frame["offset"])
                except TimeoutError:
                    continue
                return len(offsets) > seen
            return False

        try:
            async with connect(ws_uri(gp.port), proxy=None) as ws:
                await ws.send(protocol.encode(protocol.subscribe(["r"])))
                assert json.loads(await ws.recv())["op"] == "subscribed"
                assert await publish_until_seen(time.monotonic() + 5)
                gp.proc.send_signal(signal.SIGUSR1)
                await asyncio.sleep(0.5)
                assert not await publish_until_seen(time.monotonic() + 1.0), "delivered during the cut"
                gp.proc.send_signal(signal.SIGUSR2)
                assert await publish_until_seen(time.monotonic() + 5)
        finally:
            await pub.close()
        return offsets

    offsets = asyncio.run(run())
    assert offsets[0] == 1 and offsets[1] > 2, "the messages published during the cut are a visible gap"
