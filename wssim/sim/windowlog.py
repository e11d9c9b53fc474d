"""Every room's replay window, kept as columns per step: the batched path appends no message one by one.

The exact path holds a :class:`wssim.policies.ReplayBuffer` per room and appends each publication to
it. At 166,000 publications a second that append is most of a step's cost, while a window is read
only when a client resumes or a gateway catches up. :class:`WindowLog` keeps the same windows as
arrays and answers the same questions, with the same rule (:func:`wssim.policies.resume_decision`):

==========================  ===================================================================
what it holds               how
==========================  ===================================================================
publications of a step      one *chunk*: times sorted by (room, offset); per room of the chunk its
                            first offset, where its times start and the room's previous chunk
the current step's exact    a dict room -> (first offset, times), made a chunk with the next step's
publications               bulk ones
the window of a room        offsets ``>= max(first of epoch, head - max_messages + 1)`` whose time
                            is ``>= max(time of head, now) - max_age``, as after appending one by one
a publication's time        found by walking the room's chunks back from its newest
==========================  ===================================================================

Invariants: a room's offsets are contiguous and its times do not decrease (one counter per room, FIFO
per room), so a window is a suffix of offsets and "is offset o held" is two comparisons and one time.
Chunks older than ``max_age`` are dropped: nothing in them can be held. Only windows bounded by age
are kept this way (an unbounded one would keep every publication of the run).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from wssim.policies import resume_decision


@dataclass(slots=True)
class Chunk:
    """One step's publications: per room ``rooms[j]`` (sorted) its times ``t[at[j]:at[j+1]]`` for
    offsets from ``first[j]``, and the id of the room's previous chunk (``prev[j]``, -1: none)."""

    rooms: np.ndarray
    at: np.ndarray
    first: np.ndarray
    prev: np.ndarray
    t: np.ndarray
    newest: float


class WindowLog:
    """The replay windows of ``rooms`` rooms, bounded by ``max_messages`` (or None) and ``max_age``."""

    def __init__(
        self, last: np.ndarray, max_messages: int | None, max_age: float, max_per_resume: int | None
    ) -> None:
        self.last = last  # the last offset of each room (shared with History)
        self.max_messages, self.max_age, self.max_per_resume = max_messages, max_age, max_per_resume
        rooms = len(last)
        self.last_t = np.full(rooms, -np.inf)  # publish time of each room's last offset
        self.epoch_first = np.ones(rooms, dtype=np.int64)  # first offset of the current epoch
        self.newest = np.full(rooms, -1, dtype=np.int32)  # id of each room's newest chunk
        self.chunks: deque[Chunk] = deque()
        self.base = 0  # id of chunks[0]
        self.current: dict[int, tuple[int, list[float]]] = {}

    # -- writing --------------------------------------------------------------------------------
    def add(self, room: int, offset: int, t: float) -> None:
        """One exact-path publication (offsets of a room arrive in order)."""
        entry = self.current.get(room)
        if entry is None:
            self.current[room] = (offset, [t])
        else:
            entry[1].append(t)
        self.last_t[room] = t

    def add_many(self, rooms: np.ndarray, offsets: np.ndarray, times: np.ndarray, now: float) -> None:
        """A step's bulk publications (offsets after every earlier one of their rooms), made one chunk
        with the exact ones held since the last step; chunks too old to hold anything are dropped."""
        if self.current:
            rooms, offsets, times = self._with_current(rooms, offsets, times)
        if len(rooms):
            self._chunk(rooms, offsets, times)
        horizon = now - self.max_age
        while self.chunks and self.chunks[0].newest < horizon:
            self.chunks.popleft()
            self.base += 1

    def _with_current(
        self, rooms: np.ndarray, offsets: np.ndarray, times: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r, o, t = [rooms], [offsets], [times]
        for room, (first, ts) in self.current.items():
            r.append(np.full(len(ts), room, dtype=np.int64))
            o.append(np.arange(first, first + len(ts), dtype=np.int64))
            t.append(np.asarray(ts))
        self.current = {}
        return np.concatenate(r), np.concatenate(o), np.concatenate(t)

    def _chunk(self, rooms: np.ndarray, offsets: np.ndarray, times: np.ndarray) -> None:
        order = np.lexsort((offsets, rooms))
        rs, os, ts = rooms[order], offsets[order], times[order]
        head = np.r_[True, rs[1:] != rs[:-1]]
        starts = np.flatnonzero(head)
        u = rs[starts]
        cid = self.base + len(self.chunks)
        at = np.r_[starts, len(rs)].astype(np.int32)
        self.chunks.append(Chunk(u.astype(np.int32), at, os[starts], self.newest[u], ts, float(ts.max())))
        self.newest[u] = cid
        ends = np.r_[starts[1:], len(rs)] - 1
        self.last_t[u] = np.maximum(self.last_t[u], ts[ends])

    def lose(self) -> None:
        """History lost: every room's window starts after its last offset."""
        self.epoch_first[:] = self.last + 1
        self.current = {}

    # -- reading --------------------------------------------------------------------------------
    def time_of(self, room: int, offset: int) -> float | None:
        """When ``offset`` of ``room`` was published, or None if no chunk kept holds it."""
        entry = self.current.get(room)
        if entry is not None and offset >= entry[0]:
            return entry[1][offset - entry[0]]
        cid = int(self.newest[room])
        while cid >= self.base:
            c = self.chunks[cid - self.base]
            j = int(np.searchsorted(c.rooms, room))
            first = int(c.first[j])
            if offset >= first:
                return float(c.t[int(c.at[j]) + offset - first])
            cid = int(c.prev[j])
        return None

    def held(self, room: int, offset: int, now: float) -> bool:
        """Whether ``offset`` of ``room`` is in its window at ``now``."""
        head = int(self.last[room])
        if offset > head or offset < self.epoch_first[room]:
            return False
        if self.max_messages is not None and offset <= head - self.max_messages:
            return False
        t = self.time_of(room, offset)
        return t is not None and t >= max(float(self.last_t[room]), now) - self.max_age

    def resume(self, room: int, same_epoch: bool, cursor: int, now: float) -> tuple[bool, int]:
        """(served, messages replayed) for a cursor seen in the room's current epoch (or not)."""
        head = int(self.last[room])
        lost = cursor if cursor >= head or self.held(room, cursor + 1, now) else head
        why = resume_decision(same_epoch, cursor, True, head or None, lost, self.max_per_resume)
        return (not why, max(head - cursor, 0) if not why else 0)

    def replay(self, room: int, cursor: int, now: float) -> list[float] | None:
        """Publish times of the offsets after ``cursor``, or None (resync)."""
        ok, n = self.resume(room, True, cursor, now)
        if not ok:
            return None
        return [self.time_of(room, o) for o in range(cursor + 1, cursor + n + 1)]  # type: ignore[misc]
