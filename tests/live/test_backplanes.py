"""Every backplane against its real server: offsets, epochs, fan-out, history windows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from reference_impl.system.backplanes import KINDS, Backplane, BackplaneError, Delivery, make_backplane

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]
DURABLE = ("in_memory", "redis_streams", "jetstream")


async def _open(kind: str, url: str | None, namespace: str, **kw: object) -> Backplane:
    bp = make_backplane(kind, url, namespace=namespace, **kw)  # type: ignore[arg-type]
    await bp.start()
    return bp


async def _wait(got: list[Delivery], n: int, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if len(got) >= n:
            return
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("kind", KINDS)
def test_publish_assigns_offsets_and_fans_out_in_order(
    kind: str, backplane_url: Callable[[str], str | None], namespace: str
) -> None:
    async def run() -> None:
        pub = await _open(kind, backplane_url(kind), namespace)
        sub = pub if kind == "in_memory" else await _open(kind, backplane_url(kind), namespace)
        got: list[Delivery] = []
        try:
            await sub.subscribe("room1", got.append)
            await asyncio.sleep(0.2)  # let the subscription reach the server
            acks = [await pub.publish("room1", f'{{"n":{i}}}') for i in range(20)]
            await _wait(got, 20)
            assert [a[1] for a in acks] == list(range(1, 21))
            assert len({a[0] for a in acks}) == 1
            assert [(d.epoch, d.offset) for d in got] == acks
            assert [d.payload for d in got] == [f'{{"n":{i}}}' for i in range(20)]
            assert (await pub.head("room1")) == acks[-1]
            await sub.unsubscribe("room1")
            await asyncio.sleep(0.2)
            await pub.publish("room1", "{}")
            await asyncio.sleep(0.3)
            assert len(got) == 20, "no delivery after unsubscribe"
        finally:
            await pub.close()
            if sub is not pub:
                await sub.close()

    asyncio.run(run())


@pytest.mark.parametrize("kind", DURABLE)
def test_history_is_exact_and_bounded_by_the_window(
    kind: str, backplane_url: Callable[[str], str | None], namespace: str
) -> None:
    async def run() -> None:
        bp = await _open(kind, backplane_url(kind), namespace, max_messages=10)
        try:
            for i in range(25):
                await bp.publish("r", f'{{"n":{i}}}')
            epoch, last = await bp.head("r")
            assert last == 25
            tail = await bp.history("r", 20, 100)
            assert [d.offset for d in tail] == [21, 22, 23, 24, 25]
            assert tail[0].payload == '{"n":20}' and all(d.epoch == epoch for d in tail)
            assert [d.offset for d in await bp.history("r", 20, 2)] == [21, 22]
            # offsets 1..15 fell out of the 10-message window: history starts after the gap
            assert [d.offset for d in await bp.history("r", 3, 100)] == list(range(16, 26))
            assert await bp.history("r", 25, 10) == []
        finally:
            await bp.close()

    asyncio.run(run())


@pytest.mark.parametrize("kind", ("redis_streams", "jetstream"))
def test_a_fresh_stream_gets_a_new_epoch(
    kind: str, backplane_url: Callable[[str], str | None], namespace: str
) -> None:
    async def run() -> None:
        bp = await _open(kind, backplane_url(kind), namespace)
        try:
            old_epoch, _ = await bp.publish("r", "{}")
            await bp.publish("r", "{}")
            if kind == "redis_streams":
                await bp.redis.delete(bp.key("r", "stream"))  # type: ignore[attr-defined]
            else:
                await bp._js.delete_stream(bp.stream("r"))  # type: ignore[attr-defined]
                bp._epochs.clear()  # type: ignore[attr-defined]
            new_epoch, offset = await bp.publish("r", "{}")
            assert new_epoch != old_epoch and offset == 1
            assert (await bp.head("r")) == (new_epoch, 1)
        finally:
            await bp.close()

    asyncio.run(run())


@pytest.mark.parametrize("kind", ("redis_pubsub", "nats"))
def test_pubsub_kinds_keep_no_history(
    kind: str, backplane_url: Callable[[str], str | None], namespace: str
) -> None:
    async def run() -> None:
        bp = await _open(kind, backplane_url(kind), namespace)
        try:
            await bp.publish("r", "{}")
            assert not bp.durable
            with pytest.raises(BackplaneError, match="no history"):
                await bp.history("r", 0, 10)
        finally:
            await bp.close()

    asyncio.run(run())


def test_unknown_kind_names_the_choices() -> None:
    with pytest.raises(BackplaneError, match="simulator only"):
        make_backplane("kafka")


@pytest.mark.parametrize("kind", ["redis_streams", "jetstream"])
def test_a_durable_subscription_remade_after_a_cut_continues_where_it_left_off(
    kind: str, backplane_url: Callable[[str], str | None], namespace: str
) -> None:
    """A gateway cut from its backplane (a subscription outage) and reconnected must not skip what was
    published meanwhile, even when nothing is published after: the simulator's durable backplanes
    let the gateway catch up from its cursor (live, 126 messages of a crosscheck were lost)."""

    async def run() -> None:
        pub = await _open(kind, backplane_url(kind), namespace)
        sub = await _open(kind, backplane_url(kind), namespace)
        got: list[Delivery] = []
        try:
            await sub.subscribe("r", got.append)
            await asyncio.sleep(0.2)
            for expected in ([1, 2], [1, 2, 3, 4]):  # cut before any message, then after some
                await sub.close()  # the cut
                for _ in range(2):
                    await pub.publish("r", "{}")
                await sub.start()  # restored: every room with members is subscribed again
                await sub.subscribe("r", got.append)
                await _wait(got, len(expected))
                assert [d.offset for d in got] == expected
            await sub.unsubscribe("r")  # no longer of interest: a later subscription starts at the head
            await pub.publish("r", "{}")
            await sub.subscribe("r", got.append)
            await asyncio.sleep(0.2)
            await pub.publish("r", "{}")
            await _wait(got, 5)
            assert [d.offset for d in got] == [1, 2, 3, 4, 6]
        finally:
            await pub.close()
            await sub.close()

    asyncio.run(run())


@pytest.mark.parametrize("kind", DURABLE)
def test_history_leaves_out_what_is_older_than_the_age_window(
    kind: str, backplane_url: Callable[[str], str | None], namespace: str
) -> None:
    """An age-bounded window replays only what is younger than max_age (Redis Streams ignored it)."""

    async def run() -> None:
        bp = await _open(kind, backplane_url(kind), namespace, max_messages=None, max_age=1.0)
        try:
            for _ in range(3):
                await bp.publish("aged", "{}")
            await asyncio.sleep(1.3)
            for _ in range(2):
                await bp.publish("aged", "{}")
            assert [d.offset for d in await bp.history("aged", 0, 100)] == [4, 5]
            assert (await bp.head("aged"))[1] == 5
        finally:
            await bp.close()

    asyncio.run(run())
