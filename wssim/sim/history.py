"""Per-room streams: offsets, an epoch, and the replay window clients resume from.

Every room is one stream. A publication gets the next offset of its room (offsets start at 1; a
cursor of 0 means "nothing seen"). The backplane kind decides what is kept: at-most-once kinds
(``none``, ``redis_pubsub``, ``nats``) keep nothing, so any gap forces a resync; the others keep a
bounded window (:class:`wssim.policies.ReplayBuffer`). When history is lost (a non-durable backplane
restarts) the room gets a new epoch, and a cursor from the old epoch is answered with resync: a
resume is all-or-nothing, recovered or resync. On the batched path a window bounded by age is kept as
columns per step (:class:`wssim.sim.windowlog.WindowLog`), with the same answers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wssim.policies import ReplayBuffer
from wssim.sim.servers import FifoServer
from wssim.sim.tables import shared
from wssim.sim.windowlog import WindowLog

KEEPS_HISTORY = {
    "none": False,
    "in_memory": True,
    "redis_pubsub": False,
    "redis_streams": True,
    "nats": False,
    "jetstream": True,
    "kafka": True,
    "managed": True,
}
DURABLE = {"jetstream", "kafka", "managed"}  # history survives a backplane restart


class History:
    """Offsets and replay buffers of every room."""

    def __init__(self, world: Any, batched: bool = False) -> None:
        cfg = world.cfg
        self.world = world
        self.kind = cfg.backplane.kind
        self.keeps = KEEPS_HISTORY[self.kind]
        self.durable = self.kind in DURABLE
        rp = cfg.backplane.replay
        self._limits = (rp.max_messages, rp.max_age, rp.max_per_resume) if self.keeps else (0, None, None)
        self.epoch = [0] * world.rooms  # generation of each room's history
        self.last_np, self.last = shared(world.rooms, np.int64)  # last offset published per room
        self._buffers: dict[int, ReplayBuffer] = {}
        columns = batched and self.keeps and rp.max_age is not None
        self.log = WindowLog(self.last_np, *self._limits) if columns else None
        self.reads = FifoServer(rp.rate)

    def serve(self, n: int, now: float) -> None:
        """Read ``n`` messages for one resume or catch-up: they queue at ``backplane.replay.rate``."""
        if n > 0:
            rec = self.world.rec
            _, waited = self.reads.serve(n, now)
            rec.rate("replay_reads", now, n)
            rec.count("replay_seconds", waited)

    def buffer(self, room: int) -> ReplayBuffer:
        """The replay buffer of ``room`` (created on first use, with a deterministic epoch)."""
        b = self._buffers.get(room)
        if b is None:
            m, a, p = self._limits
            b = self._buffers[room] = ReplayBuffer(m, a, p, epoch=f"{room}.{self.epoch[room]}")
            if self.last[room]:
                b.reset(epoch=f"{room}.{self.epoch[room]}")
        return b

    def publish(self, room: int, t: float) -> int:
        """Assign the next offset of ``room`` to a publication at ``t`` and keep it; returns the offset."""
        o = self.last[room] + 1
        self.last[room] = o
        if self.log is not None:
            self.log.add(room, o, t)
        else:
            self.buffer(room).append(o, t, t)  # the item is the publish time (for replay latency)
        return o

    def append_many(self, rooms: np.ndarray, offsets: np.ndarray, times: np.ndarray, now: float) -> None:
        """Keep publications already given their offsets (:meth:`publish` of each, in time order)."""
        if self.log is not None:
            self.log.add_many(rooms, offsets, times, now)
            return
        buffer = self.buffer
        for room, o, t in zip(rooms.tolist(), offsets.tolist(), times.tolist(), strict=True):
            buffer(room).append(o, t, t)

    def resume(self, room: int, epoch: int, cursor: int, now: float) -> tuple[bool, int]:
        """Resume ``room`` from ``cursor`` seen in ``epoch``: (served, messages replayed).

        The answer is :func:`wssim.policies.resume_decision`'s, asked through the room's window.
        """
        if self.log is not None:
            return self.log.resume(room, epoch == self.epoch[room], cursor, now)
        rep = self.buffer(room).resume(f"{room}.{epoch}", cursor, now)
        return rep.ok, len(rep.items)

    def replay(self, room: int, cursor: int, now: float) -> list[float] | None:
        """Publish times of the publications after ``cursor`` in the current epoch, or None (resync)."""
        if self.log is not None:
            return self.log.replay(room, cursor, now)
        rep = self.buffer(room).since(cursor, now)
        return rep.items if rep.ok else None

    def lose(self) -> None:
        """History lost (a non-durable backplane restarted): every room starts a new epoch."""
        if self.log is not None:
            self.log.lose()
        for room, b in self._buffers.items():
            self.epoch[room] += 1
            b.reset(epoch=f"{room}.{self.epoch[room]}")
        for room in range(len(self.epoch)):
            if room not in self._buffers:
                self.epoch[room] += 1
