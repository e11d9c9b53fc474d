"""A stand-in engine for sweep tests: tiny, deterministic, and shaped like the real ones.

It fills a real :class:`wssim.metrics.Recorder` from the named random streams of (seed, replication),
so it has the properties the sweep relies on (same inputs -> same result, common random numbers across
points) without the cost of a simulation. Other sweep tests import it (``test_sweep_engine:standin``)
and pass it as ``engine``; the CLI takes it as ``--engine test_sweep_engine:standin``.

Behaviour switches (read from the environment so subprocesses see them):
``WSSIM_TEST_SLEEP`` seconds of wall time per run; ``WSSIM_TEST_LOG`` a file each run appends its id to.
A point with ``clients.count == 13`` fails (to test failure reporting).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

from wssim.metrics import Recorder, RunResult
from wssim.randomness import Stream, generator


def standin(config, replication: int = 0, progress: Callable[[float], None] | None = None) -> RunResult:
    """A deterministic engine: metrics depend on the config's clients/gateways and the random streams."""
    if config.clients.count == 13:
        raise ValueError("unlucky client count 13")
    sleep = float(os.environ.get("WSSIM_TEST_SLEEP", "0"))
    log = os.environ.get("WSSIM_TEST_LOG")
    rng = generator(config.seed, replication, Stream.ARRIVALS)
    rec = Recorder(interval=config.interval, warmup=config.warmup)
    steps = 10
    clients, gateways = config.clients.count, config.gateways.count
    noise = rng.normal(0.0, 1.0, size=steps)
    for i in range(steps):
        t = config.duration * i / steps
        held = clients * (i + 1) / steps
        for g in range(gateways):
            rec.gauge("connections", t, held / gateways, label=str(g))
        rec.rate("handshakes", t, n=max(0.0, held / steps + noise[i]))
        rec.observe("latency", 0.01 * (1 + abs(noise[i])) * (1 + 1 / gateways), t)
        if progress is not None:
            progress((i + 1) / steps)
        if sleep:
            time.sleep(sleep / steps)
    rec.peak("connections_peak", clients)
    rec.count("messages_published", float(rng.poisson(clients)))
    rec.count("messages_lost", float(rng.poisson(1.0)) if gateways < 2 else 0.0)
    rec.set("herd_convergence_s", float(5 + rng.exponential(10) / gateways))
    rec.mark(config.duration / 2, "gateway_crash g0")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{config.clients.count},{config.gateways.count},{replication}\n")
    return rec.result(engine="standin", wall_s=0.0)


def test_standin_is_deterministic_and_uses_common_random_numbers():
    from wssim.config import load_config

    a = load_config({"clients": {"count": 100}, "gateways": {"count": 2}})
    b = load_config({"clients": {"count": 200}, "gateways": {"count": 2}})
    r1, r2 = standin(a, 1), standin(a, 1)
    assert r1.metrics == r2.metrics
    assert r1.timeseries.equals(r2.timeseries)
    assert standin(a, 1).metrics["herd_convergence_s"] == standin(b, 1).metrics["herd_convergence_s"]
    assert standin(a, 1).metrics["herd_convergence_s"] != standin(a, 2).metrics["herd_convergence_s"]
    assert np.isfinite(r1.metrics["latency_p99_s"])


def crashing(config, replication: int = 0, progress: Callable[[float], None] | None = None) -> RunResult:
    """The stand-in, except that ``clients.count == 66`` kills its process outright (like the OOM killer)."""
    if config.clients.count == 66:
        os._exit(9)
    return standin(config, replication, progress)
