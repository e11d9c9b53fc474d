"""Publications: every connected client publishes at ``publish_rate``, as a Poisson process or periodically.

One SimPy process draws the fleet-wide next publication (rate × clients that exist, times the spike
multiplier) and picks a client uniformly; if that client is not connected the draw is thinned away,
which keeps each connected client an exact Poisson process. With ``publish_arrivals: periodic`` the
process ticks every ``1 / (rate × clients)`` and the clients take turns (client ``tick mod clients``,
rooms in turn): each connected client publishes exactly every ``1 / publish_rate``, deterministic
traffic for exact checks. A publication goes to one of the client's rooms, or with probability
``direct_fraction`` to one other client (1:1 messaging), which takes the same path as a room message:
the backplane's capacity and latency, the recipient's send queue, the producer buffer in an outage.
A change of the rate (a spike, or a quiet window at multiplier 0) interrupts the wait for the next
publication, which is drawn again at the new rate (memoryless): none lands inside a quiet window.

With room classes each membership publishes at its class's rate: the process draws at the highest
class rate × ``per_client`` × clients, picks a client and one of its rooms uniformly, and keeps the
draw with probability (the room's class rate / the highest) — thinning, so each membership is an exact
Poisson process of its class's rate; ``direct_fraction`` of the kept draws are direct messages instead.
"""

from __future__ import annotations

from typing import Any

import simpy

from wssim.randomness import Stream
from wssim.sim.clients import CONNECTED, GONE


class Traffic:
    """The publish process and direct messages."""

    def __init__(self, world: Any) -> None:
        cl = world.cfg.clients
        self.world = world
        self.rate = cl.publish_rate
        self.periodic = cl.publish_arrivals == "periodic"
        self.direct = cl.direct_fraction
        self.size = cl.message_size
        rt = world.roomtable
        self.classed = rt.classed
        self.top = max(rt.rate)  # the highest class rate of one membership (with classes)
        self.thin = [r / self.top if self.top > 0 else 0.0 for r in rt.rate]  # keep-probability per class
        self.multiplier = 1.0
        self.draws = world.streams.draws(Stream.PUBLISHES)
        self._wake: Any = None
        self._proc: simpy.Process | None = None
        self.in_flight = 0  # direct messages on their way through the backplane

    def start(self) -> None:
        """Start publishing (nothing to do at rate 0); on the batched path, in steps."""
        if (self.top if self.classed else self.rate) <= 0:
            return
        if self.world.batched is not None:
            self.world.batched.start()
        else:
            self._proc = self.world.env.process(self._run())

    def set_multiplier(self, m: float) -> None:
        """Scale every client's publish rate (a traffic spike): the next publication is drawn again."""
        self.multiplier = m
        if self._proc is not None and self._proc.is_alive:
            self._proc.interrupt()

    def _run(self) -> Any:
        w = self.world
        env = w.env
        cl = w.clients
        d = self.draws
        periodic = self.periodic
        tick = 0
        classed = self.classed
        per_client = self.top * cl.k if classed else self.rate
        while True:
            total = per_client * self.multiplier * cl.population
            try:
                if total <= 0:
                    self._wake = env.timeout(1.0)
                    yield self._wake
                    continue
                self._wake = env.timeout((1.0 if periodic else d.exponential()) / total)
                yield self._wake
            except simpy.Interrupt:
                continue  # the rate changed: draw again at the new one
            if periodic:
                c, turn = tick % cl.population, tick // cl.population
                tick += 1
            else:
                c, turn = int(d.random() * cl.population), -1
            if cl.state[c] != CONNECTED:
                continue
            if classed:
                self.classed_publication(c, turn, periodic)
            elif self.direct > 0 and d.random() < self.direct:
                self.direct_message(c, int(d.random() * cl.population), cl.gw[c], env.now)
            elif cl.k:
                j = turn % cl.k if periodic else int(d.random() * cl.k)
                r = cl.rooms[c * cl.k + j]
                if w.schedule is not None:
                    w.schedule.publish(env.now, r, c)
                w.backplane.publish(r, env.now, cl.gw[c])

    def classed_publication(self, c: int, turn: int, periodic: bool) -> None:
        """A draw for connected client ``c`` with room classes: one of its rooms, kept at its class's
        share of the highest rate; a direct message instead with probability ``direct_fraction``."""
        w = self.world
        cl = w.clients
        d = self.draws
        j = turn % cl.k if periodic else int(d.random() * cl.k)
        r = cl.rooms[c * cl.k + j]
        keep = self.thin[w.roomtable.of[r]]
        if keep < 1.0 and d.random() >= keep:
            return
        now = w.env.now
        if self.direct > 0 and d.random() < self.direct:
            self.direct_message(c, int(d.random() * cl.population), cl.gw[c], now)
            return
        if w.schedule is not None:
            w.schedule.publish(now, r, c)
        w.backplane.publish(r, now, cl.gw[c])

    def owed(self, dst: int) -> bool:
        """Whether a direct message to ``dst`` is owed to it (it has joined and not given up)."""
        cl = self.world.clients
        return cl.joined[dst] and cl.state[dst] != GONE

    def direct_message(self, src: int, dst: int, origin: int, t_pub: float) -> None:
        """A 1:1 message from ``src`` (on gateway ``origin``) to ``dst`` through the backplane."""
        w = self.world
        rec = w.rec
        cl = w.clients
        bp = w.backplane
        now = w.env.now
        if bp.down:
            rec.count("publishes_failed")
            # at most once: fire and forget; at least once: the producer buffer holds it, if it fits
            if (bp.at_most_once or not bp.hold(-1 - dst, t_pub, origin, self.size)) and self.owed(dst):
                rec.count("deliveries_expected")
                w.lost(1)
            return
        rec.count("messages_published")
        rec.count("direct_messages")
        if not self.owed(dst):
            return
        rec.count("deliveries_expected")
        if cl.state[dst] != CONNECTED:
            self.missed(dst)
            return
        g = w.gateways[cl.gw[dst]]
        if bp.topology == "local":
            if origin != g.id:
                w.lost(1)
                return
            n = 1
        elif bp.topology in ("channel_per_room", "registry") and bp.interest:
            n = 1
        else:
            n = sum(1 for x in w.gateways if x.serving)
        rec.count("backplane_deliveries", n)
        rec.rate("backplane_deliveries", now, n)
        if n > 1:
            rec.count("backplane_deliveries_discarded", n - 1)
        self.in_flight += 1
        w.call_at(bp.reserve(n, now) + bp.latency(), self._arrive, (dst, cl.gen[dst], t_pub))

    def missed(self, dst: int) -> None:
        """A direct message ``dst`` was not connected to receive: kept for its resume, or lost."""
        w = self.world
        if w.history.keeps:
            w.clients.inbox[dst] = w.clients.inbox.get(dst, 0) + 1
        else:
            w.lost(1)

    def _arrive(self, ev: Any) -> None:
        dst, gen, t_pub = ev.value
        self.in_flight -= 1
        w = self.world
        cl = w.clients
        now = w.env.now
        if cl.gen[dst] != gen or cl.state[dst] != CONNECTED:
            self.missed(dst)
        elif cl.queued[dst]:
            w.consumers.offer(dst, -1, 0, t_pub, now)
        elif w.gateways[cl.gw[dst]].cpu_fanout:
            w.gateways[cl.gw[dst]].write_one(t_pub, now)
        else:
            w.delivered(1, t_pub, now)
