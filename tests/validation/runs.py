"""Running replications of small configs for the validation tests."""

from __future__ import annotations

import copy
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from wssim.config import Config, load_config
from wssim.metrics import RunResult

WORKERS = min(2, os.cpu_count() or 1)


def simulate_fn() -> Any:
    """``wssim.sim.simulate`` (imported here so a broken simulator fails every validation test)."""
    from wssim.sim import simulate

    return simulate


def make_config(base: dict[str, Any], overrides: dict[str, Any] | None = None) -> Config:
    """A validated config from a base dict plus dotted-path overrides (``{"gateways.count": 2}``)."""
    raw = copy.deepcopy(base)
    for path, value in (overrides or {}).items():
        node = raw
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return load_config(raw)


def _run(args: tuple[Config, int]) -> RunResult:
    config, replication = args
    return simulate_fn()(config, replication=replication)


def replicate(config: Config, reps: int | None = None) -> list[RunResult]:
    """Replications ``0 .. reps-1`` (default ``config.replications``), in order, on up to two processes."""
    n = reps if reps is not None else config.replications
    simulate_fn()
    jobs = [(config, r) for r in range(n)]
    if n == 1 or WORKERS == 1:
        return [_run(job) for job in jobs]
    with ProcessPoolExecutor(WORKERS) as pool:
        return list(pool.map(_run, jobs))


def metric(results: list[RunResult], name: str) -> list[float]:
    """One metric over replications."""
    return [r.metrics[name] for r in results]
