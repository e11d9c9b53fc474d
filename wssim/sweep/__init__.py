"""Sweeps: every sweep point × every replication of a config, on an executor, gathered into results.

=============  ==========================================================================
module         its one job
=============  ==========================================================================
runner         run a sweep: plan, submit, gather, write the files, show progress
tasks          one run: the (point, replication) plan and executing it in a worker
executors      the ``concurrent.futures`` seam: a process pool or a Dask cluster
footprint      a sweep's memory and time, estimated before it starts (refuse what cannot fit)
statistics     confidence intervals over replications and paired differences vs point 0
store          the files of a run folder (summary, aggregate, time series, manifest)
results        :class:`Results`, what notebooks and the report read
progress       the terminal display
=============  ==========================================================================
"""

from wssim.sweep.results import Results
from wssim.sweep.runner import default_out, run, saved_run
from wssim.sweep.statistics import CONFIDENCE, aggregate, column_stats, confidence_interval
from wssim.sweep.store import PARTIAL, TS_COLUMNS, RunStore, format_value, read_summary
from wssim.sweep.tasks import (
    ENGINES,
    KEY_COLUMNS,
    RunOutcome,
    RunSpec,
    SweepError,
    execute_run,
    plan,
    resolve_engine,
    run_id,
    sweep_params,
)

__all__ = [
    "CONFIDENCE",
    "ENGINES",
    "KEY_COLUMNS",
    "PARTIAL",
    "TS_COLUMNS",
    "Results",
    "RunOutcome",
    "RunSpec",
    "RunStore",
    "SweepError",
    "aggregate",
    "column_stats",
    "confidence_interval",
    "default_out",
    "execute_run",
    "format_value",
    "plan",
    "read_summary",
    "resolve_engine",
    "run",
    "run_id",
    "saved_run",
    "sweep_params",
]
