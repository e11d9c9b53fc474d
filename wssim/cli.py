"""The ``wssim`` command line (typer + rich).

Exit codes: 0 success; 1 some runs failed, or an unexpected error (one line; ``--debug`` shows the
traceback); 2 a bad config or bad arguments (one paragraph, nothing written); 130 interrupted by Ctrl-C,
143 by SIGTERM, 129 by SIGHUP (every process the command started is stopped; finished runs are kept:
continue with ``--resume DIR``).
"""

from __future__ import annotations

import functools
import math
import os
import shlex
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="wssim",
    help="Simulate a WebSocket fleet: sweeps of configs, reports, and a cross-check against a live run.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

out_console = Console(highlight=False, soft_wrap=False)
err_console = Console(stderr=True, highlight=False)
_state = {"debug": False}

ConfigArg = Annotated[
    str,
    typer.Argument(
        metavar="CONFIG", help="A config YAML path or a built-in scenario name.", show_default=False
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="PATH=VALUE",
        help="Override a config value: PATH=VALUE, e.g. clients.count=5000 (repeatable).",
        show_default=False,
    ),
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the traceback of an unexpected error.")]


def _fail(message: str, code: int) -> None:
    sys.stderr.write(message.rstrip() + "\n")
    sys.stderr.flush()
    raise typer.Exit(code)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a bad config into one paragraph + exit 2, an unexpected error into one line + exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from wssim.errors import ConfigError, SweepError
        from wssim.lifetime import terminate_on_signals

        if kwargs.get("debug"):
            _state["debug"] = True
        try:
            with terminate_on_signals():
                return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except (ConfigError, SweepError) as exc:
            _fail(exc.message, 2)
        except KeyboardInterrupt as exc:
            _fail(*_how_stopped(exc))
        except Exception as exc:
            if _state["debug"]:
                traceback.print_exc()
            from wssim.sweep.tasks import describe  # here: importing the sweep package costs ~1 s

            hint = "" if _state["debug"] else " (run with --debug for the traceback)"
            _fail(f"error: {describe(exc)}{hint}", 1)

    return wrapper


def _how_stopped(exc: KeyboardInterrupt) -> tuple[str, int]:
    """What stopped the command and its exit code: Ctrl-C 130, a signal 128 + its number."""
    from wssim.lifetime import Terminated

    if isinstance(exc, Terminated):
        return f"stopped by {exc}", exc.exit_code
    return "interrupted", 130


@app.callback()
def main(debug: DebugOpt = False) -> None:
    """Simulate a WebSocket fleet: sweeps of configs, reports, and a cross-check against a live run."""
    _state["debug"] = debug or bool(os.environ.get("WSSIM_DEBUG"))


# ------------------------------------------------------------------------------------------------- run

OutOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR",
        help="Output folder (default: runs/NAME-YYYYmmdd-HHMMSS). Must be new or empty.",
        show_default=False,
    ),
]
ReplicationsOpt = Annotated[
    int | None,
    typer.Option(
        min=1, metavar="N", help="Replications per sweep point (default: the config's).", show_default=False
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(min=1, metavar="N", help="Worker processes (default: one per core).", show_default=False),
]


@dataclass
class RunPlan:
    """What `wssim run` is about to do: the config, where it writes, and the notes to show first."""

    config: Any
    engine: str
    target: Path
    notes: list[Any] = field(default_factory=list)

    @property
    def resume_command(self) -> str:
        """The command that continues this run: the folder holds the config, its --set values and engine."""
        return f"wssim run --resume {shlex.quote(str(self.target))}"


RunConfigArg = Annotated[
    str | None,
    typer.Argument(
        metavar="CONFIG",
        help="A config YAML path or a built-in scenario name (not needed with --resume).",
        show_default=False,
    ),
]
ExecutorOpt = Annotated[
    str,
    typer.Option(
        metavar="local|dask|serial",
        help="Where runs execute: local (process pool), dask, or serial (this process).",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        metavar="tcp://HOST:PORT",
        help="Dask scheduler address (default: a private local cluster).",
        show_default=False,
    ),
]
EngineOpt = Annotated[
    str | None,
    typer.Option(
        metavar="sim|live|MODULE:FUNCTION",
        help="sim (the simulator), live (the reference implementation), or module:function "
        "(default: sim; with --resume, the engine of the run resumed).",
        show_default=False,
    ),
]
ResumeOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR",
        help="Continue an earlier run in DIR with its own config, --set values, replications and "
        "engine; finished runs are skipped.",
        show_default=False,
    ),
]
NoReportOpt = Annotated[bool, typer.Option("--no-report", help="Do not write report.html.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no notes and no table.")]


@app.command("run")
@guarded
def run_cmd(
    config: RunConfigArg = None,
    out: OutOpt = None,
    set_: SetOpt = None,
    replications: ReplicationsOpt = None,
    workers: WorkersOpt = None,
    executor: ExecutorOpt = "local",
    scheduler: SchedulerOpt = None,
    engine: EngineOpt = None,
    resume: ResumeOpt = None,
    no_report: NoReportOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run every sweep point × replication of CONFIG and write the results to a folder."""
    from wssim.sweep.runner import footprint_notes

    _check_run_options(executor, scheduler, out, resume)
    plan = _plan_run(config, set_, engine, resume, out)
    plan.notes += footprint_notes(plan.config, plan.engine, executor, workers, scheduler, replications)
    if not quiet:
        _print_notes(plan.notes)
    started = time.time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # failures are reported below
            results = _run_plan(plan, replications, workers, executor, scheduler, resume, no_report, quiet)
    except KeyboardInterrupt as exc:
        how, code = _how_stopped(exc)
        kept = _count_rows(plan.target / "summary.csv")
        _fail(
            f"{how}: {kept} finished run(s) kept in {plan.target}. Continue with:\n  {plan.resume_command}",
            code,
        )
        return
    _show_results(results, plan, quiet, started)


def _run_plan(
    plan: RunPlan,
    replications: int | None,
    workers: int | None,
    executor: str,
    scheduler: str | None,
    resume: Path | None,
    no_report: bool,
    quiet: bool,
) -> Any:
    """:func:`wssim.sweep.run` of a planned run, its progress and notes on stderr."""
    from wssim.sweep import run

    return run(
        plan.config,
        replications=replications,
        workers=workers,
        executor=executor,
        engine=plan.engine,
        out=None if resume is not None else plan.target,
        resume=resume,
        progress=not quiet,
        scheduler=scheduler,
        report=not no_report,
        console=err_console,
        notes=plan.notes,
    )


def _check_run_options(executor: str, scheduler: str | None, out: Path | None, resume: Path | None) -> None:
    from wssim.sweep import SweepError
    from wssim.sweep.executors import EXECUTORS

    if executor not in EXECUTORS:
        raise SweepError(f"--executor must be one of {', '.join(EXECUTORS)}, not `{executor}`")
    if scheduler and executor != "dask":
        raise SweepError("--scheduler needs --executor dask")
    if out is not None and resume is not None and out.resolve() != resume.resolve():
        raise SweepError("give either --out or --resume, not both (--resume writes into its own folder)")


def _plan_run(
    config: str | None, overrides: list[str] | None, engine: str | None, resume: Path | None, out: Path | None
) -> RunPlan:
    """Load the config (given, or the resumed folder's own), check the engine, choose the folder."""
    from wssim.config import load_config_with_notes
    from wssim.sweep import ENGINES, SweepError, default_out, plan, saved_run

    source: Any = config
    if resume is not None:
        saved_config, saved_engine = saved_run(resume)
        if engine is not None and engine != saved_engine:
            raise SweepError(
                f"cannot resume {resume} with --engine {engine}: it was run with `{saved_engine}`. "
                "Leave out --engine to continue it, or start a new --out folder."
            )
        engine = saved_engine
        source = saved_config if config is None else config
    elif config is None:
        raise SweepError("give a CONFIG (a YAML path or a built-in scenario name), or --resume DIR")
    engine = engine or "sim"
    if engine not in ENGINES and ":" not in engine:
        raise SweepError(f"--engine must be one of {', '.join(ENGINES)} or module:function, not `{engine}`")
    cfg, notes = load_config_with_notes(source, overrides or None)
    plan(cfg)  # a sweep that cannot expand is a config error: report it before any folder exists
    return RunPlan(cfg, engine, resume if resume is not None else (out or default_out(cfg.name)), notes)


def _print_notes(notes: list[Any]) -> None:
    for note in notes:
        style = "yellow" if note.level == "warning" else "cyan"
        err_console.print(f"[{style}]{note.level}:[/{style}] {note.text}", soft_wrap=True, highlight=False)


def _show_results(results: Any, plan: RunPlan, quiet: bool, started: float) -> None:
    """The end table, the notes the runs raised, where the files are, and the failed runs (exit 1)."""
    if not quiet:
        print_aggregate(results)
        _print_notes([n for n in results.notes if n not in plan.notes])
    report = plan.target / "report.html"
    if len(results.summary):
        fresh = report.exists() and report.stat().st_mtime >= started
        shown = f"  (open {report})" if fresh else ""
        out_console.print(f"Results in [bold]{plan.target}[/bold]{shown}", soft_wrap=True)
    if not results.failures:
        return
    err_console.print(f"[bold red]{len(results.failures)} run(s) failed:[/bold red]")
    for f in results.failures:
        params = ", ".join(f"{k}={v}" for k, v in f["params"].items()) or "no sweep parameters"
        sys.stderr.write(f"  point {f['point']} replication {f['replication']} ({params}): {f['error']}\n")
        if _state["debug"] and f.get("traceback"):
            sys.stderr.write(f["traceback"])
    sys.stderr.write(f"Re-run the failed ones with: {plan.resume_command}\n")
    if not _state["debug"]:
        sys.stderr.write(f"(tracebacks: {plan.target / 'manifest.json'}, or run with --debug)\n")
    raise typer.Exit(1)


def _count_rows(path: Path) -> int:
    try:
        return max(0, len(path.read_text(encoding="utf-8").splitlines()) - 1)
    except OSError:
        return 0


def print_aggregate(results: Any, console: Console | None = None, max_points: int = 8) -> None:
    """A rich table of the key metrics (mean ± 95% CI half-width) at each sweep point.

    Each metric is shown in one unit (its row's), the interval to one significant figure and the mean
    to the same place; an interval too wide to mean much is marked; metrics that are zero, or empty
    because the warm-up left their samples out, are named below the table.
    """
    from wssim.report import KEY_METRICS, empty_metrics, unmeasured, varying_metrics
    from wssim.units import WIDE_NOTE

    console = console or out_console
    agg = results.aggregate()
    if agg.empty:
        console.print("No finished runs.")
        return
    flagged = unmeasured(results)  # a warning says why they are not numbers: shown as such
    present = [
        m
        for m in KEY_METRICS
        if m in results.metrics and (m in flagged or agg[agg["metric"] == m]["mean"].notna().any())
    ]
    metrics = present + [m for m in varying_metrics(results) if m not in present]
    zero, warm = empty_metrics(results, agg, metrics + list(KEY_METRICS))
    metrics = [m for m in metrics if m not in zero and m not in warm]
    points = sorted(agg["point"].unique())[:max_points]
    name_width = max((len(m) for m in metrics), default=6) + 7
    per_table = max(1, (console.width - name_width) // 19)
    wide = False
    for start in range(0, len(points), per_table):
        table, marked = _aggregate_table(results, agg, metrics, points[start : start + per_table], start == 0)
        wide = wide or marked
        console.print(table)
    for line in [WIDE_NOTE] * wide + _empty_lines(results, zero, warm):
        console.print(line, style="dim", soft_wrap=True, markup=False)
    if agg["point"].nunique() > max_points:
        console.print(f"(first {max_points} of {agg['point'].nunique()} points; all are in aggregate.csv)")


def _aggregate_table(
    results: Any, agg: Any, metrics: list[str], points: list[int], titled: bool
) -> tuple[Table, bool]:
    """One table of ``metrics`` × ``points``; also whether a cell is marked too wide."""
    from wssim.metrics import display_scale
    from wssim.units import too_wide, with_interval

    half = next(c for c in agg.columns if c.endswith("_half_width"))
    n = int(results.summary.groupby("point")["replication"].nunique().max())
    reps = f"{n} replication{'s' * (n != 1)}"
    title = f"{results.config.get('name', '')}: " + (f"mean ± 95% CI over {reps}" if n > 1 else reps)
    if results.params:
        title += f", by {', '.join(results.params)}"
    pts = results.points().set_index("point")
    table = Table(title=title if titled else None, title_style="bold", header_style="bold cyan")
    table.add_column("metric", style="bold", no_wrap=True)
    for p in points:
        head = ", ".join(_short(pts.loc[p, k]) for k in results.params) if results.params else "value"
        table.add_column(head, justify="right", no_wrap=True)
    from wssim.report import NOT_MEASURED, unmeasured

    means = agg.set_index(["metric", "point"])
    flagged = unmeasured(results)
    marked = False
    for m in metrics:
        scale = display_scale(m, agg.loc[agg["metric"] == m, "mean"])
        cells = []
        for p in points:
            r = means.loc[(m, p)]
            if m in flagged and math.isnan(float(r["mean"])):
                cells.append(NOT_MEASURED)
                continue
            wide = too_wide(r["n"], r["mean"], r[half])
            marked = marked or wide
            cells.append(with_interval(r["mean"], r[half], scale, wide))
        table.add_row(m, *cells)
    return table, marked


def _empty_lines(results: Any, zero: list[str], warm: list[str]) -> list[str]:
    """What the table leaves out: metrics zero at every point, and those the warm-up left empty."""
    from wssim.units import human

    lines = [f"zero at every point: {', '.join(zero)}"] if zero else []
    if warm:
        warmup = human(results.config.get("warmup", 0), "s")
        lines.append(
            f"empty after the {warmup} warm-up (steady-state figures count only what happens after it; "
            f"warmup: 0 counts the start too): {', '.join(warm)}"
        )
    return lines


def _short(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ------------------------------------------------------------------------------------------ the others


@app.command()
@guarded
def validate(config: ConfigArg, set_: SetOpt = None, debug: DebugOpt = False) -> None:
    """Check CONFIG against the schema; print what it would run, and anything worth noting."""
    from wssim.config import load_config_with_notes
    from wssim.sweep import footprint, plan, sweep_params
    from wssim.sweep.executors import default_workers

    cfg, notes = load_config_with_notes(config, set_ or None)
    runs = plan(cfg)
    if cfg.transport.kind == "websocket":
        footprint.check_memory(runs, 1)  # a run that cannot fit alone is refused by `wssim run`
        notes += footprint.time_notes(runs, default_workers())
    points = len({r.point for r in runs})
    params = sweep_params(runs)
    swept = f", sweeping {', '.join(params)}" if params else ""
    out_console.print(
        f"[green]✓[/green] {config} is valid: [bold]{cfg.name}[/bold], {points} point{'s' * (points != 1)} × "
        f"{cfg.replications} replication{'s' * (cfg.replications != 1)} = "
        f"{len(runs)} run{'s' * (len(runs) != 1)}"
        f" of {cfg.duration:g} s simulated time{swept}.",
        soft_wrap=True,
    )
    _print_notes(notes)


@app.command()
@guarded
def check(
    design: ConfigArg,
    set_: SetOpt = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Arithmetic only, no probe: answers in well under a second.")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on a warning too.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for check.json, check.html and the probes' configs (default: "
            "runs/NAME-check-YYYYmmdd-HHMMSS; with --quick, nothing is written unless given).",
            show_default=False,
        ),
    ] = None,
    replications: Annotated[int, typer.Option(min=1, help="Replications of each probe.")] = 2,
    max_clients: Annotated[
        int, typer.Option(min=10, help="Simulated clients per probe: the design is scaled down to this.")
    ] = 2000,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="Worker processes for the probes (default: one per core).", show_default=False
        ),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Review DESIGN against the senior checklist: per item a verdict, the evidence and the fix.

    Static items are arithmetic on the config; dynamic items also run a short simulation derived from
    the design (a probe). Exit 0 when nothing fails, 1 when an item fails (or warns, with --strict),
    2 on a bad config.
    """
    from wssim.check import review, write_json
    from wssim.check.render import print_review
    from wssim.config import load_config

    cfg = load_config(design, set_ or None)
    if out is None and not quick:
        from wssim.sweep import default_out

        out = default_out(f"{cfg.name}-check")
    options = {} if quick else {
        "out": out, "replications": replications, "max_clients": max_clients, "workers": workers,
        "progress": True, "console": err_console,
    }  # fmt: skip
    result = review(cfg, quick=quick, source=design, **options)
    if out is not None:
        write_json(result, out, strict)
        if not quick:
            from wssim.check.page import write_page

            write_page(result, out)
    print_review(result, out_console, out, strict)
    raise typer.Exit(result.exit_code(strict))


@app.command()
@guarded
def schema(
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Write to this file instead of standard output.", show_default=False
        ),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Print the JSON Schema of config files (for editor completion and checks)."""
    from wssim.docgen import render_json_schema

    text = render_json_schema()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        out_console.print(f"JSON Schema written to {out}")


@app.command()
@guarded
def scenarios(debug: DebugOpt = False) -> None:
    """List the built-in scenarios (run one with `wssim run NAME`; `wssim crosscheck` runs the
    crosscheck/ ones on both engines)."""
    import yaml

    from wssim.config import SCENARIO_DIR

    table = Table(title="Built-in scenarios", title_style="bold", header_style="bold cyan", show_lines=True)
    table.add_column("name", style="bold green", no_wrap=True)
    table.add_column("description")
    for path in [*sorted(SCENARIO_DIR.glob("*.yaml")), *sorted(SCENARIO_DIR.glob("crosscheck/*.yaml"))]:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            data = {}
        description = " ".join(str(data.get("description", "") if isinstance(data, dict) else "").split())
        table.add_row(str(path.relative_to(SCENARIO_DIR).with_suffix("")), description)
    out_console.print(table)


@app.command()
@guarded
def report(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="The output folder of a `wssim run`.", show_default=False)
    ],
    debug: DebugOpt = False,
) -> None:
    """Rebuild DIR/report.html from the files saved in DIR."""
    from wssim.report import rebuild

    path = rebuild(directory)
    out_console.print(f"Report written to [bold]{path}[/bold]")


CrosscheckConfigsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Config YAML paths or scenario names (default: the five crosscheck scenarios, "
        "crosscheck/herd, crosscheck/backpressure, crosscheck/replay, crosscheck/fanout, "
        "crosscheck/semantics).",
        show_default=False,
    ),
]
SimReplicationsOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        metavar="N",
        help="Simulator replications per point (default: the config's).",
        show_default=False,
    ),
]
SimWorkersOpt = Annotated[
    int | None, typer.Option(min=1, metavar="N", help="Simulator worker processes.", show_default=False)
]
CrosscheckOutOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR",
        help="Output folder (default: runs/crosscheck-YYYYmmdd-HHMMSS): per scenario sim/, live/, "
        "schedules/, crosscheck.csv and the overlay page crosscheck.html.",
        show_default=False,
    ),
]
CalibrationOpt = Annotated[
    str | None,
    typer.Option(
        metavar="FILE|none",
        help="Calibration measured on this machine, applied to the simulator only (default: "
        "$WSSIM_CALIBRATION, else data/calibration/loopback.yaml; refused if it describes another "
        "machine; 'none' for the uncalibrated model). --set wins over it.",
        show_default=False,
    ),
]


@app.command()
@guarded
def crosscheck(
    configs: CrosscheckConfigsArg = None,
    set_: SetOpt = None,
    replications: SimReplicationsOpt = None,
    workers: SimWorkersOpt = None,
    out: CrosscheckOutOpt = None,
    calibration: CalibrationOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Run each config on the simulator and on the live reference implementation, playing the same
    schedule, and judge the checks it declares. Exit 1 when a check misses or a run fails."""
    from wssim.config import load_config
    from wssim.crosscheck import SUITE
    from wssim.crosscheck import crosscheck as do_crosscheck
    from wssim.sweep import SweepError, default_out

    sources = configs or [f"crosscheck/{name}" for name in SUITE]
    cfgs = [load_config(c, set_ or None) for c in sources]  # every config checked before anything runs
    root = out if out is not None else default_out("crosscheck")
    if root.exists() and any(root.iterdir()):
        raise SweepError(f"{root} exists and is not empty: choose a new --out folder")
    calib = _calibration(calibration)
    passed = True
    for cfg in cfgs:
        folder = root / cfg.name if len(cfgs) > 1 else root
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # failed runs are listed below the table
            result = do_crosscheck(
                cfg,
                replications=replications,
                workers=workers,
                out=folder,
                console=err_console,
                calibration=calib,
                overrides=set_ or None,
            )
        print_crosscheck(cfg.name, result)
        passed = passed and result.passed
    out_console.print(
        f"pages: {root}/**/crosscheck.html" if len(cfgs) > 1 else f"page: {root}/crosscheck.html"
    )
    if not passed:
        raise typer.Exit(1)


@app.command()
@guarded
def calibrate(
    out: Annotated[
        Path,
        typer.Option(
            metavar="FILE", help="Where to write the calibration overlay (YAML).", show_default=False
        ),
    ] = Path("calibration.yaml"),
    kinds: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            metavar="KIND",
            help="Backplane kind to measure latency on (repeatable; default: redis_pubsub, redis_streams, "
            "nats, jetstream). The first also carries the CPU measurement.",
            show_default=False,
        ),
    ] = None,
    redis_url: Annotated[
        str | None, typer.Option(metavar="URL", help="A running Redis (default: a private server).")
    ] = None,
    nats_url: Annotated[
        str | None,
        typer.Option(metavar="URL", help="A running NATS with JetStream (default: a private server)."),
    ] = None,
    handshakes: Annotated[int, typer.Option(metavar="N", help="Connections per herd (2..5000).")] = 200,
    herds: Annotated[
        int, typer.Option(metavar="N", help="Herds per gateway; the median is kept (1..20).")
    ] = 3,
    connections: Annotated[
        int, typer.Option(metavar="N", help="Idle connections for the memory per connection (10..18000).")
    ] = 2000,
    subscribers: Annotated[
        int, typer.Option(metavar="N", help="Clients receiving the latency stream.")
    ] = 100,
    rate: Annotated[float, typer.Option(metavar="PER_S", help="Latency stream, messages per second.")] = 50.0,
    seconds: Annotated[float, typer.Option(metavar="S", help="Latency stream duration, seconds.")] = 5.0,
    send_buffer: Annotated[
        int, typer.Option(metavar="BYTES", help="live.send_buffer the path to a slow reader is measured at.")
    ] = 8192,
    message_size: Annotated[
        int, typer.Option(metavar="BYTES", help="Message size for the path to a slow reader.")
    ] = 16384,
    cpu: Annotated[
        bool,
        typer.Option(
            "--cpu/--no-cpu",
            help="Measure the gateway's CPU per frame, byte, backplane message, ping and compressed byte, "
            "and memory per connection with permessage-deflate (about a minute).",
        ),
    ] = True,
    debug: DebugOpt = False,
) -> None:
    """Measure this machine's live system (handshake cost, memory per connection, the path to a slow
    reader, backplane latency, CPU per operation) and write a calibration overlay for `wssim crosscheck`
    (three to four minutes on two cores; every process it starts is stopped when it ends)."""
    from reference_impl.driver.calibrate import KINDS, CalibrateOptions, run_calibration

    opts = CalibrateOptions(
        kinds=list(kinds or KINDS), out=out, redis_url=redis_url, nats_url=nats_url, handshakes=handshakes,
        herds=herds, connections=connections, subscribers=subscribers, rate=rate, seconds=seconds,
        send_buffer=send_buffer, message_size=message_size, cpu=cpu,
    )  # fmt: skip
    opts.check()
    path = run_calibration(opts, say=lambda line: err_console.print(line, markup=False, soft_wrap=True))
    out_console.print(f"Calibration written to [bold]{path}[/bold] (use it with --calibration {path})")


def _calibration(calibration: str | None) -> Any:
    """The calibration ``--calibration`` names (None for ``none``), checked to describe this machine."""
    from wssim.crosscheck import Calibration, check_machine, default_calibration

    if calibration is not None and calibration.lower() == "none":
        return None
    path = Path(calibration) if calibration is not None else default_calibration()
    machine = check_machine(path)
    calib = Calibration.load(path)
    err_console.print(f"calibration {path} (measured on {machine.get('host')}), simulator side only")
    return calib


def print_crosscheck(name: str, result: Any, console: Console | None = None) -> None:
    """The verdict table of one crosscheck (or, with no declared check, the informational comparison).

    Metric names are never cut short; on a narrow console the other columns fold onto more lines.
    """
    from wssim.crosscheck.page import sim_live_text

    out = console or out_console
    v = result.verdicts
    t = Table(title=f"{name}: simulator vs live", title_style="bold", header_style="bold cyan")
    longest = max((len(str(m)) for m in v["metric"]), default=6) if len(v) else 6
    t.add_column("point", overflow="fold")
    t.add_column("metric", no_wrap=True, min_width=longest)
    for col, just in (("simulated (interval)", "right"), ("live", "right"), ("tolerance", "left"),
                      ("verdict", "left")):  # fmt: skip
        t.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
    for r in v.itertuples(index=False):
        sim, live = sim_live_text(r)
        verdict = "[green]pass[/green]" if r.passed else "[bold red]MISS[/bold red]"
        t.add_row(r.label or "–", r.metric, sim, live, r.tolerance, verdict)
    if len(v):
        out.print(t)
    else:
        out.print(f"{name}: no checks declared (crosscheck.checks); the comparison is in comparison.csv")
    for engine_name, failed in result.failures.items():
        for f in failed:
            sys.stderr.write(f"{engine_name} run failed: point {f['point']} {f['params']}: {f['error']}\n")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@guarded
def lab(
    ctx: typer.Context,
    notebook: Annotated[
        str | None,
        typer.Argument(
            metavar="NOTEBOOK", help="A notebook to open: its number (04) or its name.", show_default=False
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT", help="Port to serve on (default: JupyterLab's, 8888 or the next free one)."
        ),
    ] = None,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Open JupyterLab on the teaching notebooks (.py files open as notebooks); extra arguments go to it."""
    from wssim.lessons.lab import LabError, lab_command

    try:
        cmd = lab_command(notebook, port=port, browser=not no_browser, extra=ctx.args)
    except LabError as exc:
        _fail(str(exc), 2)
        return
    sys.stdout.flush()
    os.execv(cmd[0], cmd)  # JupyterLab takes over this process: Ctrl-C and signals reach it directly


@app.command()
@guarded
def docs(
    check: Annotated[bool, typer.Option("--check", help="Only report stale pages (exit 1 if any).")] = False,
    debug: DebugOpt = False,
) -> None:
    """Regenerate the reference pages: docs/reference/config.md, config.schema.json and cli.md."""
    from wssim.docgen import outputs

    pages = {**outputs(), CLI_DOC_PATH: cli_markdown()}
    if check:
        old = [path for path, text in pages.items() if not path.is_file() or path.read_text() != text]
        for path in old:
            sys.stderr.write(f"stale: {path} (run `wssim docs`)\n")
        if old:
            raise typer.Exit(1)
        out_console.print("The reference pages are up to date.")
        return
    for path, text in pages.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        out_console.print(f"wrote {path}")


# ---------------------------------------------------------------------------------------- reference doc


CLI_DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "reference" / "cli.md"

OUTPUTS_INTRO = """
## Output files

`wssim run` writes into `--out` (default `runs/NAME-YYYYmmdd-HHMMSS`; it must be new or empty). Nothing
is created when the config is invalid. Rows are sorted by (point, replication) whatever the executor or
worker count, and floats are written as the shortest text that reads back to the same number, so the
CSV files are byte-identical across executors and worker counts. A run id is `pNNN-rNNN`.
"""
OUTPUT_FILES = [
    ("`summary.csv`", "one row per run (columns below)"),
    ("`aggregate.csv`", "one row per sweep point and metric (columns below)"),
    (
        "`timeseries.parquet`",
        "tidy time series: `run`, `point`, `replication`, `time` (s, bin start), `series`, "
        "`label` (gateway id or empty), `value` (rates per second, levels as sampled)",
    ),
    ("`markers.json`", 'fault markers per run: `{"p000-r000": [[time_s, "label"], ...]}`'),
    (
        "`manifest.json`",
        "sweep parameters, points, engine, executor, failed runs (error and traceback), "
        "per-run info (`wall_s`, `cpu_s`, engine details)",
    ),
    (
        "`config.resolved.yaml`",
        "the config as run, every default filled in; `wssim run config.resolved.yaml` runs it again",
    ),
    (
        "`report.html`",
        "the self-contained report (plotly.js inline: opens offline); `wssim report DIR` rebuilds it",
    ),
    ("`partial/`", "only while running or after a hard kill: rows as runs finish (`--resume` reads them)"),
]
SUMMARY_COLUMNS = [
    ("`point`", "sweep point index (cartesian product in YAML order; `zip:` lists are one axis)"),
    ("`replication`", "replication number, 0-based"),
    (
        "`seed`",
        "the config seed, the same for every point: replication r of every point shares its random "
        "streams (common random numbers)",
    ),
    ("one per swept path", "the point's value, e.g. `clients.reconnect.strategy`"),
    (
        "one per metric",
        "every metric the engine reported, in `wssim.metrics.METRICS` order, then extra ones "
        "alphabetically; SI units (seconds, bytes); `nan` where undefined",
    ),
]
AGGREGATE_COLUMNS = [
    ("`point`, swept paths", "as in `summary.csv`"),
    ("`metric`, `unit`", "the metric and its unit"),
    ("`n`", "replications with a value (NaN values are left out)"),
    ("`mean`, `std`", "sample mean and standard deviation (ddof = 1)"),
    (
        "`ci95_low`, `ci95_high`, `ci95_half_width`",
        "95% confidence interval of the mean: Student t, n − 1 degrees of freedom (NaN for n < 2)",
    ),
    ("`diff_vs_point0`", "mean paired difference against point 0, replication by replication (same seed)"),
    ("`diff_ci95_low`, `diff_ci95_high`", "95% confidence interval of that paired difference"),
]


def _md_table(head: tuple[str, str], rows: list[tuple[str, str]]) -> list[str]:
    return [f"| {head[0]} | {head[1]} |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows), ""]


def outputs_markdown() -> str:
    """The output-files section of the CLI reference."""
    lines = [OUTPUTS_INTRO.strip(), ""]
    lines += _md_table(("file", "content"), OUTPUT_FILES)
    lines += ["### `summary.csv` columns", "", *_md_table(("column", "meaning"), SUMMARY_COLUMNS)]
    lines += ["### `aggregate.csv` columns", "", *_md_table(("column", "meaning"), AGGREGATE_COLUMNS)]
    return "\n".join(lines)


def cli_markdown() -> str:
    """The CLI reference page, generated from the commands and their options."""
    root: Any = typer.main.get_command(app)
    lines = [
        "# CLI reference",
        "",
        "<!-- Generated by `wssim docs` from the command definitions in wssim/cli.py; do not edit. -->",
        "",
        "```",
        "wssim [--debug] COMMAND [ARGS]...",
        "```",
        "",
        (root.help or "").strip(),
        "",
        "`--debug` (before or after the command) prints the traceback of an unexpected error.",
        "",
        "Exit codes: **0** success; **1** some runs failed, or an unexpected error; **2** a bad config or",
        "bad arguments (one paragraph on stderr, nothing written); **130** interrupted by Ctrl-C, **143** by",
        "SIGTERM, **129** by SIGHUP (every process the command started is stopped; finished runs kept).",
        "",
    ]
    for name, cmd in root.commands.items():
        usage = " ".join(
            (p.name or "").upper() if p.required else f"[{(p.name or '').upper()}]"
            for p in cmd.params
            if p.param_type_name == "argument"
        )
        usage += " [OPTIONS]" if any(p.param_type_name == "option" for p in cmd.params) else ""
        lines += [
            f"## `wssim {name}`",
            "",
            (cmd.help or "").strip(),
            "",
            "```",
            " ".join(filter(None, ["wssim", name, usage.strip()])),
            "```",
            "",
        ]
        args = [p for p in cmd.params if p.param_type_name == "argument"]
        opts = [p for p in cmd.params if p.param_type_name == "option" and p.name not in ("help", "debug")]
        if args or opts:
            lines += ["| argument / option | meaning | default |", "|---|---|---|"]
        for p in args:
            need = "required" if p.required else "optional"
            lines.append(f"| `{(p.name or '').upper()}` | {getattr(p, 'help', '') or ''} | {need} |")
        for p in opts:
            flags = ", ".join(f"`{o}`" for o in p.opts)
            if not p.is_flag:
                flags += f" `{_metavar(p)}`"
            default = "" if p.default in (None, False) or p.is_flag else f"`{p.default}`"
            lines.append(f"| {flags} | {(p.help or '').replace('|', '/')} | {default} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n\n" + outputs_markdown()


def _metavar(param: Any) -> str:
    if param.metavar:
        return param.metavar.replace("|", "\\|")  # a pipe would end the Markdown table cell
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", str)
    return {int: "N", Path: "PATH", str: "TEXT"}.get(annotation, "VALUE")


if __name__ == "__main__":  # pragma: no cover
    app(prog_name="wssim")
