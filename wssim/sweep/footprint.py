"""What a sweep will cost before it starts: memory per run and wall time, from the model's costs.

The simulator keeps a few Python lists indexed by client, one entry per room slot, an object per slow
consumer and a few samples per publication; its time goes to events (a client's connects, a
publication, a sampled interval). The costs below were measured on a 2-vCPU machine with 24 GiB
(Python 3.11.7, SimPy 4.1.2, ``nice -n 10`` beside other work) by ``benchmarks/measure_footprint.py``,
which runs ``quickstart`` and ``herd`` at 10,000 to 200,000 clients and fits them:

=====================  ====================  ========================================================
cost                   measured              from
=====================  ====================  ========================================================
memory per client      ~1,000 B              quickstart, 10k → 200k clients (herd: ~700 B)
memory per room slot   ~50 B                 rooms.per_client 1 → 4 at 40k clients
per slow consumer      ~1.6 KiB              slow_consumers.fraction 0.01 → 0.5 at 40k clients
per publication        ~100 B                publish_rate 2 → 60/min at 10k clients
time per client        ~45 µs                quickstart 200k (a connect ramp, offline periods, a crash)
 ... under admission    ~200 µs               herd 200k (a crash, handshake_rate 100/s: retries)
time per publication   ~15 µs                publish_rate 2 → 60/min at 10k clients
per slow consumer      ~1 µs per interval    slow_consumers.fraction 0.01 → 0.5 at 40k clients
=====================  ====================  ========================================================

Measured again at a load average of 12 (other work on both cores), memory came out the same (973 B
per client, 51 B per slot, 1.7 KiB per slow consumer, 99 B per publication) and time 2.5 to 3 times
longer (128 µs per client, 45 µs per publication): on a busy machine, expect that. A storm's retries
grow faster than the fleet (the herd: ~70 µs per client at 20k, ~200 µs at 200k),
so the time is an estimate to plan by, not a promise. :func:`estimate` turns a config into these figures;
:func:`check` refuses a sweep whose runs in flight cannot fit in this machine's memory and notes one
that will take long.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wssim.notes import Note
from wssim.sweep.tasks import RunSpec, SweepError

BASE_BYTES = 60 * 2**20  # the interpreter, numpy, simpy and the model's modules in a worker
BYTES_PER_CLIENT = 1_000
BYTES_PER_ROOM_SLOT = 50
BYTES_PER_SLOW_CONSUMER = 1_600
BYTES_PER_PUBLICATION = 100
SECONDS_PER_CLIENT = 45e-6
SECONDS_PER_CLIENT_ADMITTED = 200e-6  # with gateways.admission.handshake_rate: refused attempts retry
SECONDS_PER_PUBLICATION = 15e-6
SECONDS_PER_SLOW_CONSUMER_INTERVAL = 1e-6
LONG_RUN_S = 120.0  # a sweep estimated to take longer than this is noted before it starts
MEMORY_SHARE = 0.9  # runs in flight may use this share of the memory available now


@dataclass(frozen=True)
class Estimate:
    """One run's estimated peak memory (bytes) and wall time (s), and the config field that drives it."""

    memory: float
    seconds: float
    field: str
    value: Any


def estimate(cfg: Any) -> Estimate:
    """The memory and time of one simulator run of ``cfg`` (a websocket fleet; others are closed form)."""
    cl = cfg.clients
    if cfg.transport.kind != "websocket":
        return Estimate(BASE_BYTES, 0.1, "clients.count", cl.count)
    clients = cl.count + sum(f.connect_clients for f in cfg.faults if f.kind == "spike")
    slots = max(0, (cl.rooms.per_client if cl.rooms.count else 0) - 1) * clients
    slow = cl.slow_consumers.fraction * clients
    publications = cl.publish_rate * cl.count * float(cfg.duration)
    intervals = float(cfg.duration) / float(cfg.interval)
    client_bytes = clients * BYTES_PER_CLIENT + slots * BYTES_PER_ROOM_SLOT + slow * BYTES_PER_SLOW_CONSUMER
    publication_bytes = publications * BYTES_PER_PUBLICATION
    memory = BASE_BYTES + client_bytes + publication_bytes
    admitted = cfg.gateways.admission.handshake_rate is not None
    seconds = (
        clients * (SECONDS_PER_CLIENT_ADMITTED if admitted else SECONDS_PER_CLIENT)
        + publications * SECONDS_PER_PUBLICATION
        + slow * intervals * SECONDS_PER_SLOW_CONSUMER_INTERVAL
    )
    if publication_bytes > client_bytes:
        return Estimate(memory, seconds, "clients.publish_rate", f"{cl.publish_rate:g}/s")
    return Estimate(memory, seconds, "clients.count", f"{cl.count:,}")


def available_memory() -> tuple[int, int]:
    """(available, total) bytes of memory on this machine (Linux ``MemAvailable``; else the total)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, total
    except OSError:
        pass
    return total, total


def check(specs: Sequence[RunSpec], parallel: int, memory: tuple[int, int] | None = None) -> list[Note]:
    """Refuse (:class:`SweepError`) runs that cannot fit in memory ``parallel`` at a time; note a long sweep.

    ``memory`` is (available, total) bytes, this machine's by default.
    """
    check_memory(specs, parallel, memory)
    return time_notes(specs, parallel)


def check_memory(specs: Sequence[RunSpec], parallel: int, memory: tuple[int, int] | None = None) -> None:
    """Raise :class:`SweepError` (one paragraph: field, estimate, this machine, the fix) if the
    ``parallel`` largest runs of ``specs`` cannot be in memory together."""
    if not specs:
        return
    estimates = [estimate(s.config) for s in specs]
    available, total = memory or available_memory()
    budget = available * MEMORY_SHARE
    parallel = max(1, min(parallel, len(specs)))
    worst = max(estimates, key=lambda e: e.memory)
    if worst.memory > budget:
        raise SweepError(_too_big(worst, available, total, budget))
    in_flight = sum(sorted((e.memory for e in estimates), reverse=True)[:parallel])
    if in_flight > budget:
        fits = max(1, int(budget // worst.memory))
        raise SweepError(
            f"{parallel} runs at a time need about {size(in_flight)} of memory (the largest, "
            f"{worst.field} = {worst.value}, about {size(worst.memory)} each), and this machine has "
            f"{size(available)} available ({size(total)} in all). Run with --workers {fits} (each run "
            f"fits alone), or lower {worst.field}. Nothing was run."
        )


def time_notes(specs: Sequence[RunSpec], parallel: int) -> list[Note]:
    """A note with the estimate when running ``specs`` ``parallel`` at a time takes over two minutes."""
    if not specs:
        return []
    seconds = [estimate(s.config).seconds for s in specs]
    runs = len(specs)
    parallel = max(1, min(parallel, runs))
    total_s = sum(seconds) / parallel
    if total_s <= LONG_RUN_S:
        return []
    return [
        Note(
            f"this will take about {duration(total_s)}: {runs} run{'s' * (runs != 1)} of about "
            f"{duration(sum(seconds) / runs)} each, {parallel} at a time (from ~45 µs per client, ~200 µs "
            "under admission control, and ~15 µs per publication, measured on a 2-vCPU machine; a "
            "reconnect storm can take several times longer). For a quicker look: fewer --replications, "
            "a smaller clients.count, or more --workers on a machine with more cores.",
            "note",
            "estimate",
        )
    ]


def _too_big(worst: Estimate, available: int, total: int, budget: float) -> str:
    scale = budget / worst.memory
    if worst.field == "clients.count":
        fix = f"lower clients.count to at most about {_round_down(_count(worst) * scale):,}"
    else:
        fix = "lower clients.publish_rate or duration (or clients.count)"
    return (
        f"{worst.field} = {worst.value}: one run needs about {size(worst.memory)} of memory (about "
        f"{BYTES_PER_CLIENT:,} B per simulated client and {BYTES_PER_PUBLICATION} B per publication), "
        f"and this machine has {size(available)} available ({size(total)} in all). To fit, {fix}; a "
        "fleet that large is better studied at a scaled-down size (fewer clients per gateway, the same "
        "ratios), or on a machine with more memory. Nothing was run."
    )


def _count(e: Estimate) -> float:
    return float(str(e.value).replace(",", ""))


def _round_down(x: float) -> int:
    if x < 10:
        return max(0, int(x))
    step = 10 ** (int(math.log10(x)) - 1)
    return int(x // step * step)


def size(n: float) -> str:
    """Bytes in binary units, three significant figures: ``1.5 GiB``."""
    for div, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= div:
            return f"{n / div:.3g} {suffix}"
    return f"{n:.0f} B"


def duration(seconds: float) -> str:
    """A wall time for people: ``40 s``, ``12 min``, ``3.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
