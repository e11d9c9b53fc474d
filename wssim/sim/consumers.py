"""Queued consumers: clients whose send queue matters (slow consumers, or all when a drain rate is set).

A queued client drains its :class:`~wssim.policies.SendQueue` as its :class:`~wssim.policies.Reader`
reads (the live load generator paces its reads with the same reader): one read at a time, each
taking an exponential or a fixed time of mean ``1/drain rate``, none while stalled (a background tab,
a train tunnel). Draining is computed lazily whenever the gateway offers the client a new message: no
event per drained message. A healthy client with no drain rate needs no queue at all and is delivered
in bulk by its gateway.

Between the send queue and the reader sit buffers the gateway does not count: kernel socket buffers,
proxies, the client library (``gateways.send_queue.path_buffer`` bytes, whole messages). A reader's
backlog fills them first: the queue grows, and its bounds apply, only beyond them. The state holds the
whole backlog in one :class:`~wssim.policies.SendQueue` whose bounds are raised by the path's share;
depths and the gateway's memory count only the part beyond it.
"""

from __future__ import annotations

from typing import Any

from wssim.policies import Message, Reader, SendQueue
from wssim.policies.reader import NEVER_STALLS
from wssim.randomness import Stream
from wssim.sim.cpu import wire_size


class QState:
    """Drain state of one queued client (lives across its connections)."""

    __slots__ = ("blocked", "carry", "cursor", "gw", "phase", "q", "reader", "replayed", "superseded", "t")

    def __init__(self, reader: Reader, phase: float) -> None:
        self.reader = reader
        self.phase = phase
        self.q: SendQueue | None = None
        self.t = 0.0
        self.carry = 0.0
        self.cursor: dict[int, int] = {}
        self.replayed: dict[int, int] = {}  # room -> offset its last resume replayed up to
        self.gw: Any = None
        self.blocked: list[Message] = []
        self.superseded: dict[Any, int] = {}  # conflation key -> queued messages its latest replaced


class Consumers:
    """Send queues and lazy draining of queued clients."""

    def __init__(self, world: Any) -> None:
        cfg = world.cfg
        self.world = world
        sq = cfg.gateways.send_queue
        self.size = wire_size(cfg)  # compressed when permessage-deflate is on
        self.path = int(sq.path_buffer // self.size)  # messages the path holds beyond the queue
        self.path_bytes = self.path * self.size
        grow = lambda bound, by: None if bound is None else bound + by  # noqa: E731
        limits = (grow(sq.limit, self.path), grow(sq.limit_bytes, self.path_bytes))
        self._sq = (sq.overflow, *limits, sq.credit, sq.gap_notice)
        self.gap_notice = sq.gap_notice
        self.credit = sq.overflow == "credit"
        self.blocking = sq.overflow == "block"
        self.stalls: dict[tuple[int, int], list[tuple[int, float]]] = {}  # (gateway, room) -> waiting
        self.slow_reader = Reader.from_config(cfg, slow=True)
        self.reader = Reader.from_config(cfg, slow=False)
        rt = self.rooms = world.roomtable
        # One queue per socket carries every class, each message with its class's policy (direct
        # messages: the gateway's policy, as the class after the rooms' ones).
        self.direct_cls = len(rt.names) if rt.classed else 0
        per_message = rt.classed and sq.overflow not in ("credit", "block")  # else: one policy for all
        self.classes = (*rt.policy, sq.overflow) if per_message else None
        self.conflates = [p == "conflate" for p in (*rt.policy, sq.overflow)]
        self.states: dict[int, QState] = {}
        self.live: set[int] = set()  # queued clients currently connected
        self._phase = world.streams.draws(Stream.SLOW_CONSUMERS)
        self._drain = world.streams.draws(Stream.DRAINS)

    def make(self, c: int, slow: bool) -> QState:
        """Register client ``c`` as queued: a slow consumer's reader, or a healthy client's."""
        reader = self.slow_reader if slow else self.reader
        assert reader is not None
        st = QState(reader, reader.phase(self._phase.random()) if reader.stalls else NEVER_STALLS)
        self.states[c] = st
        return st

    # -- connection life --------------------------------------------------------------------
    def new_queue(self) -> SendQueue:
        """An empty send queue with the gateway's policy (bounds raised by the path's share)."""
        policy, limit, limit_bytes, credit, gap = self._sq
        return SendQueue(policy, limit, limit_bytes, credit, gap, self.classes)

    def message(self, room: int, offset: int, t_pub: float) -> Message:
        """Publication ``offset`` of ``room`` (-1: a direct message) as its queue sees it: its class's
        size on the wire, conflation key and policy."""
        if room < 0:
            return Message(offset, self.size, None, (t_pub, room), self.direct_cls)
        rt = self.rooms
        return Message(offset, rt.room_wire[room], rt.key(room, offset), (t_pub, room), rt.of[room])

    def attach(self, c: int, gw: Any, now: float) -> None:
        """Client ``c`` is connected to ``gw``: a fresh, empty send queue."""
        st = self.states[c]
        st.q = self.new_queue()
        st.t = now
        st.carry = st.reader.work(self._drain)
        st.gw = gw
        st.blocked = []
        st.superseded = {}
        self.live.add(c)

    def detach(self, c: int, now: float, drain: bool = True) -> None:
        """Client ``c``'s socket closes: drain what could be read, discard the rest (resume covers it)."""
        st = self.states[c]
        if st.q is None:
            return
        if drain:
            self.advance(c, st, now)
        gw = st.gw
        gw.charge_queue(-self.held(st.q) - sum(m.size for m in st.blocked))
        for m in st.blocked:
            st.q.offer(m)  # waiting for room: discarded with the queue (a resume covers room messages)
        self.discard(c, st.q)
        st.q = None
        st.gw = None
        st.blocked = []
        if self.stalls:  # a writer it blocked may go on (once the close is done)
            self.world.call_at(now, lambda _: self.unblock_rooms(gw))
        st.superseded = {}
        self.live.discard(c)

    def discard(self, c: int, q: SendQueue) -> None:
        """Close ``c``'s queue: room messages in it are replayed by its resume (its cursor is before
        them, unless it read a newer one first); a direct message is kept for it where history is
        kept, else lost."""
        w = self.world
        st = self.states.get(c)  # a fast member's dead-peer queue only holds what followed its cursor
        cursor = st.cursor if st is not None else {}
        for m in q.close():
            room = m.payload[1]
            if room < 0:
                w.traffic.missed(c)
            elif self.conflates[m.cls] and m.id < cursor.get(room, 0):  # behind a newer one it read
                w.lost(1, room)  # (conflated in place): its resume starts after it

    def hand_over(self, c: int, now: float) -> SendQueue:
        """Client ``c`` vanished without a FIN: what it read until ``now`` is drained; the rest of its
        queue stays on the gateway (still charged there) as the half-open socket's queue."""
        st = self.states[c]
        self.advance(c, st, now)
        q = st.q
        assert q is not None
        st.q = None
        st.gw = None
        st.blocked = []
        st.superseded = {}
        self.live.discard(c)
        return q

    def to_dead_peers(self, gw: Any, room: int, offset: int, t_pub: float) -> None:
        """``gw`` writes publication ``offset`` of ``room`` to its half-open members: nobody reads it,
        so it stays in their send queues (and in the gateway's memory) until keepalive reclaims them;
        the queue's overflow policy bounds it (``disconnect`` closes the dead peer)."""
        w = self.world
        zids = gw.zroom.get(room)
        if not zids:
            return
        w.rec.count("deliveries_to_dead_peers", len(zids))
        grew = False
        for zid in list(zids):
            c, _, q = gw.zombies[zid]
            before = self.held(q)
            res = q.offer(self.message(room, offset, t_pub))
            for m in res.dropped:  # a room message is replayed on resume; a direct one is missed
                if m.payload[1] < 0:
                    w.traffic.missed(c)
            after = self.held(q)
            if after != before:
                gw.charge_queue(after - before)
                grew = grew or after > before
            if res.disconnect:
                w.rec.count("dead_peer_overflow_closes")
                gw.reclaim(zid)
        if grew:
            gw.check_memory()

    # -- the block policy: a blocked writer holds its room ---------------------------------
    def holds(self, gw: Any, room: int, offset: int, t_pub: float, now: float) -> bool:
        """With ``block``: True when ``gw``'s writer for ``room`` is blocked, so publication ``offset``
        waits in the gateway's memory behind it, for every member. The writer blocks when one member's
        queue (a live reader's or a dead peer's) is full; it resumes when that member reads (or is
        gone), writing what waited in order."""
        if not self.blocking:
            return False
        backlog = self.stalls.get((gw.id, room))
        if backlog is None:
            blocker = self._blocker(gw, room, now)
            if blocker is None:
                return False
            backlog = self.stalls[(gw.id, room)] = []
            self.world.rec.count("room_writer_stalls")
            if blocker >= 0:  # a live reader: try again when its read in progress completes
                st = self.states[blocker]
                at = st.reader.finish(st.phase, st.t, st.carry / st.reader.rate)
                at = max(at, now) + 1e-9  # past the read's end, whatever the rounding of its rest
                self.world.call_at(at, self._resume, (gw, gw.incarnation, room))
        backlog.append((offset, t_pub))
        self.world.rec.count("send_queue_blocked")
        gw.charge_queue(self.rooms.room_wire[room])
        gw.check_memory()
        return True

    def _blocker(self, gw: Any, room: int, now: float) -> int | None:
        """A member of ``room`` on ``gw`` whose queue cannot take a message: a client, -1 for a dead
        peer (freed by its reclaim), None if every queue has room."""
        size = self.rooms.room_wire[room]
        for c in sorted(gw.queued.get(room) or ()):
            st = self.states[c]
            self.advance(c, st, now)
            if st.q is not None and (st.blocked or st.q.would_block(size)):
                return c
        for zid in gw.zroom.get(room) or ():
            if gw.zombies[zid][2].would_block(size):
                return -1
        return None

    def _resume(self, ev: Any) -> None:
        gw, inc, room = ev.value
        if gw.incarnation == inc:
            self.release(gw, room)

    def release(self, gw: Any, room: int) -> None:
        """Write what waited behind ``gw``'s blocked writer for ``room``, in order, until it blocks again."""
        backlog = self.stalls.pop((gw.id, room), None)
        if not backlog:
            return
        w = self.world
        now = w.env.now
        gw.charge_queue(-self.rooms.room_wire[room] * len(backlog))
        for offset, t_pub in backlog:
            if not gw.serving:
                return
            w.delivered(gw.deliver(room, offset, t_pub, now), t_pub, now, room)

    def unblock_rooms(self, gw: Any) -> None:
        """A member of ``gw`` left (closed, reclaimed): every blocked writer of ``gw`` tries again."""
        if self.stalls:
            for _, room in [k for k in self.stalls if k[0] == gw.id]:
                self.release(gw, room)

    def forget(self, gw: Any) -> None:
        """``gw`` died: its blocked writers and what waited behind them are gone."""
        for key in [k for k in self.stalls if k[0] == gw.id]:
            del self.stalls[key]

    # -- draining ---------------------------------------------------------------------------
    def advance(self, c: int, st: QState, now: float) -> None:
        """Drain what client ``c`` has read since the last update.

        The reader reads one message at a time while it is not stalled and its queue is not empty.
        ``st.carry`` is the work left until the next read completes, in mean read times (an Exp(1)
        draw per read for exponential read times: with a bounded queue an M/M/1/K queue). A message
        is read when its read completes, stall time included.
        """
        q = st.q
        if q is None:
            return
        t0 = st.t
        st.t = now
        if not len(q):
            return
        reader = st.reader
        rate = reader.rate
        phase = st.phase
        work = reader.active(phase, t0, now) * rate
        carry = st.carry
        if work < carry:
            st.carry = carry - work
            return
        w = self.world
        before = self.held(q)
        draws = self._drain
        used = 0.0
        done = 0
        latency = w.latency
        cursor = st.cursor
        credit = self.credit
        superseded = st.superseded
        replayed = st.replayed
        conflated = dups = 0
        classes = w.class_latency
        of = self.rooms.of
        read = [0] * len(self.rooms.names)
        while used + carry <= work:
            msg = q.pop()
            if msg is None:
                break
            used += carry
            carry = reader.work(draws)
            if credit:
                q.ack(1)
            t_read = reader.finish(phase, t0, used / rate)
            t_pub, room = msg.payload
            latency.add(t_read - t_pub if t_read > t_pub else 0.0, 1, t_read)
            if classes is not None and room >= 0:
                c = of[room]
                classes[c].add(t_read - t_pub if t_read > t_pub else 0.0, 1, t_read)
                read[c] += 1
            if room >= 0:  # a room message (direct messages have no cursor)
                if msg.id <= replayed.get(room, 0):
                    dups += 1  # replayed on its resume, and read again live
                elif msg.id > cursor.get(room, 0):  # conflation in place can put a newer one first
                    cursor[room] = msg.id
                if superseded:
                    n = superseded.pop(msg.key, 0)
                    if n:
                        conflated += n
                        self.rooms.count(w.rec, "messages_conflated", room, n)
            done += 1
        st.carry = carry if not len(q) else carry - (work - used)
        if conflated:
            w.rec.count("messages_conflated", conflated)
        if dups:
            w.rec.count("messages_duplicated", dups)
        if done:
            rec = w.rec
            rec.count("deliveries_delivered", done)
            rec.rate("deliveries", now, done)
            if classes is not None:
                for c, n in enumerate(read):
                    if n:
                        rec.count("deliveries_delivered" + self.rooms.suffix[c], n)
        st.gw.charge_queue(self.held(q) - before)
        if st.blocked:
            self._unblock(c, st, now)

    def _unblock(self, c: int, st: QState, now: float) -> None:
        """Retry the offers the block policy refused, oldest first, until one blocks again."""
        blocked = st.blocked
        while blocked and st.q is not None:
            if not self._offer_msg(c, st, blocked[0], now, retry=True):
                return
            msg = blocked.pop(0)
            if st.gw is not None:
                st.gw.charge_queue(-msg.size)

    # -- offers -----------------------------------------------------------------------------
    def offer(self, c: int, room: int, offset: int, t_pub: float, now: float) -> None:
        """The gateway writes publication ``offset`` of ``room`` (-1: a direct message) to ``c``'s queue."""
        st = self.states[c]
        if st.q is None:
            return
        self.advance(c, st, now)
        if st.q is None:
            return
        msg = self.message(room, offset, t_pub)
        if st.blocked:  # keep order: behind what is already waiting (in the gateway's memory)
            st.blocked.append(msg)
            self.world.rec.count("send_queue_blocked")
            st.gw.charge_queue(msg.size)
            return
        self._offer_msg(c, st, msg, now)

    def _offer_msg(self, c: int, st: QState, msg: Message, now: float, retry: bool = False) -> bool:
        """Offer ``msg`` to ``c``'s queue; False when the block policy refused it (it waits)."""
        w = self.world
        rec = w.rec
        q = st.q
        gw = st.gw
        before = self.held(q)
        res = q.offer(msg)
        gw.charge_queue(self.held(q) - before)
        if res.blocked:
            if not retry:  # waits in the gateway's memory until the queue has room
                st.blocked.append(msg)
                rec.count("send_queue_blocked")
                gw.charge_queue(msg.size)
                gw.check_memory()
            return False
        if res.conflated:  # counted when the newer one is read (a resume replays them otherwise)
            st.superseded[msg.key] = st.superseded.get(msg.key, 0) + res.conflated
        dropped = len(res.dropped)
        if dropped and not res.disconnect:
            cursor = st.cursor
            for m in res.dropped:  # lost for good: a resume starts after it, it is not replayed
                room = m.payload[1]
                if room >= 0 and m.id > cursor.get(room, 0):
                    cursor[room] = m.id
                if room >= 0:
                    self.rooms.count(rec, "messages_dropped_overflow", room)
                    self.rooms.count(rec, "messages_lost", room)
                n = st.superseded.pop(m.key, 0) if st.superseded else 0
                if n:  # what it had replaced is not replayed either
                    rec.count("messages_conflated", n)
                    self.rooms.count(rec, "messages_conflated", room, n)
            rec.count("messages_dropped_overflow", dropped)
            rec.rate("drops", now, dropped)
            w.lost(dropped)
            gap = q.take_gap()
            if gap and self.gap_notice:
                w.snapshot(1)
                rec.count("gap_notices")
        rec.peak("send_queue_depth_max", self.depth(q))
        if res.disconnect:
            # The dropped message is not lost: the client resumes from its cursor.
            q.take_gap()
            rec.count("slow_consumer_disconnects")
            self.rooms.count(rec, "slow_consumer_disconnects", msg.payload[1])
            rec.values.setdefault("first_slow_consumer_disconnect_s", now)
            w.clients.drop(c, reason="slow")
            return True
        gw.check_memory()
        return True

    def advance_all(self, now: float) -> None:
        """Drain every connected queued client up to ``now`` (before sampling depths and memory)."""
        for c in sorted(self.live):
            st = self.states[c]
            if st.q is not None:
                self.advance(c, st, now)

    def depth(self, q: SendQueue) -> int:
        """Messages in the send queue proper: the backlog beyond what the path holds."""
        return max(0, len(q) - self.path)

    def held(self, q: SendQueue) -> int:
        """Bytes the gateway holds for a backlog: beyond what the path holds."""
        return max(0, q.bytes - self.path_bytes)

    def depths(self) -> list[int]:
        """Current queue depths of the connected queued clients."""
        out = []
        for c in self.live:
            q = self.states[c].q
            if q is not None:
                out.append(self.depth(q))
        return out
