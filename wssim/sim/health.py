"""Health checks: how each balancer node learns that a gateway died, is draining, or came back.

Each balancer node probes every gateway registered with it in rounds, exactly as the live balancer's
health loop does (``reference_impl/system/balancer.py``): a round probes all gateways at once, waits
for every probe to end, then pauses ``interval`` before the next round. A probe of a gateway

========================  ============================================  ================
gateway                   the probe                                      ends after
========================  ============================================  ================
crashed (no process)      connection refused: fails                      at once
draining                  ``GET /healthz`` answered 503: fails           at once
up, accept queue ``q`` s  answered when the queue reaches it: succeeds   ``q`` (≤ timeout)
up, ``q`` > timeout       not answered in time: fails                    ``timeout``
========================  ============================================  ================

``fall`` failures in a row take the gateway out of that node's pool, ``rise`` successes in a row put
it back. A crash is therefore noticed between ``(fall − 1)·interval`` and ``fall·interval`` after it
happens (probes of a dead process fail at once, so rounds stay ``interval`` apart), and a restarted
gateway rejoins between ``(rise − 1)·interval`` and ``rise·interval`` after it starts. Each node's
first round starts at a random phase in ``[0, interval)`` (stream ``HEALTH``), as a balancer started
at an arbitrary moment. With ``passive`` a node also takes a gateway out at the first connection it
refuses and retries the pick (the live balancer's passive check).

A round costs one event per node, plus one per distinct answer time of a probe that had to wait.
"""

from __future__ import annotations

from typing import Any

from wssim.randomness import Stream
from wssim.sim.gateway import UP


class HealthChecks:
    """Per node and gateway: the run of failed and answered probes, and the pool decisions they make."""

    def __init__(self, world: Any, nodes: int, registered: list[bool]) -> None:
        hc = world.cfg.edge.health_check
        self.world = world
        self.interval, self.timeout, self.fall, self.rise = hc.interval, hc.timeout, hc.fall, hc.rise
        self.passive = hc.passive
        self.registered = [list(registered) for _ in range(nodes)]  # known to the node (probed)
        self.healthy = [list(registered) for _ in range(nodes)]  # in the node's pool
        self.fails = [[0] * len(registered) for _ in range(nodes)]
        self.oks = [[0] * len(registered) for _ in range(nodes)]
        self.detections: list[float] = []  # crash -> out of a node's pool, seconds
        self.rejoins: list[float] = []  # (re)start -> back in a node's pool, seconds

    def start(self) -> None:
        """Schedule each node's first probe round at a random phase of the interval."""
        phases = self.world.streams.generator(Stream.HEALTH).random(len(self.healthy)) * self.interval
        for node, phase in enumerate(phases.tolist()):
            self.world.call_at(phase, self._round, node)

    # -- registration (explicit, not probed) ----------------------------------------------------
    def register(self, gid: int) -> None:
        """``gid`` joins every node at once (scale-out registers it with the balancer)."""
        for node in range(len(self.healthy)):
            self.registered[node][gid] = self.healthy[node][gid] = True
            self.fails[node][gid] = self.oks[node][gid] = 0

    def deregister(self, gid: int) -> None:
        """``gid`` is forgotten by every node (scale-in removes it from the balancer)."""
        for node in range(len(self.healthy)):
            self.registered[node][gid] = self.healthy[node][gid] = False

    # -- probing --------------------------------------------------------------------------------
    def probe(self, g: Any, now: float) -> tuple[bool, float]:
        """One probe of gateway ``g`` at ``now``: (answered in time, seconds until the probe ends)."""
        if g.state != UP:  # refused (no process), or 503 (draining)
            return False, 0.0
        wait = g.backlog(now)
        if wait > self.timeout:
            return False, self.timeout
        return True, wait

    def _round(self, ev: Any) -> None:
        node = ev.value
        w = self.world
        now = w.env.now
        later: dict[float, list[tuple[int, bool]]] = {}
        longest = 0.0
        registered = self.registered[node]
        for g in w.gateways:
            if not registered[g.id]:
                continue
            ok, took = self.probe(g, now)
            if took > 0.0:
                later.setdefault(now + took, []).append((g.id, ok))
                longest = max(longest, took)
            else:
                self.result(node, g.id, ok, now)
        for t, results in later.items():
            w.call_at(t, self._results, (node, results))
        w.call_at(now + longest + self.interval, self._round, node)

    def _results(self, ev: Any) -> None:
        node, results = ev.value
        now = self.world.env.now
        for gid, ok in results:
            if self.registered[node][gid]:
                self.result(node, gid, ok, now)

    def result(self, node: int, gid: int, ok: bool, now: float) -> None:
        """Count one probe's outcome and move the gateway in or out of the node's pool."""
        if ok:
            self.fails[node][gid] = 0
            self.oks[node][gid] += 1
            if not self.healthy[node][gid] and self.oks[node][gid] >= self.rise:
                self._admit(node, gid, now)
        else:
            self.oks[node][gid] = 0
            self.fails[node][gid] += 1
            if self.healthy[node][gid] and self.fails[node][gid] >= self.fall:
                self.evict(node, gid, now)

    def refused(self, node: int, gid: int, now: float) -> bool:
        """A connection through ``node`` was refused by ``gid``: True if the passive check evicted it."""
        if not self.passive or not self.healthy[node][gid]:
            return False
        self.oks[node][gid] = 0
        self.evict(node, gid, now)
        self.world.rec.count("passive_health_removals")
        return True

    def evict(self, node: int, gid: int, now: float) -> None:
        """Out of ``node``'s pool; a crash detection is timed from the moment the gateway died."""
        self.healthy[node][gid] = False
        g = self.world.gateways[gid]
        if not g.serving:  # crashed (restarting or not)
            self.detections.append(now - g.down_since)
        self.world.rec.count("health_check_removals")
        self.world.edge.evict(node, gid)

    def _admit(self, node: int, gid: int, now: float) -> None:
        self.healthy[node][gid] = True
        self.fails[node][gid] = 0
        self.rejoins.append(now - self.world.gateways[gid].started_at)
        self.world.rec.count("health_check_readds")
        self.world.edge.admit(node, gid)
