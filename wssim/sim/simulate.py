"""``simulate(config, replication)``: one run of the SimPy model, deterministic given its arguments."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from wssim.metrics import RunResult
from wssim.schedule import ScheduleRecorder
from wssim.sim.bulk import choose
from wssim.sim.world import World

PROGRESS_STEPS = 100


def build_world(config: Any, replication: int = 0, batched: bool = False) -> World:
    """Wire a world from ``config`` and schedule its processes (clients, traffic, faults, sampler);
    ``batched``: on the batched fan-out path (:mod:`wssim.sim.bulk`)."""
    w = World(config, replication, batched)
    for g in w.gateways:
        if g.up:
            g.check_memory()
    w.edge.start()
    w.clients.start()
    w.traffic.start()
    w.faults.start()
    w.observer.start()
    return w


def simulate(
    config: Any,
    replication: int = 0,
    progress: Callable[[float], None] | None = None,
    schedule_to: str | Path | None = None,
) -> RunResult:
    """Run ``config`` once (replication ``replication``) and return its metrics and time series.

    WebSocket fleets run the event model; SSE, long-poll and poll run the closed-form transport model
    of :mod:`wssim.analytic.transport_run` (their connections are short or stateless HTTP requests).
    ``schedule_to``: also write the events the run drew there (:mod:`wssim.schedule`), for a live
    run to play.
    """
    if config.transport.kind != "websocket":
        from wssim.analytic.transport_run import simulate_transport

        return simulate_transport(config, replication, progress)
    t0 = time.perf_counter()
    path, note = choose(config, recording=schedule_to is not None)
    w = build_world(config, replication, batched=path == "batched")
    if schedule_to is not None:
        w.schedule = ScheduleRecorder()
    end = float(config.duration)
    if progress is None:
        w.env.run(until=end)
    else:
        for i in range(1, PROGRESS_STEPS + 1):
            w.env.run(until=end * i / PROGRESS_STEPS)
            progress(1.0 if i == PROGRESS_STEPS else work_done(w))
    w.observer.finish()
    if schedule_to is not None:
        write_schedule(w, schedule_to)
    return w.rec.result(
        engine="sim",
        wall_s=time.perf_counter() - t0,
        numpy_version=np.__version__,
        simpy_version=simpy.__version__,
        replication=replication,
        seed=config.seed,
        scenario=config.name,
        connect_actions=w.clients.actions,
        events=next(w.env._eid),  # SimPy events scheduled in the run
        fanout_path=path,
        bulk_publications=w.batched.pubs if w.batched is not None else 0,
        notes=[note.to_json()] if note is not None else [],
    )


def work_done(w: World) -> float:
    """The share of the run's work done so far, for its progress and the time it has to go.

    Work is what a run spends its time on (:mod:`wssim.sweep.footprint`'s costs): connects done and to
    come (the arrivals not yet made) and publications made and to come (the clients connected or still
    to arrive, at their rate, for the simulated time left). A connect ramp is front-loaded: by simulated
    time alone, 2 minutes of 10 would be a fifth of the run when they hold most of its work.
    """
    from wssim.sweep.footprint import COSTS

    c = COSTS["batched" if w.batched is not None else "exact"]
    cl = w.clients
    coming = cl.arrivals_to_come()
    published = w.rec.counters.get("messages_published", 0.0)
    rate = w.traffic.rate * w.traffic.multiplier
    done = cl.actions * c.seconds_per_client + published * c.seconds_per_publication
    publications = rate * (cl.connected + coming) * (w.end - w.now)
    left = coming * c.seconds_per_client + publications * c.seconds_per_publication
    return done / (done + left) if done + left > 0 else w.now / w.end


def write_schedule(w: World, path: str | Path) -> Path:
    """Write the schedule the run drew (arrivals, rooms, slow consumers, offline episodes, publishes,
    faults with their targets) to ``path``."""
    cfg, cl = w.cfg, w.clients
    header = {"scenario": cfg.name, "seed": cfg.seed, "replication": w.replication, "duration": cfg.duration}
    rooms = np.asarray(cl.rooms, dtype=np.int32).reshape(cl.total, cl.k)
    assert w.schedule is not None
    return w.schedule.schedule(header, cl.arrive_at, cl.slow, rooms, w.faults.plan).write(path)
