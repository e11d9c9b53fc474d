"""What the run reports: sampled time series, the queue-depth alert, herd convergence, final metrics."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from wssim.analytic.cost import monthly_cost
from wssim.analytic.transport_run import transport_metrics
from wssim.metrics import METRICS, PER_CLASS
from wssim.notes import HERD_SETTLED
from wssim.sim.clients import CONNECTED, GONE, OFFLINE
from wssim.sim.cpu import record_cpu
from wssim.sim.gateway import SPARE
from wssim.sim.samples import WeightedSamples


def mean(values: list[float]) -> float:
    """Arithmetic mean; NaN when there is nothing to average."""
    return sum(values) / len(values) if values else math.nan


class Observer:
    """Samples the fleet every ``interval`` and derives the summary metrics at the end."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.crash_t: float | None = None
        self.herd: set[int] = set()  # clients the crashed gateway held, not connected again yet
        self.crash_share = math.nan
        self.settled = True
        self.convergence = math.nan
        self.alert_t: float | None = None
        self.first_oom: float | None = None
        self.threshold = world.cfg.alerts.send_queue_depth_p99
        self.depths: Counter[int] = Counter()
        self.zero_depths = 0
        self.conn_sum = 0.0
        self.samples = 0
        self.gateways_peak = 0
        self.peak_connections = 0
        self.pool_t: float | None = None
        self.held: dict[int, int] = {}  # client -> gateway it held at the first pool change, until back
        self.reconnected = 0
        self.moved = 0

    def start(self) -> None:
        """Start sampling."""
        self.world.env.process(self._sampler())
        warmup = self.world.cfg.warmup
        if warmup > 0:
            self.world.call_at(warmup, self._warm)

    def _warm(self, _: Any) -> None:
        """The warm-up ends: note the fan-out jobs so far (the mean CPU wait counts those after it)."""
        for g in self.world.gateways:
            g.cpu.jobs_warm = g.cpu.jobs

    # -- hooks ------------------------------------------------------------------------------
    def connected(self, now: float, c: int) -> None:
        """Client ``c`` established a connection (``clients.connected`` already counts it)."""
        n = self.world.clients.connected
        if n > self.peak_connections:
            self.peak_connections = n
        if self.herd:
            self.herd.discard(c)
            if not self.herd:
                self.converged(now)
        if self.held:
            was = self.held.pop(c, -1)
            if was >= 0:
                self.reconnected += 1
                self.moved += self.world.clients.gw[c] != was

    def pool_changed(self, now: float) -> None:
        """The gateway pool changed: the first change notes which gateway each connected client holds,
        to see where each of them lands when it connects again (``connections_moved_fraction``)."""
        if self.pool_t is not None:
            return
        self.pool_t = now
        cl = self.world.clients
        self.held = {c: g.id for g in self.world.gateways for c in g.conns if cl.state[c] == CONNECTED}

    def left(self, now: float, c: int) -> None:
        """Client ``c`` no longer wants a connection (it gave up): the herd does not wait for it."""
        if self.herd:
            self.herd.discard(c)
            if not self.herd:
                self.converged(now)

    def converged(self, now: float) -> None:
        """Every client of the herd that still wants a connection holds one again."""
        if self.convergence != self.convergence and self.settled:
            self.convergence = now - (self.crash_t or 0.0)

    def crash_started(self, now: float, g: Any) -> None:
        """A crash of ``g``: the first one (and any at the same instant) makes the herd, the clients
        ``g`` held, and starts the convergence clock; whether the fleet was settled is judged then."""
        cl = self.world.clients
        if self.crash_t is None:
            self.crash_t = now
            wanting = sum(1 for s, t in zip(cl.state, cl.arrive_at, strict=True) if t <= now and s < OFFLINE)
            self.crash_share = cl.connected / wanting if wanting else 1.0
            ramping = now < self.world.cfg.clients.connect_ramp
            self.settled = not ramping and self.crash_share >= HERD_SETTLED
        elif now != self.crash_t:
            return
        self.herd.update(c for c in g.conns if cl.state[c] == CONNECTED)

    def oom(self, now: float) -> None:
        """Note the first OOM (for the alert lead time)."""
        if self.first_oom is None:
            self.first_oom = now

    # -- sampling ---------------------------------------------------------------------------
    def _sampler(self) -> Any:
        w = self.world
        env = w.env
        step = w.cfg.interval
        end = w.cfg.duration
        k = 0
        while True:
            self.sample(env.now)
            k += 1
            t = k * step
            if t > end:
                return
            self._wake = env.timeout(t - env.now)
            yield self._wake

    def sample(self, now: float) -> None:
        """Gauge connections, memory and the p99 send-queue depth; fire the alert."""
        w = self.world
        rec = w.rec
        w.consumers.advance_all(now)  # queues drain lazily: bring them up to now first
        up = 0
        for g in w.gateways:
            if g.state == SPARE:
                continue
            up += g.state in (0, 1)
            rec.gauge("connections", now, g.n, g.label)
            rec.gauge("memory_bytes", now, g.memory_used(), g.label)
            rec.gauge("gateway_cpu_backlog_s", now, g.cpu.backlog(now), g.label)
            if g.serving and now > 0:
                g.cpu.pings(now - w.cfg.interval, now, g.n)
        self.gateways_peak = max(self.gateways_peak, up)
        connected = w.clients.connected
        depths = w.consumers.depths()
        zeros = max(0, connected - len(depths))
        ws = WeightedSamples()
        for d in depths:
            ws.add(float(d))
        p99 = ws.quantile(0.99, zeros=zeros) if connected else 0.0
        rec.gauge("send_queue_depth_p99", now, p99)
        if now >= w.cfg.warmup:
            self.depths.update(depths)
            self.zero_depths += zeros
            self.conn_sum += connected
            self.samples += 1
        if self.threshold is not None and self.alert_t is None and p99 >= self.threshold:
            self.alert_t = now
            rec.mark(now, "alert: send_queue_depth_p99")

    # -- summary ---------------------------------------------------------------------------
    def pending(self) -> float:
        """Owed deliveries neither delivered nor lost at the end: in send queues (read up to now), on
        their way to a member's gateway, owed to a client not connected now (its resume settles
        them), or held for it (direct messages)."""
        w = self.world
        cl, hist, cons, bp = w.clients, w.history, w.consumers, w.backplane
        now = w.env.now
        n = 0
        cons.advance_all(now)
        for c in sorted(cons.live):
            st = cons.states[c]
            if st.q is not None:  # queued, replaced by a queued newer one, or waiting to be queued
                n += len(st.q) + sum(st.superseded.values()) + len(st.blocked)
        last = hist.last
        for g in w.gateways:
            for _, _, q in g.zombies.values():  # direct messages held for a vanished client
                n += sum(1 for m in q.messages() if m.payload[1] < 0)
            if not g.serving or (g.sub_down and bp.at_most_once):
                continue  # an at-most-once cut's gap is settled as lost
            for room, top in enumerate(last):
                behind = top - g.last[room]
                if behind > 0:
                    n += behind * (g.fast[room] + len(g.queued.get(room) or ()))
        k = cl.k
        for c in range(cl.total):
            if cl.joined[c] and cl.state[c] not in (CONNECTED, GONE):
                n += sum(max(0, last[cl.rooms[i]] - cl.cursor[i]) for i in range(c * k, c * k + k))
        return float(n + sum(cl.inbox.values()) + w.traffic.in_flight)

    def finish(self) -> None:
        """Derive the summary metrics that need the whole run."""
        w = self.world
        rec = w.rec
        if w.batched is not None:
            w.batched.finish()
        w.flush_bins()
        w.backplane.settle_open_outages()
        rec.set("deliveries_pending_end", self.pending())
        rec.peak("connections_peak", self.peak_connections)
        rec.peak("gateway_memory_peak_bytes", max((g.peak_memory for g in w.gateways), default=0))
        rec.set("herd_convergence_s", self.convergence)
        if self.crash_t is not None:
            rec.set("crash_connected_fraction", self.crash_share)
            rec.set("crash_at_s", self.crash_t)
        rec.set("latency_p50_s", w.latency.quantile(0.50))
        rec.set("latency_p99_s", w.latency.quantile(0.99))
        for suffix, samples in zip(w.roomtable.suffix, w.class_latency or (), strict=False):
            rec.set("latency_p50_s" + suffix, samples.quantile(0.50))
            rec.set("latency_p99_s" + suffix, samples.quantile(0.99))
            for name in PER_CLASS:
                if METRICS[name].kind == "count":
                    rec.count(name + suffix, 0)  # present, 0 when the class never made one
        ws = WeightedSamples()
        for d, n in self.depths.items():
            ws.add(float(d), n)
        rec.set("send_queue_depth_p99", ws.quantile(0.99, zeros=self.zero_depths))
        if self.first_oom is not None and self.alert_t is not None:
            rec.set("alert_lead_time_s", self.first_oom - self.alert_t)
        if self.alert_t is not None:
            rec.set("alert_fired_at_s", self.alert_t)
        if self.first_oom is not None:
            rec.set("first_oom_at_s", self.first_oom)
        if self.pool_t is not None:
            rec.count("pool_change_reconnects", self.reconnected)
            rec.set(
                "connections_moved_fraction", self.moved / self.reconnected if self.reconnected else math.nan
            )
        hc = w.edge.health
        if hc is not None:
            rec.set("health_check_detection_s", mean(hc.detections))
            rec.set("health_check_rejoin_s", mean(hc.rejoins))
        rec.peak("edge_memory_peak_bytes", w.edge.memory_peak())
        rec.peak("snapshot_wait_max_s", w.snapshots.wait_max)
        rec.peak("replay_wait_max_s", w.history.reads.wait_max)
        rec.peak("producer_buffer_peak_bytes", max((g.held_peak for g in w.gateways), default=0))
        rec.set("half_open_leaked", float(sum(len(g.zombies) for g in w.gateways)))
        rec.set("connections_end", float(w.clients.connected))
        rec.set("offline_open_end", float(sum(1 for s in w.clients.state if s == OFFLINE)))
        rec.set("connections_mean", self.conn_sum / self.samples if self.samples else 0.0)
        rec.set("gateways_peak", float(self.gateways_peak))
        rec.set("connect_actions", float(w.clients.actions))
        rec.set("peak_connect_attempt_rate", rec.peak_rate("connect_attempts"))
        self.cpu_metrics()
        rec.set("cost_per_month_usd", self.cost())
        for name, value in self.transport().items():
            rec.set(name, value)

    def cpu_metrics(self) -> None:
        """Utilisation series and peak, deliveries per CPU-second, saturated time (shared with the live
        harness: :func:`wssim.sim.cpu.record_cpu`); the backlog and the fan-out's wait for the CPU."""
        w = self.world
        rec = w.rec
        backlog = wait = 0.0
        jobs = 0
        for g in w.gateways:
            cpu = g.cpu
            cpu.flush()
            backlog = max(backlog, cpu.backlog_max)
            wait += cpu.wait_sum
            jobs += cpu.jobs - cpu.jobs_warm
        record_cpu(
            rec,
            ((g.label, g.cpu.cores, g.cpu.bins) for g in w.gateways),
            (w.cfg.interval, w.cfg.duration, w.cfg.warmup),
        )
        rec.peak("gateway_cpu_backlog_s_max", backlog)
        rec.set("gateway_cpu_wait_mean_s", wait / jobs if jobs else math.nan)

    def transport(self) -> dict[str, float]:
        """Fleet-wide request, handshake, byte and egress figures of the transport (closed form)."""
        try:
            return transport_metrics(self.world.cfg)
        except ValueError:
            return {}

    def cost(self) -> float:
        """Monthly cost of the fleet this run needed (see :mod:`wssim.analytic.cost`)."""
        w = self.world
        peaks = w.rec.summary()
        peaks["duration"] = w.cfg.duration
        return float(monthly_cost(w.cfg, peaks))
