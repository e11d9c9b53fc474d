"""Where runs execute: one seam, :class:`concurrent.futures.Executor`.

- ``local``  — a process pool on this machine (``workers`` processes, default: one per core);
- ``dask``   — a Dask distributed cluster: ``scheduler="tcp://HOST:PORT"`` connects to a running one,
  no address starts a private local cluster (worker processes on loopback);
- ``serial`` — runs one after another in this process (debugging, and live runs, which own the machine).

Results never depend on the choice: the sweep keys every run by (point, replication) and sorts.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from wssim.lifetime import die_with_parent, reset_signals

EXECUTORS = ("local", "dask", "serial")

# Set in pool workers: where per-run progress (share of its work done) is reported.
_progress_channel: ProgressChannel | None = None


def default_workers() -> int:
    """One worker per usable core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class ProgressChannel:
    """A one-way pipe from pool workers to the parent for small progress messages.

    Each message is one write of a few dozen bytes, which the kernel keeps whole (below PIPE_BUF): no
    lock, no feeder thread, so a worker killed at any instant can neither wedge the others nor lose a
    message it already sent.
    """

    def __init__(self) -> None:
        self.reader, self.writer = _mp_context().Pipe(duplex=False)

    def put(self, item: Any) -> None:
        """Send one message (from a worker)."""
        self.writer.send(item)

    def drain(self) -> list[Any]:
        """Every message waiting (in the parent), without blocking."""
        items = []
        with contextlib.suppress(EOFError, OSError):
            while self.reader.poll():
                items.append(self.reader.recv())
        return items

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


def progress_channel() -> ProgressChannel | None:
    """The channel a pool worker reports run progress to, or None (Dask, serial)."""
    return _progress_channel


def _init_pool_worker(channel: ProgressChannel, parent: int) -> None:
    """Pool worker start-up: Ctrl-C is the parent's business, SIGTERM and SIGHUP end the worker, so
    does the parent's death; remember the progress channel."""
    global _progress_channel
    die_with_parent(parent)
    reset_signals()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _progress_channel = channel


class SerialExecutor(Executor):
    """Runs each call at submit time, in this process."""

    def __init__(self) -> None:
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True


def _shutdown(executor: Executor, wait: bool) -> None:
    """Shut down, cancelling calls not started (Dask's executor has no ``cancel_futures``)."""
    try:
        executor.shutdown(wait=wait, cancel_futures=True)
    except TypeError:
        with contextlib.suppress(Exception):
            executor.shutdown(wait=wait)
    except Exception:  # closing is best effort
        pass


@dataclass
class ExecutorHandle:
    """An executor plus what the sweep needs around it: a description, a progress channel, teardown."""

    executor: Executor
    kind: str
    workers: int
    description: str
    progress: ProgressChannel | None = None  # (run id, fraction) messages from pool workers
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def restart(self) -> None:
        """Replace a broken local pool with a fresh one of the same size."""
        if not isinstance(self.executor, ProcessPoolExecutor):
            raise RuntimeError(f"cannot restart a {self.kind} executor")
        _shutdown(self.executor, wait=False)
        self.progress = ProgressChannel()
        self._closers.append(self.progress.close)
        self.executor = _process_pool(self.workers, self.progress)

    def abort(self) -> None:
        """Stop now: cancel what has not started and stop the workers (used on Ctrl-C)."""
        if isinstance(self.executor, ProcessPoolExecutor):
            processes = list((getattr(self.executor, "_processes", None) or {}).values())
            self.executor.shutdown(wait=False, cancel_futures=True)
            for proc in processes:
                with contextlib.suppress(Exception):
                    proc.terminate()
            for proc in processes:
                with contextlib.suppress(Exception):
                    proc.join(timeout=5)
        else:
            _shutdown(self.executor, wait=False)
        self.close()

    def close(self) -> None:
        """Release the executor and anything started for it (a local Dask cluster, the channel)."""
        _shutdown(self.executor, wait=True)
        while self._closers:
            with contextlib.suppress(Exception):
                self._closers.pop()()

    def __enter__(self) -> ExecutorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(
    kind: str = "local", workers: int | None = None, scheduler: str | None = None
) -> ExecutorHandle:
    """Create the executor for ``kind`` (see :data:`EXECUTORS`)."""
    if kind not in EXECUTORS:
        raise ValueError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1")
    if kind == "serial":
        return ExecutorHandle(SerialExecutor(), "serial", 1, "serial (this process)")
    if kind == "local":
        n = workers or default_workers()
        channel = ProgressChannel()
        pool = _process_pool(n, channel)
        handle = ExecutorHandle(pool, "local", n, f"local process pool, {n} worker{'s' * (n != 1)}", channel)
        handle._closers.append(channel.close)
        return handle
    return _dask_executor(workers, scheduler)


def _mp_context() -> Any:
    # fork on Linux: workers start in milliseconds and inherit what the parent imported (also
    # engines defined in a notebook or test module); elsewhere the platform's safe default.
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)


def _process_pool(workers: int, channel: ProgressChannel) -> ProcessPoolExecutor:
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_mp_context(),
        initializer=_init_pool_worker,
        initargs=(channel, os.getpid()),
    )
    # Start every worker now, from this thread (their parent-death signal is tied to it), before any
    # progress-display thread exists in this process.
    pool.submit(int).result()
    return pool


def _dask_executor(workers: int | None, scheduler: str | None) -> ExecutorHandle:
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a declared extra
        raise RuntimeError("the dask executor needs dask[distributed]: pip install 'wssim[dask]'") from exc
    closers: list[Callable[[], None]] = []
    if scheduler:
        client = Client(scheduler, timeout="20s")
        n = sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values()) or 1
        description = f"Dask cluster at {scheduler} ({n} worker thread{'s' * (n != 1)})"
    else:
        n = workers or default_workers()
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=50,
        )
        client = Client(cluster)
        closers.append(cluster.close)
        description = f"local Dask cluster, {n} worker process{'es' * (n != 1)}"
    closers.append(client.close)
    handle = ExecutorHandle(client.get_executor(pure=False), "dask", n, description)
    handle._closers.extend(closers)
    return handle
