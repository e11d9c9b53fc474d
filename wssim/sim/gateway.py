"""A gateway: connection registry, accept path, resource ceilings, room fan-out, crash and restart.

Per room the gateway keeps member counts and the last offset it delivered; healthy fast members get a
delivery as one arithmetic step (``members`` deliveries), queued members (slow consumers, or every
client when ``clients.drain_rate`` is set) go through their :class:`~wssim.policies.SendQueue`.

All work is served by the gateway's :class:`~wssim.sim.cpu.Cpu` (``gateways.cpu.cores``, one FIFO
queue). An accept costs ``handshake_cost`` plus ``handshake_cost_per_connection`` for each connection
already held (plus a TLS handshake where the gateway terminates TLS): a herd queues there, and a
connection is established when its handshake has been served. A publication reaching the gateway is
one job for all its local members: ``backplane_message`` plus, per member, ``frame``, ``per_byte`` ×
bytes on the wire and, with compression, ``deflate_per_byte`` × bytes compressed. Its frames wait in
memory until written; a room whose jobs waiting exceed the send-queue bound has the overflow policy
applied to its fast members, as to a slow reader. Ceilings are exact: the fd limit refuses
the accept that would exceed it (EMFILE), admission control (``max_connections``, and a
:class:`~wssim.policies.TokenBucket` of ``handshake_rate`` and ``burst``) answers 503 with
``retry_after``, memory above the node's size is an OOM crash that drops every socket.
"""

from __future__ import annotations

from typing import Any

from wssim.policies import TokenBucket
from wssim.sim.cpu import Cpu

UP, DRAINING, DOWN, SPARE, REMOVED = range(5)
RESOLUTION = 50e-6  # a fan-out whose writes span less gives its members' latencies as their mean

# Outcomes of an accept (DROPPED: the SYN was dropped by a full conntrack table, nobody answers).
OK, REFUSED, EMFILE, UNAVAILABLE, DROPPED = range(5)


class Gateway:
    """One gateway node."""

    def __init__(self, world: Any, gid: int) -> None:
        cfg = world.cfg
        self.world = world
        self.id = gid
        self.bit = 1 << gid  # its bit in a mask of gateways
        self.label = str(gid)
        self.name = f"g{gid}"  # the balancer's node name
        self.state = UP if gid < cfg.gateways.count else SPARE
        self.incarnation = 0
        self.conns: set[int] = set()  # registry: clients holding a socket here (handshaking or open)
        # Half-open sockets: zombie id -> (client, rooms, send queue); the queue fills until reclaimed.
        self.zombies: dict[int, tuple[int, tuple[int, ...], Any]] = {}
        self.zroom: dict[int, set[int]] = {}  # room -> zombie ids subscribed to it
        self.zseq = 0
        self.n = 0  # sockets held (conns + zombies)
        self.queued_bytes = 0
        self.held_bytes = 0  # publications the at-least-once producer holds through an outage
        self.held_peak = 0
        self.sub_down = False  # backplane subscription lost (subscription outage)
        self.upstream = 0  # connections to the backplane server (ephemeral ports in use towards it)
        r = world.rooms
        # Per room (rows of world.tables): every socket subscribed (zombies included), established
        # fast members (bulk delivery), the last offset delivered and its time (idle timers).
        self.members, self.fast, self.last, self.last_t = world.tables.rows(gid)
        self.zmembers = memoryview(world.tables.zombies[gid])  # half-open members
        self.queued: dict[int, set[int]] = {}  # room -> queued (slow) member clients
        self.subscribed = [False] * r  # holds a backplane subscription for the room
        self.order: dict[int, float] = {}  # FIFO per ordering key (room or partition)
        adm = cfg.gateways.admission
        self.max_connections = adm.max_connections
        rate = adm.handshake_rate
        self.bucket = TokenBucket(rate, adm.effective_burst()) if rate is not None else None
        self.fd_limit = cfg.gateways.fd_limit
        self.conntrack_max = cfg.gateways.conntrack_max
        self.fds = cfg.gateways.per_connection.fds
        self.handshake_cost = cfg.gateways.handshake_cost
        self.handshake_per_conn = cfg.gateways.handshake_cost_per_connection
        cpu = cfg.gateways.cpu
        ka = cfg.gateways.keepalive
        ping_rate = cpu.ping / ka.ping_interval if ka.ping_interval else 0.0
        self.cpu = Cpu(cpu.cores, ping_rate, cfg.interval, cfg.warmup, gid)
        self.fanout = world.fanout  # per-message and per-member costs, the wire size, the bound
        self.cpu_fanout = self.fanout.costs  # False: delivering costs nothing (no job)
        self.message_cost = self.fanout.message
        self.write_cost = self.fanout.write  # a direct message's
        self.rooms = world.roomtable  # per room: the write cost, wire size, overflow bound and policy
        l4 = cfg.edge.layer == "L4"  # TLS passes through the balancer and terminates here
        self.tls_full = cpu.tls_full if l4 else 0.0
        self.tls_resumed = cpu.tls_resumed if l4 else 0.0
        self.memory = cfg.gateways.memory
        self.base_memory = cfg.gateways.base_memory
        self.down_since = 0.0
        self.started_at = 0.0
        self.peak_memory = 0

    # -- resources ---------------------------------------------------------------------------
    @property
    def up(self) -> bool:
        """Accepting and serving."""
        return self.state == UP

    @property
    def serving(self) -> bool:
        """Holding sockets and delivering to them (up, or draining)."""
        return self.state == UP or self.state == DRAINING

    def memory_used(self) -> int:
        """Base + per-connection budget of every socket + queued bytes + the producer buffer + frames
        waiting for the CPU."""
        self.cpu.expire(self.world.env.now)
        return self.memory_in_use()

    def memory_in_use(self) -> int:
        """:meth:`memory_used` as last updated (without releasing what the CPU has written since)."""
        return (
            self.base_memory
            + self.n * self.world.conn_bytes
            + self.queued_bytes
            + self.held_bytes
            + self.cpu.pending_bytes
            + self.cpu.bulk_held
        )

    def check_memory(self) -> bool:
        """Track the memory peak; crash with OOM when over the node's memory. True if it crashed."""
        used = self.memory_in_use()
        if used > self.peak_memory:
            self.peak_memory = used
        if used > self.memory and self.state in (UP, DRAINING):
            self.world.faults.oom(self)
            return True
        return False

    # -- accept path ------------------------------------------------------------------------
    def backlog(self, now: float) -> float:
        """Seconds of work queued ahead on the accept path: how long a health probe waits for an answer."""
        return self.cpu.backlog(now)

    def accept(self, c: int, t: float, resumed: bool = False) -> tuple[int, float]:
        """A connection from client ``c`` reaches this gateway at ``t``: (outcome, established time).

        ``resumed``: a reconnect, whose TLS session (where the gateway terminates TLS) is resumed.

        A crashed gateway refuses the connection; a draining one answers 503 (as the live gateway does).
        """
        rec = self.world.rec
        if self.state != UP:
            if self.state != DRAINING:
                return REFUSED, t
            rec.count("admission_rejections")
            return UNAVAILABLE, t
        if self.conntrack_max is not None and self.n >= self.conntrack_max:
            rec.count("conntrack_drops")
            return DROPPED, t
        if (self.n + 1) * self.fds > self.fd_limit:
            rec.count("emfile_rejections")
            return EMFILE, t
        if self.max_connections is not None and self.n >= self.max_connections:
            rec.count("admission_rejections")
            return UNAVAILABLE, t
        if self.bucket is not None and not self.bucket.take(t):
            rec.count("admission_rejections")
            return UNAVAILABLE, t
        held = self.n
        self.n += 1
        self.conns.add(c)
        self.world.edge.opened(self, c)
        tls = self.tls_resumed if resumed else self.tls_full
        _, done = self.cpu.run(self.handshake_cost + self.handshake_per_conn * held + tls, t, held)
        if self.check_memory():
            return REFUSED, t
        return OK, done

    # -- life cycle -------------------------------------------------------------------------
    def start(self, now: float) -> None:
        """Start (or restart) empty and accepting: a fresh accept queue and a full token bucket."""
        self.state = UP
        self.started_at = now
        self.cpu.reset(now)
        if self.bucket is not None:
            self.bucket.fill(now)
        self.world.backplane.reset_gateway(self)

    def begin_drain(self) -> None:
        """Stop accepting; keep serving the sockets held until they are closed."""
        self.state = DRAINING

    def go_down(self, now: float) -> None:
        """The process dies: a new incarnation, so events scheduled for the old one are ignored."""
        if self.world.batched is not None:
            self.world.batched.cut(self, now)
        self.state = DOWN
        self.incarnation += 1
        self.down_since = now

    def retire(self) -> None:
        """Removed from the fleet for good."""
        self.state = REMOVED

    def reset(self) -> None:
        """Every socket, queue and subscription is gone (after :meth:`go_down`)."""
        self.world.edge.forget(self)
        self.cpu.reset(self.world.env.now)
        self.world.consumers.forget(self)
        self.conns = set()
        self.zombies = {}
        self.zroom = {}
        self.n = 0
        self.queued_bytes = 0
        self.held_bytes = 0
        self.world.tables.clear(self.id)
        self.queued = {}
        self.order = {}
        self.world.backplane.reset_gateway(self)

    # -- subscriptions (the backplane decides, the gateway keeps the state) ------------------
    def mark_subscribed(self, room: int, head: int) -> None:
        """Subscribed to ``room``; its next live delivery follows offset ``head``."""
        self.subscribed[room] = True
        self.last[room] = head

    def mark_unsubscribed(self, room: int) -> None:
        """No subscription to ``room``."""
        self.subscribed[room] = False

    def clear_subscriptions(self, heads: list[int], upstream: int) -> None:
        """No subscription, ``upstream`` connections to the backplane, last offsets ``heads``."""
        self.upstream = upstream
        self.subscribed = [False] * len(self.subscribed)
        self.world.tables.last[self.id] = heads

    # -- membership -------------------------------------------------------------------------
    def join(self, room: int, queued_client: int = -1) -> None:
        """A socket subscribes to ``room`` (a fast member unless ``queued_client`` >= 0)."""
        members = self.members
        m = members[room]
        if m == 0:
            self.world.backplane.subscribe(self, room)
        members[room] = m + 1
        if queued_client < 0:
            self.fast[room] += 1
        else:
            s = self.queued.get(room)
            if s is None:
                s = self.queued[room] = set()
            s.add(queued_client)

    def leave(self, room: int, queued_client: int = -1, zombie: bool = False) -> None:
        """A socket leaves ``room``."""
        m = self.members[room] - 1
        self.members[room] = m
        if zombie:
            self.zmembers[room] -= 1
        elif queued_client < 0:
            self.fast[room] -= 1
        else:
            self.queued[room].discard(queued_client)
        if m == 0:
            self.world.backplane.unsubscribe(self, room)

    def release(self, c: int) -> None:
        """Client ``c``'s socket is gone (closed, cut or reclaimed): free its fd and budget."""
        self.conns.discard(c)
        self.n -= 1
        self.world.edge.closed(self, c)

    def vanish(self, c: int, rooms: tuple[int, ...], queued: bool, q: Any) -> int:
        """Client ``c`` left without a FIN: its socket stays as a half-open zombie whose send queue ``q``
        (what it had not read, still in this gateway's memory) keeps filling; returns its id."""
        zid = self.zseq
        self.zseq += 1
        for r in rooms:
            if queued:
                self.queued[r].discard(c)
            else:
                self.fast[r] -= 1
            self.zmembers[r] += 1
            self.zroom.setdefault(r, set()).add(zid)
        self.conns.discard(c)
        self.zombies[zid] = (c, rooms, q)
        return zid

    def reclaim(self, zid: int) -> bool:
        """Keepalive (or an idle timer) declared zombie ``zid`` dead: free it and its queue. False if
        already gone."""
        zombie = self.zombies.pop(zid, None)
        if zombie is None:
            return False
        c, rooms, q = zombie
        self.charge_queue(-self.world.consumers.held(q))
        self.world.consumers.discard(c, q)
        for r in rooms:
            self.zroom[r].discard(zid)
            self.leave(r, zombie=True)
        self.n -= 1
        self.world.edge.closed(self, c)
        self.world.consumers.unblock_rooms(self)  # a writer it blocked goes on
        return True

    def charge_queue(self, delta: int) -> None:
        """Bytes held in send queues changed by ``delta``."""
        self.queued_bytes += delta

    def charge_held(self, delta: int) -> None:
        """Bytes in the producer buffer changed by ``delta`` (an increase may run out of memory)."""
        self.held_bytes += delta
        if delta > 0:
            self.held_peak = max(self.held_peak, self.held_bytes)
            self.check_memory()

    # -- delivery ---------------------------------------------------------------------------
    def deliver(self, room: int, offset: int, t_pub: float, now: float) -> int:
        """The backplane hands publication ``offset`` of ``room`` to this gateway at ``now``.

        Queued members get it through their send queues; returns the number of fast members, whose
        deliveries the caller records (:meth:`World.delivered`) in one step for all gateways.
        """
        last = self.last[room]
        if offset <= last:
            return 0
        if self.world.consumers.holds(self, room, offset, t_pub, now):
            return 0  # its writer is blocked (``block`` policy): it waits, and everyone behind it
        gap = offset - last - 1
        self.last[room] = offset
        self.last_t[room] = now
        fast = self.fast[room]
        queued = self.queued.get(room)
        nq = len(queued) if queued else 0
        if gap > 0 and fast + nq:
            # Gap detection on live connections: members see the jump in offsets and resync.
            w = self.world
            w.lost(gap * (fast + nq), room)
            w.snapshot(fast + nq)
            w.rec.count("live_gaps")
        if self.zmembers[room]:
            self.world.consumers.to_dead_peers(self, room, offset, t_pub)
            if not self.serving:
                return 0  # their queues ran the gateway out of memory
        if nq:
            self.offer_queued(room, offset, t_pub, now)
        if not self.cpu_fanout:
            return fast
        # One CPU job writes the publication to the fast members (first) and the queued ones. On an
        # idle CPU it starts at once: the caller counts the fast members now (the job takes
        # microseconds), their latencies are added here. Behind a backlog: fan_out_queued.
        cpu = self.cpu
        cpu.sync(now)
        if cpu.free_at > now:
            self.fan_out_queued(room, offset, fast, nq, t_pub, now)
            return 0
        if cpu.pending:
            cpu.expire(now)  # the queue is empty: everything before is written
        message = self.message_cost
        write = self.rooms.room_write[room]
        work = message + (fast + nq) * write
        speed = cpu.speed(self.n)
        done = now + work / speed
        cpu.free_at = done
        if done < cpu.cur_end and now >= cpu.cur_start:
            cpu.cur_busy += work  # within the interval being filled
        else:
            cpu.served(now, done, work)
        cpu.head_done = done  # in service: one job of its room until done
        cpu.head_room = room
        cpu.jobs += 1
        if fast:
            first = now + message / speed
            span = fast * write / speed
            if span < RESOLUTION:  # its members' latencies as their mean
                self.world.gather(fast, first + span / 2 - t_pub, room)
            else:
                self.world.spread(fast, t_pub, first, first + span, room)
        return fast

    def offer_queued(self, room: int, offset: int, t_pub: float, now: float) -> None:
        """Write publication ``offset`` of ``room`` to the send queue of each queued (slow) member."""
        offer = self.world.consumers.offer
        for c in list(self.queued.get(room) or ()):
            offer(c, room, offset, t_pub, now)

    def fan_out_queued(self, room: int, offset: int, fast: int, nq: int, t_pub: float, now: float) -> None:
        """The fan-out job of :meth:`deliver` behind a backlog (``cpu.free_at > now``): the overflow
        bound applies, the frames wait in memory, the deliveries are recorded when written."""
        cpu = self.cpu
        if cpu.head_room >= 0 or (cpu.pending and cpu.pending[0][0] <= now):
            cpu.expire(now)
        rooms = self.rooms
        limit = rooms.room_limit[room]
        if fast and limit is not None and cpu.room_jobs.get(room, 0) >= limit:
            fast = self.overflow(room, offset, fast, now)
        message = self.message_cost
        write = rooms.room_write[room]
        work = message + (fast + nq) * write
        start = cpu.free_at
        wait = start - now
        if now >= cpu.warmup:
            cpu.wait_sum += wait
            if wait > cpu.backlog_max:
                cpu.backlog_max = wait
        cpu.jobs += 1
        speed = cpu.speed(self.n)
        done = start + work / speed
        cpu.free_at = done
        if done < cpu.cur_end and start >= cpu.cur_start:
            cpu.cur_busy += work
        else:
            cpu.served(start, done, work)
        nbytes = fast * rooms.room_wire[room]
        cpu.hold(done, room, nbytes)
        if fast:
            first = start + message / speed
            span = fast * write / speed
            w = self.world
            if span < RESOLUTION and first + span <= w.end:  # at their mean latency, counted when written
                w.rec.count("deliveries_delivered", fast)
                w.rec.rate("deliveries", first + span, fast)
                rooms.count(w.rec, "deliveries_delivered", room, fast)
                w.sample(first + span / 2 - t_pub, fast, first + span, room)
            else:
                w.written(fast, t_pub, first, first + span, room)
            self.check_memory()

    def write_one(self, t_pub: float, now: float) -> None:
        """A direct message to one fast client of this gateway: one job of one frame."""
        costs = self.fanout
        start, done = self.cpu.run(costs.message + costs.write, now, self.n)
        self.cpu.waited(start - now, now)
        self.world.written(1, t_pub, done, done)

    def overflow(self, room: int, offset: int, fast: int, now: float) -> int:
        """The room's fast members have a full send queue of frames waiting for the CPU: apply the
        overflow policy to publication ``offset``; returns the members still to be written."""
        w = self.world
        rec = w.rec
        policy = self.rooms.room_policy[room]
        if policy == "disconnect":
            # Closed before this publication was written: they resume from the one before it.
            self.last[room] = offset - 1
            cl = w.clients
            for c in [c for c in self.conns if not cl.queued[c] and cl.member(c, room)]:
                rec.count("slow_consumer_disconnects")
                self.rooms.count(rec, "slow_consumer_disconnects", room)
                rec.values.setdefault("first_slow_consumer_disconnect_s", now)
                cl.drop(c, reason="slow")
            self.last[room] = offset
            return 0
        if policy == "conflate":
            rec.count("messages_conflated", fast)
            self.rooms.count(rec, "messages_conflated", room, fast)
            return 0
        rec.count("messages_dropped_overflow", fast)
        self.rooms.count(rec, "messages_dropped_overflow", room, fast)
        rec.rate("drops", now, fast)
        w.lost(fast, room)
        if w.cfg.gateways.send_queue.gap_notice:
            w.snapshot(fast)
            rec.count("gap_notices", fast)
        return 0
