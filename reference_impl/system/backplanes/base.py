"""The backplane interface every gateway talks to, whatever carries the messages.

A backplane assigns each published message an ``(epoch, offset)``: offsets grow by one per room within
an epoch, and a fresh stream (restart, history lost) gets a new epoch, so a resume cursor from another
epoch is answered with a resync. Durable kinds also serve :meth:`Backplane.history`.
"""

from __future__ import annotations

import abc
import secrets
from collections.abc import Callable
from dataclasses import dataclass


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
