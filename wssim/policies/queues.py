"""Per-connection send queues and what they do when a client drains slower than messages arrive.

Every socket has an outbound queue. Unbounded, a slow client makes it grow in the *server's* memory
until the gateway runs out; a bounded queue needs an explicit overflow policy:

==========  ==============================================================================
policy      when an offer would exceed ``limit`` messages or ``limit_bytes`` bytes
==========  ==============================================================================
unbounded   accept everything (limits ignored): the latent out-of-memory baseline
drop_oldest evict from the head until the new message fits (lossy live data)
drop_newest refuse the new message (drop-tail; an M/M/1/K queue)
conflate    a message whose ``key`` is already queued replaces it in place (counted as
            conflated, not dropped); beyond the limits, behave like drop_oldest
disconnect  refuse the message and answer ``disconnect=True``: close the socket, let the client
            resume from its cursor; the queue refuses everything from then on (:meth:`close`
            discards what it holds, :meth:`reopen` accepts offers again)
credit      like drop_oldest for the queue itself, and :meth:`pop` releases at most ``credit``
            unacknowledged messages: ``can_send`` is false until :meth:`ack`
block       refuse with ``blocked=True`` (not dropped): the producer must wait and retry, which
            stalls everything behind it (head-of-line blocking)
==========  ==============================================================================

**Classes.** One socket's queue may carry messages of several kinds (presence conflated, chat
disconnecting): built with ``classes`` (one policy per class, any of the above but ``credit`` and
``block``, which act on the whole connection), it takes each message's policy from ``Message.cls``.
The bounds are the socket's, and the order one FIFO. The message that does not fit decides: its own
class's policy applies (``disconnect`` closes the socket, ``drop_newest`` refuses it, ``unbounded``
takes it beyond the bounds), and the evicting policies (``drop_oldest``, ``conflate`` beyond its
keys) evict only the oldest messages *of its class*: one kind's overflow never throws away another
kind's messages. When evicting all of its class would still not make room, the message is refused
(dropped). A keyed message of a conflating class replaces its key's queued one in place. With one
class this is exactly the single-policy queue.

Either limit may be None (no bound in that dimension). A message larger than ``limit_bytes`` can never
fit: the bounded policies drop it (``disconnect`` disconnects).

Accounting: every offer that is not blocked counts as offered, and at any time
``offered == delivered + dropped + conflated + discarded + depth`` (``discarded`` = messages thrown away
by :meth:`close`). Every drop (not a conflation, which loses no state) adds one to ``pending_gap`` when
``gap_notice`` is on, so the gateway can tell the client how many messages it missed (:meth:`take_gap`).

:class:`Offer` results are shared, read-only objects on the common paths: never mutate them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

OVERFLOW_POLICIES: tuple[str, ...] = (
    "unbounded",
    "drop_oldest",
    "drop_newest",
    "conflate",
    "disconnect",
    "credit",
    "block",
)

_UNBOUNDED, _DROP_OLDEST, _DROP_NEWEST, _CONFLATE, _DISCONNECT, _CREDIT, _BLOCK = range(7)


@dataclass(slots=True)
class Message:
    """One outbound message: an id, its size on the wire (bytes), an optional conflation key, and its
    class (the index of its overflow policy in a queue built with ``classes``)."""

    id: int
    size: int
    key: Hashable | None = None
    payload: Any = None
    cls: int = 0


@dataclass(slots=True)
class Offer:
    """The outcome of :meth:`SendQueue.offer`. ``dropped`` lists the messages lost by this offer.

    Read-only by convention: the common outcomes are shared instances (not frozen, which would cost
    about three times as much to create on the drop paths).
    """

    accepted: bool
    dropped: list[Message]
    conflated: int
    disconnect: bool
    blocked: bool


_ACCEPTED = Offer(True, [], 0, False, False)
_CONFLATED = Offer(True, [], 1, False, False)
_BLOCKED = Offer(False, [], 0, False, True)


class _Slot:
    """A mutable cell holding the latest message of one key (conflate policy only)."""

    __slots__ = ("msg",)

    def __init__(self, msg: Message) -> None:
        self.msg = msg


class SendQueue:
    """A bounded (or not) per-connection outbound queue with one overflow policy."""

    __slots__ = (
        "_code",
        "_codes",
        "_index",
        "_q",
        "bytes",
        "closed",
        "credit",
        "gap_notice",
        "in_flight",
        "limit",
        "limit_bytes",
        "peak_bytes",
        "peak_depth",
        "pending_gap",
        "policy",
        "total_blocked",
        "total_conflated",
        "total_delivered",
        "total_discarded",
        "total_dropped",
        "total_offered",
    )

    def __init__(
        self,
        policy: str,
        limit: int | None,
        limit_bytes: int | None = None,
        credit: int = 64,
        gap_notice: bool = True,
        classes: tuple[str, ...] | None = None,
    ) -> None:
        for name in (policy, *(classes or ())):
            if name not in OVERFLOW_POLICIES:
                raise ValueError(
                    f"unknown overflow policy {name!r}; choose one of {', '.join(OVERFLOW_POLICIES)}"
                )
        if classes is not None and {"credit", "block"} & set(classes):
            raise ValueError("`credit` and `block` act on the whole connection: not a class's policy")
        if policy not in OVERFLOW_POLICIES:
            raise ValueError(
                f"unknown overflow policy {policy!r}; choose one of {', '.join(OVERFLOW_POLICIES)}"
            )
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0 or None, got {limit!r}")
        if limit_bytes is not None and limit_bytes < 0:
            raise ValueError(f"limit_bytes must be >= 0 or None, got {limit_bytes!r}")
        if credit < 1:
            raise ValueError(f"credit must be >= 1, got {credit!r}")
        self.policy = policy
        self._code = OVERFLOW_POLICIES.index(policy)
        self._codes = None if classes is None else tuple(OVERFLOW_POLICIES.index(c) for c in classes)
        if all(c == _UNBOUNDED for c in self._codes or (self._code,)):
            limit = limit_bytes = None
        self.limit = limit
        self.limit_bytes = limit_bytes
        self.credit = credit
        self.gap_notice = gap_notice
        self._q: deque[Any] = deque()
        self._index: dict[Hashable, _Slot] = {}
        self.bytes = 0
        self.in_flight = 0
        self.closed = False
        self.pending_gap = 0
        self.peak_depth = 0
        self.peak_bytes = 0
        self.total_offered = 0
        self.total_delivered = 0
        self.total_dropped = 0
        self.total_conflated = 0
        self.total_discarded = 0
        self.total_blocked = 0

    # -- state ---------------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Messages queued now."""
        return len(self._q)

    def __len__(self) -> int:
        return len(self._q)

    @property
    def can_send(self) -> bool:
        """A message is queued and the credit window (credit policy only) has room."""
        if not self._q:
            return False
        return self._code != _CREDIT or self.in_flight < self.credit

    @property
    def dropped(self) -> int:
        """Total messages dropped (alias of ``total_dropped``)."""
        return self.total_dropped

    @property
    def conflated(self) -> int:
        """Total messages replaced by a newer one of the same key (alias of ``total_conflated``)."""
        return self.total_conflated

    def take_gap(self) -> int:
        """Drops since the last call (what to announce to the client), then reset to 0."""
        n = self.pending_gap
        self.pending_gap = 0
        return n

    # -- internals -----------------------------------------------------------------------------
    def _fits(self, size: int) -> bool:
        limit = self.limit
        if limit is not None and len(self._q) >= limit:
            return False
        lb = self.limit_bytes
        return lb is None or self.bytes + size <= lb

    def _drop(self, msg: Message) -> None:
        self.total_dropped += 1
        if self.gap_notice:
            self.pending_gap += 1

    def _popleft(self) -> Message:
        item = self._q.popleft()
        if item.__class__ is _Slot:
            msg = item.msg
            del self._index[msg.key]
        else:
            msg = item
        self.bytes -= msg.size
        return msg

    def _class_code(self, msg: Message) -> int:
        codes = self._codes
        return self._code if codes is None else codes[msg.cls]

    def _push(self, msg: Message) -> None:
        if self._class_code(msg) == _CONFLATE and msg.key is not None:
            slot = _Slot(msg)
            self._index[msg.key] = slot
            self._q.append(slot)
        else:
            self._q.append(msg)
        self.bytes += msg.size
        n = len(self._q)
        if n > self.peak_depth:
            self.peak_depth = n
        if self.bytes > self.peak_bytes:
            self.peak_bytes = self.bytes

    def _too_big(self, msg: Message) -> bool:
        lb = self.limit_bytes
        return (lb is not None and msg.size > lb) or self.limit == 0

    # -- operations ----------------------------------------------------------------------------
    def offer(self, msg: Message) -> Offer:
        """Enqueue ``msg`` under the overflow policy; see the module docstring for each outcome."""
        if self.closed:
            self.total_offered += 1
            self._drop(msg)
            return Offer(False, [msg], 0, True, False)
        code = self._code if self._codes is None else self._codes[msg.cls]
        if code == _CONFLATE and msg.key is not None:
            slot = self._index.get(msg.key)
            if slot is not None:  # fast path: replace in place when the new size fits
                new_bytes = self.bytes - slot.msg.size + msg.size
                if self.limit_bytes is None or new_bytes <= self.limit_bytes:
                    self.total_offered += 1
                    self.total_conflated += 1
                    slot.msg = msg
                    self.bytes = new_bytes
                    if new_bytes > self.peak_bytes:
                        self.peak_bytes = new_bytes
                    return _CONFLATED
            return self._offer_keyed(msg, slot)
        q = self._q
        size = msg.size
        limit = self.limit
        lb = self.limit_bytes
        # Fast path (always taken by ``unbounded``, whose limits are None): it fits.
        if (limit is None or len(q) < limit) and (lb is None or self.bytes + size <= lb):
            self.total_offered += 1
            q.append(msg)
            b = self.bytes = self.bytes + size
            if len(q) > self.peak_depth:
                self.peak_depth = len(q)
            if b > self.peak_bytes:
                self.peak_bytes = b
            return _ACCEPTED
        if code == _UNBOUNDED:  # a class that ignores the socket's bounds
            self.total_offered += 1
            self._push(msg)
            return _ACCEPTED
        if code == _BLOCK:
            if self._too_big(msg):
                self.total_offered += 1
                self._drop(msg)
                return Offer(False, [msg], 0, False, False)
            self.total_blocked += 1
            return _BLOCKED
        if code == _DROP_NEWEST:
            self.total_offered += 1
            self._drop(msg)
            return Offer(False, [msg], 0, False, False)
        if code == _DISCONNECT:
            self.total_offered += 1
            self._drop(msg)
            self.closed = True
            return Offer(False, [msg], 0, True, False)
        return self._offer_evicting(msg)

    def _offer_keyed(self, msg: Message, slot: _Slot | None) -> Offer:
        """conflate policy, keyed message that could not replace in place (see :meth:`offer`)."""
        if slot is None:
            if self._fits(msg.size):
                self.total_offered += 1
                self._push(msg)
                return _ACCEPTED
            return self._offer_evicting(msg)
        # The newer, larger message does not fit in place: conflate by removal, then treat it as a
        # fresh offer that evicts from the head.
        self._q.remove(slot)
        del self._index[msg.key]
        self.bytes -= slot.msg.size
        self.total_conflated += 1
        res = self._offer_evicting(msg)
        return Offer(res.accepted, res.dropped, 1, False, False)

    def _offer_evicting(self, msg: Message) -> Offer:
        """drop_oldest semantics (also conflate and credit beyond their limits)."""
        self.total_offered += 1
        if self._too_big(msg) or (self._codes is not None and not self._room_in_class(msg)):
            self._drop(msg)
            return Offer(False, [msg], 0, False, False)
        q = self._q
        limit = self.limit
        lb = self.limit_bytes
        size = msg.size
        dropped: list[Message] = []
        evict = self._popleft if self._codes is None else lambda: self._pop_class(msg.cls)
        while (limit is not None and len(q) >= limit) or (lb is not None and self.bytes + size > lb):
            dropped.append(evict())
        n = len(dropped)
        self.total_dropped += n
        if self.gap_notice:
            self.pending_gap += n
        self._push(msg)
        return Offer(True, dropped, 0, False, False) if n else _ACCEPTED

    def _room_in_class(self, msg: Message) -> bool:
        """Whether evicting every queued message of ``msg``'s class would make room for it."""
        mine = [m for m in self.messages() if m.cls == msg.cls]
        n, b = len(self._q) - len(mine), self.bytes - sum(m.size for m in mine)
        return (self.limit is None or n < self.limit) and (
            self.limit_bytes is None or b + msg.size <= self.limit_bytes
        )

    def _pop_class(self, cls: int) -> Message:
        """Remove and return the oldest queued message of class ``cls`` (there is one)."""
        q = self._q
        for i, item in enumerate(q):
            msg = item.msg if item.__class__ is _Slot else item
            if msg.cls == cls:
                del q[i]
                if item.__class__ is _Slot:
                    del self._index[msg.key]
                self.bytes -= msg.size
                return msg
        raise AssertionError("no queued message of this class")

    def pop(self) -> Message | None:
        """The next message to write to the socket, or None (empty, or the credit window is full)."""
        q = self._q
        if not q:
            return None
        code = self._code
        if code == _CREDIT:
            if self.in_flight >= self.credit:
                return None
            self.in_flight += 1
        self.total_delivered += 1
        if code == _CONFLATE or self._codes is not None:
            return self._popleft()
        msg = q.popleft()
        self.bytes -= msg.size
        return msg

    def would_block(self, size: int) -> bool:
        """Whether an offer of a message of ``size`` bytes would be refused with ``blocked`` now."""
        return self._code == _BLOCK and not self._fits(size) and not self._too_big(Message(0, size))

    def messages(self) -> list[Message]:
        """The messages queued now, oldest first (the queue is unchanged)."""
        return [item.msg if item.__class__ is _Slot else item for item in self._q]

    def ack(self, n: int = 1) -> None:
        """The client acknowledged ``n`` messages: reopen the credit window by ``n``."""
        self.in_flight = max(0, self.in_flight - n)

    def close(self) -> list[Message]:
        """Close the queue (disconnect) and discard what it holds; returns the discarded messages."""
        out: list[Message] = []
        while self._q:
            out.append(self._popleft())
        self.total_discarded += len(out)
        self.in_flight = 0
        self.closed = True
        return out

    def reopen(self) -> None:
        """Accept offers again after :meth:`close` (a new connection reusing this object)."""
        self.closed = False

    def __repr__(self) -> str:
        return f"SendQueue({self.policy!r}, depth={len(self._q)}, bytes={self.bytes}, closed={self.closed})"
