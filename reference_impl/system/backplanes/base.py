"""The backplane interface every gateway talks to, whatever carries the messages.

A backplane assigns each published message an ``(epoch, offset)``: offsets grow by one per room within
an epoch, and a fresh stream (restart, history lost) gets a new epoch, so a resume cursor from another
epoch is answered with a resync. Durable kinds also serve :meth:`Backplane.history`.

Room names are user data: every backplane builds its keys, subjects and stream names from
:func:`room_token`, an injective escaping into ``[A-Za-z0-9_-]``, so no room can reach another room's
data or metadata (room ``X:epoch`` is not room ``X``'s epoch key). Reads (``head``, ``history``) never
create state; what a room holds is freed once it has been idle for ``retention`` seconds.
"""

from __future__ import annotations

import abc
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")
_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]*@")
DEFAULT_RETENTION = 3600.0


def room_token(room: str) -> str:
    """``room`` as one token of ``[A-Za-z0-9_-]``: every other character (``_`` included) becomes its
    UTF-8 bytes as ``_XX`` (upper-case hex), so distinct rooms give distinct tokens, none holding
    ``:``, ``.``, ``*``, ``>``, ``%``, braces or spaces (JetStream refuses some of those in names)."""
    return _UNSAFE.sub(lambda m: "".join(f"_{b:02X}" for b in m.group().encode()), room)


def redact_url(text: str) -> str:
    """``text`` with the credentials of every URL in it (``redis://:password@host``) removed."""
    return _CREDENTIALS.sub(r"\1[redacted]@", text)


@dataclass(slots=True, frozen=True)
class Delivery:
    """One message as the backplane hands it to a gateway; ``payload`` is an opaque JSON object text."""

    room: str
    epoch: str
    offset: int
    payload: str


Callback = Callable[[Delivery], None]


class BackplaneError(RuntimeError):
    """The backplane cannot do what was asked (unreachable, not durable, bad room name)."""


def new_epoch() -> str:
    """A fresh random epoch id."""
    return secrets.token_hex(6)


class Backplane(abc.ABC):
    """Publish to rooms, subscribe a callback to rooms, and (durable kinds) read a room's history."""

    kind: str = "abstract"
    durable: bool = False
    #: True when offsets are global per room (gaps are detectable by every client)
    ordered: bool = True

    def __init__(self) -> None:
        self._callbacks: dict[str, Callback] = {}

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect; idempotent."""

    def sweep(self, now: float) -> None:  # noqa: B027 - optional hook
        """Free the rooms idle past their retention (``now``: ``time.monotonic()``); servers that
        expire keys themselves need nothing here."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Disconnect and release every subscription."""

    @abc.abstractmethod
    async def publish(self, room: str, payload: str) -> tuple[str, int]:
        """Publish ``payload`` to ``room``; return the ``(epoch, offset)`` the backplane assigned."""

    @abc.abstractmethod
    async def _subscribe(self, room: str) -> None: ...

    @abc.abstractmethod
    async def _unsubscribe(self, room: str) -> None: ...

    async def subscribe(self, room: str, callback: Callback) -> None:
        """Deliver every later message of ``room`` to ``callback`` (one callback per room)."""
        first = room not in self._callbacks
        self._callbacks[room] = callback
        if first:
            try:
                await self._subscribe(room)
            except BaseException:
                self._callbacks.pop(room, None)  # not subscribed: the next attempt subscribes again
                raise

    async def unsubscribe(self, room: str) -> None:
        if self._callbacks.pop(room, None) is not None:
            await self._unsubscribe(room)

    def subscribed(self) -> set[str]:
        return set(self._callbacks)

    def _deliver(self, delivery: Delivery) -> None:
        callback = self._callbacks.get(delivery.room)
        if callback is not None:
            callback(delivery)

    @abc.abstractmethod
    async def head(self, room: str) -> tuple[str, int]:
        """The room's current ``(epoch, last offset)``; offset 0 when nothing was published yet."""

    async def history(self, room: str, after_offset: int, limit: int) -> list[Delivery]:
        """Up to ``limit`` messages of ``room`` with offset > ``after_offset``, oldest first.

        Messages that fell out of the retention window are simply absent: the caller checks that the
        first offset is ``after_offset + 1``.
        """
        raise BackplaneError(f"the {self.kind} backplane keeps no history")
