"""NATS core backplane: at-most-once subject fan-out, no history.

NATS core assigns no sequence, and a publishing gateway cannot know the global order of a room, so
the offset is a per-publisher counter per room and the epoch is the publisher's id. A client can
detect a gap only among the messages of one publisher (``ordered = False``); every resume is a resync.
Subjects are ``{namespace}.room.{room_token(room)}``: any room name is one escaped subject token.
"""

from __future__ import annotations

import logging
from typing import Any

import nats

from reference_impl.system.backplanes.base import Backplane, BackplaneError, Delivery, new_epoch, room_token

log = logging.getLogger(__name__)
MAX_PUBLISHED_ROOMS = 100_000  # per-room counters a publisher keeps before it starts a new epoch


async def _log_error(exc: Exception) -> None:
    log.warning("nats: %s", exc)


async def _log_disconnect() -> None:
    log.info("nats: disconnected (reconnecting unless closed)")


NATS_OPTIONS = dict(
    connect_timeout=2,
    max_reconnect_attempts=-1,
    reconnect_time_wait=0.2,
    error_cb=_log_error,
    disconnected_cb=_log_disconnect,
)


class NatsCoreBackplane(Backplane):
    kind = "nats"
    durable = False
    ordered = False

    def __init__(self, url: str = "nats://127.0.0.1:4222", namespace: str = "wssim") -> None:
        super().__init__()
        self.url, self.ns = url, namespace
        self.epoch = new_epoch()  # this publisher's id
        self._nc: Any = None
        self._subs: dict[str, Any] = {}
        self._seq: dict[str, int] = {}

    def subject(self, room: str) -> str:
        return f"{self.ns}.room.{room_token(room)}"

    async def start(self) -> None:
        if self._nc is not None:
            return
        try:
            self._nc = await nats.connect(self.url, **NATS_OPTIONS)
        except Exception as exc:
            raise BackplaneError(f"cannot reach NATS at {self.url}: {exc}") from exc

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = None
        self._subs.clear()
        self._callbacks.clear()

    async def publish(self, room: str, payload: str) -> tuple[str, int]:
        if room not in self._seq and len(self._seq) >= MAX_PUBLISHED_ROOMS:
            self.epoch, self._seq = new_epoch(), {}  # bounded memory: counters start again, new epoch
        offset = self._seq[room] = self._seq.get(room, 0) + 1
        await self._nc.publish(self.subject(room), f"{self.epoch}|{offset}|{payload}".encode())
        return self.epoch, offset

    async def head(self, room: str) -> tuple[str, int]:
        return self.epoch, self._seq.get(room, 0)

    async def _subscribe(self, room: str) -> None:
        async def on_message(msg: Any) -> None:
            epoch, offset, payload = msg.data.decode().split("|", 2)
            self._deliver(Delivery(room, epoch, int(offset), payload))

        self._subs[room] = await self._nc.subscribe(
            self.subject(room), cb=on_message, pending_msgs_limit=1_000_000, pending_bytes_limit=1 << 30
        )

    async def _unsubscribe(self, room: str) -> None:
        sub = self._subs.pop(room, None)
        if sub is not None:
            await sub.unsubscribe()
