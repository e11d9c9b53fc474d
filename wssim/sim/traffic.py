"""Publications: every connected client publishes as a Poisson process at ``publish_rate``.

One SimPy process draws the fleet-wide next publication (rate × clients that exist, times the spike
multiplier) and picks a client uniformly; if that client is not connected the draw is thinned away,
which keeps each connected client an exact Poisson process. A publication goes to one of the
client's rooms, or with probability ``direct_fraction`` to one other client (1:1 messaging).
"""

from __future__ import annotations

from typing import Any

from wssim.randomness import Stream
from wssim.sim.clients import CONNECTED, GONE


class Traffic:
    """The publish process and direct messages."""

    def __init__(self, world: Any) -> None:
        cl = world.cfg.clients
        self.world = world
        self.rate = cl.publish_rate
        self.direct = cl.direct_fraction
        self.multiplier = 1.0
        self.draws = world.streams.draws(Stream.PUBLISHES)
        self._wake: Any = None

    def start(self) -> None:
        """Start publishing (nothing to do at rate 0)."""
        if self.rate > 0:
            self.world.env.process(self._run())

    def set_multiplier(self, m: float) -> None:
        """Scale every client's publish rate (a traffic spike)."""
        self.multiplier = m

    def _run(self) -> Any:
        w = self.world
        env = w.env
        cl = w.clients
        d = self.draws
        while True:
            total = self.rate * self.multiplier * cl.population
            if total <= 0:
                self._wake = env.timeout(1.0)
                yield self._wake
                continue
            self._wake = env.timeout(d.exponential() / total)
            yield self._wake
            c = int(d.random() * cl.population)
            if cl.state[c] != CONNECTED:
                continue
            if self.direct > 0 and d.random() < self.direct:
                self.direct_message(c, int(d.random() * cl.population))
            elif cl.k:
                r = cl.rooms[c * cl.k + int(d.random() * cl.k)]
                w.backplane.publish(r, env.now, cl.gw[c])

    def direct_message(self, src: int, dst: int) -> None:
        """A 1:1 message from ``src`` to ``dst`` through the backplane (registry-targeted if so)."""
        w = self.world
        rec = w.rec
        cl = w.clients
        bp = w.backplane
        now = w.env.now
        if bp.down:
            rec.count("publishes_failed")
            if bp.at_most_once and cl.joined[dst] and cl.state[dst] != GONE:
                rec.count("deliveries_expected")  # fire and forget: gone
                w.lost(1)
            elif not bp.at_most_once:
                w.call_at(now + 1.0, self._retry_direct, (src, dst))  # the producer retries
            return
        rec.count("messages_published")
        rec.count("direct_messages")
        if not cl.joined[dst] or cl.state[dst] == GONE:
            return
        rec.count("deliveries_expected")
        if cl.state[dst] != CONNECTED:
            if w.history.keeps:
                cl.inbox[dst] = cl.inbox.get(dst, 0) + 1
            else:
                w.lost(1)
            return
        g = w.gateways[cl.gw[dst]]
        if bp.topology == "local":
            if cl.gw[src] != g.id:
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
        w.call_at(now + bp.latency(), self._arrive, (dst, cl.gen[dst], now))

    def _retry_direct(self, ev: Any) -> None:
        self.direct_message(*ev.value)

    def _arrive(self, ev: Any) -> None:
        dst, gen, t_pub = ev.value
        w = self.world
        cl = w.clients
        if cl.gen[dst] == gen and cl.state[dst] == CONNECTED:
            w.rec.count("deliveries_delivered")
            w.latency.add(w.env.now - t_pub, 1, w.env.now)
        elif w.history.keeps:
            cl.inbox[dst] = cl.inbox.get(dst, 0) + 1
        else:
            w.lost(1)
