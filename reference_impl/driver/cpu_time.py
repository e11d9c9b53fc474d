"""The gateways' CPU time, sampled live, as the simulator's busy CPU-seconds per interval.

Each gateway exposes its process's CPU time (``wssim_cpu_seconds_total``, from ``time.process_time``)
on its authenticated ``/metrics``; the harness reads it at every interval's edge. The CPU-seconds
between two readings of one process are spread over the intervals between them in proportion to the
time in each (:func:`wssim.sim.cpu.spread`, as the simulator spreads a job), and the metrics come
from the simulator's own :func:`wssim.sim.cpu.record_cpu`. A process's first reading is a baseline:
its start-up before scenario time 0, or before a restart's first reading, is not counted; neither is
what a killed process spent after its last reading.
"""

from __future__ import annotations

from typing import Any

from wssim.sim.cpu import record_cpu, spread

GATEWAY_CORES = 1.0  # a gateway process runs its event loop on one thread: one core at a time


class CpuTimes:
    """Busy CPU-seconds per interval of every gateway, from readings of its processes' CPU time."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.bins: dict[str, dict[int, float]] = {}  # gateway -> interval index -> CPU-seconds
        self.last: dict[tuple[str, int], tuple[float, float]] = {}  # process -> (time, CPU time)

    def sample(self, name: str, instance: int, t: float, cpu_seconds: float) -> None:
        """Gateway ``name``'s process ``instance`` had used ``cpu_seconds`` at scenario time ``t``."""
        prev = self.last.get((name, instance))
        self.last[(name, instance)] = (t, cpu_seconds)
        bins = self.bins.setdefault(name, {})
        if prev is not None and t > prev[0] and cpu_seconds >= prev[1]:
            spread(bins, prev[0], t, cpu_seconds - prev[1], self.step)

    def record(self, rec: Any, duration: float, warmup: float, time_scale: float) -> None:
        """The utilisation series and peak, deliveries per CPU-second and saturated time, over one core
        per gateway process; nothing (NaN) when no gateway was read twice."""
        if not any(self.bins.values()):
            return
        names = sorted(self.bins, key=lambda n: int(n[1:]))
        gateways = ((n, GATEWAY_CORES, self.bins[n]) for n in names)
        record_cpu(rec, gateways, (self.step, duration, warmup), time_scale)
