"""Redis Streams backplane: durable within a MAXLEN window; offsets are the stream's own entry ids.

Each room is a stream ``{namespace}:{TOKEN}:stream`` (beside its ``...:epoch`` key; ``TOKEN`` is the
escaped room name); entries are added with id ``0-*`` so Redis assigns the sequence ``0-1, 0-2, ...``
and the offset is that sequence. The epoch is created with the stream: if the stream is gone (restart
without persistence, deletion, ``retention`` without a publication), the next publish makes a new epoch.
Live delivery is one reader task blocking on XREAD over every subscribed stream; replay is XRANGE.
The window is the count ``max_messages`` (MAXLEN, exact) and the age ``max_age``: each entry carries
the server's time of its XADD (field ``t``); a replay leaves out what is older than ``max_age`` at the
moment it is read (as :class:`wssim.policies.ReplayBuffer` does), and each publish deletes the entries
past that age from the front (Redis 7.0 cannot trim these ids by age), so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis

from reference_impl.system.backplanes.base import Delivery, new_epoch
from reference_impl.system.backplanes.redis_base import RedisBackplane

log = logging.getLogger(__name__)

_PUBLISH = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local e
if redis.call('EXISTS', KEYS[1]) == 0 then
  e = ARGV[2]; redis.call('SET', KEYS[2], e)
else
  e = redis.call('GET', KEYS[2])
  if not e then e = ARGV[2]; redis.call('SET', KEYS[2], e) end
end
local id
if ARGV[3] == '' then
  id = redis.call('XADD', KEYS[1], '0-*', 'p', ARGV[1], 't', tostring(t))
else
  id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], '0-*', 'p', ARGV[1], 't', tostring(t))
end
if ARGV[5] ~= '' then
  local cutoff = t - tonumber(ARGV[5])
  while true do
    local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
    if #first == 0 or tonumber(first[1][2][4] or t) >= cutoff then break end
    redis.call('XDEL', KEYS[1], first[1][1])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {e, id}
"""
_HEAD = """
local e = redis.call('GET', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 0 or not e then
  return {e or '', 0}
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then return {e, info[i + 1]} end
end
return {e, 0}
"""


def _seq(entry_id: str | int) -> int:
    return int(str(entry_id).rpartition("-")[2])


class RedisStreamsBackplane(RedisBackplane):
    """Durable, count-bounded replay window; offsets assigned by XADD."""

    kind = "redis_streams"
    durable = True
    publish_script, head_script = _PUBLISH, _HEAD

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        namespace: str = "wssim",
        max_messages: int | None = 1000,
        block_ms: int = 100,
        retention: float = 3600.0,
        max_age: float | None = None,
    ) -> None:
        super().__init__(url, namespace, retention)
        self.max_messages, self.block_ms, self.max_age = max_messages, block_ms, max_age
        self._reader_redis: aioredis.Redis | None = None
        self._cursors: dict[str, str] = {}  # stream key -> last id read
        self._rooms: dict[str, str] = {}  # stream key -> room
        self._epochs: dict[str, str] = {}  # room -> epoch of the last entry read
        self._positions: dict[str, tuple[str, str]] = {}  # room -> (epoch, id) read up to, kept across a cut

    def _keys(self, room: str) -> list[str]:
        return [self.key(room, "stream"), self.key(room, "epoch")]

    def _connected(self) -> None:
        self._reader_redis = self._client()  # XREAD blocks: the reader gets a connection of its own

    async def _release(self) -> None:
        if self._reader_redis is not None:
            await self._reader_redis.aclose()
            self._reader_redis = None
        self._cursors.clear()

    async def publish(self, room: str, payload: str) -> tuple[str, int]:
        maxlen = "" if self.max_messages is None else str(self.max_messages)
        age = "" if self.max_age is None else repr(float(self.max_age))
        args = [payload, new_epoch(), maxlen, self.retention_ms, age]
        epoch, entry_id = await self._publish(keys=self._keys(room), args=args)
        return epoch, _seq(entry_id)

    async def head(self, room: str) -> tuple[str, int]:
        epoch, last = await self._head(keys=self._keys(room))
        return epoch, _seq(last)

    async def history(self, room: str, after_offset: int, limit: int) -> list[Delivery]:
        if limit <= 0:
            return []
        key, epoch_key = self._keys(room)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(epoch_key)
            pipe.xrange(key, f"(0-{after_offset}", "+", count=limit)
            pipe.time()
            epoch, entries, (secs, usecs) = await pipe.execute()
        if self.max_age is not None:  # older than the window now: as good as trimmed
            cutoff = secs + usecs / 1e6 - self.max_age
            entries = [(eid, f) for eid, f in entries if float(f.get("t", cutoff)) >= cutoff]
        return [Delivery(room, epoch or "", _seq(eid), fields["p"]) for eid, fields in entries]

    async def _subscribe(self, room: str) -> None:
        """Read the room from its head; or, re-subscribing after the connection was cut, from where this
        process had read up to (same epoch), so nothing published meanwhile is skipped."""
        key = self._keys(room)[0]
        epoch, last = await self.head(room)
        self._epochs[room] = epoch
        self._rooms[key] = room
        done = self._positions.get(room)
        same = done is not None and done[0] in ("", epoch)  # "": the stream did not exist yet
        self._cursors[key] = done[1] if done is not None and same else f"0-{last}"
        self._positions[room] = (epoch, self._cursors[key])
        self._start_reader()

    async def _unsubscribe(self, room: str) -> None:
        key = self._keys(room)[0]
        self._cursors.pop(key, None)
        self._rooms.pop(key, None)
        self._positions.pop(room, None)  # no longer of interest: a later subscription starts afresh

    async def _epoch(self, room: str) -> str:
        epoch = await self.redis.get(self._keys(room)[1])
        self._epochs[room] = epoch or ""
        return self._epochs[room]

    async def _check_epochs(self) -> None:
        """A stream re-created under us (restart without persistence) is read again from its start."""
        rooms = list(self._rooms.items())
        if not rooms:
            return
        epochs = await self.redis.mget([self._keys(room)[1] for _, room in rooms])
        for (key, room), epoch in zip(rooms, epochs, strict=True):
            epoch = epoch or ""
            old = self._epochs.get(room, "")
            if epoch != old:
                if old and key in self._cursors:
                    self._cursors[key] = "0-0"
                self._epochs[room] = epoch

    async def _read(self) -> None:
        client = self._reader_redis
        assert client is not None
        checked = time.monotonic()
        while True:
            if not self._cursors:
                await asyncio.sleep(self.block_ms / 1000)
                continue
            try:
                if time.monotonic() - checked > 1.0:
                    checked = time.monotonic()
                    await self._check_epochs()
                streams = dict(self._cursors)
                reply = await client.xread(streams, count=1000, block=self.block_ms)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarted or unreachable: retry, then re-check epochs
                log.warning("redis streams reader: %s; retrying", exc)
                await asyncio.sleep(0.2)
                checked = 0.0
                continue
            for key, entries in reply or ():
                room = self._rooms.get(key)
                if room is None or key not in self._cursors:
                    continue
                last = _seq(self._cursors[key])
                epoch = self._epochs.get(room) or await self._epoch(room)
                if entries and _seq(entries[0][0]) == 1 and last > 0:
                    epoch = await self._epoch(room)
                for entry_id, fields in entries:
                    self._deliver(Delivery(room, epoch, _seq(entry_id), fields["p"]))
                self._cursors[key] = entries[-1][0]
                if entries:
                    self._positions[room] = (epoch, entries[-1][0])
