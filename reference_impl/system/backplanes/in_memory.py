"""A single-process backplane: rooms fan out to local callbacks; history kept in a ReplayBuffer.

A room exists once it is published to or subscribed; it is freed (history, offsets, epoch) when it
has no subscriber and no publication for ``retention`` seconds (:meth:`InMemoryBackplane.sweep`).
Reads of a room that does not exist answer "empty" and create nothing.
"""

from __future__ import annotations

import time

from reference_impl.system.backplanes.base import DEFAULT_RETENTION, Backplane, Delivery
from wssim.policies import ReplayBuffer


class _Room:
    __slots__ = ("buffer", "last", "touched")

    def __init__(self, buffer: ReplayBuffer, now: float) -> None:
        self.buffer = buffer
        self.last = 0  # last offset assigned
        self.touched = now  # last publication or subscription


class InMemoryBackplane(Backplane):
    """Offsets per room from a counter; the retention window is the shared :class:`ReplayBuffer` policy."""

    kind = "in_memory"
    durable = True

    def __init__(
        self,
        max_messages: int | None = 1000,
        max_age: float | None = None,
        retention: float = DEFAULT_RETENTION,
    ) -> None:
        super().__init__()
        self._max_messages = max_messages
        self._max_age = max_age
        self.retention = retention
        self._rooms: dict[str, _Room] = {}

    def _room(self, room: str) -> _Room:
        now = time.monotonic()
        state = self._rooms.get(room)
        if state is None:
            state = self._rooms[room] = _Room(ReplayBuffer(self._max_messages, self._max_age), now)
        state.touched = now
        return state

    async def publish(self, room: str, payload: str) -> tuple[str, int]:
        state = self._room(room)
        state.last += 1
        buffer = state.buffer
        delivery = Delivery(room, buffer.epoch, state.last, payload)
        buffer.append(state.last, state.touched, delivery)
        self._deliver(delivery)
        return buffer.epoch, state.last

    async def close(self) -> None:
        self._callbacks.clear()  # history stays: this process is the backplane

    async def _subscribe(self, room: str) -> None:
        self._room(room)

    async def _unsubscribe(self, room: str) -> None:
        state = self._rooms.get(room)
        if state is not None:
            state.touched = time.monotonic()  # retention counts from the last member's leave

    async def head(self, room: str) -> tuple[str, int]:
        state = self._rooms.get(room)
        return ("", 0) if state is None else (state.buffer.epoch, state.last)

    async def history(self, room: str, after_offset: int, limit: int) -> list[Delivery]:
        state = self._rooms.get(room)
        if state is None:
            return []
        buffer = state.buffer
        buffer.expire(time.monotonic())
        held_from = max(after_offset, buffer.evicted_upto or 0)  # what fell out is simply absent
        replay = buffer.since(held_from, time.monotonic())
        return list(replay.items[:limit]) if replay.ok else []

    def sweep(self, now: float) -> None:
        horizon = now - self.retention
        idle = [r for r, s in self._rooms.items() if s.touched < horizon and r not in self._callbacks]
        for room in idle:
            del self._rooms[room]

    def rooms(self) -> int:
        """Rooms held now."""
        return len(self._rooms)

    def restart(self) -> None:
        """Lose every room's history (a new epoch), as a restarted non-persistent server would."""
        for state in self._rooms.values():
            state.buffer.reset()
            state.last = 0
