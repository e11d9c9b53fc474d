"""One run of a sweep: planning (point × replication), resolving the engine, executing it in a worker."""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import pandas as pd

from wssim.errors import SweepError
from wssim.metrics import RunResult
from wssim.notes import result_notes
from wssim.sweep.executors import progress_channel

ENGINES = ("sim", "live")
KEY_COLUMNS = ("point", "replication", "seed")
STARTED = -1.0  # progress message: the run has started in a pool worker


@dataclass(frozen=True)
class RunSpec:
    """One run: a sweep point's config and a replication number."""

    point: int
    replication: int
    params: dict[str, Any]
    seed: int
    config: Any

    @property
    def key(self) -> tuple[int, int]:
        return (self.point, self.replication)

    @property
    def run_id(self) -> str:
        return run_id(self.point, self.replication)


def run_id(point: int, replication: int) -> str:
    """The id of a run in file names, the time series and the markers: ``p003-r001``."""
    return f"p{point:03d}-r{replication:03d}"


def plan(config: Any, replications: int | None = None) -> list[RunSpec]:
    """Every (point, replication) of a config, ordered by key."""
    from wssim.config import expand_sweep

    reps = replications or config.replications
    points = expand_sweep(config)
    return [
        RunSpec(p.index, r, dict(p.params), int(p.config.seed), p.config) for p in points for r in range(reps)
    ]


def sweep_params(specs: Sequence[RunSpec]) -> list[str]:
    """The swept dotted paths, in sweep order (as :func:`wssim.config.expand_sweep` gives them)."""
    names: dict[str, None] = {}
    for spec in specs:
        names.update(dict.fromkeys(spec.params))
    return [p for p in names if p not in KEY_COLUMNS]


def resolve_engine(engine: str | Callable[..., RunResult]) -> Callable[..., RunResult]:
    """The engine function: ``sim``, ``live``, ``module:function``, or a callable as it is.

    An engine is called as ``engine(config, replication, progress) -> RunResult``.
    """
    if callable(engine):
        return engine
    if engine == "sim":
        from wssim.sim import simulate

        return simulate
    if engine == "live":
        from reference_impl.driver.harness import run_live

        return run_live
    if isinstance(engine, str) and ":" in engine:
        module, _, name = engine.partition(":")
        try:
            return getattr(import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise SweepError(f"engine `{engine}` cannot be imported: {exc}") from exc
    raise SweepError(f"unknown engine `{engine}`; use one of {', '.join(ENGINES)} or `module:function`")


@dataclass
class RunOutcome:
    """What came back from a worker for one run: a result, or an error."""

    point: int
    replication: int
    metrics: dict[str, float] | None = None
    timeseries: pd.DataFrame | None = None
    markers: list[tuple[float, str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.point, self.replication)

    @property
    def ok(self) -> bool:
        return self.error is None


class Reporter:
    """Passes a run's progress (the share of its work done) on, at most ~4 times a second: to the parent
    through the progress channel (pool workers), or to a function (serial runs)."""

    def __init__(self, sink: Any, rid: str) -> None:
        self.sink, self.rid, self.last = sink, rid, 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last >= 0.25 or fraction >= 1.0:
            self.last = now
            with contextlib.suppress(Exception):
                if callable(self.sink):
                    self.sink(self.rid, float(fraction))
                else:
                    self.sink.put((self.rid, float(fraction)))


def execute_run(
    engine: str | Callable[..., RunResult],
    config: Any,
    point: int,
    replication: int,
    progress: Callable[[float], None] | None = None,
) -> RunOutcome:
    """Run one (point, replication) in this process; never raises for an engine failure."""
    rid = run_id(point, replication)
    if progress is None and (channel := progress_channel()) is not None:
        with contextlib.suppress(Exception):
            channel.put((rid, STARTED))  # lets the parent tell who was running if this process dies
        progress = Reporter(channel, rid)
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        result = resolve_engine(engine)(config, replication, progress)
    except Exception as exc:
        return RunOutcome(point, replication, error=describe(exc), traceback=traceback.format_exc())
    info = dict(result.info)
    info.setdefault("wall_s", time.perf_counter() - start)
    info.setdefault("cpu_s", time.process_time() - cpu_start)
    ts = result.timeseries
    if ts is None:
        ts = pd.DataFrame(columns=["time", "series", "label", "value"])
    metrics = {str(k): float(v) for k, v in result.metrics.items()}
    info["notes"] = list(info.get("notes", [])) + [n.to_json() for n in result_notes(metrics, config)]
    markers = [(float(t), str(label)) for t, label in result.markers]
    return RunOutcome(point, replication, metrics, ts, markers, info)


def describe(exc: BaseException) -> str:
    """``Type: message`` of an error; one without a message (a bare MemoryError) says what it means."""
    text = str(exc) or {
        MemoryError: "out of memory (fewer clients per run, or fewer --workers, needs less)",
        RecursionError: "too deep a recursion",
    }.get(type(exc), "(no message)")
    return f"{type(exc).__name__}: {text}"
