"""A single-process backplane: rooms fan out to local callbacks; history kept in a ReplayBuffer."""

from __future__ import annotations

import time

from reference_impl.system.backplanes.base import Backplane, Delivery
from wssim.policies import ReplayBuffer


class InMemoryBackplane(Backplane):
    """Offsets per room from a counter; the retention window is the shared :class:`ReplayBuffer` policy."""

    kind = "in_memory"
    durable = True

    def __init__(self, max_messages: int | None = 1000, max_age: float | None = None) -> None:
        super().__init__()
        self._max_messages = max_messages
        self._max_age = max_age
        self._rooms: dict[str, tuple[ReplayBuffer, list[int]]] = {}

    def _room(self, room: str) -> tuple[ReplayBuffer, list[int]]:
        state = self._rooms.get(room)
        if state is None:
            state = self._rooms[room] = (ReplayBuffer(self._max_messages, self._max_age), [0])
        return state

    async def publish(self, room: str, payload: str) -> tuple[str, int]:
        buffer, counter = self._room(room)
        counter[0] += 1
        offset = counter[0]
        delivery = Delivery(room, buffer.epoch, offset, payload)
        buffer.append(offset, time.monotonic(), delivery)
        self._deliver(delivery)
        return buffer.epoch, offset

    async def close(self) -> None:
        self._callbacks.clear()  # history stays: this process is the backplane

    async def _subscribe(self, room: str) -> None:
        self._room(room)

    async def _unsubscribe(self, room: str) -> None:
        return None

    async def head(self, room: str) -> tuple[str, int]:
        buffer, counter = self._room(room)
        return buffer.epoch, counter[0]

    async def history(self, room: str, after_offset: int, limit: int) -> list[Delivery]:
        buffer, _ = self._room(room)
        buffer.expire(time.monotonic())
        held_from = max(after_offset, buffer.evicted_upto or 0)  # what fell out is simply absent
        replay = buffer.since(held_from, time.monotonic())
        return list(replay.items[:limit]) if replay.ok else []

    def restart(self) -> None:
        """Lose every room's history (a new epoch), as a restarted non-persistent server would."""
        for buffer, counter in self._rooms.values():
            buffer.reset()
            counter[0] = 0
