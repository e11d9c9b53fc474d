"""A backplane server restarts under a subscribed gateway: delivery resumes; the epoch says what was lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from reference_impl.system.backplanes import Delivery, make_backplane

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]

# kind -> (epoch changes, offsets restart at 1): Redis runs without persistence here, JetStream with
# file storage; NATS core's epoch is the publisher's id, which a server restart does not change.
EXPECTED = {
    "redis_pubsub": (True, True),
    "redis_streams": (True, True),
    "nats": (False, False),
    "jetstream": (False, False),
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_delivery_resumes_after_a_server_restart(kind: str, private_server: Callable) -> None:  # type: ignore[type-arg]
    server = private_server(kind)

    async def run() -> tuple[list[Delivery], list[Delivery]]:
        pub = make_backplane(kind, server.url, namespace="rs")
        sub = make_backplane(kind, server.url, namespace="rs")
        await pub.start()
        await sub.start()
        got: list[Delivery] = []
        try:
            await sub.subscribe("r", got.append)
            await asyncio.sleep(0.3)
            for _ in range(3):
                await pub.publish("r", "{}")
            for _ in range(100):
                if len(got) == 3:
                    break
                await asyncio.sleep(0.02)
            before = list(got)
            await asyncio.to_thread(server.restart)
            for _ in range(40):  # bounded: at most ~10 s of retries
                try:
                    await pub.publish("r", "{}")
                except Exception:  # the publisher's connection is still coming back
                    await asyncio.sleep(0.25)
                    continue
                await asyncio.sleep(0.25)
                if len(got) > 3:
                    break
            return before, got[3:]
        finally:
            await pub.close()
            await sub.close()

    before, after = asyncio.run(run())
    assert [d.offset for d in before] == [1, 2, 3]
    assert after, "no delivery after the restart"
    new_epoch, restart_at_one = EXPECTED[kind]
    assert (after[0].epoch != before[0].epoch) == new_epoch
    if restart_at_one:
        assert after[0].offset == 1
    else:
        assert after[0].offset >= 4
