"""Delivery latency of a gateway under a known CPU load, measured live: the other half of the CPU check.

One reference gateway on Redis pub/sub (a private server) serves one room of ``members`` raw clients.
``probes`` of them, spread through the room, stamp each frame's arrival against the publication time
in its body; the others only count bytes and wake once 16 KiB wait (``SO_RCVLOWAT``), so on two cores
the gateway, not its clients, is what the machine spends its time on. Publications go straight to the
backplane at Poisson times.

A load is a series of *segments*: ``seconds`` of publishing at one rate from an idle gateway, then a
pause until every probe has every publication. Each segment gives the gateway's service per
publication: its seconds on a core or waiting for one (``/proc/<pid>/schedstat``: the load generator
and Redis share the two cores, and a delivery waits while the gateway does), from the segment's start
until its backlog is cleared, so none is carried into the next. This machine's CPU-seconds per
delivery drift by about ±10 % within tens of seconds, so the model is given each segment's own
figure, and a segment is short enough for its figure to hold. A segment's latencies are the probes'
frames that arrived within its ``seconds``, as the simulator counts deliveries written before its run
ends.

Before the loads, a room of one probe at a low rate gives the path's latency without a queue (the
backplane hop, the gateway's wake-up and one write, the client's read) and the gateway's service per
publication in it; the model's ``backplane.latency`` is the first less the second, as the model adds
the gateway's work itself. A segment's rate is its load's target utilisation over the mean service
per publication of the three segments before it (the first after a short one at 10/s).
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reference_impl.driver.calibrate import Bench, CalibrateOptions, GatewayUnderTest, run_async
from reference_impl.driver.cpu_costs import RawClient, body, clients
from reference_impl.system.gateway_metrics import sample
from wssim.lifetime import terminate_on_signals

SIZE = 64  # characters of body per publication (a chat message); frames of about 180 B
DRAIN_TIMEOUT = 30.0  # seconds a segment's backlog may take to clear


@dataclass
class Segment:
    """One segment of a load, as measured."""

    rate: float  # publications per second offered (Poisson)
    seconds: float  # how long it published
    publications: int
    run_s: float  # the gateway's CPU seconds from the segment's start until its backlog was cleared
    wait_s: float  # the gateway's seconds runnable but waiting for a core (the two cores are shared)
    gc_s: float  # the gateway's seconds stopped in its garbage collector (``wssim_gc_pause_seconds``)
    latencies: list[float]  # seconds: probes' frames that arrived within ``seconds``

    @property
    def service(self) -> float:
        """The gateway's seconds on a core or waiting for one, per publication."""
        return (self.run_s + self.wait_s) / self.publications

    @property
    def utilisation(self) -> float:
        """Service times the rate offered: the load this segment put on the gateway's core."""
        return self.service * self.rate


@dataclass
class Measurement:
    """Path latency without a queue, and each load's segments."""

    members: int
    frame_bytes: float  # payload bytes of one frame on the wire
    path: list[float]  # latencies of the one-member room, seconds
    path_service: float  # of which the gateway's service per publication (its idle run taken out), seconds
    loads: dict[float, list[Segment]]  # target utilisation -> segments


async def publish(bp: Any, room: str, rate: float, seconds: float, rng: random.Random) -> int:
    """Publish to ``room`` at Poisson times of ``rate`` for ``seconds``; returns how many."""
    loop = asyncio.get_running_loop()
    t = start = loop.time()
    n = 0
    while (t := t + rng.expovariate(rate)) < start + seconds:
        if (delay := t - loop.time()) > 0:
            await asyncio.sleep(delay)
        await bp.publish(room, json.dumps({"id": f"{room}-{n}", "ts": time.time(), "body": body(rng, SIZE)}))
        n += 1
    return n


async def segment(gw: GatewayUnderTest, bp: Any, room: str, probes: list[RawClient], rate: float,
                  seconds: float, seed: int) -> Segment:  # fmt: skip
    """Publish at ``rate`` for ``seconds`` from an idle gateway; measure until the backlog is cleared."""
    for c in probes:
        c.stamps = []
    gc0, (run0, wait0), t0 = gc_pause(gw), sched(gw.pid), time.time()
    n = await publish(bp, room, rate, seconds, random.Random(seed))
    end = t0 + seconds
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while any(len(c.stamps or ()) < n for c in probes):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gateway did not clear a segment of {n} publications at {rate:g}/s")
        await asyncio.sleep(0.05)
    run, wait = sched(gw.pid)
    lat = [arrived - published for c in probes for published, arrived in c.stamps or () if arrived <= end]
    return Segment(rate, seconds, n, run - run0, wait - wait0, gc_pause(gw) - gc0, lat)


def sched(pid: int) -> tuple[float, float]:
    """Seconds ``pid`` has run on a core and waited on a run queue (``/proc/<pid>/schedstat``, ns)."""
    with open(f"/proc/{pid}/schedstat") as f:
        run, wait, _ = f.read().split()
    return int(run) / 1e9, int(wait) / 1e9


def gc_pause(gw: GatewayUnderTest) -> float:
    """The gateway's garbage-collection time so far, seconds (from its ``/metrics``)."""
    text = gw.metrics()
    if text is None:
        raise RuntimeError(f"the gateway on port {gw.port} did not answer its /metrics")
    return sample(text, "wssim_gc_pause_seconds_total")


async def _measure(gw: GatewayUnderTest, members: int, probes: int, targets: tuple[float, ...],
                   segments: int, seconds: float, seed: int) -> Measurement:  # fmt: skip
    from reference_impl.system.backplanes import make_backplane

    bp = make_backplane(gw.kind, gw.url, namespace=gw.namespace)
    await bp.start()
    try:
        idle = sched(gw.pid)[0]
        await asyncio.sleep(2.0)
        idle = (sched(gw.pid)[0] - idle) / 2.0  # CPU seconds per second of an idle gateway
        one = await clients(gw, "one", 1, False)
        path = await segment(gw, bp, "one", one, 50.0, 4.0, seed)
        path_service = max(0.0, path.run_s - idle * path.seconds) / path.publications
        room = await clients(gw, "room", members, False)
        every = members // probes
        for i, c in enumerate(room):
            if i % every:
                c.sink()
        stamping = room[::every]
        done = [await segment(gw, bp, "room", stamping, 10.0, 4.0, seed + 1)]
        loads: dict[float, list[Segment]] = {}
        for k, target in enumerate(targets):
            loads[target] = []
            for i in range(segments):
                rate = target / statistics.mean(s.service for s in done[-3:])
                done.append(await segment(gw, bp, "room", stamping, rate, seconds, seed + 100 * (k + 1) + i))
                loads[target].append(done[-1])
        frame = statistics.mean(c.payload / max(1, c.texts) for c in stamping)
        for c in [*one, *room]:
            c.transport.close()
    finally:
        await bp.close()
    return Measurement(members, frame, path.latencies, path_service, loads)


def measure(members: int = 500, probes: int = 250, targets: tuple[float, ...] = (0.5, 0.9),
            segments: int = 12, seconds: float = 6.0, seed: int = 1) -> Measurement:  # fmt: skip
    """Every segment of every load on one gateway; every process started is stopped on return, error,
    Ctrl-C, SIGTERM and SIGHUP."""
    workdir = Path(tempfile.mkdtemp(prefix="wssim-cpu-latency-"))
    bench = Bench(workdir, CalibrateOptions(kinds=["redis_pubsub"]))
    try:
        with terminate_on_signals():
            bench.start_servers()
            gw = bench.gateway("redis_pubsub", "ping_interval=none", "send_buffer=none",
                               "memory_budget=none", balanced=False)  # fmt: skip
            return run_async(_measure(gw, members, probes, targets, segments, seconds, seed))
    finally:
        bench.stop()
        shutil.rmtree(workdir, ignore_errors=True)
