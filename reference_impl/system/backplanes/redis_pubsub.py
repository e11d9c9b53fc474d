"""Redis Pub/Sub backplane: at-most-once, no history; a per-room INCR counter gives gap-detecting offsets.

A Lua script increments the room's counter and PUBLISHes atomically, so channel order equals offset
order. The epoch lives in a key beside the counter: a Redis restart without persistence loses both (as
does ``retention`` without a publication), and the next publish starts a new epoch at offset 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from reference_impl.system.backplanes.base import Delivery, new_epoch
from reference_impl.system.backplanes.redis_base import RedisBackplane

log = logging.getLogger(__name__)

_PUBLISH = """
local e = redis.call('GET', KEYS[2])
if not e then e = ARGV[2] end
redis.call('SET', KEYS[2], e, 'PX', ARGV[3])
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', KEYS[3], e .. '|' .. n .. '|' .. ARGV[1])
return {e, n}
"""
_HEAD = """
local e = redis.call('GET', KEYS[2])
if not e then return {'', 0} end
return {e, tonumber(redis.call('GET', KEYS[1]) or '0')}
"""


def split_message(room: str, data: str) -> Delivery:
    """Parse ``EPOCH|OFFSET|PAYLOAD``."""
    epoch, offset, payload = data.split("|", 2)
    return Delivery(room, epoch, int(offset), payload)


class RedisPubSubBackplane(RedisBackplane):
    """One channel per room (``{namespace}:{TOKEN}:channel``); one reader task for all subscriptions."""

    kind = "redis_pubsub"
    durable = False
    publish_script, head_script = _PUBLISH, _HEAD

    def __init__(
        self, url: str = "redis://127.0.0.1:6379/0", namespace: str = "wssim", retention: float = 3600.0
    ) -> None:
        super().__init__(url, namespace, retention)
        self._pubsub = None
        self._lock = asyncio.Lock()
        self._rooms: dict[str, str] = {}  # channel -> room

    def _keys(self, room: str) -> list[str]:
        return [self.key(room, "seq"), self.key(room, "epoch"), self.key(room, "channel")]

    def _connected(self) -> None:
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)

    async def _release(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None

    async def publish(self, room: str, payload: str) -> tuple[str, int]:
        args = [payload, new_epoch(), self.retention_ms]
        epoch, offset = await self._publish(keys=self._keys(room), args=args)
        return epoch, int(offset)

    async def head(self, room: str) -> tuple[str, int]:
        epoch, offset = await self._head(keys=self._keys(room))
        return epoch, int(offset)

    async def _subscribe(self, room: str) -> None:
        assert self._pubsub is not None, "backplane not started"
        # one at a time: concurrent first subscribes would each open a connection of their own and
        # keep only the last, and what was subscribed on the others would never be read
        channel = self._keys(room)[2]
        self._rooms[channel] = room
        async with self._lock:
            await self._pubsub.subscribe(channel)
        self._start_reader()

    async def _unsubscribe(self, room: str) -> None:
        channel = self._keys(room)[2]
        self._rooms.pop(channel, None)
        if self._pubsub is not None:
            await self._pubsub.unsubscribe(channel)

    async def _read(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        while True:
            try:
                if not pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarted or unreachable: reconnect and re-subscribe
                log.warning("redis pubsub reader: %s; retrying", exc)
                await asyncio.sleep(0.2)
                continue
            if message is not None and message["type"] == "message":
                room = self._rooms.get(message["channel"])
                if room is not None:
                    self._deliver(split_message(room, message["data"]))
