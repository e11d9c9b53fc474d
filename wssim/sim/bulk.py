"""The batched fan-out path: the bulk of a large fleet's messaging drawn and delivered in numpy steps.

Every ``simulation.step`` (cut at fault times and at the end of the warm-up) one draw gives all the
publications of the step: a Poisson count at the fleet's rate, times uniform in the step, clients
uniform, thinned by their connection state at the step's start. A publication whose room and
gateways are in a plain state (no half-open member, every member's gateway serving, subscribed, with
nothing of the room in flight or missing, no CPU overflow within reach) is *bulk*; the others (and 1:1
messages) are handed to the exact path at their own time, so dead peers, gaps, outages and overflow
stay discrete events. A bulk room's queued (slow) members get each publication through their send
queue, offered by an event at its arrival at their gateway (under ``block`` or ``credit``, which hold
a whole socket, their rooms stay exact).

Bulk publications take the exact path's steps as array operations: offsets per room, the replay
window, the backplane's throughput queue and transit draws, FIFO per room, one fan-out job per
(publication, gateway reached), each gateway's CPU as a FIFO queue (Lindley's recursion, shared
with the exact path's jobs: a CPU queues the bulk jobs that have arrived before any exact job
of its own, :meth:`wssim.sim.cpu.Cpu.sync`), latency samples as the exact path takes them, and the
counters and series. Offsets are assigned at the step's start (a gateway's last offset moves ahead
of its deliveries); a gateway that dies, or whose deliveries are lost in an outage, gets back the
offsets it had not received, so its clients resume from where they really are.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from wssim.metrics import bin_indices
from wssim.notes import Note
from wssim.randomness import Stream
from wssim.sim.clients import CONNECTED
from wssim.sim.gateway import RESOLUTION
from wssim.sim.world import SPREAD

# A job's columns: gateway, arrival, CPU work, members written, publication (publish time, number,
# room, offset).
FIELDS = ("g", "arr", "work", "fast", "tpub", "pub", "room", "off")
INTS = ("g", "fast", "pub", "room", "off")


def unsupported(config: Any) -> str:
    """Why the batched path cannot carry ``config``'s messaging ("" when it can)."""
    cl, bp = config.clients, config.backplane
    if cl.publish_arrivals == "periodic":
        return "periodic publications (clients.publish_arrivals)"
    if bp.kind == "kafka":
        return "Kafka partitions (backplane.kind)"
    if bp.kind != "none" and bp.topology in ("sharded", "local"):
        return f"the {bp.topology} topology (backplane.topology)"
    if bp.kind == "none":
        return "a single gateway without backplane (backplane.kind: none)"
    if cl.rooms.classes is not None:
        return "room classes (clients.rooms.classes)"
    if cl.drain_rate is not None:
        return "clients that all drain a send queue (clients.drain_rate)"
    if not cl.rooms.count or cl.publish_rate <= 0:
        return "a fleet without room messages"
    return ""


def choose(config: Any, recording: bool = False) -> tuple[str, Note | None]:
    """The fan-out path a run of ``config`` takes (``exact`` or ``batched``), and a note saying so."""
    sim = config.simulation
    why = "recording a schedule for a live run" if recording else unsupported(config)
    rate = config.clients.publish_rate * config.clients.count
    if sim.fanout == "exact" or (sim.fanout == "auto" and (why or rate < sim.batched_from)):
        return "exact", None
    if why:
        text = f"simulation.fanout: batched does not apply to {why}: the run took the exact path."
        return "exact", Note(text, "note", "fanout_path")
    text = (
        f"publications in plain rooms were fanned out in batched steps of {sim.step * 1e3:g} ms "
        "(simulation.fanout: exact runs each as its own event)."
    )
    return "batched", Note(text, "note", "fanout_path")


def lindley(arrive: np.ndarray, service: np.ndarray, free: float) -> np.ndarray:
    """When each job of a FIFO server is done: jobs arriving at ``arrive`` (sorted) needing
    ``service``, the server free from ``free``. ``done_i = max(arrive_i, done_{i-1}) + service_i``."""
    total = np.cumsum(service)
    x = arrive - (total - service)
    x[0] = max(x[0], free)
    return np.maximum.accumulate(x) + total


def running_max(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running maximum of ``x`` restarting at each new value of ``group`` (non-decreasing ints)."""
    if not len(x):
        return x
    base = x.min()
    span = x.max() - base + 1.0
    key = group * span + (x - base)
    return np.maximum.accumulate(key) - group * span + base


class Jobs:
    """Fan-out jobs handed to gateways, sorted by gateway and arrival; per gateway ``[lo, nxt)`` are
    queued on its CPU (``start``, ``first``, ``done`` known), ``[nxt, hi)`` not arrived yet."""

    def __init__(self, batched: Batched, gateways: int) -> None:
        self.b = batched
        self.n = gateways
        self.cols = {f: np.zeros(0, dtype=np.int64 if f in INTS else float) for f in FIELDS}
        self.start = self.first = self.done = np.zeros(0)
        self.lo = [0] * gateways
        self.nxt = [0] * gateways
        self.hi = [0] * gateways
        self.due = [math.inf] * gateways  # arrival of each gateway's next job not queued yet
        self.before = np.zeros(0)  # per job: the work of the jobs before it
        self.segs: list[tuple[int, int, float, float]] = []  # runs queued: (i0, i1, CPU free, speed)

    def add(self, new: dict[str, np.ndarray]) -> None:
        """Add jobs to those not queued yet (call after :meth:`take`)."""
        cols = {f: np.concatenate((self.cols[f], new[f])) for f in FIELDS}
        # By gateway, then arrival: both parts are sorted so, and a stable sort merges two runs.
        span = float(cols["arr"].max()) + 1.0 if len(cols["arr"]) else 1.0
        order = np.argsort(cols["g"] * span + cols["arr"], kind="stable")
        self.index({f: a[order] for f, a in cols.items()})

    def index(self, cols: dict[str, np.ndarray]) -> None:
        """Hold ``cols`` (sorted, none queued yet) and find each gateway's jobs."""
        self.cols = cols
        n = len(cols["g"])
        self.start, self.first, self.done = np.zeros(n), np.zeros(n), np.zeros(n)
        self.before = np.cumsum(cols["work"]) - cols["work"]
        bounds = np.searchsorted(self.cols["g"], np.arange(self.n + 1)).tolist()
        arr = self.cols["arr"]
        for g in range(self.n):
            lo, hi = bounds[g], bounds[g + 1]
            self.lo[g] = self.nxt[g] = lo
            self.hi[g] = hi
            self.due[g] = float(arr[lo]) if lo < hi else math.inf

    def apply(self, g: int, now: float) -> None:
        """Queue gateway ``g``'s jobs that have arrived by ``now`` on its CPU."""
        i0, hi = self.nxt[g], self.hi[g]
        arr = self.cols["arr"]
        i1 = i0 + int(np.searchsorted(arr[i0:hi], now, side="right"))
        if i1 > i0:
            self.b.queue(g, i0, i1)
        self.nxt[g] = i1
        self.due[g] = float(arr[i1]) if i1 < hi else math.inf

    def take(self, now: float) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        """Queue every job arrived by ``now``; remove the queued jobs and return them with their
        (start, first, done). The jobs not arrived stay."""
        for g in range(self.n):
            if self.due[g] <= now:
                self.apply(g, now)
        self.b.times()
        idx = np.arange(len(self.cols["g"]))
        gs = self.cols["g"]
        queued = idx < np.asarray(self.nxt, dtype=np.int64)[gs] if len(gs) else idx.astype(bool)
        keep = ~queued & (idx < np.asarray(self.hi, dtype=np.int64)[gs]) if len(gs) else queued
        out = {f: a[queued] for f, a in self.cols.items()}
        times = (self.start[queued], self.first[queued], self.done[queued])
        self.index({f: a[keep] for f, a in self.cols.items()})
        return out, *times

    def drop(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        """Remove gateway ``g``'s jobs not arrived yet: their (rooms, offsets)."""
        i0, hi = self.nxt[g], self.hi[g]
        self.hi[g] = i0
        self.due[g] = math.inf
        return self.cols["room"][i0:hi], self.cols["off"][i0:hi]


class Batched:
    """The stepped process drawing publications, and the bulk fan-out of the plain ones."""

    def __init__(self, world: Any) -> None:
        cfg = world.cfg
        self.world = world
        self.step = float(cfg.simulation.step)
        cl = world.clients
        self.rng = world.streams.generator(Stream.PUBLISHES, 1)
        self.latency_rng = world.streams.generator(Stream.LATENCY, 1)
        self.rooms = np.asarray(cl.rooms, dtype=np.int64)
        self.state = np.frombuffer(cl.state, dtype=np.uint8)
        self.room_td = np.zeros(world.rooms)
        world.backplane.room_td = memoryview(self.room_td)
        self.jobs = Jobs(self, len(world.gateways))
        for g in world.gateways:
            g.cpu.feed = self.jobs
        self.broadcast = world.backplane.topology == "broadcast" or not world.backplane.interest
        self.message = world.fanout.message
        # Queued (slow) members of bulk rooms are offered each publication at its arrival, as events.
        self.offers = cfg.gateways.send_queue.overflow not in ("block", "credit")
        self.cuts = [0] * len(world.gateways)  # per gateway: times it lost what was in flight
        self.write = world.fanout.write
        self.costs = world.fanout.costs
        self.pubs = 0  # bulk publications so far (numbers them)
        self.held: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # gateway -> (done, bytes) of frames held
        self.undone = np.zeros(0, dtype=np.int64)  # rooms of the queued jobs not done at the last settle
        self.undone_at = np.zeros(0)  # and when they are done
        marks = {float(cfg.warmup)}
        for f in cfg.faults:
            marks.add(float(f.at))
            if getattr(f, "duration", None):
                marks.add(float(f.at + f.duration))
        self.marks = sorted(marks)

    def start(self) -> None:
        """Start the stepped process."""
        self.world.env.process(self._run())

    def _run(self) -> Any:
        env = self.world.env
        while True:
            t0 = env.now
            self.settle(t0)
            t1 = self.step_end(t0)
            self.draw(t0, t1)
            yield env.timeout(t1 - t0)

    def step_end(self, t0: float) -> float:
        """The end of the step from ``t0``: one step on, or the next fault time or the end of the run."""
        t1 = min(t0 + self.step, self.world.end)
        for m in self.marks:
            if t0 + 1e-12 < m < t1:
                return m
        return t1

    # -- drawing ----------------------------------------------------------------------------
    def draw(self, t0: float, t1: float) -> None:
        """Draw the publications of ``[t0, t1)``: bulk ones fanned out now, the others scheduled."""
        w = self.world
        tr, cl = w.traffic, w.clients
        total = tr.rate * tr.multiplier * cl.population
        if total <= 0 or t1 <= t0:
            return
        rng = self.rng
        n = int(rng.poisson(total * (t1 - t0)))
        t = t0 + np.sort(rng.random(n)) * (t1 - t0)
        c = (rng.random(n) * cl.population).astype(np.int64)
        live = self.state[c] == CONNECTED
        t, c = t[live], c[live]
        if tr.direct > 0:
            d = rng.random(len(c)) < tr.direct
            dst = (rng.random(int(d.sum())) * cl.population).astype(np.int64)
            for ti, src, to in zip(t[d].tolist(), c[d].tolist(), dst.tolist(), strict=True):
                w.call_at(ti, self._direct, (src, to))
            t, c = t[~d], c[~d]
        r = self.rooms[c * cl.k + (rng.random(len(c)) * cl.k).astype(np.int64)]
        bulk = self.plain(r)
        for ti, ci, ri in zip(t[~bulk].tolist(), c[~bulk].tolist(), r[~bulk].tolist(), strict=True):
            w.call_at(ti, self._exact, (ci, ri))
        if bulk.any():
            self.fan_out(t[bulk], r[bulk], c[bulk])

    def _exact(self, ev: Any) -> None:
        c, r = ev.value
        cl = self.world.clients
        if cl.state[c] == CONNECTED:
            self.world.backplane.publish(r, self.world.env.now, cl.gw[c])

    def _direct(self, ev: Any) -> None:
        src, dst = ev.value
        cl = self.world.clients
        if cl.state[src] == CONNECTED:
            self.world.traffic.direct_message(src, dst, cl.gw[src], self.world.env.now)

    # -- which publications are plain ---------------------------------------------------------
    def gateways_ok(self) -> np.ndarray:
        """Per gateway: serving and subscribed."""
        return np.array([g.serving and not g.sub_down for g in self.world.gateways])

    def at_bound(self, u: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Which rooms ``u`` (``counts`` publications in this step) could reach the overflow bound on a
        gateway's CPU in this step: all their jobs that may be waiting at once (the exact path's, the
        batched path's not done or not arrived, and this step's) counted together, on any gateway."""
        limit = self.world.fanout.limit
        if limit is None:
            return np.zeros(len(u), dtype=bool)
        waiting = counts.astype(np.int64)
        rooms = np.concatenate((self.jobs.cols["room"], self.undone))
        if len(rooms):
            r, n = np.unique(rooms, return_counts=True)
            i = np.searchsorted(r, u).clip(0, len(r) - 1)
            waiting += np.where(r[i] == u, n[i], 0)
        exact: dict[int, int] = {}
        for g in self.world.gateways:
            for room, n in g.cpu.room_jobs.items():
                exact[room] = exact.get(room, 0) + n
        if exact:
            waiting += np.array([exact.get(room, 0) for room in u.tolist()], dtype=np.int64)
        return waiting >= limit

    def plain(self, r: np.ndarray) -> np.ndarray:
        """Which publications to rooms ``r`` are bulk."""
        w = self.world
        if w.backplane.down or not len(r):
            return np.zeros(len(r), dtype=bool)
        u, inv, counts = np.unique(r, return_inverse=True, return_counts=True)
        ok = self.gateways_ok()
        serving = np.array([g.serving for g in w.gateways])
        if self.broadcast and not ok[serving].all():
            return np.zeros(len(r), dtype=bool)
        tab = w.tables
        mem = np.take(tab.members, u, axis=1)  # (np.take: ~2x a fancy index along the rooms)
        has = mem > 0
        bad = (np.take(tab.zombies, u, axis=1) > 0) | (
            has & (np.take(tab.last, u, axis=1) != w.history.last_np[u])
        )
        if not self.offers:  # queued members under a whole-socket policy (block, credit) stay exact
            bad |= mem != np.take(tab.fast, u, axis=1)
        bad |= has & ~ok[:, None]
        room_bad = bad.any(axis=0) | self.at_bound(u, counts)
        if w.consumers.stalls:
            room_bad |= np.isin(u, [room for _, room in w.consumers.stalls])
        return ~room_bad[inv]

    # -- the bulk fan-out ---------------------------------------------------------------------
    def fan_out(self, t: np.ndarray, r: np.ndarray, c: np.ndarray) -> None:
        """Publish bulk publications at ``t`` (sorted) to rooms ``r`` and hand their jobs to gateways."""
        w = self.world
        rec = w.rec
        order = np.argsort(r, kind="stable")
        rs = r[order]
        head = np.r_[True, rs[1:] != rs[:-1]]
        group = np.cumsum(head) - 1
        starts = np.nonzero(head)[0]
        off = np.empty(len(r), dtype=np.int64)
        last = w.history.last_np
        off[order] = last[rs] + np.arange(len(r)) - starts[group] + 1
        rooms = rs[head]
        last[rooms] += np.diff(np.r_[starts, len(r)])
        w.history.append_many(r, off, t, w.env.now)
        rec.count("messages_published", len(r))
        rec.count("deliveries_expected", float(w.clients.room_logical_np[r].sum()))
        fast = np.take(w.tables.fast, r, axis=1)
        members = np.take(w.tables.members, r, axis=1)  # fast and queued (no half-open member: see plain)
        reach = members > 0
        if self.broadcast:
            reach = reach | np.array([g.serving for g in w.gateways])[:, None]
        td = self.arrivals(t, reach)
        # FIFO per room: behind the room's previous publication (this step's, or an earlier one's)
        x = running_max(np.maximum(td[order], self.room_td[rs]), group)
        td[order] = x
        ends = np.r_[starts[1:], len(r)] - 1
        self.room_td[rooms] = x[ends]
        # Each gateway reached: the room's last offset and its arrival are its last publication's.
        final = order[ends]
        tab, hit, off_f, td_f = self.world.tables, np.take(reach, final, axis=1), off[final], td[final]
        for g in range(len(hit)):  # a row at a time: a 1-d scatter is cheaper than a 2-d one
            m = hit[g]
            tab.last[g][rooms[m]] = off_f[m]
            tab.last_t[g][rooms[m]] = td_f[m]
        pub = np.arange(self.pubs, self.pubs + len(r))
        self.pubs += len(r)
        self.hand_over(td, {"tpub": t, "pub": pub, "room": r, "off": off}, fast, members, reach)

    def arrivals(self, t: np.ndarray, reach: np.ndarray) -> np.ndarray:
        """Count the backplane deliveries of each publication (reaching ``reach``); when each arrives
        at its gateways: through the throughput queue, plus one transit draw per publication."""
        w = self.world
        bp, rec = w.backplane, w.rec
        n = reach.sum(axis=0)
        rec.count("backplane_deliveries", int(n.sum()))
        self.rate("backplane_deliveries", t, n)
        sent = t
        if bp.capacity is not None:
            free = bp.bulk_free_at()
            done = lindley(t, n / bp.capacity, free)
            bp.ahead = (t, done, free)  # an exact publication queues behind those before it only
            sent = done
        if bp.instant:
            return sent.copy()
        return sent + np.exp(bp.mu + bp.sigma * self.latency_rng.standard_normal(len(t)))

    def hand_over(
        self,
        td: np.ndarray,
        pub: dict[str, np.ndarray],
        fast: np.ndarray,
        members: np.ndarray,
        reach: np.ndarray,
    ) -> None:
        """One job per (publication, gateway reached), arriving at ``td``, writing to its fast and
        queued members. ``pub``: each publication's time, room and offset."""
        w = self.world
        perm = np.argsort(td, kind="stable")
        gi, pi = np.nonzero(np.take(reach, perm, axis=1))
        p = perm[pi]
        job = {f: a[p] for f, a in pub.items()}
        cell = gi * len(td) + p  # (gateway, publication) in the flattened tables
        job.update(g=gi, arr=td[p], fast=fast.ravel()[cell])
        queued = members.ravel()[cell] - job["fast"]
        job["work"] = self.message + (job["fast"] + queued) * self.write
        self.offer_later(job, queued > 0)
        discarded = int((job["fast"] + queued == 0).sum())
        if discarded:
            w.rec.count("backplane_deliveries_discarded", discarded)
        self.jobs.add(job)

    def offer_later(self, job: dict[str, np.ndarray], sel: np.ndarray) -> None:
        """At each selected job's arrival, its gateway offers the publication to the room's queued
        members, as the exact path does (:meth:`wssim.sim.gateway.Gateway.deliver`)."""
        call_at, cuts = self.world.call_at, self.cuts
        for g, t, room, off, tpub in zip(
            *(job[f][sel].tolist() for f in ("g", "arr", "room", "off", "tpub")), strict=True
        ):
            call_at(t, self._offer, (g, cuts[g], room, off, tpub))

    def _offer(self, ev: Any) -> None:
        g, cut, room, offset, t_pub = ev.value
        gw = self.world.gateways[g]
        if cut != self.cuts[g] or not gw.serving:
            return  # lost in flight
        gw.offer_queued(room, offset, t_pub, self.world.env.now)

    def rate(self, series: str, t: np.ndarray, n: np.ndarray) -> None:
        """Add ``n`` events at times ``t`` to a rate series."""
        step = self.world.cfg.interval
        b = bin_indices(t, step)
        b0 = int(b.min()) if len(b) else 0
        for i, k in enumerate(np.bincount(b - b0, weights=n).tolist()):
            if k:
                self.world.rec.rate(series, (b0 + i + 0.5) * step, k)

    # -- the gateways' CPUs -------------------------------------------------------------------
    def queue(self, g: int, i0: int, i1: int) -> None:
        """Queue jobs ``i0:i1`` (arrived, in order) on gateway ``g``'s CPU: when it is free again now;
        when each job starts, writes its first member and is done at the next :meth:`times`."""
        jobs = self.jobs
        if not self.costs:
            jobs.segs.append((i0, i1, 0.0, 1.0))
            return
        gw = self.world.gateways[g]
        cpu = gw.cpu
        speed = cpu.speed(gw.n)
        before = jobs.before  # work of the jobs before each one: done_i1-1 from Lindley's recursion
        busiest = float((jobs.cols["arr"][i0:i1] - before[i0:i1] / speed).max())
        free = cpu.free_at
        end = float(before[i1 - 1] + jobs.cols["work"][i1 - 1])
        cpu.free_at = end / speed + max(free - float(before[i0]) / speed, busiest)
        jobs.segs.append((i0, i1, free, speed))

    def times(self) -> None:
        """When each job queued since the last call starts, writes its first member and is done: the
        queued runs (CPU free from ``free``, at ``speed``) as one array operation."""
        jobs = self.jobs
        if not jobs.segs:
            return
        i0, i1, free, speed = (np.array(c) for c in zip(*jobs.segs, strict=True))
        jobs.segs = []
        n = (i1 - i0).astype(np.int64)
        run = np.repeat(np.arange(len(n)), n)
        head = np.cumsum(n) - n
        idx = np.arange(int(n.sum())) - head[run] + i0.astype(np.int64)[run]
        arr = jobs.cols["arr"][idx]
        if not self.costs:
            jobs.start[idx] = jobs.first[idx] = jobs.done[idx] = arr
            return
        service = jobs.cols["work"][idx] / speed[run]
        total = np.cumsum(service)
        x = arr - (total - service)
        x[head] = np.maximum(arr[head], free) - (total - service)[head]
        done = total + running_max(x, run)
        # max(arrival, previous done): exactly the arrival on an idle CPU (done − service is off by a
        # rounding step, and a job that seems to have waited holds its frames in memory)
        prev = np.r_[0.0, done[:-1]]
        prev[head] = free
        start = np.maximum(arr, prev)
        jobs.done[idx] = done
        jobs.start[idx] = start
        jobs.first[idx] = start + self.message / speed[run]

    def settle(self, now: float) -> None:
        """Queue every job arrived by ``now`` and count what it did."""
        cols, start, first, done = self.jobs.take(now)
        busy = done > now
        keep = self.undone_at > now
        self.undone = np.concatenate((self.undone[keep], cols["room"][busy]))
        self.undone_at = np.concatenate((self.undone_at[keep], done[busy]))
        if not len(start):
            return
        if self.costs:
            self.cpu_accounts(cols, start, done, now)
        self.deliveries(cols, first, done, start > cols["arr"])

    def cpu_accounts(
        self, cols: dict[str, np.ndarray], start: np.ndarray, done: np.ndarray, now: float
    ) -> None:
        """What the jobs queued by ``now`` did on each gateway's CPU (sorted by gateway)."""
        w = self.world
        bounds = np.searchsorted(cols["g"], np.arange(len(w.gateways) + 1)).tolist()
        for gw, lo, hi in zip(w.gateways, bounds, bounds[1:], strict=False):
            if lo < hi:
                arr, fast = cols["arr"][lo:hi], cols["fast"][lo:hi]
                wait = start[lo:hi] - arr
                self.cpu_account(gw.cpu, arr, wait)
                self.busy(gw.cpu, cols["work"][lo:hi], start[lo:hi], done[lo:hi])
                self.hold(gw, arr, done[lo:hi], np.where(wait > 0, fast * w.fanout.wire, 0), now)

    def cpu_account(self, cpu: Any, arr: np.ndarray, wait: np.ndarray) -> None:
        """Fan-out jobs, their wait for the CPU after the warm-up, and the longest wait."""
        cpu.jobs += len(arr)
        warm = arr >= self.world.cfg.warmup
        if warm.any():
            cpu.wait_sum += float(wait[warm].sum())
            cpu.backlog_max = max(cpu.backlog_max, float(wait[warm].max()))

    def busy(self, cpu: Any, work: np.ndarray, start: np.ndarray, done: np.ndarray) -> None:
        """Busy CPU-seconds per interval (a job across an interval's edge is shared in proportion)."""
        step = self.world.cfg.interval
        b0, b1 = bin_indices(start, step), bin_indices(done, step)
        cpu.flush()
        one = b0 == b1
        first = int(b0.min())
        for k, s in enumerate(np.bincount(b0[one] - first, weights=work[one]).tolist()):
            if s:
                cpu.bins[first + k] = cpu.bins.get(first + k, 0.0) + s
        for s, d, x in zip(start[~one].tolist(), done[~one].tolist(), work[~one].tolist(), strict=True):
            cpu.served(s, d, x)

    def hold(self, gw: Any, arr: np.ndarray, done: np.ndarray, nbytes: np.ndarray, now: float) -> None:
        """Frames of jobs that queued for the CPU are held in the gateway's memory from their arrival
        until written: track the peak (at each arrival) and what is still held at ``now``."""
        queued = nbytes > 0
        d0, b0 = self.held.get(gw.id, (np.zeros(0), np.zeros(0)))
        d, b = np.concatenate((d0, done[queued])), np.concatenate((b0, nbytes[queued]))
        if queued.any():  # held at an arrival: the jobs done after it, up to it (FIFO: a suffix)
            total = np.cumsum(b)
            upto = total[len(d0) :]
            after = np.searchsorted(d, arr[queued], side="right")
            held = upto - np.where(after > 0, total[np.maximum(after - 1, 0)], 0.0)
            gw.cpu.bulk_held = int(held.max())
            if gw.check_memory():
                return
        keep = d > now
        self.held[gw.id] = (d[keep], b[keep])
        gw.cpu.bulk_held = int(b[keep].sum())

    def deliveries(
        self, cols: dict[str, np.ndarray], first: np.ndarray, last: np.ndarray, queued: np.ndarray
    ) -> None:
        """Members written ``first`` to ``last``: delivered with their latencies, as the exact path
        counts them (a job that ``queued`` for the CPU only for what it writes within the run)."""
        w = self.world
        end = w.end
        m = cols["fast"] > 0
        fast, tpub, pub, first, last = cols["fast"][m], cols["tpub"][m], cols["pub"][m], first[m], last[m]
        late = (last > end) & queued[m]
        if late.any():  # written after the run's end: only the share written within it counts
            share = np.where(late, (end - first) / np.where(last > first, last - first, 1.0), 1.0)
            fast = np.where(late & ((first >= end) | (fast == 1)), 0, np.where(late, fast * share, fast))
            fast = fast.astype(np.int64)
            last = np.minimum(last, end)
        n = int(fast.sum())
        if not n:
            return
        w.rec.count("deliveries_delivered", n)
        self.rate("deliveries", last, fast)
        span = last - first
        short = span < RESOLUTION
        idle = short & ~queued[m]
        self.mean_latency(pub[idle], fast[idle], first[idle] + span[idle] / 2 - tpub[idle], last[idle])
        long = ~idle
        fast, tpub, first, last, span = fast[long], tpub[long], first[long], last[long], span[long]
        k = np.where(span < RESOLUTION, 1, np.minimum(fast, SPREAD))
        rep = np.repeat(np.arange(len(k)), k)
        j = np.arange(len(rep)) - np.repeat(np.cumsum(k) - k, k)
        kk = k[rep]
        value = first[rep] + (j + 0.5) * span[rep] / kk - tpub[rep]
        w.latency.add_many(value, fast[rep] / kk, last[rep])

    def mean_latency(self, pub: np.ndarray, n: np.ndarray, value: np.ndarray, t: np.ndarray) -> None:
        """Latency samples of jobs that found their CPU idle and write their members within
        ``RESOLUTION``: one per publication, at its members' mean latency, as the exact path takes them."""
        if not len(pub):
            return
        lo = int(pub.min())
        dense = int(pub.max()) - lo < 4 * len(pub)  # publications are numbered in order
        inv = pub - lo if dense else np.unique(pub, return_inverse=True)[1]
        weight = np.bincount(inv, weights=n)
        mean = np.bincount(inv, weights=n * value) / np.where(weight > 0, weight, 1.0)
        when = np.zeros(len(weight))
        np.maximum.at(when, inv, t)
        self.world.latency.add_many(mean, weight, when)

    # -- losses and the end -------------------------------------------------------------------
    def cut(self, g: Any, now: float) -> None:
        """Gateway ``g`` dies, or loses what is in flight to it: it does not get its jobs that have not
        arrived (lost deliveries); its last offsets go back to before them."""
        g.cpu.sync(now)
        self.cuts[g.id] += 1
        self.held.pop(g.id, None)
        rooms, offs = self.jobs.drop(g.id)
        if len(rooms):
            self.world.rec.count("backplane_deliveries_lost", len(rooms))
            np.minimum.at(self.world.tables.last[g.id], rooms, offs - 1)

    def finish(self) -> None:
        """At the end of the run: count what was written by then; what has not arrived is pending."""
        w = self.world
        self.settle(w.end)
        for g in w.gateways:
            rooms, offs = self.jobs.drop(g.id)
            np.minimum.at(w.tables.last[g.id], rooms, offs - 1)
