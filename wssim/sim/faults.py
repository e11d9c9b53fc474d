"""Faults on the timeline, and what each does to the fleet (each is marked with ``rec.mark``).

- ``gateway_crash``: the process dies; every socket on it drops at once and its clients reconnect with
  backoff through the balancer (which notices the dead node when its health checks fail). It restarts
  empty after ``gateways.restart_delay``. An OOM crash is the same, triggered by memory.
- ``deploy``: a rolling restart, one gateway every ``interval``. With ``drain`` the gateway answers
  503 to new connections and closes its sockets (1001) spread evenly over ``drain_timeout``, so
  clients move gradually; without drain it is killed like a crash.
- ``backplane_outage``: the broker is unreachable and deliveries in flight are lost. Publishers of an
  at-most-once kind fire and forget, so what they publish meanwhile is lost for every member;
  at-least-once producers (streams, logs, managed) hold their publications and send them when it
  returns (late, not lost). On return a non-durable backplane has lost its history (every room
  gets a new epoch), a durable one lets gateways catch up.
- ``subscription_outage``: some gateways lose their subscription; at-most-once kinds lose what is
  published meanwhile (members detect the gap and resync), durable kinds redeliver it on return.
- ``spike``: publish rate × ``publish_multiplier`` and ``connect_clients`` extra clients arriving.
- ``add_gateways`` / ``remove_gateways``: change the pool; open sockets stay where they are, and
  ``connections_moved_fraction`` is observed as the clients connected at the first change reconnect.
- ``half_open``: a share of the connected clients (spread evenly over them by id) vanish at once
  without FIN, as an offline episode of ``duration`` whose socket stays half-open.
- Half-open sockets (clients vanishing without FIN) are reclaimed by the keepalive timeout; until then
  the gateway keeps writing into their send queues, which hold what they are sent in its memory.
"""

from __future__ import annotations

import math
from typing import Any

from wssim.randomness import Stream
from wssim.sim.clients import CONNECTED
from wssim.sim.gateway import DOWN, DRAINING, SPARE, UP


class Faults:
    """Schedules the configured faults and carries out crashes, drains and restarts."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.rng = world.streams.generator(Stream.FAULTS)
        self.plan: list[dict[str, Any]] = []  # each fault as scheduled, with the gateways it targets

    def start(self) -> None:
        """Schedule every configured fault.

        Targets are chosen as the live harness chooses them, in config order from the same stream: a
        crash without ``gateway`` starts at a random initial gateway and takes the next ``count``
        ones; a subscription outage hits the first ``gateways``; a removal takes the last ones.
        """
        g0 = self.world.cfg.gateways.count
        for f in self.world.cfg.faults:
            targets: list[int] = []
            if f.kind == "gateway_crash":
                first = f.gateway if f.gateway is not None else int(self.rng.integers(g0))
                targets = [(first + k) % g0 for k in range(min(f.count, g0))]
            elif f.kind == "subscription_outage":
                targets = list(range(min(f.gateways, g0)))
            self.plan.append({**f.model_dump(mode="json"), "targets": targets})
            self.world.call_at(f.at, self._fire, (f, targets))

    def _fire(self, ev: Any) -> None:
        f, targets = ev.value
        getattr(self, f"_{f.kind}")(f, targets)

    # -- helpers ----------------------------------------------------------------------------
    def crash(self, g: Any, restart: bool, label: str) -> None:
        """Kill gateway ``g``: every socket drops; restart empty after ``restart_delay`` if asked."""
        if g.state not in (UP, DRAINING):
            return
        w = self.world
        now = w.env.now
        if label in ("crash", "oom"):
            w.observer.crash_started(now, g)
        w.rec.mark(now, f"gateway {g.id} {label}")
        g.go_down(now)
        w.edge.died(g.id)
        cl = w.clients
        for c in sorted(g.conns):
            cl.lost_gateway(c, g)
        g.reset()
        if restart:
            w.call_at(now + w.cfg.gateways.restart_delay, self._restart, (g, g.incarnation))
        else:
            g.retire()

    def _restart(self, ev: Any) -> None:
        g, inc = ev.value
        if g.incarnation != inc or g.state != DOWN:
            return
        w = self.world
        g.start(w.env.now)
        w.edge.started(g.id)
        w.rec.mark(w.env.now, f"gateway {g.id} up")

    def oom(self, g: Any) -> None:
        """``g`` ran out of memory: the kernel kills it (all sockets drop), then it restarts."""
        w = self.world
        w.rec.count("gateway_oom_crashes")
        w.observer.oom(w.env.now)
        self.crash(g, True, "oom")

    def drain(self, g: Any, restart: bool, label: str) -> None:
        """Gracefully drain ``g``: answer 503 to new connections, close sockets over ``drain_timeout``."""
        if g.state != UP:
            return
        w = self.world
        now = w.env.now
        w.rec.mark(now, f"gateway {g.id} {label} (drain)")
        g.begin_drain()
        w.edge.draining(g.id)
        cs = sorted(g.conns)
        timeout = w.cfg.gateways.drain_timeout
        slices = min(len(cs), 100)
        for j in range(slices):
            w.call_at(now + timeout * j / slices, self._drain_slice, (g, g.incarnation, cs[j::slices]))
        w.call_at(now + timeout, self._drain_done, (g, g.incarnation, restart, label))

    def _drain_slice(self, ev: Any) -> None:
        g, inc, cs = ev.value
        if g.incarnation != inc or g.state != DRAINING:
            return
        cl = self.world.clients
        n = 0
        for c in cs:
            if cl.gw[c] == g.id:
                cl.drop(c, "drain")
                n += 1
        self.world.rec.count("drain_closes", n)

    def _drain_done(self, ev: Any) -> None:
        g, inc, restart, label = ev.value
        if g.incarnation != inc or g.state != DRAINING:
            return
        self.crash(g, restart, f"{label} stop")

    # -- half-open sockets ------------------------------------------------------------------
    def zombie(self, g: Any, zid: int, since: float, now: float) -> None:
        """A client vanished from ``g`` without FIN: reclaim when keepalive (or an idle timer) says."""
        w = self.world
        ka = w.keepalive
        if ka.ping_interval is not None:
            pi = ka.ping_interval
            last_pong = since + math.floor((now - since) / pi) * pi
            at = ka.dead_at(last_pong)
        elif w.idle_timeout is not None:
            at = now + w.idle_timeout
        else:
            return  # nothing ever notices: the socket leaks until the gateway restarts
        w.call_at(max(at, now), self._reclaim, (g, g.incarnation, zid))

    def _reclaim(self, ev: Any) -> None:
        g, inc, zid = ev.value
        if g.incarnation == inc and g.reclaim(zid):
            self.world.rec.count("dead_peer_reclaims")

    # -- fault kinds ------------------------------------------------------------------------
    def _gateway_crash(self, f: Any, targets: list[int]) -> None:
        for gid in targets:
            self.crash(self.world.gateways[gid], f.restart, "crash")

    def _deploy(self, f: Any, _: list[int]) -> None:
        w = self.world
        w.rec.mark(w.env.now, "deploy" + (" (drain)" if f.drain else " (no drain)"))
        order = [g for g in w.gateways if g.state == UP]
        for i, g in enumerate(order):
            w.call_at(w.env.now + i * f.interval, self._deploy_one, (g, f.drain))

    def _deploy_one(self, ev: Any) -> None:
        g, drain = ev.value
        if drain:
            self.drain(g, True, "deploy")
        else:
            self.crash(g, True, "deploy")

    def _backplane_outage(self, f: Any, _: list[int]) -> None:
        w = self.world
        bp = w.backplane
        w.rec.mark(w.env.now, "backplane outage")
        bp.down = True
        bp.incarnation += 1
        if w.batched is not None:  # deliveries in flight are lost
            for g in w.gateways:
                w.batched.cut(g, w.env.now)
        w.call_at(w.env.now + f.duration, self._backplane_back)

    def _backplane_back(self, ev: Any) -> None:
        w = self.world
        bp = w.backplane
        bp.down = False
        if w.history.durable:
            w.rec.mark(w.env.now, "backplane back")
            for g in w.gateways:
                if g.serving:
                    bp.catch_up(g)
        else:
            w.history.lose()
            w.rec.mark(w.env.now, "backplane back (history lost)")
        bp.release_held(w.env.now)

    def _subscription_outage(self, f: Any, targets: list[int]) -> None:
        w = self.world
        gws = [w.gateways[i] for i in targets if w.gateways[i].serving]
        w.rec.mark(w.env.now, "subscription outage: gateways " + ",".join(str(g.id) for g in gws))
        for g in gws:
            g.sub_down = True
            if w.batched is not None and w.backplane.at_most_once:  # what is in flight is lost
                w.batched.cut(g, w.env.now)
        if gws:
            w.rec.values.setdefault("backplane_cut_at_s", w.env.now)
        w.call_at(w.env.now + f.duration, self._subscription_back, (gws, [g.incarnation for g in gws]))

    def _subscription_back(self, ev: Any) -> None:
        gws, incs = ev.value
        w = self.world
        w.rec.mark(w.env.now, "subscriptions back")
        if gws:
            w.rec.values.setdefault("backplane_restored_at_s", w.env.now)
        for g, inc in zip(gws, incs, strict=True):
            g.sub_down = False
            if g.incarnation == inc and g.serving and not w.backplane.at_most_once:
                w.backplane.catch_up(g)

    def _spike(self, f: Any, _: list[int]) -> None:
        w = self.world
        now = w.env.now
        w.rec.mark(now, f"spike x{f.publish_multiplier:g}")
        w.traffic.set_multiplier(f.publish_multiplier)
        w.call_at(now + f.duration, self._spike_end)
        if f.connect_clients:
            cl = w.clients
            first = cl.population
            cl.population += f.connect_clients
            times = cl.arrival_times(f.connect_clients, now, f.duration, 1 + first)
            cl.arrivals(first, times)

    def _spike_end(self, ev: Any) -> None:
        w = self.world
        w.traffic.set_multiplier(1.0)
        w.rec.mark(w.env.now, "spike end")

    def _half_open(self, f: Any, _: list[int]) -> None:
        w = self.world
        cl = w.clients
        connected = [c for c in range(cl.total) if cl.state[c] == CONNECTED]
        n = round(f.fraction * len(connected))
        chosen = [connected[int(i * len(connected) / n)] for i in range(n)]  # spread evenly
        w.rec.mark(w.env.now, f"{n} clients vanish (half-open)")
        for c in chosen:
            cl.go_offline(c, f.duration, True)

    def _add_gateways(self, f: Any, _: list[int]) -> None:
        w = self.world
        spare = [g for g in w.gateways if g.state == SPARE][: f.count]
        for g in spare:
            g.start(w.env.now)
            w.edge.register(g.id)
        w.observer.pool_changed(w.env.now)
        w.rec.mark(w.env.now, "add gateways " + ",".join(str(g.id) for g in spare))

    def _remove_gateways(self, f: Any, _: list[int]) -> None:
        w = self.world
        initial = w.gateways[: w.cfg.gateways.count]  # as the live harness: the last initial ones
        gone = [g for g in initial[-f.count :] if g.state == UP]
        for g in gone:  # out of the balancer first, then drained or stopped
            w.edge.deregister(g.id)
        w.observer.pool_changed(w.env.now)
        w.rec.mark(w.env.now, "remove gateways " + ",".join(str(g.id) for g in gone))
        for g in gone:
            if f.drain:
                self.drain(g, False, "remove")
            else:
                self.crash(g, False, "remove")
