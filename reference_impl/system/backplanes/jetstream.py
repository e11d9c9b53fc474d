"""NATS JetStream backplane: a stream per room, offsets = the stream sequence, durable within limits.

Stream ``{namespace}_{token}`` holds subject ``{namespace}.js.{token}`` with ``max_msgs`` / ``max_age``
limits (the replay window), ``token`` being the escaped room name (:func:`room_token`; a digest
beyond 64 characters, since stream names become directory names). ``head`` and ``history`` of a room
without a stream answer "empty" without creating one. The epoch is a random id written into the
stream's description when the stream is created, so a re-created stream (restart without storage,
deletion) has a new epoch. Live delivery uses an ordered push consumer from the head at subscription
(or, re-subscribing after a cut, right after the last message delivered); replay uses an ephemeral
pull consumer from ``after_offset + 1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from reference_impl.system.backplanes.base import Backplane, BackplaneError, Delivery, new_epoch, room_token
from reference_impl.system.backplanes.nats_core import MAX_PUBLISHED_ROOMS, NATS_OPTIONS

log = logging.getLogger(__name__)


class JetStreamBackplane(Backplane):
    kind = "jetstream"
    durable = True

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        namespace: str = "wssim",
        max_messages: int | None = 1000,
        max_age: float | None = None,
    ) -> None:
        super().__init__()
        self.url, self.ns, self.max_messages, self.max_age = url, namespace, max_messages, max_age
        self._nc: Any = None
        self._js: Any = None
        self._epochs: dict[str, str] = {}
        self._subs: dict[str, Any] = {}
        self._last: dict[str, int] = {}  # room -> last stream sequence delivered
        self._resubscribing: asyncio.Task[None] | None = None

    def subject(self, room: str) -> str:
        return f"{self.ns}.js.{room_token(room)}"

    def stream(self, room: str) -> str:
        token = room_token(room)
        if len(token) > 64:  # "_h" never appears in a token (escapes are "_" + hex): no collision
            token = "_h" + hashlib.sha256(room.encode()).hexdigest()[:40]
        return f"{self.ns}_{token}"

    async def start(self) -> None:
        if self._nc is not None:
            return
        try:
            self._nc = await nats.connect(self.url, reconnected_cb=self._reconnected, **NATS_OPTIONS)
            self._js = self._nc.jetstream(timeout=5)
            await self._js.account_info()
        except Exception as exc:
            raise BackplaneError(f"cannot use JetStream at {self.url} (run nats-server -js): {exc}") from exc

    async def close(self) -> None:
        for sub in self._subs.values():
            with contextlib.suppress(Exception):  # the connection may already be gone
                await sub.unsubscribe()
        self._subs.clear()
        if self._nc is not None:
            await self._nc.close()
            self._nc = self._js = None
        self._callbacks.clear()

    async def _ensure(self, room: str, refresh: bool = False) -> str:
        """Create the room's stream if needed; return its epoch."""
        if not refresh and room in self._epochs:
            return self._epochs[room]
        if len(self._epochs) >= MAX_PUBLISHED_ROOMS:
            self._epochs = {r: e for r, e in self._epochs.items() if r in self._callbacks}
        name = self.stream(room)
        try:
            info = await self._js.stream_info(name)
        except NotFoundError:
            config = StreamConfig(
                name=name,
                description=new_epoch(),
                subjects=[self.subject(room)],
                max_msgs=self.max_messages if self.max_messages is not None else -1,
                max_age=self.max_age or 0,
            )
            try:
                info = await self._js.add_stream(config)
            except BadRequestError:  # created concurrently by another gateway
                info = await self._js.stream_info(name)
        self._epochs[room] = info.config.description or name
        return self._epochs[room]

    async def publish(self, room: str, payload: str) -> tuple[str, int]:
        epoch = await self._ensure(room)
        ack = await self._js.publish(self.subject(room), payload.encode())
        return epoch, ack.seq

    async def _info(self, room: str) -> Any:
        """The room's stream info (its epoch noted), or None without creating the stream."""
        try:
            info = await self._js.stream_info(self.stream(room))
        except NotFoundError:
            return None
        self._epochs[room] = info.config.description or self.stream(room)
        return info

    async def head(self, room: str) -> tuple[str, int]:
        info = await self._info(room)
        return ("", 0) if info is None else (self._epochs[room], info.state.last_seq)

    async def history(self, room: str, after_offset: int, limit: int) -> list[Delivery]:
        info = await self._info(room)
        if info is None:
            return []
        epoch = self._epochs[room]
        last = info.state.last_seq
        if limit <= 0 or after_offset >= last or info.state.messages == 0:
            return []
        start = max(after_offset + 1, info.state.first_seq)
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=5.0,
        )
        sub = await self._js.pull_subscribe(self.subject(room), stream=self.stream(room), config=config)
        out: list[Delivery] = []
        try:
            while len(out) < limit:
                want = min(limit - len(out), 1000)
                try:
                    batch = await sub.fetch(want, timeout=1.0)
                except TimeoutError:
                    break
                for msg in batch:
                    seq = msg.metadata.sequence.stream
                    out.append(Delivery(room, epoch, seq, msg.data.decode()))
                    if seq >= last:
                        return out[:limit]
        finally:
            await sub.unsubscribe()
        return out[:limit]

    async def _subscribe(self, room: str, start: int | None = None) -> None:
        """An ordered push consumer from ``start`` (a stream sequence); by default from the stream's head,
        or, re-made after its connection was cut, right after the last message this process was handed
        (nothing published meanwhile is skipped; from 1 if the stream was re-created)."""
        if start is None and room in self._last:
            before = self._epochs.get(room)
            start = self._last[room] + 1 if await self._ensure(room, refresh=True) == before else 1
        elif start is None:  # from the head on: noted, so a cut before any message skips nothing either
            await self._ensure(room, refresh=True)
            self._last[room] = (await self._js.stream_info(self.stream(room))).state.last_seq
            start = self._last[room] + 1
        await self._ensure(room)

        async def on_message(msg: Any) -> None:
            seq = msg.metadata.sequence.stream
            self._last[room] = seq
            self._deliver(Delivery(room, self._epochs.get(room, ""), seq, msg.data.decode()))

        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
        self._subs[room] = await self._js.subscribe(
            self.subject(room),
            stream=self.stream(room),
            cb=on_message,
            ordered_consumer=True,
            pending_msgs_limit=1_000_000,
            pending_bytes_limit=1 << 30,
            config=config,
        )

    async def _reconnected(self) -> None:
        if self._resubscribing is None or self._resubscribing.done():
            self._resubscribing = asyncio.get_running_loop().create_task(self._resubscribe())

    async def _resubscribe(self) -> None:
        """After a reconnect: consumers may be gone (a restarted server); continue after the last
        sequence delivered, or from 1 when the stream was re-created (a new epoch)."""
        for room in list(self._subs):
            old = self._subs.pop(room)
            with contextlib.suppress(Exception):
                await old.unsubscribe()
            for attempt in range(50):
                try:
                    if room in self._callbacks:
                        await self._subscribe(room, None if room in self._last else 1)
                    break
                except Exception as exc:  # JetStream may need a moment after a restart
                    log.warning("jetstream resubscribe %s (attempt %d): %s", room, attempt, exc)
                    await asyncio.sleep(0.2)

    async def _unsubscribe(self, room: str) -> None:
        self._last.pop(room, None)  # no longer of interest: a later subscription starts afresh
        sub = self._subs.pop(room, None)
        if sub is not None:
            await sub.unsubscribe()
