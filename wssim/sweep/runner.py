"""Sweeps: every sweep point × every replication, on an executor, gathered into :class:`Results`.

Runs are keyed by (point, replication) and always sorted by that key, never by completion order, so the
files are byte-identical whatever the executor or the worker count. Replication ``r`` of every point uses
the same seed: the points share common random numbers (:mod:`wssim.randomness` spawns the streams from
(seed, replication, stream, entity)), so :func:`aggregate` also reports paired differences against
point 0, which are much tighter than the difference of two independent means.

Steady-state figures (quantiles such as ``latency_p99_s`` and ``send_queue_depth_p99``, and
``peak_handshake_rate``) ignore samples before ``config.warmup``: the recorder drops them (warm-up
deletion), while counters and the time series keep the whole run.

Files written to ``out`` (see :mod:`wssim.report` for ``report.html``):

- ``summary.csv`` — one row per run: point, replication, seed, sweep values, every metric;
- ``aggregate.csv`` — per point and metric: n, mean, std, 95% Student-t CI, paired difference vs point 0;
- ``timeseries.parquet`` — tidy: run, point, replication, time, series, label, value;
- ``markers.json`` — fault markers per run; ``manifest.json`` — points, parameters, failures, run info;
- ``config.resolved.yaml`` — the config as run (reloadable with ``wssim run``).

While runs finish they are appended to ``partial/`` so a Ctrl-C keeps them; ``resume`` skips them.

The parts of a sweep live beside this module in :mod:`wssim.sweep` (see its table).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, wait
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from wssim.metrics import RunResult
from wssim.notes import Note, unique
from wssim.sweep import footprint
from wssim.sweep.executors import ExecutorHandle, default_workers, make_executor
from wssim.sweep.progress import Display, progress_display
from wssim.sweep.results import Results
from wssim.sweep.statistics import CONFIDENCE
from wssim.sweep.store import PARTIAL, RunStore, jsonable, read_json, write_json
from wssim.sweep.tasks import (
    ENGINES,
    STARTED,
    Reporter,
    RunOutcome,
    RunSpec,
    SweepError,
    describe,
    execute_run,
    plan,
    resolve_engine,
    run_id,
    sweep_params,
)

WORKER_DIED = (
    "its worker process died while it ran (killed, out of memory, or a crash in native code); "
    "another run in flight at the same time is marked too; --resume runs them again"
)


def default_out(name: str, root: str | Path = "runs") -> Path:
    """A fresh output folder: ``runs/NAME-YYYYmmdd-HHMMSS``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


def _as_config(config: Any, overrides: list[str] | None, replications: int | None) -> Any:
    from wssim.config import Config, load_config

    if isinstance(config, Config):
        cfg = config if not overrides else load_config(config.model_dump(mode="json"), overrides)
    else:
        cfg = load_config(config, overrides)
    if replications is not None and replications != cfg.replications:
        if replications < 1:
            raise SweepError("replications must be at least 1")
        cfg = load_config({**cfg.model_dump(mode="json"), "replications": replications})
    return cfg


def saved_run(directory: str | Path) -> tuple[dict[str, Any], str]:
    """The config (as run, ``--set`` values and replications included) and engine of an earlier run."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SweepError(f"cannot resume: {directory} is not a folder")
    try:
        text = (directory / "config.resolved.yaml").read_text(encoding="utf-8")
    except OSError:
        raise SweepError(
            f"cannot resume: {directory} has no config.resolved.yaml, so it is not a wssim run folder"
        ) from None
    config = yaml.safe_load(text)
    if not isinstance(config, dict):
        raise SweepError(f"cannot resume: {directory / 'config.resolved.yaml'} does not hold a config")
    return config, str(read_json(directory / "manifest.json", {}).get("engine") or "sim")


def _resumed_config(config: Any, overrides: list[str] | None, replications: int | None, resume: Path) -> Any:
    """The config of a resumed run: as given (or the folder's own); replications can only grow.

    A folder holding only the partial rows of a run killed before its config was written resumes with
    the config given.
    """
    if config is not None and (resume / PARTIAL).is_dir() and not (resume / "config.resolved.yaml").exists():
        return _as_config(config, overrides, replications)
    saved, _ = saved_run(resume)
    earlier = int(saved.get("replications") or 0)
    base = _as_config(saved if config is None else config, overrides, None)
    if replications is None:
        replications = max(earlier, base.replications)
    elif earlier > replications:
        raise SweepError(
            f"cannot resume {resume} with {replications} replication(s): it already has {earlier}; "
            "--replications can only grow on resume"
        )
    cfg = _as_config(base, None, replications)
    _check_same_config(resume, saved, cfg.model_dump(mode="json"))
    return cfg


def _check_same_config(directory: Path, saved: dict[str, Any], config_dump: dict[str, Any]) -> None:
    a = {k: v for k, v in saved.items() if k != "replications"}
    b = {k: v for k, v in jsonable(config_dump).items() if k != "replications"}
    if a != b:
        changed = sorted(_diff_paths(a, b))
        shown = ", ".join(f"`{p}`" for p in changed[:6]) + (" …" if len(changed) > 6 else "")
        raise SweepError(
            f"cannot resume {directory}: it was run with a different config ({shown} differ). Leave out "
            "the config and --set to continue it as it was (`wssim run --resume DIR`; only --replications "
            "may change), or start a new --out folder."
        )


def _diff_paths(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff_paths(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "(root)"]


def run(
    config: Any = None,
    replications: int | None = None,
    workers: int | None = None,
    executor: str = "local",
    engine: str | Callable[..., RunResult] = "sim",
    out: str | Path | None = None,
    progress: bool | Callable[[float], None] = True,
    *,
    scheduler: str | None = None,
    resume: str | Path | None = None,
    overrides: list[str] | None = None,
    report: bool = True,
    console: Any = None,
    notes: Sequence[Note] = (),
) -> Results:
    """Run every sweep point × replication of ``config`` and gather the results.

    ``config`` is a :class:`~wssim.config.Config`, a YAML path, a built-in scenario name or a dict.
    ``executor`` is ``local`` (process pool of ``workers``, default one per core), ``dask`` (``scheduler``
    address, or a private local cluster) or ``serial``. ``engine`` is ``sim``, ``live``, ``module:function``
    or a callable ``(config, replication, progress) -> RunResult``. With ``out`` the files are written
    there; ``resume`` is the folder of an earlier run, continued with its own config when ``config`` is
    None, skipping its finished runs. ``progress`` shows a terminal bar, or is a function given the
    fraction done (0 to 1) as runs advance. ``notes`` (:mod:`wssim.notes`) are kept in ``manifest.json``.
    Failed runs are listed in ``Results.failures`` (and a warning) without stopping the others. Ctrl-C
    (or SIGTERM under the CLI) keeps finished runs.
    """
    cfg = _sweep_config(config, overrides, replications, resume)
    specs = plan(cfg)
    params = sweep_params(specs)
    if engine == "live" and executor == "local":
        executor = "serial"  # a live run owns the machine's sockets and cores
    if isinstance(engine, str) and engine not in ENGINES:
        resolve_engine(engine)  # fail early on an unknown or unimportable engine
    if engine == "sim" and not scheduler:
        footprint.check(specs, _parallel(executor, workers))  # refuse what cannot fit, before any file
    out_dir = _output_folder(out, resume)
    store = _open_store(out_dir, params, specs, resume is not None)
    # Replication-major: an interrupted sweep keeps whole replications across all points.
    todo = sorted((s for s in specs if s.key not in store.runs), key=lambda s: (s.replication, s.point))
    manifest = _manifest(cfg, params, engine, specs, notes)
    config_dump = cfg.model_dump(mode="json")
    if out_dir is not None:  # early, so that even a killed run's folder says what it is
        _start_folder(out_dir, config_dump, manifest, store)
    interrupted = True
    try:
        _execute_sweep(todo, store, manifest, engine, executor, workers, scheduler, progress, console)
        interrupted = False
    finally:
        manifest["notes"] = [n.to_json() for n in unique([*notes, *store.run_notes()])]
        if out_dir is not None and (store.runs or store.failures):
            store.write(config_dump, manifest)
            if report and store.runs:
                with contextlib.suppress(Exception) if interrupted else contextlib.nullcontext():
                    Results.load(out_dir).report()
    results = Results(
        store.summary(),
        store.timeseries(),
        store.markers(),
        params,
        config_dump,
        [store.failures[k] for k in sorted(store.failures)],
        out_dir,
        dict(manifest),
    )
    _warn_failures(results.failures)
    return results


def _sweep_config(config: Any, overrides: list[str] | None, replications: int | None, resume: Any) -> Any:
    """The config to run: the one given, or (resuming) the folder's own or the one given, checked."""
    if resume is not None:
        return _resumed_config(config, overrides, replications, Path(resume))
    if config is None:
        raise SweepError("give a config, or the folder of an earlier run to resume")
    return _as_config(config, overrides, replications)


def _open_store(out_dir: Path | None, params: list[str], specs: list[RunSpec], resumed: bool) -> RunStore:
    """A store for the sweep; resuming, it holds the folder's finished runs that are still wanted."""
    store = RunStore(out_dir, params)
    if resumed and out_dir is not None:
        store.load(out_dir)
        wanted = {s.key for s in specs}
        store.runs = {k: v for k, v in store.runs.items() if k in wanted}
        store.failures = {}
    return store


def _parallel(executor: str, workers: int | None) -> int:
    """How many runs execute at once on ``executor``."""
    return 1 if executor == "serial" else workers or default_workers()


def _output_folder(out: str | Path | None, resume: str | Path | None) -> Path | None:
    if resume is not None:
        return Path(resume)
    if out is None:
        return None
    out_dir = Path(out)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise SweepError(f"{out_dir} exists and is not empty: choose a new --out folder, or --resume it")
    return out_dir


def _manifest(
    cfg: Any, params: list[str], engine: Any, specs: list[RunSpec], notes: Sequence[Note]
) -> dict[str, Any]:
    return {
        "name": cfg.name,
        "params": params,
        "engine": engine if isinstance(engine, str) else getattr(engine, "__name__", "custom"),
        "replications": cfg.replications,
        "points": [
            {"point": s.point, "params": jsonable(s.params), "seed": s.seed}
            for s in specs
            if s.replication == 0
        ],
        "confidence": CONFIDENCE,
        "notes": [n.to_json() for n in unique(notes)],
    }


def _start_folder(
    out_dir: Path, config_dump: dict[str, Any], manifest: dict[str, Any], store: RunStore
) -> None:
    """The config and a first manifest, before any run: a killed run's folder says what it is."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.resolved.yaml").write_text(
        yaml.safe_dump(config_dump, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    runs_info = {run_id(*k): jsonable(r.info) for k, r in sorted(store.runs.items())}
    write_json(out_dir / "manifest.json", {**manifest, "runs": runs_info, "failures": []})


def _execute_sweep(
    todo: list[RunSpec],
    store: RunStore,
    manifest: dict[str, Any],
    engine: str | Callable[..., RunResult],
    executor: str,
    workers: int | None,
    scheduler: str | None,
    progress: bool | Callable[[float], None],
    console: Any,
) -> None:
    """Run ``todo`` on a fresh executor with a progress display; record the wall time and how it ended.

    On Ctrl-C (or :class:`wssim.lifetime.Terminated`) the executor is aborted: its workers stop now.
    """
    started = time.perf_counter()
    manifest["interrupted"] = True
    handle: ExecutorHandle | None = None
    bar: Display | None = None
    try:
        if todo:
            handle = make_executor(executor, workers=workers, scheduler=scheduler)
            manifest["executor"] = handle.description
            label = f"{manifest['name']}: {len(todo)} run{'s' * (len(todo) != 1)}"
            bar = progress_display(progress, len(todo), label, console)
            _execute(handle, engine, todo, store, bar)
        manifest["interrupted"] = False
    except KeyboardInterrupt:
        if handle is not None:
            handle.abort()
            handle = None
        raise
    finally:
        if bar is not None:
            bar.stop()
        if handle is not None:
            handle.close()
        manifest["wall_s"] = round(time.perf_counter() - started, 3)


def _warn_failures(failures: list[dict[str, Any]]) -> None:
    if failures:
        warnings.warn(
            f"{len(failures)} run(s) failed: "
            + "; ".join(
                f"{run_id(f['point'], f['replication'])} {f['params']}: {f['error']}" for f in failures[:3]
            ),
            RuntimeWarning,
            stacklevel=3,
        )


def _execute(
    handle: ExecutorHandle,
    engine: str | Callable[..., RunResult],
    todo: list[RunSpec],
    store: RunStore,
    bar: Display,
) -> None:
    """Submit every run, keep each as it finishes, show progress.

    If a pool worker dies (the pool breaks), the runs that had started and not finished are recorded as
    failed, the pool is restarted and the runs that had not started are submitted again.
    """
    if handle.kind == "serial":  # one at a time in this process: progress goes straight to the bar
        for spec in todo:
            rid = spec.run_id
            outcome = execute_run(
                engine, spec.config, spec.point, spec.replication, Reporter(bar.run_progress, rid)
            )
            store.add(spec, outcome)
            bar.run_done(rid)
        return
    remaining = list(todo)
    while remaining:
        started: set[str] = set()
        broken = _submit_and_gather(handle, engine, remaining, store, bar, started)
        if not broken:
            return
        _drain(handle, bar, started)
        suspects = [s for s in broken if s.run_id in started] or broken
        for spec in suspects:
            store.add(spec, RunOutcome(spec.point, spec.replication, error=f"WorkerDied: {WORKER_DIED}"))
            bar.run_done(spec.run_id)
        remaining = [s for s in broken if s not in suspects]
        if remaining:
            handle.restart()


def _submit_and_gather(
    handle: ExecutorHandle,
    engine: str | Callable[..., RunResult],
    specs: list[RunSpec],
    store: RunStore,
    bar: Display,
    started: set[str],
) -> list[RunSpec]:
    """Run ``specs`` on the executor; return the ones lost to a broken pool (empty if none)."""
    by_future: dict[Future, RunSpec] = {}
    for spec in specs:
        fut = handle.executor.submit(execute_run, engine, spec.config, spec.point, spec.replication)
        by_future[fut] = spec
    pending = set(by_future)
    broken: list[RunSpec] = []
    while pending:
        done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        _drain(handle, bar, started)
        for fut in sorted(done, key=lambda f: by_future[f].key):
            spec = by_future[fut]
            try:
                outcome = fut.result()
            except BrokenExecutor:
                broken.append(spec)
                continue
            except Exception as exc:
                outcome = RunOutcome(spec.point, spec.replication, error=describe(exc))
            store.add(spec, outcome)
            bar.run_done(spec.run_id)
    return sorted(broken, key=lambda s: (s.replication, s.point))


def _drain(handle: ExecutorHandle, bar: Display, started: set[str]) -> None:
    """Read the pool workers' progress messages: show the latest per run, note the runs started."""
    if handle.progress is None:
        return
    latest: dict[str, float] = {}
    for rid, fraction in handle.progress.drain():
        if fraction == STARTED:
            started.add(rid)
        else:
            latest[rid] = fraction
    for rid, fraction in latest.items():
        bar.run_progress(rid, fraction)


def footprint_notes(
    cfg: Any,
    engine: Any,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    replications: int | None = None,
) -> list[Note]:
    """Refuse a simulator sweep that cannot fit in this machine's memory; note one that will take long.

    Runs on a remote Dask ``scheduler`` use its machines' memory, and other engines have their own
    costs: nothing is estimated for them.
    """
    if engine != "sim" or scheduler:
        return []
    return footprint.check(plan(_as_config(cfg, None, replications)), _parallel(executor, workers))


__all__ = ["default_out", "footprint_notes", "run", "saved_run"]
