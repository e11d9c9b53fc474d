"""Sweep progress: a bar on the terminal, or a function that a notebook's progress bar listens to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class RunProgress:
    """Run progress on the terminal (rich): runs done with an ETA, plus simulated time of running ones."""

    def __init__(self, enabled: bool, total: int, title: str, console: Any = None) -> None:
        self.enabled = enabled and total > 0
        self.tasks: dict[str, Any] = {}
        self.finished: set[str] = set()
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
            label = f"  point {int(point)}, replication {int(rep)}: simulated time"
            self.tasks[rid] = self.progress.add_task(label, total=1.0, count="")
        self.progress.update(self.tasks[rid], completed=min(fraction, 1.0))

    def run_done(self, rid: str) -> None:
        if not self.enabled:
            return
        self.finished.add(rid)
        task = self.tasks.pop(rid, None)
        if task is not None:
            self.progress.remove_task(task)
        self.done += 1
        self.progress.update(self.main, advance=1, count=f"{self.done}/{self.total} runs")

    def stop(self) -> None:
        if self.enabled:
            for task in self.tasks.values():
                self.progress.remove_task(task)
            self.tasks.clear()
            self.progress.stop()


class CallbackProgress:
    """Sweep progress handed to a function as the fraction done in [0, 1] (a notebook's progress bar).

    A run counts by the share of its simulated time done, so one long run moves the bar too.
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


Display = RunProgress | CallbackProgress


def progress_display(
    progress: bool | Callable[[float], None], total: int, title: str, console: Any = None
) -> Display:
    """A terminal bar (``progress`` true), nothing (false), or reports to ``progress`` if it is a function."""
    if callable(progress):
        return CallbackProgress(progress, total)
    return RunProgress(progress, total, title, console)
