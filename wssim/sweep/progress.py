"""Sweep progress: a bar on the terminal, plain lines in a log, or a function a notebook's bar listens to."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

PLAIN_EVERY_S = 10.0  # a plain progress line at least this often while runs advance
PLAIN_STEPS = 10  # and at each tenth of the runs done


class RunProgress:
    """Run progress on the terminal (rich): runs done with an ETA that counts the share of work done by
    the runs in flight (so one long run has one), plus a bar for each running one."""

    def __init__(self, enabled: bool, total: int, title: str, console: Any = None) -> None:
        self.enabled = enabled and total > 0
        self.tasks: dict[str, Any] = {}
        self.finished: set[str] = set()
        self.partial: dict[str, float] = {}
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self.total, self.done = total, 0
        self.main = self.progress.add_task(title, total=total, count=f"0/{total} runs")
        self.progress.start()

    def run_progress(self, rid: str, fraction: float) -> None:
        if not self.enabled:
            return
        if rid not in self.tasks:
            if fraction >= 1.0 or rid in self.finished:
                return
            point, rep = rid[1:].split("-r")
            label = f"  point {int(point)}, replication {int(rep)}"
            self.tasks[rid] = self.progress.add_task(label, total=1.0, count="")
        self.partial[rid] = min(fraction, 1.0)
        self.progress.update(self.tasks[rid], completed=self.partial[rid])
        self.progress.update(self.main, completed=self.done + sum(self.partial.values()))

    def run_done(self, rid: str) -> None:
        if not self.enabled:
            return
        self.finished.add(rid)
        self.partial.pop(rid, None)
        task = self.tasks.pop(rid, None)
        if task is not None:
            self.progress.remove_task(task)
        self.done += 1
        completed = self.done + sum(self.partial.values())
        self.progress.update(self.main, completed=completed, count=f"{self.done}/{self.total} runs")

    def stop(self) -> None:
        if self.enabled:
            for task in self.tasks.values():
                self.progress.remove_task(task)
            self.tasks.clear()
            self.progress.stop()


class CallbackProgress:
    """Sweep progress handed to a function as the fraction done in [0, 1] (a notebook's progress bar).

    A run counts by the share of its work done (:func:`wssim.sim.simulate.work_done`), so one long run
    moves the bar too.
    """

    def __init__(self, report: Callable[[float], None], total: int) -> None:
        self.report, self.total, self.done = report, max(total, 1), 0
        self.partial: dict[str, float] = {}

    def _tell(self) -> None:
        self.report(min(1.0, (self.done + sum(self.partial.values())) / self.total))

    def run_progress(self, rid: str, fraction: float) -> None:
        self.partial[rid] = min(fraction, 1.0)
        self._tell()

    def run_done(self, rid: str) -> None:
        self.partial.pop(rid, None)
        self.done += 1
        self._tell()

    def stop(self) -> None:
        """Nothing to close."""


class PlainProgress:
    """Progress as plain lines for a log (output not a terminal): every 10 s and each tenth of the runs.

    ``herd: 12/60 runs done (20%), 2 min 10 s elapsed, about 8 min 40 s to go``; the time to go counts
    the share of work done by the runs in flight.
    """

    def __init__(self, total: int, title: str, console: Any) -> None:
        self.total, self.title, self.console = total, title, console
        self.done, self.partial = 0, dict[str, float]()
        self.started = self.last = time.monotonic()
        self.step = 0

    def _line(self, now: float) -> None:
        self.last = now
        elapsed = now - self.started
        progress = self.done + sum(self.partial.values())
        line = f"{self.title}: {self.done}/{self.total} runs done ({100 * self.done / self.total:.0f}%), "
        line += f"{clock(elapsed)} elapsed"
        if 0 < progress < self.total:
            line += f", about {clock(elapsed * (self.total - progress) / progress)} to go"
        self.console.print(line, soft_wrap=True, highlight=False, markup=False)

    def run_progress(self, rid: str, fraction: float) -> None:
        self.partial[rid] = min(fraction, 1.0)
        now = time.monotonic()
        if now - self.last >= PLAIN_EVERY_S:
            self._line(now)

    def run_done(self, rid: str) -> None:
        self.partial.pop(rid, None)
        self.done += 1
        step = self.done * PLAIN_STEPS // self.total
        now = time.monotonic()
        if step > self.step or now - self.last >= PLAIN_EVERY_S:
            self.step = step
            self._line(now)

    def stop(self) -> None:
        """Nothing to close."""


def clock(seconds: float) -> str:
    """``45 s``, ``2 min 10 s``, ``1 h 05 min``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


Display = RunProgress | CallbackProgress | PlainProgress


def progress_display(
    progress: bool | Callable[[float], None], total: int, title: str, console: Any = None
) -> Display:
    """A terminal bar (``progress`` true; plain lines when the console is not a terminal), nothing
    (false), or reports to ``progress`` if it is a function."""
    if callable(progress):
        return CallbackProgress(progress, total)
    if progress and total > 0:
        from rich.console import Console

        console = console or Console(stderr=True)
        if not console.is_terminal and not console.is_jupyter:
            return PlainProgress(total, title, console)
    return RunProgress(progress, total, title, console)
