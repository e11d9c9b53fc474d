"""The wiring of one simulated run: clock, recorder, random streams and the components, from a config.

Components hold a reference to the :class:`World` and reach each other through it. Events are SimPy
timeouts with a callback (``World.call_at``): no generator process per client, so a million idle
connections cost memory but no events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from heapq import heappush
from typing import Any

import simpy
from simpy.events import NORMAL, Timeout

from wssim.analytic.cost import gateway_budget
from wssim.metrics import Recorder
from wssim.policies import Keepalive, tightest
from wssim.schedule import ScheduleRecorder
from wssim.sim.cpu import FanoutCosts
from wssim.sim.roomtable import RoomTable
from wssim.sim.samples import WeightedSamples
from wssim.sim.servers import FifoServer
from wssim.sim.streams import Streams
from wssim.sim.tables import Tables

SPREAD = 4  # latency samples per fan-out job (see World.written)


class _Call(Timeout):
    """A timeout born with its one callback (:meth:`World.call_at`)."""

    def __init__(self, env: simpy.Environment, delay: float, value: Any, fn: Callable[[Any], Any]) -> None:
        self.env = env
        self.callbacks = [fn]
        self._value = value
        self._delay = delay
        self._ok = True


class World:
    """Everything one run shares. Build with :func:`wssim.sim.simulate.build_world`."""

    def __init__(self, config: Any, replication: int = 0, batched: bool = False) -> None:
        from wssim.sim.backplane import Backplane
        from wssim.sim.bulk import Batched
        from wssim.sim.clients import Clients
        from wssim.sim.consumers import Consumers
        from wssim.sim.edge import Edge
        from wssim.sim.faults import Faults
        from wssim.sim.gateway import Gateway
        from wssim.sim.history import History
        from wssim.sim.observe import Observer
        from wssim.sim.traffic import Traffic

        self.cfg = config
        self.replication = replication
        self.env = simpy.Environment()
        self.rec = Recorder(interval=config.interval, warmup=config.warmup)
        self.streams = Streams(config.seed, replication)
        self.schedule: ScheduleRecorder | None = None  # set to record the events drawn (wssim.schedule)
        gw = config.gateways
        self.budget = gateway_budget(config)
        self.conn_bytes = self.budget.bytes
        self.keepalive = Keepalive(gw.keepalive.ping_interval, gw.keepalive.effective_timeout)
        self.idle_timeout = tightest(config.edge.idle_timeout, config.edge.path_idle_timeout)
        self.rooms = config.clients.rooms.count
        self.latency = WeightedSamples(config.warmup)
        self.snapshots = FifoServer(config.clients.snapshot.rate)
        self.fanout = FanoutCosts(config)
        self.roomtable = RoomTable(config)  # each room's class, size of message, policy
        self.end = float(config.duration)
        self.lat_n, self.lat_sum = 0, 0.0  # latencies gathered for the publication being delivered
        rt = self.roomtable
        # Per class (with room classes): latency samples, and the latencies gathered as lat_n, lat_sum.
        self.class_latency = [WeightedSamples(config.warmup) for _ in rt.names] if rt.classed else None
        self.lat_class = [[0, 0.0] for _ in rt.names]
        # Hot rate series counted per interval index, outside the recorder (see ``flush_bins``).
        self.attempt_bins: defaultdict[int, int] = defaultdict(int)
        self.handshake_bins: defaultdict[int, int] = defaultdict(int)
        # Components (order matters: later ones read earlier ones at construction).
        extra = sum(f.count for f in config.faults if f.kind == "add_gateways")
        self.tables = Tables(gw.count + extra, self.rooms)
        self.history = History(self, batched)
        self.gateways: list[Gateway] = [Gateway(self, g) for g in range(gw.count + extra)]
        self.edge = Edge(self)
        self.backplane = Backplane(self)
        self.consumers = Consumers(self)
        self.clients = Clients(self)
        self.traffic = Traffic(self)
        self.batched: Batched | None = Batched(self) if batched else None  # the batched fan-out path
        self.faults = Faults(self)
        self.observer = Observer(self)

    @property
    def now(self) -> float:
        """The simulated time, seconds."""
        return self.env.now

    def call_at(self, t: float, fn: Callable[[simpy.Event], Any], value: Any = None) -> simpy.Event:
        """Call ``fn(event)`` at time ``t`` (``event.value`` is ``value``). Returns the event: a timeout
        scheduled as ``env.timeout`` schedules one, without its generic construction."""
        env = self.env
        now = env._now
        delay = t - now
        delay = delay if delay > 0 else 0.0
        ev = _Call(env, delay, value, fn)
        heappush(env._queue, (now + delay, NORMAL, next(env._eid), ev))
        return ev

    def flush_bins(self) -> None:
        """Move the locally counted rate series into the recorder (idempotent)."""
        step = self.cfg.interval
        for series, bins in (("connect_attempts", self.attempt_bins), ("handshakes", self.handshake_bins)):
            for b, n in sorted(bins.items()):
                self.rec.rate(series, (b + 0.5) * step, n)
            bins.clear()

    def delivered(self, n: int, t_pub: float, now: float, room: int = -1) -> None:
        """``n`` fast members of ``room`` (-1: a direct message) got a publication from ``t_pub`` at
        ``now``: count it and its latency."""
        if n > 0:
            rec = self.rec
            rec.count("deliveries_delivered", n)
            rec.rate("deliveries", now, n)
            classes = self.class_latency
            if classes is not None and room >= 0:
                self.roomtable.count(rec, "deliveries_delivered", room, n)
            if not self.fanout.costs:
                self.latency.add(now - t_pub, n, now)
                if classes is not None and room >= 0:
                    classes[self.roomtable.of[room]].add(now - t_pub, n, now)
            elif self.lat_n:  # the gateways' members written at once, at their mean latency
                self.latency.add(self.lat_sum / self.lat_n, self.lat_n, now)
                self.lat_n = 0
                self.lat_sum = 0.0
                if classes is not None:
                    for c, acc in enumerate(self.lat_class):
                        if acc[0]:
                            classes[c].add(acc[1] / acc[0], acc[0], now)
                            acc[0], acc[1] = 0, 0.0

    def sample(self, latency: float, n: int, t: float, room: int = -1) -> None:
        """A latency sample of weight ``n`` at ``t`` (also its class's, for a room of a class)."""
        self.latency.add(latency, n, t)
        if self.class_latency is not None and room >= 0:
            self.class_latency[self.roomtable.of[room]].add(latency, n, t)

    def gather(self, n: int, latency: float, room: int) -> None:
        """``n`` members of ``room`` written at once, at ``latency``: one sample when the publication's
        deliveries are counted (:meth:`delivered`)."""
        self.lat_n += n
        self.lat_sum += n * latency
        if self.class_latency is not None and room >= 0:
            acc = self.lat_class[self.roomtable.of[room]]
            acc[0] += n
            acc[1] += n * latency

    def written(self, n: int, t_pub: float, first: float, last: float, room: int = -1) -> None:
        """A gateway's CPU writes a publication from ``t_pub`` to ``n`` fast members one after another,
        the first at ``first`` and the last at ``last``: count them and their latencies.

        Members written after the run's end are not counted. Latency samples: up to ``SPREAD`` equal
        shares of the members, each at the midpoint of its share of the writing time (exact for the
        mean; quantiles within half a share of the writing time).
        """
        end = self.end
        if last > end:  # written after the run's end: not delivered within it
            if first >= end or n == 1:
                return
            n = int(n * (end - first) / (last - first))
            last = end
            if n <= 0:
                return
        rec = self.rec
        rec.count("deliveries_delivered", n)
        rec.rate("deliveries", last, n)
        if room >= 0:
            self.roomtable.count(rec, "deliveries_delivered", room, n)
        self.spread(n, t_pub, first, last, room)

    def spread(self, n: int, t_pub: float, first: float, last: float, room: int = -1) -> None:
        """The latency samples of :meth:`written` (also its class's, for a room of a class)."""
        self._spread(self.latency.add, n, t_pub, first, last)
        if self.class_latency is not None and room >= 0:
            self._spread(self.class_latency[self.roomtable.of[room]].add, n, t_pub, first, last)

    @staticmethod
    def _spread(add: Callable[..., None], n: int, t_pub: float, first: float, last: float) -> None:
        if n == 1 or last <= first:
            add(last - t_pub, n, last)
            return
        k = n if n < SPREAD else SPREAD
        step = (last - first) / k
        t = first + step / 2 - t_pub
        w = n / k
        for _ in range(k):
            add(t, w, last)
            t += step

    def snapshot(self, n: int = 1) -> None:
        """``n`` clients fetch a room snapshot over HTTP (a resync): requests, bytes and their time,
        queueing for the snapshot service included."""
        rec = self.rec
        now = self.env.now
        waited, _ = self.snapshots.serve(n, now)
        rec.count("resyncs", n)
        rec.rate("snapshots", now, n)
        rec.count("snapshot_bytes", n * self.cfg.clients.snapshot.size)
        rec.count("snapshot_seconds", n * self.cfg.clients.snapshot.latency + waited)

    def lost(self, n: float, room: int = -1) -> None:
        """Owed deliveries (of ``room``, -1: unknown or direct) that will never be received."""
        if n > 0:
            self.rec.count("messages_lost", n)
            if room >= 0:
                self.roomtable.count(self.rec, "messages_lost", room, n)

    def expected(self, n: float, room: int) -> None:
        """``n`` deliveries of a publication to ``room`` are owed."""
        self.rec.count("deliveries_expected", n)
        self.roomtable.count(self.rec, "deliveries_expected", room, n)
