"""The pub/sub backplane between gateways: routing by topology, latency, capacity, outages.

Kinds and what the model gives each (latency defaults from measurements on loopback, see MEASURED.md):

===============  ==================================================================================
none             no backplane (sticky): a publication reaches only the publisher's gateway
in_memory        a single node: instant, keeps a replay window, loses it when restarted
redis_pubsub     at most once, nothing kept: what a gateway misses while unsubscribed is lost
redis_streams    bounded replay window (XADD/XREAD); history lost if Redis restarts
nats             NATS core: at most once, like Redis Pub/Sub
jetstream        persistent stream: a resubscribing gateway catches up by sequence; survives restarts
kafka            partitions (rooms hash to ``partitions``), order per partition, offset as cursor,
                 durable, higher latency. *Modelled only*: no Kafka broker runs in this project.
managed          a provider's service: durable, provider-defined limits, priced per connection-minute
===============  ==================================================================================

Latency is lognormal from a median and a 99th percentile, one draw per publication (its gateways
receive it together, unless one is still behind an earlier message of the same room). Throughput is
a FIFO server of ``capacity`` deliveries per second: every per-gateway delivery (discarded ones
included) takes ``1/capacity``; beyond it deliveries queue and latency grows.

Topologies decide which gateways get a publication: every gateway (``broadcast``, or any topology
without interest routing), the gateways subscribed to the room's channel (``channel_per_room``) or
to its shard (``sharded``), or the gateways a shared registry says hold members (``registry``).
Deliveries to a gateway with no member are counted in ``backplane_deliveries_discarded``; the gateway
still reads each one (a job of ``gateways.cpu.backplane_message`` on its CPU).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from wssim.policies.rooms import lognormal_params
from wssim.randomness import Stream
from wssim.sim.history import DURABLE

# (median s, p99 s, capacity deliveries/s); None = instant / unbounded.
KIND_DEFAULTS: dict[str, tuple[float | None, float | None, float | None]] = {
    "none": (None, None, None),
    "in_memory": (None, None, None),
    "redis_pubsub": (96e-6, 136e-6, 113_000.0),
    "redis_streams": (110e-6, 250e-6, 95_000.0),
    "nats": (98e-6, 146e-6, 310_000.0),
    "jetstream": (300e-6, 1.5e-3, 59_000.0),
    "kafka": (8e-3, 20e-3, 1_000_000.0),
    "managed": (20e-3, 80e-3, None),
}
AT_MOST_ONCE = {"redis_pubsub", "nats", "none"}


class Backplane:
    """Routes publications to gateways and schedules their delivery."""

    def __init__(self, world: Any) -> None:
        cfg = world.cfg
        bp = cfg.backplane
        self.world = world
        self.kind = bp.kind
        med, p99, cap = KIND_DEFAULTS[bp.kind]
        if bp.latency is not None:
            med, p99 = bp.latency.median, bp.latency.p99
        self.instant = med is None or med <= 0
        self.mu, self.sigma = (0.0, 0.0) if self.instant else lognormal_params(med, p99)
        self.capacity = bp.capacity if bp.capacity is not None else cap
        self.free_at = 0.0
        # The batched path's publications of the step: their times, when each is through the
        # throughput queue, and when the queue was free at the step's start (an exact publication
        # queues behind those before it, not the whole step's); latest arrival per room.
        self.ahead: tuple[np.ndarray, np.ndarray, float] | None = None
        self.room_td: memoryview | None = None
        self.topology = bp.topology if bp.kind != "none" else "local"
        self.interest = bp.interest_routing
        self.shards = bp.shards
        self.partitions = bp.partitions
        self.kafka = bp.kind == "kafka"
        self.at_most_once = bp.kind in AT_MOST_ONCE
        self.durable = bp.kind in DURABLE
        self.down = False
        self.held: list[tuple[int, float, int, int, int]] = []  # (target, t_pub, gateway, incarnation, bytes)
        self.buffer = bp.producer_buffer
        self.incarnation = 0
        self.draws = world.streams.draws(Stream.LATENCY)
        self.heads = world.history.last  # per room, its last offset published
        # Per room, the gateways with members as a bit mask (bit g: gateway g): a small int, not a set.
        self.room_gws: list[int] = [0] * world.rooms
        self.shard_members = [[0] * self.shards for _ in world.gateways]
        self.ports = cfg.gateways.ephemeral_ports
        self.pool = 0 if bp.kind in ("none", "in_memory") else cfg.gateways.backplane_connections
        self.read_cost = world.fanout.costs and world.fanout.message > 0  # reading a message costs CPU
        for g in world.gateways:
            if g.up:
                self.reset_gateway(g)

    # -- subscriptions ----------------------------------------------------------------------
    def subscribe(self, gw: Any, room: int) -> None:
        """``gw`` got its first member of ``room``: subscribe to its channel if interest routing."""
        self.room_gws[room] |= gw.bit
        if self.topology == "sharded":  # the shard's subscription is shared by its rooms
            self.shard_members[gw.id][room % self.shards] += 1
        gw.mark_subscribed(room, self.heads[room])

    def unsubscribe(self, gw: Any, room: int) -> None:
        """``gw`` lost its last member of ``room``."""
        self.room_gws[room] &= ~gw.bit
        if self.topology == "sharded":
            s = room % self.shards
            self.shard_members[gw.id][s] -= 1
            if self.shard_members[gw.id][s] > 0:
                return
        gw.mark_unsubscribed(room)

    def reset_gateway(self, gw: Any) -> None:
        """``gw`` (re)started empty, or died: no subscriptions; a started one opens its connection pool.

        Subscriptions are multiplexed on the pool, so they take no port of their own: ephemeral ports
        run out only when the pool to one server needs more than ``gateways.ephemeral_ports``.
        """
        keep = ~gw.bit
        self.room_gws = [m & keep for m in self.room_gws]
        self.shard_members[gw.id] = [0] * self.shards
        upstream = self.pool if gw.up else 0
        if upstream > self.ports:
            self.world.rec.count("ephemeral_port_exhaustions", upstream - self.ports)
            upstream = self.ports
        gw.clear_subscriptions(self.world.history.last, upstream)

    # -- routing ----------------------------------------------------------------------------
    def targets(self, room: int, origin: int) -> tuple[list[Any], list[Any]]:
        """Gateways a publication of ``room`` reaches: (gateways with members, gateways that discard it)."""
        gws = self.world.gateways
        topo = self.topology
        if topo == "local":
            g = gws[origin] if origin >= 0 else None
            return ([g] if g is not None and g.serving and g.members[room] else []), []
        if topo == "broadcast" or not self.interest:
            live = [g for g in gws if g.serving]
            return [g for g in live if g.members[room]], [g for g in live if not g.members[room]]
        if topo == "sharded":
            s = room % self.shards
            sub = [g for g in gws if g.serving and self.shard_members[g.id][s] > 0]
            return [g for g in sub if g.members[room]], [g for g in sub if not g.members[room]]
        return [gws[i] for i in bits(self.room_gws[room])], []

    def latency(self) -> float:
        """One transit latency draw."""
        if self.instant:
            return 0.0
        return math.exp(self.mu + self.sigma * self.draws.normal())

    def publish(self, room: int, now: float, origin: int, t_pub: float | None = None) -> bool:
        """Publish to ``room`` from gateway ``origin`` at ``now``; False when the backplane is down.

        ``t_pub`` is when the publication was first sent (latency is measured from it); it differs
        from ``now`` only for a publication held through an outage.
        """
        w = self.world
        rec = w.rec
        if t_pub is None:
            t_pub = now
        if self.down:
            rec.count("publishes_failed")
            # An at-least-once producer keeps the publication in its buffer and sends it when the
            # backplane returns (late, not lost); at most once, or beyond the buffer, it is gone.
            if self.at_most_once or not self.hold(room, t_pub, origin, w.roomtable.room_size[room]):
                owed = w.clients.room_logical[room]
                w.expected(owed, room)
                w.lost(owed, room)
                if self.at_most_once:
                    rec.count("backplane_deliveries_lost", len(self.targets(room, origin)[0]))
            return False
        offset = w.history.publish(room, now)
        rec.count("messages_published")
        w.roomtable.count(rec, "messages_published", room)
        w.expected(w.clients.room_logical[room], room)
        hit, waste = self.targets(room, origin)
        discarded = len(waste)
        n = len(hit) + discarded
        if n == 0:
            return True
        rec.count("backplane_deliveries", n)
        rec.rate("backplane_deliveries", now, n)
        if discarded:
            rec.count("backplane_deliveries_discarded", discarded)
        t = self.reserve(n, now)
        key = room % self.partitions if self.kafka else room
        td = t + self.latency()  # one transit draw per publication, shared by its gateways
        batch: list[tuple[Any, int]] = []
        late: dict[float, list[tuple[Any, int]]] | None = None
        for g in hit:
            if g.sub_down or not g.subscribed[room]:
                if self.at_most_once or not g.subscribed[room]:
                    rec.count("backplane_deliveries_lost")
                    if not g.subscribed[room]:
                        w.lost(g.members[room] - g.zmembers[room], room)
                continue  # durable: caught up when the subscription returns
            order = g.order
            prev = order.get(key, 0.0)
            if self.room_td is not None and self.room_td[room] > prev:  # behind a batched one
                prev = self.room_td[room]
            if prev > td:  # FIFO per room (partition) per gateway: wait behind the previous one
                order[key] = prev
                if late is None:
                    late = {}
                late.setdefault(prev, []).append((g, g.incarnation))
            else:
                order[key] = td
                batch.append((g, g.incarnation))
        if waste and self.read_cost:  # a gateway reads what it discards: a job of backplane_message
            batch.extend((g, g.incarnation) for g in waste if not g.sub_down)
        if batch:
            if td <= now:
                self._deliver(batch, self.incarnation, room, offset, t_pub)
            else:
                w.call_at(td, self._arrive, (batch, self.incarnation, room, offset, t_pub))
        if late:
            for tg, gs in late.items():
                w.call_at(tg, self._arrive, (gs, self.incarnation, room, offset, t_pub))
        return True

    def _arrive(self, ev: Any) -> None:
        self._deliver(*ev.value)

    def _deliver(self, batch: list[tuple[Any, int]], binc: int, room: int, offset: int, t_pub: float) -> None:
        """Hand publication ``offset`` to every gateway of ``batch`` that is still there to get it."""
        w = self.world
        now = w.env.now
        fast = 0
        for g, inc in batch:
            gone = g.incarnation != inc or not g.serving or binc != self.incarnation
            if gone or (g.sub_down and self.at_most_once):
                w.rec.count("backplane_deliveries_lost")
            else:
                fast += g.deliver(room, offset, t_pub, now)
        w.delivered(fast, t_pub, now, room)

    def reserve(self, n: int, now: float) -> float:
        """Queue ``n`` per-gateway deliveries on the backplane's throughput; when they are through."""
        if self.capacity is None:
            return now
        start = self.free_at if self.free_at > now else now
        if self.ahead is not None:
            t, done, free = self.ahead
            i = int(np.searchsorted(t, now, side="right"))
            before = float(done[i - 1]) if i else free
            if before > start:
                start = before
        self.free_at = start + n / self.capacity
        return self.free_at

    def bulk_free_at(self) -> float:
        """When the throughput queue is through every publication so far, exact and batched (the
        batched path's next step queues behind them)."""
        free = self.free_at
        if self.ahead is not None:
            free = max(free, float(self.ahead[1][-1]) if len(self.ahead[1]) else self.ahead[2])
        return free

    # -- the at-least-once producer's buffer --------------------------------------------------
    def hold(self, target: int, t_pub: float, origin: int, size: int) -> bool:
        """Keep a publication for ``target`` (a room, or ``-1 - client`` for a direct message) in the
        producer buffer of gateway ``origin`` until the backplane returns; False if the buffer is full."""
        g = self.world.gateways[origin]
        if self.buffer is not None and g.held_bytes + size > self.buffer:
            self.world.rec.count("producer_buffer_overflows")
            return False
        self.held.append((target, t_pub, origin, g.incarnation, size))
        g.charge_held(size)  # may run the gateway out of memory: the held publication dies with it
        return True

    def release_held(self, now: float) -> None:
        """The backplane is back: producers publish what they held, in order. A gateway that crashed
        meanwhile lost its buffer: those publications are gone for everyone they were owed to."""
        held, self.held = self.held, []
        w = self.world
        for target, t_pub, origin, incarnation, size in held:
            g = w.gateways[origin]
            alive = g.incarnation == incarnation
            if alive:
                g.charge_held(-size)
            if target >= 0 and alive:
                self.publish(target, now, origin, t_pub)
            elif target >= 0:
                owed = w.clients.room_logical[target]
                w.expected(owed, target)
                w.lost(owed, target)
                w.rec.count("producer_buffer_discarded")
            elif alive:
                w.traffic.direct_message(-1, -1 - target, origin, t_pub)
            elif w.traffic.owed(-1 - target):
                w.rec.count("deliveries_expected")
                w.lost(1)
                w.rec.count("producer_buffer_discarded")

    def settle_open_outages(self) -> None:
        """At the end of a run: what members of gateways still cut off an at-most-once backplane missed
        is a gap they will never be sent (they would see it only on the next live message)."""
        if not self.at_most_once:
            return
        w = self.world
        last = w.history.last
        for g in w.gateways:
            if not (g.sub_down and g.serving):
                continue
            for room, missed in enumerate(last):
                members = g.fast[room] + len(g.queued.get(room) or ())
                if members and missed > g.last[room]:
                    w.lost((missed - g.last[room]) * members, room)

    def catch_up(self, gw: Any) -> None:
        """A durable backplane redelivers what ``gw`` missed while unsubscribed (within the window)."""
        hist = self.world.history
        now = self.world.now
        for room, m in enumerate(gw.members):
            if not m or not gw.subscribed[room]:
                continue
            last = hist.last[room]
            cursor = gw.last[room]
            if last <= cursor:
                continue
            times = hist.replay(room, cursor, now)
            if times is not None and len(times) == last - cursor:
                hist.serve(len(times), now)
                # Replayed in order with their publish times; members receive every missed offset.
                for o, t_pub in zip(range(cursor + 1, last + 1), times, strict=True):
                    self.world.delivered(gw.deliver(room, o, t_pub, now), t_pub, now, room)
                self.world.rec.count("backplane_deliveries", len(times))
            # Otherwise the gap stays and the next live message triggers the members' resync.


def bits(mask: int) -> list[int]:
    """The positions of the bits set in ``mask``, in increasing order."""
    out = []
    i = 0
    while mask:
        if mask & 1:
            out.append(i)
        mask >>= 1
        i += 1
    return out
