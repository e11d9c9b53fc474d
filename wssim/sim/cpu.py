"""A gateway's CPU: ``cores`` serving every kind of work as one FIFO queue, computed, not simulated.

The cores are one work-conserving server of speed ``cores`` CPU-seconds per second: a job of ``w``
CPU-seconds takes ``w / cores`` once it reaches the head of the queue (a fan-out spreads its sockets
over the cores). Keepalive pings are a steady load of ``ping × connections / ping_interval``
CPU-seconds per second served ahead of everything else: they lower the speed left for the queue.
A job's start and end are arithmetic (no event): the gateway schedules what follows from them.

Fan-out jobs hold their frames (bytes in the gateway's memory) until they are written, and count per
room how many are waiting, the backlog each member's connection sees. Busy CPU-seconds are binned
per interval for the utilisation series.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

from wssim.metrics import bin_index

SATURATED = 1 - 1e-6  # an interval's utilisation at which its CPU counts as busy throughout
MIN_SPEED = 1e-3  # share of the cores left to the queue when pings alone would take them all


class Cpu:
    """One gateway's CPU."""

    __slots__ = (
        "backlog_max",
        "bins",
        "bulk_held",
        "cores",
        "cur_bin",
        "cur_busy",
        "cur_end",
        "cur_start",
        "feed",
        "floor",
        "free_at",
        "gid",
        "head_done",
        "head_room",
        "interval",
        "jobs",
        "jobs_warm",
        "pending",
        "pending_bytes",
        "ping_rate",
        "room_jobs",
        "wait_sum",
        "warmup",
    )

    def __init__(self, cores: int, ping_rate: float, interval: float, warmup: float, gid: int = 0) -> None:
        self.cores = float(cores)
        self.gid = gid
        self.feed: Any = None  # the batched path's jobs for this CPU (wssim.sim.bulk.Jobs), if any
        self.ping_rate = ping_rate  # CPU-seconds per second per connection (ping / ping_interval)
        self.interval = interval
        self.warmup = warmup
        self.free_at = 0.0  # the queue is worked off at this time
        self.bins: dict[int, float] = {}  # interval index -> CPU-seconds spent in it
        self.cur_bin, self.cur_busy, self.cur_start, self.cur_end = 0, 0.0, 0.0, interval  # being filled
        self.floor = self.cores * MIN_SPEED
        self.head_done, self.head_room = 0.0, -1  # a job started on an idle CPU (not in ``pending``)
        self.pending: deque[tuple[float, int, int]] = deque()  # fan-out jobs to do: (done, room, bytes)
        self.pending_bytes = 0
        self.bulk_held = 0  # bytes of frames the batched path's queued jobs hold (wssim.sim.bulk)
        self.room_jobs: dict[int, int] = {}  # room -> fan-out jobs waiting or in service
        self.backlog_max = 0.0
        self.wait_sum = 0.0  # fan-out jobs after the warm-up: total wait for the CPU
        self.jobs = 0  # fan-out jobs
        self.jobs_warm = 0  # fan-out jobs before the warm-up ended (set when it ends)

    def speed(self, conns: int) -> float:
        """CPU-seconds per second left for the queue with ``conns`` connections to ping."""
        s = self.cores - self.ping_rate * conns
        return s if s > self.floor else self.floor

    def sync(self, now: float) -> None:
        """Queue the batched path's jobs that have arrived by ``now`` (before a job of the exact path)."""
        feed = self.feed
        if feed is not None and feed.due[self.gid] <= now:
            feed.apply(self.gid, now)

    def backlog(self, now: float) -> float:
        """Seconds until the work queued at ``now`` is done."""
        self.sync(now)
        return self.free_at - now if self.free_at > now else 0.0

    def run(self, work: float, now: float, conns: int) -> tuple[float, float]:
        """Queue ``work`` CPU-seconds at ``now``: (when its service starts, when it is done)."""
        self.sync(now)
        f = self.free_at
        start = f if f > now else now
        wait = start - now
        if wait > self.backlog_max and now >= self.warmup:
            self.backlog_max = wait
        if work <= 0:
            return start, start
        done = start + work / self.speed(conns)
        self.free_at = done
        self.served(start, done, work)
        return start, done

    def served(self, start: float, done: float, work: float) -> None:
        """``work`` CPU-seconds were served over ``[start, done]``: add them to the interval bins."""
        if done < self.cur_end and start >= self.cur_start:
            self.cur_busy += work  # the common case: within the interval being filled
            return
        self.flush()
        step = self.interval
        b1 = spread(self.bins, start, done, work, step)
        self.cur_bin = b1  # fill the interval the job ended in next
        self.cur_start = b1 * step
        self.cur_end = (b1 + 1) * step

    def flush(self) -> None:
        """Move the interval being filled into the bins."""
        if self.cur_busy:
            b = self.cur_bin
            self.bins[b] = self.bins.get(b, 0.0) + self.cur_busy
            self.cur_busy = 0.0

    def waited(self, wait: float, now: float) -> None:
        """A fan-out job arriving at ``now`` waited ``wait`` for the CPU (summed after the warm-up)."""
        self.jobs += 1
        if now >= self.warmup:
            self.wait_sum += wait

    def hold(self, done: float, room: int, nbytes: int) -> None:
        """A fan-out job of ``room`` holds ``nbytes`` of frames until ``done``."""
        self.pending.append((done, room, nbytes))
        self.pending_bytes += nbytes
        jobs = self.room_jobs
        jobs[room] = jobs.get(room, 0) + 1

    def expire(self, now: float) -> None:
        """Release the fan-out jobs done by ``now`` (their frames are written). A job started on an
        idle CPU and still in service joins the queue's count (it is ahead of whatever queues now)."""
        if self.head_room >= 0:
            if self.head_done > now:
                self.hold(self.head_done, self.head_room, 0)
            self.head_room = -1
        p = self.pending
        jobs = self.room_jobs
        while p and p[0][0] <= now:
            _, room, nbytes = p.popleft()
            self.pending_bytes -= nbytes
            k = jobs[room] - 1
            if k:
                jobs[room] = k
            else:
                del jobs[room]

    def pings(self, t0: float, t1: float, conns: int) -> None:
        """Account the ping load of ``conns`` connections over ``[t0, t1)`` (one interval)."""
        if self.ping_rate > 0 and t1 > t0 and conns:
            b = bin_index(t0, self.interval)
            self.flush()
            self.bins[b] = self.bins.get(b, 0.0) + self.ping_rate * conns * (t1 - t0)

    def reset(self, now: float) -> None:
        """The process died: its queue and held frames are gone."""
        self.free_at = now
        self.head_room = -1
        self.pending.clear()
        self.pending_bytes = 0
        self.bulk_held = 0
        self.room_jobs.clear()


def spread(bins: dict[int, float], start: float, done: float, work: float, step: float) -> int:
    """Add ``work`` CPU-seconds spent over ``[start, done]`` to ``bins`` (interval index -> CPU-seconds),
    each interval it spans in proportion to its share of the time; returns the last interval's index."""
    b0 = bin_index(start, step)
    b1 = bin_index(done, step)
    if b0 == b1:
        bins[b0] = bins.get(b0, 0.0) + work
        return b1
    per_s = work / (done - start)
    t = start
    for b in range(b0, b1 + 1):
        edge = min(done, (b + 1) * step)
        bins[b] = bins.get(b, 0.0) + per_s * (edge - t)
        t = edge
    return b1


def record_cpu(
    rec: Any,
    gateways: Iterable[tuple[str, float, dict[int, float]]],
    timing: tuple[float, float, float],
    time_scale: float = 1.0,
) -> None:
    """Record the CPU metrics both engines measure from per-interval busy CPU-seconds.

    ``gateways``: (label, cores, bins) each, bins mapping an interval's index to the CPU-seconds spent
    in it; ``timing``: (interval, duration, warm-up) in scenario seconds; ``time_scale``: wall seconds
    per scenario second (a live run's). Records the ``gateway_cpu_utilisation`` series (CPU-seconds /
    (cores × the interval's wall seconds)), its peak after the warm-up, ``deliveries_per_cpu_second``
    (``deliveries_delivered`` must be counted already) and ``cpu_saturated_s``. Intervals from the
    run's end on are left out."""
    step, duration, warmup = timing
    end = bin_index(duration, step)  # the run's last bin starts before this one
    first = bin_index(warmup, step)
    busy: Counter[int] = Counter()  # bins where some gateway was busy throughout
    spent = peak = 0.0
    for label, cores, bins in gateways:
        for b, s in bins.items():
            if b >= end:
                continue
            spent += s
            u = s / (cores * step * time_scale)
            rec.rate("gateway_cpu_utilisation", (b + 0.5) * step, u * step, label)
            if b >= first:
                peak = max(peak, u)
                if u >= SATURATED:
                    busy[b] += 1
    rec.peak("gateway_cpu_utilisation_peak", peak)
    delivered = rec.counters.get("deliveries_delivered", 0.0)
    rec.set("deliveries_per_cpu_second", delivered / spent if spent > 0 else math.nan)
    rec.set("cpu_saturated_s", len(busy) * step)


def wire_size(config: Any, size: int | None = None) -> int:
    """Bytes of one message of ``size`` (default ``clients.message_size``) on the wire and in queues:
    compressed by ``gateways.compression.ratio`` when permessage-deflate is on (at least one byte)."""
    size = config.clients.message_size if size is None else size
    comp = config.gateways.compression
    return max(1, round(size * comp.ratio)) if comp.enabled else size


def write_cost(config: Any, size: int | None = None) -> float:
    """CPU-seconds to write one message of ``size`` bytes (default ``clients.message_size``) to one
    member: the frame, its bytes on the wire and, with compression, deflating it."""
    cpu = config.gateways.cpu
    size = config.clients.message_size if size is None else size
    deflate = cpu.deflate_per_byte * size if config.gateways.compression.enabled else 0.0
    return cpu.frame + cpu.per_byte * wire_size(config, size) + deflate


# Overflow policies that act on a connection whose backlog passes its bound (the others let it grow:
# ``block`` holds the publisher back, which the CPU's own backlog already does).
BOUNDED = ("drop_oldest", "drop_newest", "conflate", "disconnect")


def backlog_bound(config: Any, wire: int, policy: str) -> int | None:
    """A connection's bound in messages of ``wire`` bytes under ``policy`` (None: unbounded)."""
    sq = config.gateways.send_queue
    by_bytes = None if sq.limit_bytes is None else sq.limit_bytes // wire
    bounds = [b for b in (sq.limit, by_bytes) if b is not None]
    return min(bounds) if bounds and policy in BOUNDED else None


class FanoutCosts:
    """What delivering one message costs on a gateway's CPU, and the backlog bound of a connection
    (of the config's single message size and policy; per room: :class:`wssim.sim.roomtable.RoomTable`)."""

    __slots__ = ("costs", "limit", "message", "policy", "wire", "write")

    def __init__(self, config: Any) -> None:
        cfg = config
        self.wire = wire_size(cfg)
        self.message = cfg.gateways.cpu.backplane_message  # receiving it from the backplane, once per gateway
        self.write = write_cost(cfg)  # per member
        self.costs = self.message > 0 or self.write > 0  # False: delivering is free (no CPU job)
        self.policy = cfg.gateways.send_queue.overflow
        self.limit = backlog_bound(cfg, self.wire, self.policy)  # messages
