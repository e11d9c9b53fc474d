"""A bounded replay window, and the resume decision: replay what a client missed, or tell it to resync.

The decision (:func:`resume_decision`) is one rule for every engine and every window: the
simulator's :class:`ReplayBuffer` and the reference gateway's durable backplanes (Redis Streams,
JetStream) both ask it. The first rule that applies answers:

=============================================================  ==========================================
the client's cursor (epoch, last offset seen) against the       answer
stream (epoch, head = last offset) and its window
=============================================================  ==========================================
cursor from another epoch (an unknown epoch passes only with    resync ``epoch``
cursor 0, "from the start")
no message yet, or cursor = head                                replay nothing
cursor > head                                                   resync ``ahead``
cursor < ``lost_upto`` (an offset after the cursor is gone)     resync ``evicted``
more than ``max_per_resume`` messages after the cursor          resync ``too_many``
otherwise                                                       replay every message after the cursor
=============================================================  ==========================================

``lost_upto`` is the highest offset the window is known not to hold (None: it has lost nothing); a
stream that keeps no history has ``lost_upto = head``.

Every message of a stream carries a strictly increasing integer offset. A reconnecting client sends
the offset of the last message it saw (its cursor, like SSE's ``Last-Event-ID``); the buffer answers
with every held message after it, in order, or with ``Replay(ok=False, reason="resync")``: fetch a
snapshot over HTTP, then continue live.

Retention is bounded by count (``max_messages``) and by age (``max_age`` seconds: a message appended at
``t`` is held while ``t >= now - max_age``). A resume is all-or-nothing: if any offset after the cursor
has been evicted, replaying the rest would hide a gap, so the answer is resync. It is also resync when
more than ``max_per_resume`` messages would be replayed (cheaper to send a snapshot), when the cursor
is ahead of the last offset, and (:meth:`ReplayBuffer.resume`) when the epoch differs.

Loss detection tracks the highest offset known not to be held (``evicted_upto``): every evicted offset,
and everything before the first offset the buffer ever saw (``first - 1``: a buffer that starts in the
middle of a stream does not hold its past). This is exact for contiguous offsets (the normal case: one
counter per stream, a client's cursor is the last offset it saw), never misses a loss if a stream skips
offsets, and is merely conservative there (a cursor below the first offset resyncs). When history is
lost, :meth:`ReplayBuffer.reset` starts a new ``epoch``; cursors from another epoch resync. Append times
must not decrease.
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Replay:
    """The answer to a resume: ``ok`` with the ``items`` after the cursor, or ``reason="resync"``.

    ``detail`` says why a resync was needed: ``evicted``, ``too_many``, ``ahead`` or ``epoch``.
    """

    ok: bool
    items: list[Any] = field(default_factory=list)
    reason: str = ""
    detail: str = ""


RESYNC_REASONS: tuple[str, ...] = ("epoch", "ahead", "evicted", "too_many")


def resume_decision(
    cursor_epoch: Hashable | None,
    cursor: int,
    epoch: Hashable,
    head: int | None,
    lost_upto: int | None,
    max_per_resume: int | None,
    missed: int | None = None,
) -> str:
    """``""`` when the client is caught up by replaying what follows ``cursor``, else why it resyncs.

    ``head`` is the stream's last offset (None: nothing published yet); ``missed`` the number of
    messages after the cursor (default ``head - cursor``, exact for contiguous offsets).
    """
    if cursor_epoch != epoch and not (cursor_epoch is None and cursor == 0):
        return "epoch"
    if head is None or cursor == head:
        return ""
    if cursor > head:
        return "ahead"
    if lost_upto is not None and cursor < lost_upto:
        return "evicted"
    if max_per_resume is not None and (head - cursor if missed is None else missed) > max_per_resume:
        return "too_many"
    return ""


def _new_epoch() -> str:
    return uuid.uuid4().hex[:12]


class ReplayBuffer:
    """Recent messages of one stream, bounded by count and age, indexed by offset."""

    __slots__ = (
        "_fresh",
        "_head",
        "_items",
        "_off",
        "_t",
        "epoch",
        "evicted_upto",
        "last_offset",
        "max_age",
        "max_messages",
        "max_per_resume",
    )

    def __init__(
        self,
        max_messages: int | None,
        max_age: float | None,
        max_per_resume: int | None = None,
        epoch: str | None = None,
    ) -> None:
        if max_messages is not None and max_messages < 0:
            raise ValueError(f"max_messages must be >= 0 or None, got {max_messages!r}")
        if max_age is not None and max_age < 0:
            raise ValueError(f"max_age must be >= 0 or None, got {max_age!r}")
        if max_per_resume is not None and max_per_resume < 0:
            raise ValueError(f"max_per_resume must be >= 0 or None, got {max_per_resume!r}")
        self.max_messages = max_messages
        self.max_age = max_age
        self.max_per_resume = max_per_resume
        self.epoch = epoch if epoch is not None else _new_epoch()
        self._off: list[int] = []
        self._t: list[float] = []
        self._items: list[Any] = []
        self._head = 0
        self.last_offset: int | None = None
        self.evicted_upto: int | None = None
        self._fresh = True

    def __len__(self) -> int:
        return len(self._off) - self._head

    @property
    def first_offset(self) -> int | None:
        """The oldest offset still held (None when empty). Age eviction is applied lazily."""
        return self._off[self._head] if self._head < len(self._off) else None

    def _evict_head(self, n: int) -> None:
        head = self._head + n
        self.evicted_upto = self._off[head - 1]
        if head > 64 and head * 2 > len(self._off):
            del self._off[:head], self._t[:head], self._items[:head]
            head = 0
        self._head = head

    def expire(self, now: float) -> None:
        """Drop messages older than ``max_age`` at time ``now``."""
        if self.max_age is None or self._head >= len(self._t):
            return
        horizon = now - self.max_age
        t = self._t
        if t[self._head] >= horizon:
            return
        i = self._head
        n = len(t)
        while i < n and t[i] < horizon:
            i += 1
        self._evict_head(i - self._head)

    def append(self, offset: int, t: float, item: Any) -> None:
        """Hold ``item`` published at time ``t`` with ``offset`` (> every earlier offset of this epoch).

        The first append after construction or :meth:`reset` may use any offset: offsets may continue
        across a reset or start again (cursors of the old epoch are refused by :meth:`resume`).
        """
        if self._fresh:
            self._fresh = False
            last = self.last_offset
            if last is None or offset <= last:
                # A new buffer, or a restarted count: the stream's past before ``offset`` is not held.
                self.evicted_upto = offset - 1
            # else: offsets continue after a reset; everything up to the old last offset stays lost.
        elif offset <= self.last_offset:  # type: ignore[operator]
            raise ValueError(f"offsets must increase: {offset} after {self.last_offset}")
        self.last_offset = offset
        if self.max_messages == 0:
            self.evicted_upto = offset
            return
        self._off.append(offset)
        self._t.append(t)
        self._items.append(item)
        if self.max_messages is not None:
            extra = len(self._off) - self._head - self.max_messages
            if extra > 0:
                self._evict_head(extra)
        if self.max_age is not None:
            self.expire(t)

    def since(self, cursor: int, now: float) -> Replay:
        """Every held item with offset > ``cursor``, in order, or a resync (all-or-nothing)."""
        return self.resume(self.epoch, cursor, now)

    def resume(self, epoch: Hashable | None, cursor: int, now: float) -> Replay:
        """:func:`resume_decision` for a cursor seen in ``epoch``, with the held items to replay."""
        self.expire(now)
        i = bisect_right(self._off, cursor, self._head)
        why = resume_decision(
            epoch,
            cursor,
            self.epoch,
            self.last_offset,
            self.evicted_upto,
            self.max_per_resume,
            len(self._off) - i,
        )
        if why:
            return Replay(False, [], "resync", why)
        return Replay(True, self._items[i:], "")

    def reset(self, epoch: str | None = None) -> None:
        """History lost (restart, non-durable backplane outage): empty the buffer, start a new epoch.

        The next offset may continue from ``last_offset`` or start again; old cursors resync by epoch.
        """
        self.epoch = epoch if epoch is not None else _new_epoch()
        self._off.clear()
        self._t.clear()
        self._items.clear()
        self._head = 0
        self.evicted_upto = self.last_offset  # until the next append, only "nothing missed" is ok
        self._fresh = True

    def __repr__(self) -> str:
        return (
            f"ReplayBuffer(held={len(self)}, last_offset={self.last_offset}, epoch={self.epoch!r}, "
            f"max_messages={self.max_messages}, max_age={self.max_age})"
        )
