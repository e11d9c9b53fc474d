"""What a sweep will cost before it starts: memory per run and wall time, from the model's costs.

The simulator keeps a few arrays and lists indexed by client, one entry per room slot, an object per
slow consumer and each room's replay window (a few Python objects per publication it holds); its
time goes to events (a client's connects, a publication, a sampled interval). The costs depend on
the fan-out path the run takes (:func:`wssim.sim.bulk.choose`). They were measured on a 2-vCPU
machine with 24 GiB (Python 3.11.7, SimPy 4.1.2, ``nice -n 10`` beside other work) by
``benchmarks/measure_footprint.py``: the exact path on ``quickstart`` and ``herd`` at 10,000 to
200,000 clients, the batched path on the ``capstone`` scaled down (50k and 100k clients, the same
room sizes and rates):

=====================  =============  ==============  ================================================
cost                   exact          batched         from
=====================  =============  ==============  ================================================
memory per client      ~1,000 B       ~110 B          quickstart 10k → 200k clients (herd: ~700 B);
                                                      capstone 50k → 100k, publications taken out
memory per room slot   ~50 B          ~50 B           rooms.per_client 1 → 4 at 40k clients
per slow consumer      ~1.6 KiB       ~1.6 KiB        slow_consumers.fraction 0.01 → 0.5 at 40k clients
per publication held   ~100 B         ~75 B           publish_rate 2 → 60/min at 10k clients;
                                                      the whole capstone (below)
time per client        ~45 µs         ~25 µs          quickstart 200k (a connect ramp, offline periods,
                                                      a crash); the whole capstone
 ... under admission    ~200 µs        (as exact)      herd 200k (a crash, handshake_rate 100/s: retries)
time per publication   ~15 µs         ~2.6 µs         publish_rate 2 → 60/min at 10k clients; the
                                                      whole capstone
per slow consumer      ~1 µs per interval             slow_consumers.fraction 0.01 → 0.5 at 40k clients
=====================  =============  ==============  ================================================

The batched path's figures come from the whole capstone on its 50 ms step (commit 1353a11,
2026-12-01, load average 0.3 to 3): 89.9 M publications and 2.64 M connects (reconnects included)
in 280 s of wall time, 48.7 s of it connecting; peak RSS 2.54 GiB, of which 2.0 GiB above the base,
the clients and their room slots, for the 30 M publications its windows hold.

A publication is held while it is in its room's replay window (:mod:`wssim.policies.replay`): on a
backplane that keeps history with a ``max_age``, a run holds at most the publications of the last
``max_age`` plus what each room has aged out but not yet let go (up to 64 a room, 32 on average):
``rate × max_age + 32 × rooms``, at most ``max_messages`` a room. The batched path keeps such a
window as columns per step (:mod:`wssim.sim.windowlog`) and lets a step go whole once it is older than
``max_age``: ``rate × (max_age + step)``. The whole capstone (above) holds 30 M publications; this
estimates 2.60 GiB for it, 2% over the 2.54 GiB it peaked at. (Before the windows were kept as
columns, the same run peaked at 6.1 GiB.)

The base is what a run's process holds before it starts: a ``wssim run`` worker, forked from the
command line with its imports, held 110.5 MiB (peak RSS when its run started, 10 workers of 5 runs of
``wssim run quickstart``, 2026-12-01, the 2-vCPU machine above); a fresh Python with only the model
loaded holds 46.6 MiB, with the command line's sweep and report modules 178 MiB.

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

BASE_BYTES = 110 * 2**20  # a `wssim run` worker when its run starts (measured: 110.5 MiB)
SECONDS_PER_SLOW_CONSUMER_INTERVAL = 1e-6
AGED_HELD_PER_ROOM = 32  # publications a room has aged out but not let go yet, on average (of up to 64)
LONG_RUN_S = 120.0  # a sweep estimated to take longer than this is noted before it starts
MEMORY_SHARE = 0.9  # runs in flight may use this share of the memory available now


@dataclass(frozen=True)
class Costs:
    """What a run costs on one fan-out path: bytes and wall seconds per unit of its work."""

    client: float
    room_slot: float
    slow_consumer: float
    publication: float  # bytes per publication held in a replay window
    seconds_per_client: float
    seconds_per_client_admitted: float  # with gateways.admission.handshake_rate: refused attempts retry
    seconds_per_publication: float


COSTS = {
    "exact": Costs(1_000, 50, 1_600, 100, 45e-6, 200e-6, 15e-6),
    "batched": Costs(110, 50, 1_600, 75, 25e-6, 200e-6, 2.6e-6),
}


@dataclass(frozen=True)
class Estimate:
    """One run's estimated peak memory (bytes) and wall time (s), the config field that drives it, and
    the fan-out path it was estimated for."""

    memory: float
    seconds: float
    field: str
    value: Any
    path: str = "exact"


def held(cfg: Any, publications: float, path: str = "exact") -> float:
    """Of ``publications``, how many a run on fan-out ``path`` holds at once in its rooms' replay
    windows."""
    from wssim.sim.history import KEEPS_HISTORY

    bp, rooms = cfg.backplane, cfg.clients.rooms.count
    if not KEEPS_HISTORY[bp.kind] or not rooms:
        return publications  # not measured without a window: counted as all held
    most = publications
    if bp.replay.max_age is not None:
        rate = cfg.clients.publish_rate * cfg.clients.count
        if path == "batched":  # whole steps let go (wssim.sim.windowlog)
            most = rate * (float(bp.replay.max_age) + float(cfg.simulation.step))
        else:
            most = rate * float(bp.replay.max_age) + AGED_HELD_PER_ROOM * rooms
    if bp.replay.max_messages is not None:
        most = min(most, bp.replay.max_messages * rooms)
    return min(publications, most)


def estimate(cfg: Any) -> Estimate:
    """The memory and time of one simulator run of ``cfg`` (a websocket fleet; others are closed form),
    on the fan-out path the run will take."""
    from wssim.sim.bulk import choose

    cl = cfg.clients
    if cfg.transport.kind != "websocket":
        return Estimate(BASE_BYTES, 0.1, "clients.count", cl.count)
    path = choose(cfg)[0]
    c = COSTS[path]
    clients = cl.count + sum(f.connect_clients for f in cfg.faults if f.kind == "spike")
    slots = max(0, (cl.rooms.per_client if cl.rooms.count else 0) - 1) * clients
    slow = cl.slow_consumers.fraction * clients
    publications = cl.publish_rate * cl.count * float(cfg.duration)
    intervals = float(cfg.duration) / float(cfg.interval)
    client_bytes = clients * c.client + slots * c.room_slot + slow * c.slow_consumer
    publication_bytes = held(cfg, publications, path) * c.publication
    memory = BASE_BYTES + client_bytes + publication_bytes
    admitted = cfg.gateways.admission.handshake_rate is not None
    seconds = (
        clients * (c.seconds_per_client_admitted if admitted else c.seconds_per_client)
        + publications * c.seconds_per_publication
        + slow * intervals * SECONDS_PER_SLOW_CONSUMER_INTERVAL
    )
    if publication_bytes > client_bytes:
        return Estimate(memory, seconds, "clients.publish_rate", f"{cl.publish_rate:g}/s", path)
    return Estimate(memory, seconds, "clients.count", f"{cl.count:,}", path)


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
    estimates = [estimate(s.config) for s in specs]
    seconds = [e.seconds for e in estimates]
    runs = len(specs)
    parallel = max(1, min(parallel, runs))
    total_s = sum(seconds) / parallel
    if total_s <= LONG_RUN_S:
        return []
    c = COSTS[max(estimates, key=lambda e: e.seconds).path]
    return [
        Note(
            f"this will take about {duration(total_s)}: {runs} run{'s' * (runs != 1)} of about "
            f"{duration(sum(seconds) / runs)} each, {parallel} at a time (from "
            f"~{c.seconds_per_client * 1e6:.2g} µs per client, "
            f"~{c.seconds_per_client_admitted * 1e6:.3g} µs under admission control, and "
            f"~{c.seconds_per_publication * 1e6:.2g} µs per publication, measured on a 2-vCPU machine; a "
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
        fix = "lower clients.publish_rate, backplane.replay.max_age or duration (or clients.count)"
    c = COSTS[worst.path]
    return (
        f"{worst.field} = {worst.value}: one run needs about {size(worst.memory)} of memory (on the "
        f"{worst.path} fan-out path, about {c.client:,.0f} B per simulated client and "
        f"{c.publication:.0f} B per publication in its replay window), and this machine has "
        f"{size(available)} available ({size(total)} in all). To fit, {fix}; a fleet that large is "
        "better studied at a scaled-down size (fewer clients per gateway, the same ratios), or on a "
        "machine with more memory. Nothing was run."
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
